# frozen_string_literal: true

require_relative "test_helper"
require "timeout"

# The GVL is released while a call waits; a forked child has its own connections; bad input
# gives clear Ruby exceptions.
class TestRuntime < Minitest::Test
  include SlotshiftTestHelpers

  def test_other_threads_run_while_one_waits_in_blpop
    r = standalone_client(4)
    r.del("empty-list")
    ticks = 0
    ticker = Thread.new do
      loop do
        ticks += 1
        sleep 0.01
      end
    end
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    result = r.blpop("empty-list", timeout: 1)
    waited = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    ticker.kill
    assert_nil result
    assert_operator waited, :>=, 0.9, "BLPOP returned before its timeout"
    # With the GVL held for the whole second the ticker could not have run at all.
    assert_operator ticks, :>, 10, "the other Ruby thread ran only #{ticks} times during BLPOP"
  end

  # redis-rb holds its Monitor (its one connection) for the whole BLPOP; slotshift's
  # Multiplexed seam does not, so the other threads of the process go on.
  def test_blocking_pop_does_not_stall_other_callers_of_the_same_client
    r = standalone_client(4)
    r.del("q")
    popper = Thread.new { r.blpop("q", timeout: 5) }
    sleep 0.1 until popper.status == "sleep" || !popper.alive?
    # These go out on the client's regular connection while BLPOP waits on its own.
    assert_equal "OK", r.set("other", "1")
    assert_equal 1, r.rpush("q", "item")
    assert_equal ["q", "item"], popper.value
  end

  def test_thread_kill_interrupts_a_waiting_call
    r = standalone_client(4)
    r.del("never")
    t = Thread.new { r.blpop("never", timeout: 30) }
    sleep 0.2
    t.kill
    assert t.join(5), "Thread#kill did not end a thread blocked in BLPOP"
    # The client keeps working afterwards.
    assert_equal "PONG", r.ping
  end

  # An interrupted call's reply may still come: the thread's connections are closed (as
  # redis-rb disconnects after an interrupted command), and its next call opens new ones.
  def test_an_interrupted_call_closes_the_threads_connections
    r = standalone_client(4)
    observer = Redis.new(url: TestServers.standalone_url(4))
    mine = r.call(:client, :id)
    open_ids = -> { observer.call(:client, :list).scan(/\bid=(\d+)/).flatten.map(&:to_i) }
    assert_includes open_ids.call, mine
    observer.call(:client, :pause, 2000, :write)
    assert_raises(Timeout::Error) { Timeout.timeout(0.3) { r.set("paused", "1") } }
    observer.call(:client, :unpause)
    50.times { open_ids.call.include?(mine) ? sleep(0.05) : break }
    refute_includes open_ids.call, mine, "the interrupted thread's connection is still open"
    assert_equal "PONG", r.ping
    refute_equal mine, r.call(:client, :id)
  ensure
    observer&.call(:client, :unpause)
    observer&.close
  end

  def test_client_works_in_a_forked_child
    [standalone_client(4), cluster_client].each do |r|
      r.set("fork:parent", "p")
      reader, writer = IO.pipe
      pid = fork do
        reader.close
        begin
          r.set("fork:child", "c")
          writer.write(JSON.generate([r.get("fork:parent"), r.mget("fork:parent", "fork:child"), Process.pid]))
        rescue Exception => e # rubocop:disable Lint/RescueException
          writer.write(JSON.generate(["error", e.class.name, e.message]))
        ensure
          writer.close
          exit!(0)
        end
      end
      writer.close
      out = JSON.parse(reader.read)
      Process.wait(pid)
      assert_equal "p", out[0], out.inspect
      assert_equal %w[p c], out[1]
      # The parent's connections still work after the child used (and dropped) its own.
      assert_equal "c", r.get("fork:child")
    end
  end

  # Arguments go as redis-rb 4.8 sends them: a value with a string form of its own as its
  # `to_s` (nil is "", as redis-rb 4.8's own suite expects), arrays flattened; the slot helpers
  # take Strings only.
  def test_arguments_are_sent_as_redis_rb_sends_them
    r = standalone_client(4)
    redis = Redis.new(url: TestServers.standalone_url(4))
    assert_equal "OK", r.set(nil, "empty-key")
    assert_equal "empty-key", redis.get("")
    assert_equal "empty-key", r.get(nil)
    assert_equal [redis.get(""), nil], r.mget(nil, "no-such-key")
    assert_equal "OK", r.set("obj", :sym)
    assert_equal "sym", redis.get("obj")
    assert_equal [nil], r.pipelined { |p| p.get("no-such-key") }
    assert_raises(TypeError) { Slotshift.key_slot(nil) }
    assert_raises(TypeError) { Slotshift.key_slot(1) }
    assert_raises(TypeError) { Slotshift.key_slots(["a", 2]) }
    assert_raises(ArgumentError) { r.call }
  ensure
    redis&.close
  end

  def test_binary_keys_and_values_round_trip
    r = cluster_client
    keys = (0..255).map { |b| "bin:".b + b.chr.b + "\x00\xFF".b }
    values = keys.map { |k| k.reverse }
    r.mset(*keys.zip(values).flatten)
    got = r.mget(*keys)
    assert_equal values.map(&:bytes), got.map(&:bytes)
    assert_equal Slotshift.key_slot("{\xFF}a".b), Slotshift.key_slot("{\xFF}b".b)
  end

  def test_unknown_options_are_argument_errors
    e = assert_raises(ArgumentError) { Slotshift::Client.new(url: TestServers.standalone_url, colour: :red) }
    assert_match(/colour/, e.message)
    assert_raises(ArgumentError) { Slotshift::Client.new(url: "redis://x", nodes: ["redis://y"]) }
    assert_raises(ArgumentError) { standalone_client.set("k", "v", bogus: 1) }
    assert_raises(ArgumentError) do
      Slotshift::MultiStore.new(name: "x", primary: standalone_client, secondary: standalone_client, nope: 1)
    end
    assert_raises(ArgumentError) { Slotshift.analyze(standalone_client, colour: 1) }
  end

  def test_bad_urls_are_config_errors_and_dead_servers_connection_errors
    assert_raises(Slotshift::ConfigError) { Slotshift::Client.new(url: "http://nope") }
    e = assert_raises(Slotshift::ConnectionError) { Slotshift::Client.new(url: "redis://127.0.0.1:1", timeout: 0.5).get("a") }
    assert_match(/127\.0\.0\.1:1/, e.message)
  end

  def test_password_never_appears_in_errors
    e = assert_raises(Slotshift::Error) do
      Slotshift::Client.new(url: "redis://127.0.0.1:1", password: "s3cr3t-pw", timeout: 0.5).get("a")
    end
    refute_includes e.message, "s3cr3t-pw"
    refute_includes Slotshift::Client.new(url: TestServers.standalone_url).inspect, "s3cr3t-pw"
  end

  # A client's instance variables (what error trackers serialize) hold no password: the URL
  # stays in the native store, which also opens the connections for blocking commands.
  def test_no_instance_variable_holds_the_password
    admin = standalone_client(7)
    admin.call("ACL", "SETUSER", "rb_canary", "on", ">canary-pw-4711", "~*", "&*", "+@all")
    url = TestServers.standalone_url(7).sub("redis://", "redis://rb_canary:canary-pw-4711@")
    r = Slotshift::Client.new(url: url)
    assert_equal "OK", r.set("canary", "1")
    assert_nil r.blpop("canary:empty", timeout: 0.1) # opens the blocking store
    seen = r.instance_variables.map { |v| r.instance_variable_get(v).inspect }.join(" ")
    refute_includes seen, "canary-pw-4711"
    refute_includes r.inspect, "canary-pw-4711"
    refute_includes Marshal.dump(r.instance_variables.map { |v| r.instance_variable_get(v).to_s }), "canary-pw-4711"
  ensure
    r&.close
    admin&.call("ACL", "DELUSER", "rb_canary")
  end
end
