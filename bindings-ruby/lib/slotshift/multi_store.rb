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
  #
  # GitLab's constructors and wrappers are here too: `create_using_pool` (connection pools of
  # Slotshift::Redis, borrowed around each `with_borrowed_connection` block),
  # `create_using_client`, `with_readonly_pipeline`, and flags asked of the application:
  #
  #   MultiStore.create_using_pool(ClusterSessions.pool, Sessions.pool, "Sessions",
  #                                flags: ->(name) { Feature.enabled?(name) })
  class MultiStore < ::Redis
    include Multiplexed
    include ValueChecks

    # Raised by a `with_readonly_pipeline` inside another (GitLab's error of the same name).
    class NestedReadonlyPipelineError < ArgumentError
      def initialize(message = "Nested use of with_readonly_pipeline is detected.")
        super
      end
    end

    OPTIONS = %i[use_primary_and_secondary_stores use_primary_store_as_default flags flags_key
                 flags_cache_ttl strict fallback_reads async_non_default_writes
                 primary_read_percentage shadow_read_ratio metrics_prefix non_default_timeout].freeze

    attr_reader :primary, :secondary

    # GitLab's `MultiStore.create_using_pool(primary_pool, secondary_pool, instance_name)`:
    # each pool (a ConnectionPool, or anything with `with`) must hold Slotshift::Redis clients
    # (checked on one checked-out connection each). Commands go through the core's MultiStore
    # over those clients' stores, whose connections are shared; `with_borrowed_connection`
    # still checks one connection out of each pool for its block, as GitLab's does.
    def self.create_using_pool(primary_pool, secondary_pool, instance_name, **options)
      check_instance_name(instance_name)
      primary = borrowed_client(primary_pool, "primary_pool", "primary_store")
      secondary = borrowed_client(secondary_pool, "secondary_pool", "secondary_store")
      new(name: instance_name, primary: primary, secondary: secondary, **options).tap do |store|
        store.instance_variable_set(:@pools, [primary_pool, secondary_pool])
      end
    end

    # GitLab's `MultiStore.create_using_client(primary_store, secondary_store, instance_name)`.
    def self.create_using_client(primary_store, secondary_store, instance_name, **options)
      check_instance_name(instance_name)
      { "primary_store" => primary_store, "secondary_store" => secondary_store }.each do |what, c|
        raise ArgumentError, "either #{what} or #{what.sub('store', 'pool')} is required" if c.nil?
        raise ArgumentError, "invalid #{what}: a Slotshift::Redis is needed, got #{c.class}" unless c.is_a?(Slotshift::Redis)
      end
      new(name: instance_name, primary: primary_store, secondary: secondary_store, **options)
    end

    def self.check_instance_name(name)
      raise ArgumentError, "instance_name is required" if name.nil? || name.to_s.empty?
    end

    def self.borrowed_client(pool, what, store_what)
      raise ArgumentError, "either #{store_what} or #{what} is required" if pool.nil?
      raise ArgumentError, "invalid #{what}: expected a connection pool (with `with`), got #{pool.class}" unless pool.respond_to?(:with)

      client = pool.with { |c| c }
      raise ArgumentError, "invalid #{what}: its connections must be Slotshift::Redis, got #{client.class}" unless client.is_a?(Slotshift::Redis)

      client
    end
    private_class_method :check_instance_name, :borrowed_client

    # `primary:` and `secondary:` are Slotshift::Client objects (or option hashes for one).
    # `flags:` is :in_process (default; starting from the two flag options), :env
    # (USE_PRIMARY_AND_SECONDARY_STORES_FOR_<NAME>, USE_PRIMARY_STORE_AS_DEFAULT_FOR_<NAME>),
    # :shared_key (a hash at `flags_key:` in the secondary store, read by every process), or a
    # callable asked with each flag's name (GitLab's: `->(name) { Feature.enabled?(name) }`,
    # names `use_primary_and_secondary_stores_for_<name>` and
    # `use_primary_store_as_default_for_<name>`, the instance name underscored). A callable is
    # asked before each command, or once per `flags_cache_ttl:` seconds when given; what it
    # raises counts as off, as GitLab's guard does.
    def initialize(name:, primary:, secondary:, **options)
      unknown = options.keys - OPTIONS
      raise ArgumentError, "unknown option#{'s' if unknown.size > 1}: #{unknown.map(&:inspect).join(', ')}" if unknown.any?

      if options[:flags].respond_to?(:call)
        @flag_callback = options[:flags]
        @flag_ttl = options.key?(:flags_cache_ttl) ? Float(options[:flags_cache_ttl]) : 0.0
        @flags_asked_at = nil
        options = options.merge(flags: :in_process).tap { |o| o.delete(:flags_cache_ttl) }
        underscored = name.to_s.gsub(/([a-z\d])([A-Z])/, '\1_\2').tr("-", "_").downcase
        @flag_names = ["use_primary_and_secondary_stores_for_#{underscored}", "use_primary_store_as_default_for_#{underscored}"]
      end

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
      refresh_flags
      @native.flags[0]
    end

    # Primary-as-default flag (`use_primary_store_as_default_for_<name>`).
    def use_primary_store_as_default?
      refresh_flags
      @native.flags[1]
    end

    def use_primary_and_secondary_stores=(on)
      refuse_with_callback!
      @native.set_flags(on ? true : false, use_primary_store_as_default?)
    end

    def use_primary_store_as_default=(on)
      refuse_with_callback!
      @native.set_flags(use_primary_and_secondary_stores?, on ? true : false)
    end

    # Both flags at once (one atomic change).
    def set_flags(use_primary_and_secondary_stores:, use_primary_store_as_default:)
      refuse_with_callback!
      @native.set_flags(use_primary_and_secondary_stores ? true : false, use_primary_store_as_default ? true : false)
    end

    # :secondary_only, :dual_write_secondary_default, :dual_write_primary_default, :primary_only
    def phase
      refresh_flags
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

    # GitLab's: for the block, one connection checked out of each pool the store was built
    # from (`create_using_pool`), primary then secondary, given back after it (nested borrows
    # nest). Without pools it just yields.
    def with_borrowed_connection(&block)
      return yield unless @pools

      @pools[0].with { |_primary| @pools[1].with { |_secondary| block.call } }
    end

    # GitLab's: inside the block, `pipelined` and `multi` run on the default store only (no
    # second run on the other store, no comparison). Nesting raises NestedReadonlyPipelineError.
    def with_readonly_pipeline
      raise NestedReadonlyPipelineError if readonly_pipeline?

      begin
        Thread.current[readonly_key] = true
        yield
      ensure
        Thread.current[readonly_key] = nil
      end
    end

    # Whether this thread is inside `with_readonly_pipeline`.
    def readonly_pipeline?
      Thread.current[readonly_key] ? true : false
    end

    def pipelined(*args, **kw, &block)
      return default_store.pipelined(*args, **kw, &block) if readonly_pipeline?

      super
    end

    def multi(*args, **kw, &block)
      return default_store.multi(*args, **kw, &block) if readonly_pipeline? && block

      super
    end

    # GitLab's masquerade: a MultiStore also says it is what its default store is.
    def is_a?(klass)
      super || default_store.is_a?(klass)
    end
    alias kind_of? is_a?

    # The primary's `to_s` while dual-write is on, else the default store's (as GitLab's).
    def to_s
      use_primary_and_secondary_stores? ? @primary.to_s : default_store.to_s
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

    private

    # Every command path asks a flag callback first (see #initialize).
    def send_command(command, &block)
      refresh_flags
      super
    end

    def send_blocking_command(command, timeout, &block)
      refresh_flags
      super
    end

    # `pipelined`, `multi` and `watch` go through here.
    def synchronize(&block)
      refresh_flags
      super
    end

    # The flag callback's answers given to the core (only when they changed), at most once
    # per `flags_cache_ttl:`.
    def refresh_flags
      return unless @flag_callback

      now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      return if @flags_asked_at && now - @flags_asked_at < @flag_ttl

      @flags_asked_at = now
      flags = @flag_names.map { |n| flag_on?(n) }
      return if flags == @flags_given

      @native.set_flags(*flags)
      @flags_given = flags
    end

    # What the callback says of flag `name`; an exception counts as off (GitLab's guard: a
    # flag that cannot be read must not route writes).
    def flag_on?(name)
      @flag_callback.call(name) ? true : false
    rescue StandardError
      false
    end

    def refuse_with_callback!
      return unless @flag_callback

      raise MultiStoreError, "#{name}: the flags: callback decides the flags; change them where it reads them " \
                             "(#{@flag_names.join(', ')})"
    end

    def readonly_key
      @readonly_key ||= :"slotshift_multistore_readonly_#{object_id}"
    end
  end
end
