# frozen_string_literal: true

# slotshift: move Redis data between deployments with zero downtime (above all from a
# standalone or Sentinel Redis to a Redis Cluster) and run well on the cluster afterwards.
#
#   require "slotshift"
#   redis = Slotshift::Client.new(url: "redis://127.0.0.1:7000")   # any node of a cluster
#   redis.mget("a", "b", "c")  # keys of three slots: one pipeline per node, in order
#
# The Rust core does the work; this gem gives it redis-rb's names (see docs/ruby.md).

require "json"
require_relative "slotshift/version"
require_relative "slotshift/errors"
require "slotshift/slotshift" # the native extension (ext/slotshift)
require_relative "slotshift/commands"
require_relative "slotshift/batch"
require_relative "slotshift/client"
require_relative "slotshift/multi_store"
require_relative "slotshift/recorder"

module Slotshift
  module_function

  # The cluster hash slot of `key` (CRC16 with the hash-tag rule), 0..16383.
  def key_slot(key)
    raise TypeError, "key must be a String, got #{key.class}" unless key.is_a?(String)

    Native.key_slot(key)
  end

  # The slots of many keys, in order.
  def key_slots(keys)
    Native.key_slots(keys.to_ary)
  end

  # Runs the block with cross-slot commands allowed on this thread (counted as allowed, not
  # refused, by the validator), as GitLab's `Gitlab::Instrumentation::RedisClusterValidator
  # .allow_cross_slot_commands`. Nests; returns the block's value.
  def allow_cross_slot_commands
    Native.allow_enter
    begin
      yield
    ensure
      Native.allow_exit
    end
  end

  # The global cross-slot validation mode: :raise, :count or :off (default: the
  # SLOTSHIFT_CROSS_SLOT_VALIDATION environment variable, else :off).
  def cross_slot_validation
    Native.validation_mode.to_sym
  end

  def cross_slot_validation=(mode)
    Native.validation_mode = mode.to_s
  end

  # Cross-slot counts of the store named `name`: { cross_slot:, allowed:, refused: }.
  def cross_slot_counts(name = "default")
    cross_slot, allowed, refused = Native.validator_counts(name.to_s)
    { cross_slot: cross_slot, allowed: allowed, refused: refused }
  end

  # Every store's metrics (calls, durations, bytes, errors per command, cross-slot counts) as
  # Prometheus text.
  def metrics_text
    Native.metrics_text
  end

  # The keyspace analyzer: scans every master of `client`'s deployment and groups keys into
  # patterns (sensitive parts masked), with memory, types and TTLs. Options: count:, match:,
  # type:, samples:, rate:, show_keys:, top:.
  def analyze(client, **options)
    allowed = %i[count match type samples rate show_keys top]
    unknown = options.keys - allowed
    raise ArgumentError, "unknown option#{'s' if unknown.size > 1}: #{unknown.map(&:inspect).join(', ')}" if unknown.any?
    raise TypeError, "analyze needs a Slotshift::Client, got #{client.class}" unless client.is_a?(Client)

    Report.new(Native.analyze(client.native, options.transform_keys(&:to_s)))
  end

  # What Slotshift.analyze found. #to_json is the core's JSON report; #to_h its parsed form.
  class Report
    def initialize(json)
      @json = json
      @data = JSON.parse(json)
    end

    def to_json(*_args)
      @json
    end

    def to_h
      @data
    end

    def [](key)
      @data[key.to_s]
    end

    # The pattern rows (Hashes).
    def patterns
      @data.fetch("patterns", [])
    end

    def inspect
      "#<Slotshift::Report #{patterns.size} patterns>"
    end
  end
end
