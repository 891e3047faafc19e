# frozen_string_literal: true

require_relative "test_helper"

# The vectors every language shares (tests/fixtures): slots, split plans, the error table.
class TestFixtures < Minitest::Test
  include SlotshiftTestHelpers

  def test_slots_json
    doc = TestServers.fixture("slots.json")
    check = doc.fetch("crc16_check")
    assert_equal check.fetch("crc16") % 16_384, Slotshift.key_slot(check.fetch("input"))
    doc.fetch("vectors").each do |v|
      key = [v.fetch("key_hex")].pack("H*")
      assert_equal v.fetch("slot"), Slotshift.key_slot(key), "key_hex #{v['key_hex']}"
    end
    keys = doc.fetch("vectors").map { |v| [v.fetch("key_hex")].pack("H*") }
    assert_equal doc.fetch("vectors").map { |v| v.fetch("slot") }, Slotshift.key_slots(keys)
    doc.fetch("same_slot").each do |a, b|
      assert_equal Slotshift.key_slot(a), Slotshift.key_slot(b), "#{a} / #{b}"
    end
  end

  MULTI_KEY = %w[MGET DEL EXISTS TOUCH UNLINK].freeze
  COMPARED = %w[MGET GET SET MSET DEL EXISTS TOUCH UNLINK PING].freeze

  def part_keys(args)
    name = args.first.upcase
    return args[1..].each_slice(2).map(&:first) if %w[MSET MSETNX].include?(name)
    return args[1..] if MULTI_KEY.include?(name)

    []
  end

  # Every part's keys hash to the part's slot.
  def test_split_plan_parts_hash_to_their_slots
    TestServers.fixture("split_plans.json").fetch("cases").each do |c|
      c.fetch("parts").each do |part|
        next if part["slot"].nil? || part["args"].nil?

        part_keys(part["args"]).each do |k|
          assert_equal part["slot"], Slotshift.key_slot(k), "#{c['name']}: #{part['args'].inspect}"
        end
      end
    end
  end

  # Replays each case on the real 3-master cluster: the database is seeded so that every part
  # would answer what the fixture says, the commands go through the CrossSlot batcher (with the
  # case's batch limit), and the results equal the fixture's merged results. Cases whose merged
  # results need a failing node (partial_failure) are checked for their slots only.
  def test_split_plans_replayed_on_a_cluster
    replayed = 0
    TestServers.fixture("split_plans.json").fetch("cases").each do |c|
      merged = c.fetch("merged")
      next if merged.nil? || JSON.generate(merged).include?("partial_failure")

      seed = seed_for(c)
      next if seed.nil?

      client = cluster_client(batch_limit: c.fetch("limit"))
      client.flushdb
      seed.each { |k, v| v.nil? ? client.del(k) : client.set(k, v) }
      results = c.fetch("commands").empty? ? [] : client.native.pipeline(c.fetch("commands"))
      assert_equal merged.size, results.size, c["name"]
      merged.zip(results).each_with_index do |(want, got), i|
        if want.is_a?(Hash) && want.key?("refused")
          assert_kind_of Slotshift::PipelineError, got, "#{c['name']} command #{i}"
        elsif !COMPARED.include?(c.fetch("commands")[i].first.upcase)
          # The fixture's replies for conditional writes (MSETNX) assume a state the seed
          # cannot give together with the reads before them: no error is what we check.
          refute_kind_of Exception, got, "#{c['name']} command #{i}"
        elsif want.is_a?(Hash) && want.key?("status")
          assert_equal want["status"], got, "#{c['name']} command #{i}"
        else
          assert_equal want, got, "#{c['name']} command #{i}"
        end
      end
      replayed += 1
    end
    assert_operator replayed, :>=, 8, "most split-plan cases replayed"
  end

  # key => value (nil: absent) that makes every part reply as the fixture says; nil when the
  # replies do not pin the state down.
  def seed_for(c)
    replies = c["part_replies"] or return nil
    seed = {}
    c.fetch("parts").each_with_index do |part, i|
      args = part["args"] || c.fetch("commands")[part.fetch("command")]
      name = args.first.upcase
      reply = replies[i]
      keys = part_keys(args)
      case name
      when "MGET"
        return nil unless reply.is_a?(Array) && reply.size == keys.size

        keys.zip(reply).each { |k, v| seed[k] = v unless seed.key?(k) && v.nil? }
      when "GET"
        seed[args[1]] ||= reply if reply.is_a?(String)
      when "DEL", "EXISTS", "TOUCH", "UNLINK"
        return nil unless reply.is_a?(Integer)

        # The fixture's state can change within a case (a write between two reads); a case
        # whose replies contradict one starting state is not replayed.
        if reply.zero?
          return nil if keys.any? { |k| seed[k] }

          keys.each { |k| seed[k] = nil }
        elsif reply == keys.size
          return nil if keys.any? { |k| seed.key?(k) && seed[k].nil? }

          keys.each { |k| seed[k] ||= "x" }
        else
          return nil
        end
      end
    end
    seed
  end

  def test_errors_json_is_the_ruby_table
    doc = TestServers.fixture("errors.json")
    assert_equal "Slotshift::Error", doc.fetch("ruby_base")
    rows = doc.fetch("families")
    assert_equal rows.map { |r| r.fetch("family") }, Slotshift::ERRORS.keys
    assert_equal Slotshift::Native.error_families, Slotshift::ERRORS.keys, "the core's families"
    rows.each do |r|
      klass = Object.const_get(r.fetch("ruby"))
      assert_same klass, Slotshift::ERRORS.fetch(r.fetch("family"))
      assert_operator klass, :<, Slotshift::Error
      assert_operator klass, :<, ::Redis::BaseError, "rescue Redis::BaseError must catch #{klass}"
    end
  end

  # One error per family the Ruby API can reach, raised as the table's class.
  def test_reachable_families_raise_their_classes
    assert_raises(Slotshift::ConfigError) { Slotshift::Client.new(url: "nope://x") }
    # Connects on the first command, as redis-rb does.
    e = assert_raises(Slotshift::ConnectionError) { Slotshift::Client.new(url: "redis://127.0.0.1:1", timeout: 0.3).ping }
    # The core's one connection family, refined into redis-rb's class for the failure.
    assert_kind_of ::Redis::CannotConnectError, e
    assert_kind_of Slotshift::CannotConnectError, e
    r = standalone_client(5)
    r.set("s", "x")
    assert_raises(Slotshift::CommandError) { r.incr("s") }
    c = cluster_client
    assert_raises(Slotshift::RoutingError) { c.multi { |t| t.set("a", 1); t.set("b", 2) } }
    assert_raises(Slotshift::PipelineError) { c.call("MSETNX", "a", "1", "b", "2") }
    strict = cluster_client(cross_slot_validation: :raise, name: "strict")
    assert_raises(Slotshift::CrossSlotError) { strict.call("RENAME", "a", "b") }
    assert_raises(Slotshift::MultiStoreError) do
      Slotshift::MultiStore.new(name: "bad", primary: c, secondary: r, primary_read_percentage: 101)
    end
    e = assert_raises(Slotshift::InvalidCommandError, Slotshift::CommandError) { c.call("EVAL", "return 1", "x") }
    assert_kind_of Slotshift::Error, e
  end
end
