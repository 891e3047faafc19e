# frozen_string_literal: true

require_relative "test_helper"
require "digest"
require "redis"

# Keyspace-wide commands on a cluster of 3 masters with a replica each (3x1), sent as plain
# calls: the core routes DBSIZE, KEYS, FLUSHALL/FLUSHDB, RANDOMKEY and SCRIPT LOAD/EXISTS/FLUSH
# by their Redis 7 command tips to every master and aggregates the replies (no fan-out in the
# gem). And the MultiStore's dual-write of a cross-slot pipeline and transaction onto that
# cluster (per-slot transactions, counted by a metric).
#
# What each master holds is read through a connection of its own (redis-rb, standalone-style,
# on the master's URL), never through slotshift, so these checks do not trust what they test.
class TestAllShards < Minitest::Test
  include SlotshiftTestHelpers

  # The MultiStore counter of dual-write transactions run as per-slot transactions on a
  # cluster (its Prometheus name, without the prefix).
  PER_SLOT_METRIC = "multi_store_per_slot_transactions_total"

  # 30 keys over many slots and (checked in write_keys) every master.
  KEYS = (0...30).map { |i| "allshards:#{i}" }.freeze
  SCRIPT = "return redis.call('GET', KEYS[1])"

  def self.masters
    @masters ||= begin
      nodes = TestServers.topology_3x1.fetch("cluster").map { |url| Redis.new(url: url) }
      masters, replicas = nodes.partition { |n| n.call("ROLE").first == "master" }
      replicas.each(&:close)
      raise "expected 3 masters and 3 replicas, got #{masters.size} + #{replicas.size}" unless [masters.size, replicas.size] == [3, 3]

      masters
    end
  end

  def masters
    self.class.masters
  end

  def setup
    masters.each do |m|
      m.flushall
      m.script(:flush)
    end
    @rc = Slotshift::Client.new(nodes: TestServers.topology_3x1.fetch("cluster"))
  end

  def teardown
    @rc&.close
  end

  # SETs every key of KEYS to its index; returns each master's own DBSIZE (all positive).
  def write_keys
    KEYS.each_with_index { |k, i| assert_equal "OK", @rc.set(k, i) }
    per_master = masters.map(&:dbsize)
    assert per_master.all?(&:positive?), "the keys must reach every master: #{per_master}"
    per_master
  end

  def test_keys_span_many_slots
    assert_equal KEYS.size, KEYS.map { |k| Slotshift.key_slot(k) }.uniq.size
  end

  def test_dbsize_is_the_sum_over_every_master
    assert_equal KEYS.size, write_keys.sum
    assert_equal KEYS.size, @rc.dbsize
    assert_equal KEYS.size, @rc.call("DBSIZE")
  end

  def test_keys_returns_the_keys_of_every_master
    write_keys
    assert_equal KEYS.sort, @rc.keys("allshards:*").sort
    assert_equal KEYS.sort, @rc.keys.sort # no key twice (replicas are not asked)
    assert_equal KEYS.grep(/\Aallshards:1/).sort, @rc.keys("allshards:1*").sort
    assert_equal KEYS.sort, masters.flat_map { |m| m.keys("allshards:*") }.sort
  end

  def test_flushall_and_flushdb_empty_every_master
    write_keys
    assert_equal "OK", @rc.flushall
    assert_equal 0, @rc.dbsize
    assert_equal [0, 0, 0], masters.map(&:dbsize)
    assert_equal [], @rc.keys

    write_keys
    assert_equal "OK", @rc.flushdb
    assert_equal 0, @rc.dbsize
    assert_equal [0, 0, 0], masters.map(&:dbsize)

    write_keys
    assert_equal "OK", @rc.flushall(async: true)
    # FLUSHALL ASYNC empties the keyspace at once (only the memory is freed in the background).
    assert_equal [0, 0, 0], masters.map(&:dbsize)
  end

  def test_randomkey_finds_a_key_on_any_master
    assert_nil @rc.randomkey
    write_keys
    # One key of each master (asked of the masters themselves: KEYS, keyless, is never MOVED).
    one_per_master = masters.map { |m| m.keys("allshards:*").first }
    assert_equal 3, one_per_master.compact.uniq.size
    masters.each(&:flushall)
    # One key at a time, each on another master: RANDOMKEY finds it wherever it is.
    one_per_master.each do |key|
      assert_equal "OK", @rc.set(key, "x")
      assert_equal key, @rc.randomkey
      assert_equal 1, @rc.del(key)
    end
  end

  def test_script_load_then_evalsha_on_every_master
    write_keys
    sha = Digest::SHA1.hexdigest(SCRIPT)
    assert_equal [false, false, false], masters.map { |m| m.script(:exists, sha) }
    assert_equal sha, @rc.script(:load, SCRIPT)
    # Loaded on every master: EVALSHA works for a key of each of them.
    KEYS.each_with_index { |k, i| assert_equal i.to_s, @rc.evalsha(sha, [k]) }
    assert_equal [true, true, true], masters.map { |m| m.script(:exists, sha) }
    assert_equal true, @rc.script(:exists, sha)
    assert_equal [true], @rc.script(:exists, [sha])
    assert_equal "OK", @rc.script(:flush)
    assert_equal [false, false, false], masters.map { |m| m.script(:exists, sha) }
    error = assert_raises(Slotshift::CommandError) { @rc.evalsha(sha, [KEYS.first]) }
    assert_match(/NOSCRIPT/, error.message)
  end

  # --- MultiStore dual-write: per-slot transactions on the cluster -----------------------------

  STRINGS = (0...100).map { |i| "ps:#{i}" }.freeze
  EXPECTED = ["OK"] * 100 + (1..100).to_a

  # The sum of the counter `name` (any prefix) over the lines of `instance`.
  def metric_total(name, instance)
    Slotshift.metrics_text.each_line.sum do |line|
      next 0 if line.start_with?("#")

      series, _, value = line.strip.rpartition(" ")
      metric, _, labels = series.partition("{")
      metric.end_with?(name) && labels.include?("instance_name=\"#{instance}\"") ? Integer(value) : 0
    end
  end

  # 100 SET then 100 INCR of the same keys (over many slots): the order matters per key.
  def queue200(batch)
    STRINGS.each_with_index { |k, i| batch.set(k, i) }
    STRINGS.each { |k| batch.incr(k) }
  end

  def dual_write_store(name)
    @old = Slotshift::Client.new(url: TestServers.topology_3x1.fetch("standalone"))
    @old.flushall
    ms = Slotshift::MultiStore.new(name: name, primary: @rc, secondary: @old)
    ms.use_primary_and_secondary_stores = true
    assert_equal :dual_write_secondary_default, ms.phase
    ms
  end

  def assert_both_stores_hold_every_write
    want = (1..100).map(&:to_s)
    assert_equal want, @old.mget(*STRINGS)
    assert_equal want, @rc.mget(*STRINGS)
    assert_equal [100, 100], [@old.dbsize, masters.sum(&:dbsize)]
  end

  def test_multistore_dual_write_cross_slot_pipelined
    assert_operator STRINGS.map { |k| Slotshift.key_slot(k) }.uniq.size, :>, 90
    ms = dual_write_store("rb_per_slot_pipe")
    before = metric_total(PER_SLOT_METRIC, "rb_per_slot_pipe")
    assert_equal EXPECTED, ms.pipelined { |p| queue200(p) }
    assert_both_stores_hold_every_write
    # A plain pipeline is no transaction: nothing counted.
    assert_equal before, metric_total(PER_SLOT_METRIC, "rb_per_slot_pipe")
  ensure
    @old&.close
  end

  def test_multistore_dual_write_cross_slot_multi
    ms = dual_write_store("rb_per_slot_multi")
    before = metric_total(PER_SLOT_METRIC, "rb_per_slot_multi")
    assert_equal EXPECTED, ms.multi { |t| queue200(t) }
    assert_both_stores_hold_every_write
    assert_operator metric_total(PER_SLOT_METRIC, "rb_per_slot_multi"), :>, before
  ensure
    @old&.close
  end
end
