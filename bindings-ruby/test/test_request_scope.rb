# frozen_string_literal: true

require_relative "test_helper"

# Per-request figures (the core's request scopes) as GitLab gives them to Lograge and
# Sidekiq's job logs: the calls of this thread only, per store, nested scopes counting what
# inner ones count.
class TestRequestScope < Minitest::Test
  include SlotshiftTestHelpers

  def client
    @client ||= Slotshift::Redis.new(url: TestServers.standalone_url(0), name: "sessions")
  end

  def test_counts_this_threads_calls_per_store_and_nests
    assert_equal({}, Slotshift.request_log_fields, "fields outside any scope")
    client.ping # connected before the scope: only the request's calls count
    inner_fields = nil
    value = Slotshift.request_scope do
      client.set("scope:a", "1")
      Thread.new { client.set("scope:other-thread", "1") }.join
      Slotshift.request_scope do
        client.get("scope:a")
        inner_fields = Slotshift.request_log_fields
      end
      fields = Slotshift.request_log_fields
      assert_equal 2, fields["redis_calls"], fields.inspect
      assert_equal 2, fields["redis_sessions_calls"], fields.inspect
      assert_operator fields["redis_write_bytes"], :>, 0
      assert_operator fields["redis_duration_s"], :>, 0.0
      :the_block_value
    end
    assert_equal :the_block_value, value
    assert_equal 1, inner_fields["redis_calls"], inner_fields.inspect
    assert_equal({}, Slotshift.request_log_fields, "the scope outlived its block")
  end

  def test_a_raising_block_ends_its_scope
    assert_raises(RuntimeError) { Slotshift.request_scope { client.ping && raise("boom") } }
    assert_equal({}, Slotshift.request_log_fields)
    assert_raises(ArgumentError) { Slotshift.request_scope }
  end
end
