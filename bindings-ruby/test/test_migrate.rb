# frozen_string_literal: true

require_relative "test_helper"

# Slotshift.diff and Slotshift.migrate: a standalone database copied into the cluster.
class TestMigrate < Minitest::Test
  include SlotshiftTestHelpers

  KEYS = (1..300).map { |i| "mig:#{i}" }

  def test_diff_migrate_diff
    src = standalone_client(12)
    dst = cluster_client
    src.flushdb
    dst.del(*KEYS)
    src.mset(*KEYS.flat_map { |k| [k, "value of #{k}"] })
    src.hset("mig:hash", "f", "v")
    src.expire("mig:1", 600)
    dst.set("other:1", "outside the match pattern")

    before = Slotshift.diff(src, dst, match: "mig:*")
    assert_kind_of Slotshift::DiffReport, before
    assert_equal 301, before.total_differences, before.to_s
    assert_equal 301, before["differences"].fetch("missing", 0), before.to_json
    assert_equal JSON.parse(before.to_json), before.to_h
    assert_equal before.to_text, before.to_s
    assert before.complete?

    dry = Slotshift.migrate(src, dst, match: "mig:*", dry_run: true)
    assert_equal 301, dry.copied, dry.to_s # what would be copied
    assert dry["dry_run"]
    assert_nil dst.get("mig:2")

    strings = Slotshift.migrate(src, dst, match: "mig:*", type: :string, rate: 100_000)
    assert_equal 300, strings.copied, strings.to_s
    assert_equal 0, dst.exists("mig:hash")

    # One unit in every language: the old seconds option is refused, naming it.
    e = assert_raises(ArgumentError) { Slotshift.migrate(src, dst, match: "mig:*", ttl_tolerance: 2) }
    assert_match(/ttl_tolerance/, e.message)
    done = Slotshift.migrate(src, dst, match: "mig:*", ttl_tolerance_ms: 2000)
    assert_kind_of Slotshift::MigrateReport, done
    assert_equal 1, done.copied, done.to_s
    assert_includes done.to_s, "migrate"
    assert_equal JSON.parse(done.to_json), done.to_h
    assert_equal "value of mig:7", dst.get("mig:7")
    assert_equal({ "f" => "v" }, dst.hgetall("mig:hash"))
    assert_operator dst.ttl("mig:1"), :>, 500

    after = Slotshift.diff(src, dst, match: "mig:*", mode: :length)
    assert_equal 0, after.total_differences, after.to_s
    assert_equal "length", after["mode"]
  ensure
    dst&.del(*KEYS, "mig:hash", "other:1")
  end

  def test_processes_share_one_migration_through_a_coordinator
    src = standalone_client(13)
    dst = cluster_client
    coordinator = standalone_client(14)
    [src, coordinator].each(&:flushdb)
    keys = (1..200).map { |i| "share:#{i}" }
    dst.del(*keys)
    src.mset(*keys.flat_map { |k| [k, "v #{k}"] })
    job = "rb-share-#{Process.pid}"

    # Two callers here (threads); processes or machines alike: one merged report each.
    reports = Array.new(2) do
      Thread.new { Slotshift.migrate(src, dst, match: "share:*", coordinator: coordinator, job: job) }
    end.map(&:value)
    assert_equal reports[0].to_h, reports[1].to_h
    assert reports[0].complete?
    assert_equal 200, reports[0].copied, reports[0].to_s
    assert_equal "v share:9", dst.get("share:9")
    assert_equal 1, coordinator.exists("slotshift:job:{#{job}}:done")

    d = Slotshift.diff(src, dst, match: "share:*", coordinator: coordinator, job: "#{job}-check")
    assert_equal 0, d.total_differences, d.to_s
    a = Slotshift.analyze(src, match: "share:*", coordinator: coordinator, job: "#{job}-keys")
    assert_equal 200, a.to_h.fetch("total").fetch("keys")

    e = assert_raises(ArgumentError) { Slotshift.migrate(src, dst, coordinator: coordinator) }
    assert_includes e.message, "coordinator: and job: go together"
    assert_raises(TypeError) { Slotshift.migrate(src, dst, coordinator: "redis://x", job: "j") }
    e = assert_raises(Slotshift::MigrateError) { Slotshift.migrate(src, dst, coordinator: coordinator, job: "no way") }
    assert_includes e.message, "invalid job"
  ensure
    dst&.del(*keys) if keys
    coordinator&.flushdb
  end

  def test_same_store_twice_is_a_migrate_error
    a = standalone_client(12)
    b = standalone_client(12)
    assert_raises(Slotshift::MigrateError) { Slotshift.diff(a, b) }
    e = assert_raises(Slotshift::MigrateError) { Slotshift.migrate(a, a) }
    assert_kind_of Slotshift::Error, e
    row = TestServers.fixture("errors.json").fetch("families").find { |r| r["family"] == "migrate" }
    assert_equal row.fetch("ruby"), e.class.name, row.inspect
  end

  def test_bad_options
    a = standalone_client(12)
    b = cluster_client
    e = assert_raises(ArgumentError) { Slotshift.diff(a, b, dry_run: true) }
    assert_includes e.message, ":dry_run"
    assert_raises(ArgumentError) { Slotshift.migrate(a, b, mode: "full") }
    assert_raises(TypeError) { Slotshift.migrate(a, "redis://127.0.0.1:1") }
    e = assert_raises(Slotshift::MigrateError) { Slotshift.diff(a, b, mode: "deep") }
    assert_includes e.message, "deep"
  end
end
