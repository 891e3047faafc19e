# frozen_string_literal: true

require_relative "test_helper"

# Faults end in the caller's own timeout and a clear error from redis-rb's family: a stopped
# (SIGSTOP) server, and each scripted hostile node (replies a real server never sends).
class TestFaults < Minitest::Test
  include SlotshiftTestHelpers

  # The error a command to `url` ends with (a hang past `limit` seconds fails the test).
  def error_of(url, limit: 15)
    client = Slotshift::Redis.new(url: url, timeout: 0.3, reconnect_attempts: 0)
    Timeout.timeout(limit) { client.get("fault:k") }
    flunk("#{url}: GET succeeded")
  rescue Timeout::Error
    flunk("#{url}: GET still waiting after #{limit} s")
  rescue Redis::BaseError => e
    e
  end

  def test_a_stopped_server_ends_in_a_timeout_error_and_the_client_recovers
    client = Slotshift::Redis.new(url: TestServers.standalone_url(0), timeout: 0.3)
    client.set("fault:k", "v")
    pid = Integer(client.info("server").fetch("process_id"))
    Process.kill("STOP", pid)
    begin
      e = assert_raises(Redis::BaseConnectionError) { Timeout.timeout(15) { client.get("fault:k") } }
      assert_kind_of Redis::TimeoutError, e, "#{e.class}: #{e.message}"
      assert_match(/timed out/, e.message)
    ensure
      Process.kill("CONT", pid)
    end
    assert_equal "v", client.get("fault:k")
  end

  def test_every_hostile_node_ends_in_a_clear_error
    expected = {
      "garbage" => Redis::ProtocolError, "huge_bulk" => Redis::BaseError,
      "deep_nesting" => Redis::BaseError, "mid_reply_close" => Redis::BaseConnectionError,
      "never_reply" => Redis::TimeoutError, "slowloris" => Redis::TimeoutError,
      "moved_loop" => Redis::BaseError, "moved_to_unknown" => Redis::BaseError,
      "empty_error" => Redis::CommandError
    }
    assert_equal expected.keys.sort, TestServers.hostile.keys.sort
    TestServers.hostile.each do |name, url|
      e = error_of(url)
      assert_kind_of expected.fetch(name), e, "#{name}: #{e.class}: #{e.message}"
      refute_empty e.message.strip, "#{name}: an empty message"
    end
  end
end
