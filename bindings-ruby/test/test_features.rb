# frozen_string_literal: true

require_relative "test_helper"

# MultiStore, the validator's allow scope, the Recorder, metrics and the analyzer from Ruby.
class TestFeatures < Minitest::Test
  include SlotshiftTestHelpers

  def test_cluster_cross_slot_commands_and_pipelines_are_split
    r = cluster_client
    keys = keys_across_slots("x", 300)
    assert_operator keys.map { |k| Slotshift.key_slot(k) }.uniq.size, :>, 250
    assert_equal "OK", r.mset(*keys.flat_map { |k| [k, "v#{k}"] })
    assert_equal keys.map { |k| "v#{k}" }, r.mget(*keys)
    assert_equal 300, r.exists(*keys)
    replies = r.pipelined { |p| keys.each { |k| p.get(k) } }
    assert_equal keys.map { |k| "v#{k}" }, replies
    assert_equal 300, r.del(*keys)
    # A transaction on one slot (hash tag) works.
    assert_equal ["OK", 2], r.multi { |t| t.set("{t}a", 1); t.incr("{t}a") }
  end

  def test_multistore_phases_and_flags
    old = standalone_client(6)
    new = cluster_client
    old.flushdb
    new.flushdb
    ms = Slotshift::MultiStore.new(name: "sessions", primary: new, secondary: old)
    assert_equal "sessions", ms.name
    refute ms.same_server?
    ms.set("s:1", "old-only")
    assert_equal "old-only", old.get("s:1")
    assert_nil new.get("s:1")

    ms.set_flags(use_primary_and_secondary_stores: true, use_primary_store_as_default: false)
    assert_equal :dual_write_secondary_default, ms.phase
    assert_equal "OK", ms.mset("s:2", "a", "s:3", "b")
    assert_equal %w[a b], new.mget("s:2", "s:3")
    assert_equal %w[a b], old.mget("s:2", "s:3")
    assert_equal [1, 1], ms.pipelined { |p| p.incr("s:4"); p.hset("s:5", "f", "v") }
    assert_equal "1", new.get("s:4")
    assert_equal "old-only", ms.get("s:1") # reads from the old store

    ms.use_primary_store_as_default = true
    assert_nil ms.get("s:1") # reads now come from the new store
    assert_match(/slotshift_multi_store/, ms.metrics_text)

    ms.use_primary_and_secondary_stores = false
    assert_equal :primary_only, ms.phase
    ms.set("s:6", "new")
    assert_nil old.get("s:6")
    assert_equal "new", new.get("s:6")
  end

  def test_multistore_flags_shared_through_a_redis_key
    old = standalone_client(11)
    new = cluster_client
    old.flushdb
    a = Slotshift::MultiStore.new(name: "shared", primary: new, secondary: old, flags: :shared_key,
                                  flags_key: "slotshift:flags", flags_cache_ttl: 0)
    b = Slotshift::MultiStore.new(name: "shared", primary: new, secondary: old, flags: :shared_key,
                                  flags_key: "slotshift:flags", flags_cache_ttl: 0)
    assert_equal :secondary_only, b.phase
    a.use_primary_and_secondary_stores = true
    assert_equal "1", old.hget("slotshift:flags", "use_primary_and_secondary_stores_for_shared")
    assert_equal :dual_write_secondary_default, b.phase, "another process's view follows the key"
  end

  def test_multistore_same_server_is_detected
    a = standalone_client(7)
    b = standalone_client(7)
    assert Slotshift::MultiStore.new(name: "same", primary: a, secondary: b).same_server?
  end

  def test_allow_cross_slot_commands_and_validation_modes
    strict = cluster_client(cross_slot_validation: :raise, name: "validated")
    e = assert_raises(Slotshift::CrossSlotError) { strict.mget("a", "b") }
    assert_match(/validated/, e.message)
    value = Slotshift.allow_cross_slot_commands do
      Slotshift.allow_cross_slot_commands { strict.mget("a", "b") }
    end
    assert_equal [nil, nil], value
    assert_raises(Slotshift::CrossSlotError) { strict.mget("a", "b") } # the scope ended
    counts = Slotshift.cross_slot_counts("validated")
    assert_operator counts[:allowed], :>=, 1
    assert_operator counts[:refused], :>=, 2
    assert_equal :off, Slotshift.cross_slot_validation
    assert_raises(ArgumentError) { Slotshift.cross_slot_validation = :loud }
  end

  def test_recorder_counts_commands_of_this_thread
    r = cluster_client
    recorder = Slotshift::Recorder.new do
      r.set("rec:a", "1")
      r.mget("rec:a", "rec:b", "rec:c")
      r.pipelined { |p| p.get("rec:a"); p.get("rec:b") }
      Thread.new { r.get("rec:other-thread") }.join
    end
    assert_equal 4, recorder.count
    assert_equal [%w[mget rec:a rec:b rec:c]], recorder.by_command("MGET") # as given, any case
    assert_equal 2, recorder.by_command("get").size
    assert_equal 4, recorder.by_key("rec:*").size
    r.get("rec:after")
    assert_equal 4, recorder.count, "a stopped recorder records nothing more"
  end

  def test_metrics_text_is_prometheus
    r = standalone_client(8, name: "metrics_probe")
    r.set("m", "1")
    r.get("m")
    text = Slotshift.metrics_text
    assert_match(/^# TYPE \S+ (counter|histogram|gauge)/, text)
    assert_includes text, "metrics_probe"
  end

  def test_analyze_reports_patterns
    r = cluster_client
    r.flushdb
    r.mset(*(1..200).flat_map { |i| ["user:#{i}:profile", "x" * 10] })
    r.mset(*(1..50).flat_map { |i| ["session:#{'%032x' % i}", "y"] })
    report = Slotshift.analyze(r, count: 100)
    json = JSON.parse(report.to_json)
    assert_equal json, report.to_h
    text = report.to_json
    refute_includes text, "user:17:profile", "raw keys are masked"
    total = report.patterns.sum { |p| p["keys"].to_i }
    assert_equal 250, total, report.patterns.map { |p| [p["pattern"], p["keys"]] }.inspect
  end
end
