# frozen_string_literal: true

require_relative "test_helper"
require "active_support"
require "active_support/cache"
require "active_support/cache/redis_cache_store"
require "active_support/core_ext/numeric/time"

# ActiveSupport::Cache::RedisCacheStore (Debian's ruby-activesupport) backed by a
# Slotshift::Client on a 3-master cluster, and by a Slotshift::MultiStore (old standalone,
# new cluster) through the four migration phases.
class TestRailsCache < Minitest::Test
  include SlotshiftTestHelpers

  # The cache operations every backend must get right. `cache` is a RedisCacheStore.
  def exercise(cache, ns)
    keys = (0...50).map { |i| "#{ns}:item:#{i}" }

    assert cache.write("#{ns}:one", { "a" => [1, 2] })
    assert_equal({ "a" => [1, 2] }, cache.read("#{ns}:one"))
    assert_nil cache.read("#{ns}:missing")

    # write_multi / read_multi across many slots (MSET/MGET split by the batcher).
    cache.write_multi(keys.to_h { |k| [k, "v-#{k}"] })
    got = cache.read_multi(*keys, "#{ns}:absent")
    assert_equal keys.to_h { |k| [k, "v-#{k}"] }, got

    # fetch computes once.
    calls = 0
    2.times { assert_equal "computed", cache.fetch("#{ns}:fetch") { calls += 1; "computed" } }
    assert_equal 1, calls

    # unless_exist (SET NX).
    refute cache.write("#{ns}:one", "other", unless_exist: true)
    assert_equal({ "a" => [1, 2] }, cache.read("#{ns}:one"))

    # increment / decrement on raw values, with expiry set when missing.
    assert_equal 1, cache.increment("#{ns}:counter")
    assert_equal 6, cache.increment("#{ns}:counter", 5)
    assert_equal 4, cache.decrement("#{ns}:counter", 2)
    assert_equal 3, cache.increment("#{ns}:ttl-counter", 3, expires_in: 100)

    # expiry: expires_in sets a TTL on the server; an expired entry reads as nil.
    assert cache.write("#{ns}:short", "x", expires_in: 0.2)
    assert_equal "x", cache.read("#{ns}:short")
    sleep 0.4
    assert_nil cache.read("#{ns}:short")
    assert cache.write("#{ns}:long", "x", expires_in: 1.hour)
    assert cache.exist?("#{ns}:long")

    # delete / delete_multi / exist?
    assert cache.delete("#{ns}:long")
    refute cache.exist?("#{ns}:long")
    assert_equal 2, cache.delete_multi(["#{ns}:item:0", "#{ns}:item:1"])

    # delete_matched walks every master (SCAN) and deletes across slots.
    cache.delete_matched("#{ns}:item:*")
    assert_equal({}, cache.read_multi(*keys))
    assert_equal({ "a" => [1, 2] }, cache.read("#{ns}:one"))
  end

  def test_cache_store_on_a_cluster
    client = cluster_client
    client.flushdb
    assert_equal :cluster, client.kind
    cache = ActiveSupport::Cache::RedisCacheStore.new(redis: client, namespace: "app")
    exercise(cache, "c")
    # The keys really are spread over the three masters.
    per_master = client.native.masters.map { |m| client.native.call_on(m, ["DBSIZE"]) }
    assert_equal 3, per_master.size
    assert per_master.all?(&:positive?), "keys on every master: #{per_master}"
  end

  def test_cache_store_through_a_connection_pool
    require "connection_pool"
    pool = ConnectionPool.new(size: 2) { cluster_client }
    pool.with(&:flushdb)
    cache = ActiveSupport::Cache::RedisCacheStore.new(redis: pool, namespace: "pool")
    exercise(cache, "p")
  end

  def test_cache_store_over_a_multistore_through_the_migration_phases
    old = standalone_client(3)
    new = cluster_client
    old.flushdb
    new.flushdb
    store = Slotshift::MultiStore.new(name: "cache", primary: new, secondary: old)
    cache = ActiveSupport::Cache::RedisCacheStore.new(redis: store, namespace: "ms")

    # A: old store only.
    assert_equal :secondary_only, store.phase
    exercise(cache, "a")
    cache.write("a:kept", "old")
    assert_equal "old", old.get("ms:a:kept").then { |raw| raw && Marshal.load(raw).value }
    assert_nil new.get("ms:a:kept")

    # B: dual-write, old store the default: writes reach both.
    store.use_primary_and_secondary_stores = true
    assert_equal :dual_write_secondary_default, store.phase
    exercise(cache, "b")
    cache.write("b:both", "v")
    assert old.exists?("ms:b:both")
    assert new.exists?("ms:b:both")

    # Backfill what only the old store has (what `slotshift migrate` does), then C: new default.
    old.scan_each(match: "ms:*") { |k| new.restore(k, 0, old.dump(k), replace: true) unless new.exists?(k) }
    store.use_primary_store_as_default = true
    assert_equal :dual_write_primary_default, store.phase
    assert_equal "old", cache.read("a:kept")
    exercise(cache, "c")

    # D: new store only.
    store.use_primary_and_secondary_stores = false
    assert_equal :primary_only, store.phase
    exercise(cache, "d")
    cache.write("d:new-only", "v")
    assert new.exists?("ms:d:new-only")
    refute old.exists?("ms:d:new-only")
    assert_equal "old", cache.read("a:kept")
  end
end
