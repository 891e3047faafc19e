# frozen_string_literal: true

require_relative "test_helper"
require "connection_pool"
require "securerandom"

# A MultiStore wired the way GitLab wires `Gitlab::Redis::Sessions` during its move to a
# cluster: connection pools of clients (`create_using_pool`), flags asked of the application
# (`Feature.enabled?`), each use inside `with_borrowed_connection`; then the four flag phases
# walked under a threaded workload, the old keys copied by `Slotshift.migrate` while
# dual-write is on. Every write the application saw acknowledged must be on the cluster.
class TestGitlabWiring < Minitest::Test
  include SlotshiftTestHelpers

  DUAL = "use_primary_and_secondary_stores_for_sessions"
  DEFAULT = "use_primary_store_as_default_for_sessions"

  def setup
    @features = {}
    @lock = Mutex.new
    @old_pool = ConnectionPool.new(size: 3) { Slotshift::Redis.new(url: TestServers.standalone_url(0)) }
    @new_pool = ConnectionPool.new(size: 3) { Slotshift::Redis.new(cluster: TestServers.cluster_urls) }
  end

  def feature(name)
    @lock.synchronize { @features[name] ? true : false }
  end

  def flip(dual:, default:)
    @lock.synchronize { @features.merge!(DUAL => dual, DEFAULT => default) }
  end

  def sessions_store
    Slotshift::MultiStore.create_using_pool(@new_pool, @old_pool, "Sessions", flags: ->(name) { feature(name) })
  end

  def test_the_four_phases_under_a_threaded_workload_lose_no_acknowledged_write
    prefix = "gitlab-wiring:#{SecureRandom.hex(4)}:"
    store = sessions_store
    # GitLab's MultiStoreConnectionPool: every checkout runs inside with_borrowed_connection.
    pool = ConnectionPool.new(size: 4) { store }
    acked = Queue.new
    failed = Queue.new
    stop = false
    writers = Array.new(4) do |t|
      Thread.new do
        i = 0
        until stop
          key = "#{prefix}#{t}:#{i}"
          begin
            pool.with { |s| s.with_borrowed_connection { s.set(key, "v#{i}", ex: 3600) } }
            acked << [key, "v#{i}"]
          rescue Redis::BaseError => e
            failed << "#{key}: #{e.class}: #{e.message}"
          end
          i += 1
        end
      end
    end

    phases = [store.phase]
    sleep 0.3
    flip(dual: true, default: false)
    phases << store.phase
    sleep 0.3
    # Dual-write is on: what only the old store has is copied now.
    report = Slotshift.migrate(@old_pool.with { |c| c }, @new_pool.with { |c| c }, match: "#{prefix}*",
                                                                                 missing_only: true)
    assert_operator report.copied, :>, 0, "no old key was copied: #{report}"
    flip(dual: true, default: true)
    phases << store.phase
    sleep 0.3
    flip(dual: false, default: true)
    phases << store.phase
    sleep 0.3
    stop = true
    writers.each(&:join)

    assert_equal %i[secondary_only dual_write_secondary_default dual_write_primary_default primary_only], phases
    assert failed.empty?, "writes failed: #{Array.new(failed.size) { failed.pop }.first(5).join('; ')}"
    writes = Array.new(acked.size) { acked.pop }
    assert_operator writes.size, :>, 100, "the workload barely ran"
    cluster = @new_pool.with { |c| c }
    missing = writes.each_slice(500).flat_map do |slice|
      got = cluster.mget(*slice.map(&:first))
      slice.zip(got).reject { |(_, want), have| have == want }.map { |(key, _), _| key }
    end
    assert_empty missing.first(10), "#{missing.size} of #{writes.size} acknowledged writes are not on the cluster"
    assert_equal writes.last[1], store.get(writes.last[0]), "phase D reads come from the cluster"
  ensure
    stop = true
    writers&.each(&:join)
  end

  def test_create_using_pool_checks_what_it_is_given
    e = assert_raises(ArgumentError) { Slotshift::MultiStore.create_using_pool(@new_pool, @old_pool, nil) }
    assert_equal "instance_name is required", e.message
    e = assert_raises(ArgumentError) { Slotshift::MultiStore.create_using_pool(nil, @old_pool, "Sessions") }
    assert_match(/either primary_store or primary_pool is required/, e.message)
    plain = ConnectionPool.new(size: 1) { Redis.new(url: TestServers.standalone_url(0)) }
    e = assert_raises(ArgumentError) { Slotshift::MultiStore.create_using_pool(@new_pool, plain, "Sessions") }
    assert_match(/invalid secondary_pool: its connections must be Slotshift::Redis, got Redis/, e.message)
    e = assert_raises(ArgumentError) { Slotshift::MultiStore.create_using_client(@new_pool.with { |c| c }, nil, "Sessions") }
    assert_match(/either secondary_store or secondary_pool is required/, e.message)
  end

  def test_borrowing_checks_out_of_both_pools_and_nests
    store = sessions_store
    available = -> { [@new_pool.available, @old_pool.available] }
    before = available.call
    store.with_borrowed_connection do
      assert_equal before.map { |n| n - 1 }, available.call
      # ConnectionPool hands a thread that holds a connection the same one again.
      store.with_borrowed_connection { assert_equal before.map { |n| n - 1 }, available.call }
      assert_equal before.map { |n| n - 1 }, available.call
    end
    assert_equal before, available.call
  end

  def test_flags_come_from_the_callback_and_cannot_be_set_besides
    store = sessions_store
    assert_equal :secondary_only, store.phase
    flip(dual: true, default: true)
    assert_equal :dual_write_primary_default, store.phase
    assert store.is_a?(::Redis)
    assert_equal @new_pool.with(&:to_s), store.to_s, "to_s is the primary's while dual-write is on"
    e = assert_raises(Slotshift::MultiStoreError) { store.use_primary_store_as_default = false }
    assert_match(/use_primary_store_as_default_for_sessions/, e.message)
    raising = Slotshift::MultiStore.create_using_pool(@new_pool, @old_pool, "Sessions", flags: ->(_) { raise "no db" })
    assert_equal :secondary_only, raising.phase, "a flag that cannot be read counts as off"
  end

  def test_readonly_pipelines_run_on_the_default_store_only_and_do_not_nest
    store = sessions_store
    flip(dual: true, default: false)
    key = "gitlab-wiring:ro:#{SecureRandom.hex(4)}"
    store.with_readonly_pipeline do
      store.pipelined { |p| p.set(key, "1") }
      assert_raises(Slotshift::MultiStore::NestedReadonlyPipelineError) { store.with_readonly_pipeline { nil } }
      assert store.readonly_pipeline?, "a refused nested use left the outer scope read-only"
    end
    refute store.readonly_pipeline?
    assert_equal "1", @old_pool.with { |c| c.get(key) }
    assert_nil @new_pool.with { |c| c.get(key) }, "a read-only pipeline ran on the non-default store"
  end
end
