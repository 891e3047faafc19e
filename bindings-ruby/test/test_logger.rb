# frozen_string_literal: true

require_relative "test_helper"
require "logger"
require "stringio"

# The core's log records reach the Logger the application sets (Slotshift.logger =), from the
# gem's own thread, at the logger's level.
class TestLogger < Minitest::Test
  include SlotshiftTestHelpers

  def teardown
    Slotshift.logger = nil
  end

  # Waits until `io` holds a line matching `pattern` (the records come from another thread).
  def wait_for(io, pattern)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    until io.string.match?(pattern)
      flunk("no log line matching #{pattern.inspect}; got:\n#{io.string}") if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.01
    end
  end

  def test_a_multistore_over_one_server_warns_through_the_apps_logger
    io = StringIO.new
    logger = Logger.new(io)
    logger.level = Logger::WARN
    Slotshift.logger = logger
    assert_same logger, Slotshift.logger
    same = Slotshift::Redis.new(url: TestServers.standalone_url(0))
    store = Slotshift::MultiStore.new(name: "logged", primary: same, secondary: same.dup,
                                      use_primary_and_secondary_stores: true)
    store.set("logger:k", "v")
    wait_for(io, /WARN -- slotshift.*multistore name=logged: primary and secondary are the same server/)
    refute_match(/DEBUG|INFO/, io.string, "records below the logger's level were passed")
  end

  def test_cross_slot_counts_are_logged_at_warn
    io = StringIO.new
    Slotshift.logger = Logger.new(io)
    cluster = Slotshift::Redis.new(cluster: TestServers.cluster_urls, cross_slot_validation: :count, name: "counted")
    cluster.mget(*keys_across_slots("logger:x", 4))
    wait_for(io, /WARN -- slotshift::validator.*cross-slot command.*"store":"counted"/)
  end

  def test_no_logger_no_records_and_a_bad_level_is_refused
    Slotshift.logger = nil
    assert_nil Slotshift.logger
    assert_raises(ArgumentError) { Slotshift::Native.log_level = "loud" }
    assert_kind_of Integer, Slotshift.dropped_log_records
  end
end
