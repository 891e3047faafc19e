# frozen_string_literal: true

module Slotshift
  # One client over two stores while a workload moves from the old one (the secondary) to the
  # new one (the primary), controlled by GitLab's two flags:
  #
  #   store = Slotshift::MultiStore.new(name: "cache", primary: new_client, secondary: old_client)
  #   store.use_primary_and_secondary_stores = true   # dual-write, old store still the default
  #   store.use_primary_store_as_default = true       # reads from the new store
  #   store.use_primary_and_secondary_stores = false  # the new store only
  #
  # It is a `::Redis` (redis-rb 4.8's command methods, arguments and return values, as
  # Slotshift::Redis) whose client object sends through the core's MultiStore: writes go to
  # both stores concurrently while dual-write is on, reads to the default store.
  class MultiStore < ::Redis
    include Multiplexed


    OPTIONS = %i[use_primary_and_secondary_stores use_primary_store_as_default flags flags_key
                 flags_cache_ttl strict fallback_reads async_non_default_writes
                 primary_read_percentage shadow_read_ratio metrics_prefix non_default_timeout].freeze

    attr_reader :primary, :secondary

    # `primary:` and `secondary:` are Slotshift::Client objects (or option hashes for one).
    # `flags:` is :in_process (default; starting from the two flag options), :env
    # (USE_PRIMARY_AND_SECONDARY_STORES_FOR_<NAME>, USE_PRIMARY_STORE_AS_DEFAULT_FOR_<NAME>) or
    # :shared_key (a hash at `flags_key:` in the secondary store, read by every process).
    def initialize(name:, primary:, secondary:, **options)
      unknown = options.keys - OPTIONS
      raise ArgumentError, "unknown option#{'s' if unknown.size > 1}: #{unknown.map(&:inspect).join(', ')}" if unknown.any?

      @primary = primary.is_a?(Hash) ? Slotshift::Redis.new(**primary) : primary
      @secondary = secondary.is_a?(Hash) ? Slotshift::Redis.new(**secondary) : secondary
      [@primary, @secondary].each do |c|
        raise TypeError, "primary:/secondary: must be Slotshift::Redis, got #{c.class}" unless c.is_a?(Slotshift::Redis)
      end
      native_options = {
        "dual_write" => options[:use_primary_and_secondary_stores],
        "primary_default" => options[:use_primary_store_as_default],
        "flags" => options[:flags]&.to_s,
      }
      (OPTIONS - %i[use_primary_and_secondary_stores use_primary_store_as_default flags]).each do |k|
        native_options[k.to_s] = options[k] unless options[k].nil?
      end
      @native = Native::MultiStore.new(name.to_s, @primary.native, @secondary.native, native_options)
      native = @native
      client = NativeClient.new(->(_options) { native }, { id: "multistore://#{name}", db: 0 }, {})
      @options = { name: name }
      @cluster_mode = false
      @original_client = @client = client
      @queue = Hash.new { |h, k| h[k] = [] }
      @monitor = Monitor.new
    end

    def name
      @native.name
    end

    # Dual-write flag (`use_primary_and_secondary_stores_for_<name>`).
    def use_primary_and_secondary_stores?
      @native.flags[0]
    end

    # Primary-as-default flag (`use_primary_store_as_default_for_<name>`).
    def use_primary_store_as_default?
      @native.flags[1]
    end

    def use_primary_and_secondary_stores=(on)
      @native.set_flags(on ? true : false, use_primary_store_as_default?)
    end

    def use_primary_store_as_default=(on)
      @native.set_flags(use_primary_and_secondary_stores?, on ? true : false)
    end

    # Both flags at once (one atomic change).
    def set_flags(use_primary_and_secondary_stores:, use_primary_store_as_default:)
      @native.set_flags(use_primary_and_secondary_stores ? true : false, use_primary_store_as_default ? true : false)
    end

    # :secondary_only, :dual_write_secondary_default, :dual_write_primary_default, :primary_only
    def phase
      @native.phase.gsub(/([a-z])([A-Z])/, '\1_\2').downcase.to_sym
    end

    # The store reads go to now.
    def default_store
      use_primary_store_as_default? ? @primary : @secondary
    end

    def same_server?
      @native.same_server?
    end

    # The MultiStore's counters (Prometheus text).
    def metrics_text
      @native.metrics_text
    end

    # Waits until queued non-default writes are done (async_non_default_writes); true if so.
    def drain(timeout = 5.0)
      @native.drain(timeout.to_f)
    end

    # Yields the store itself (a connection-pool-shaped `with`).
    def with
      yield self
    end

    # The stores' connections close when they are garbage collected.
    def close
      nil
    end

    # Keyspace-wide commands run on the default store (every master of it).
    %i[keys dbsize randomkey scan scan_each].each do |m|
      define_method(m) { |*args, **kw, &blk| default_store.public_send(m, *args, **kw, &blk) }
    end

    # FLUSHDB/FLUSHALL: on the default store, and on the other one too while dual-write is on.
    %i[flushdb flushall].each do |m|
      define_method(m) do |*args|
        other = default_store.equal?(@primary) ? @secondary : @primary
        other.public_send(m, *args) if use_primary_and_secondary_stores?
        default_store.public_send(m, *args)
      end
    end

    def inspect
      "#<Slotshift::MultiStore #{name} #{phase}>"
    end
  end
end
