# frozen_string_literal: true

require_relative "test_helper"
require "redis"

# Fork stress (issue 20): parent threads hammer the same clients while the main thread forks
# children that use those clients, ROUNDS times, with instrumentation, the cross-slot validator
# (count mode), the recorder and an async-queue MultiStore all on.
#
# A lock that a parent thread held at the moment of `fork` is held for ever in the child: such a
# child hangs. Every child is bounded by CHILD_TIMEOUT; one that outlives it is killed (KILL)
# and the round counts as hung, which fails the test. After each child exits, the parent reads,
# on connections of its own (redis-rb), that every write of the child arrived — the
# MultiStore's queued non-default write to the cluster included.
#
# The test stops early once MAX_BAD_ROUNDS rounds went wrong (so a core that hangs often fails
# in bounded time); its failure message counts the rounds run, hung and otherwise failed.
class TestFork < Minitest::Test
  include SlotshiftTestHelpers

  ROUNDS = 500
  # Seconds a child may take before it is killed and its round counted as hung.
  CHILD_TIMEOUT = 10
  # Seconds a child waits for the MultiStore's async queue to send its non-default writes.
  DRAIN_TIMEOUT = 5.0
  MAX_BAD_ROUNDS = 3
  HAMMER_THREADS = 3
  PREFIX = "fork:rb"
  # The standalone database of this test (the cluster has only 0: keys are prefixed).
  DB = 6

  # Exit statuses of a child: what went wrong in it.
  EXIT_REASONS = {
    1 => "a wrong reply in the child",
    2 => "an exception in the child",
    3 => "the child's async queue did not drain",
    4 => "the child's recorder missed commands",
  }.freeze

  def setup
    @old = standalone_client(DB, name: "rb_fork_old", instrument: true, cross_slot_validation: :count)
    @new = cluster_client(name: "rb_fork_new", instrument: true, cross_slot_validation: :count)
    @old.flushdb
    @ms = Slotshift::MultiStore.new(name: "rb_fork", primary: @new, secondary: @old,
                                    use_primary_and_secondary_stores: true, async_non_default_writes: true)
    # The cluster (primary) is the non-default store: the MultiStore queues its writes.
    assert_equal :dual_write_secondary_default, @ms.phase
    @peer = Redis.new(url: TestServers.standalone_url(DB))
    @peer_cluster = Redis.new(cluster: TestServers.cluster_urls)
  end

  def teardown
    [@peer, @peer_cluster, @old, @new].each { |c| c&.close }
  end

  # The keys a child writes: through the standalone client, the cluster client, and the
  # MultiStore (synchronously to the standalone, its default; queued to the cluster).
  def child_keys(tag)
    { r: "#{PREFIX}:#{tag}:r", rc: "#{PREFIX}:#{tag}:rc", ms: "#{PREFIX}:#{tag}:ms" }
  end

  # What every child does with the inherited clients; returns its exit status.
  def child_work(tag)
    keys = child_keys(tag)
    ok = nil
    recorder = Slotshift::Recorder.new do
      ok = @old.set(keys[:r], tag) == "OK" && @old.get(keys[:r]) == tag &&
           @new.set(keys[:rc], tag) == "OK" && @new.incr("#{PREFIX}:#{tag}:n") == 1 &&
           # Keys of two slots: counted by the validator (count mode), split by the batcher.
           @new.mget(keys[:rc], keys[:ms]) == [tag, nil] &&
           @ms.set(keys[:ms], tag) == "OK" && @ms.get(keys[:ms]) == tag
    end
    return 1 unless ok
    return 4 if recorder.count < 7
    return 3 unless @ms.drain(DRAIN_TIMEOUT)

    0
  end

  # The child's writes that the parent cannot read back (on redis-rb connections).
  def missing_writes(tag)
    keys = child_keys(tag)
    {
      "standalone #{keys[:r]}" => @peer.get(keys[:r]),
      "cluster #{keys[:rc]}" => @peer_cluster.get(keys[:rc]),
      "standalone (MultiStore default) #{keys[:ms]}" => @peer.get(keys[:ms]),
      "cluster (MultiStore async queue) #{keys[:ms]}" => @peer_cluster.get(keys[:ms]),
    }.reject { |_, got| got == tag }.keys
  end

  # One child; nil when it exited cleanly, else what went wrong ("hung: …" when killed).
  def fork_round(tag, children)
    pid = fork do
      status = 2
      begin
        status = child_work(tag)
      rescue Exception => e # rubocop:disable Lint/RescueException
        warn "child #{tag}: #{e.class}: #{e.message}"
      ensure
        exit!(status)
      end
    end
    children << pid
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + CHILD_TIMEOUT
    status = nil
    until (status = Process.wait2(pid, Process::WNOHANG)&.last)
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        Process.kill(:KILL, pid)
        Process.wait(pid)
        children.delete(pid)
        return "hung: #{tag}"
      end
      sleep 0.002
    end
    children.delete(pid)
    status.exitstatus&.zero? ? nil : "#{tag}: #{EXIT_REASONS.fetch(status.exitstatus, status.inspect)}"
  end

  # HAMMER_THREADS parent threads looping SET/GET (and a cross-slot MGET, metrics, a fresh
  # Recorder now and then) on the clients the children inherit, until `stop` is closed.
  def hammer(stop, ops, errors)
    clients = [@old, @new, @ms]
    Array.new(HAMMER_THREADS) do |i|
      Thread.new do
        client = clients[i % clients.size]
        n = 0
        until stop.closed?
          Slotshift::Recorder.new do
            20.times do
              key = "#{PREFIX}:hammer:#{i}:#{n % 50}"
              client.set(key, n.to_s)
              raise "#{key}: read back something else" unless client.get(key) == n.to_s

              n += 1
            end
            @new.mget("#{PREFIX}:hammer:#{i}:0", "#{PREFIX}:hammer:other:#{n}")
            Slotshift.metrics_text
          end
          ops[i] = n
        end
      rescue StandardError => e
        errors << "thread #{i}: #{e.class}: #{e.message}"
      end
    end
  end

  def test_fork_rounds_with_threads_and_every_hook
    hung = []
    failed = []
    rounds = 0
    children = []
    stop = Queue.new # closed to stop the hammer threads
    ops = Array.new(HAMMER_THREADS, 0)
    errors = Queue.new
    threads = hammer(stop, ops, errors)
    begin
      ROUNDS.times do |n|
        break if hung.size + failed.size >= MAX_BAD_ROUNDS || !errors.empty?

        tag = "fork#{n}"
        problem = fork_round(tag, children)
        rounds += 1
        if problem&.start_with?("hung")
          hung << problem
          next
        end
        missing = missing_writes(tag)
        failed << [problem, *missing].compact.join("; ") if problem || missing.any?
      end
    ensure
      stop.close
      threads.each { |t| t.join(30) }
      children.each do |pid|
        Process.kill(:KILL, pid)
        Process.wait(pid)
      rescue Errno::ESRCH, Errno::ECHILD
        nil
      end
    end
    errors = Array.new(errors.size) { errors.pop }
    assert_empty errors
    assert ops.all?(&:positive?), "a parent thread did no work: #{ops}"
    summary = "#{rounds} rounds run, #{hung.size} hung (killed after #{CHILD_TIMEOUT} s): #{hung}; " \
              "#{failed.size} failed: #{failed}"
    assert_equal [ROUNDS, 0], [rounds, hung.size + failed.size], summary
  end
end
