# frozen_string_literal: true

# slotshift: move Redis data between deployments with zero downtime (above all from a
# standalone or Sentinel Redis to a Redis Cluster) and run well on the cluster afterwards.
#
#   require "slotshift"
#   redis = Slotshift::Redis.new(cluster: ["redis://127.0.0.1:7000"])  # was Redis.new(...)
#   redis.mget("a", "b", "c")  # keys of three slots: one pipeline per node, in order
#
# Slotshift::Redis is a subclass of redis-rb 4.8's Redis: redis-rb's command layer above, the
# Rust core beneath (see docs/ruby.md).

require "json"
require_relative "slotshift/version"
require_relative "slotshift/errors"
require "slotshift/slotshift" # the native extension (ext/slotshift)
require_relative "slotshift/native_client"
require_relative "slotshift/shard_pubsub"
require_relative "slotshift/redis"
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

  # The Logger (or anything with `add(severity, message, progname)` and `level`) the core's log
  # records go to: a MultiStore's failed non-default writes and same-server guard, the
  # validator's count mode, migrate's skipped keys … (nil: none, the default). Records at the
  # logger's level and above are passed, as of this assignment; a thread of the gem
  # ("slotshift-log") hands them over, so a command never waits for the logger. At most
  # 1,024 records wait; more are dropped and counted (`dropped_log_records`).
  #
  #   Slotshift.logger = Rails.logger
  def logger=(logger)
    @logger = logger
    if logger.nil?
      Native.log_level = nil
      return
    end

    Native.log_level = LOG_LEVELS.fetch(logger.level.to_i.clamp(0, 4))
    start_log_thread
  end

  # The Logger set with #logger=, or nil.
  def logger
    @logger
  end

  # How many core log records were dropped because the logger's thread did not keep up.
  def dropped_log_records
    Native.dropped_log_records
  end

  # Counts what this thread's commands cost while the block runs (one web request, one job),
  # as GitLab's per-request Redis instrumentation does for Lograge and Sidekiq's job logs.
  # Returns the block's value; inside, #request_log_fields gives the figures so far. Nests (an
  # outer scope counts what inner ones count).
  #
  #   # a Rack middleware
  #   def call(env) = Slotshift.request_scope { @app.call(env) }
  #   # Lograge
  #   config.lograge.custom_payload { |_controller| Slotshift.request_log_fields }
  def request_scope(&block)
    raise ArgumentError, "request_scope needs a block" unless block

    Native.request_scope(&block)
  end

  # The innermost open #request_scope's figures so far, as structured log fields:
  # "redis_calls", "redis_duration_s", "redis_read_bytes", "redis_write_bytes",
  # "redis_cross_slot_calls", "redis_allowed_cross_slot_calls", and the same per store as
  # "redis_<name>_…" (zero fields left out); {} outside any scope.
  def request_log_fields
    Native.request_log_fields || {}
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
  # type:, samples:, rate:, show_keys:, top:; coordinator: (a Slotshift::Redis) and job: (a
  # name) share the analysis between processes, as for #migrate.
  def analyze(client, **options)
    allowed = %i[count match type samples rate show_keys top coordinator job]
    unknown = options.keys - allowed
    raise ArgumentError, "unknown option#{'s' if unknown.size > 1}: #{unknown.map(&:inspect).join(', ')}" if unknown.any?
    raise TypeError, "analyze needs a Slotshift::Redis, got #{client.class}" unless client.is_a?(Redis)

    Report.new(Native.analyze(client.native, migrate_options(options)))
  end

  # Compares two deployments key by key (both ways: keys missing on the destination, extra
  # keys, type, value, TTL), with re-check rounds so writes in flight converge away. `source`
  # and `destination` are Slotshift::Redis clients (standalone, Sentinel or cluster, any mix).
  # Options: mode: ("full", "length", "outline"), match:, type:, rate: (keys/s),
  # ttl_tolerance_ms: (milliseconds, as on the command line and in C); coordinator: and job:
  # as for #migrate. Returns a Slotshift::DiffReport.
  def diff(source, destination, **options)
    check_migrate_args("diff", source, destination, options, %i[mode match type rate ttl_tolerance_ms coordinator job])
    DiffReport.new(*Native.diff(source.native, destination.native, migrate_options(options)))
  end

  # Copies the keys missing or different on `destination` from `source` (DUMP/RESTORE with
  # TTLs kept, verified, ending with a full diff). Options: match:, type:, rate: (keys/s),
  # ttl_tolerance_ms: (milliseconds), dry_run: (report what would be copied, write nothing),
  # missing_only: (write only keys the destination lacks: the backfill under dual-write);
  # coordinator: (a Slotshift::Redis of any Redis, the destination will do) and job: (a name):
  # this process is one of several sharing the migration, each leasing slot ranges from the
  # coordinator, and every one returns the merged report (docs/migrate.md). Returns a
  # Slotshift::MigrateReport.
  def migrate(source, destination, **options)
    check_migrate_args("migrate", source, destination, options, %i[match type rate ttl_tolerance_ms dry_run missing_only coordinator job])
    MigrateReport.new(*Native.migrate(source.native, destination.native, migrate_options(options)))
  end

  # Logger's numeric levels (DEBUG … FATAL) => the core's level names.
  LOG_LEVELS = %w[debug info warn error error].freeze
  # The core's level names => Logger's severities.
  LOG_SEVERITIES = { "trace" => 0, "debug" => 0, "info" => 1, "warn" => 2, "error" => 3 }.freeze

  class << self
    private

    # The thread that hands the core's log records to #logger (started once per process;
    # again in a forked child, whose copy of it does not run).
    def start_log_thread
      return if @log_thread&.alive? && @log_pid == Process.pid

      @log_pid = Process.pid
      @log_thread = Thread.new do
        Thread.current.name = "slotshift-log"
        Thread.current.report_on_exception = false
        loop do
          level, target, message = Native.next_log_record(nil)
          begin
            @logger&.add(LOG_SEVERITIES.fetch(level, 2), message, target)
          rescue StandardError
            nil # a failing logger must not end the thread
          end
        end
      end
    end

    def check_migrate_args(name, source, destination, options, allowed)
      unknown = options.keys - allowed
      raise ArgumentError, "unknown option#{'s' if unknown.size > 1}: #{unknown.map(&:inspect).join(', ')}" if unknown.any?

      { "source" => source, "destination" => destination }.each do |what, c|
        raise TypeError, "#{name} needs a Slotshift::Redis as #{what}, got #{c.class}" unless c.is_a?(Redis)
      end
    end

    # The options as the native functions take them: string keys, symbols as strings, and the
    # coordinator as its native store.
    def migrate_options(options)
      options.to_h do |k, v|
        if k == :coordinator && !v.nil?
          raise TypeError, "coordinator: needs a Slotshift::Redis, got #{v.class}" unless v.is_a?(Redis)

          v = v.native
        end
        [k.to_s, v.is_a?(Symbol) ? v.to_s : v]
      end
    end
  end

  # A report of Slotshift.diff or Slotshift.migrate: #to_json is the core's JSON report, #to_h
  # its parsed form, #to_s / #to_text the core's text form.
  class MigrationReport
    def initialize(json, text)
      @json = json
      @text = text
      @data = JSON.parse(json)
    end

    def to_json(*_args)
      @json
    end

    def to_text
      @text
    end
    alias to_s to_text

    def to_h
      @data
    end

    def [](key)
      @data[key.to_s]
    end

    # Whether the walk finished (false when it was stopped early).
    def complete?
      @data["complete"] == true
    end
  end

  # What Slotshift.diff found.
  class DiffReport < MigrationReport
    # Differences left after the re-check rounds, all kinds together.
    attr_reader :total_differences

    def initialize(json, text, total_differences)
      super(json, text)
      @total_differences = total_differences
    end

    # The mismatches listed in the report (Hashes: "key", "kind", "detail").
    def mismatches
      @data.fetch("mismatches", [])
    end

    def inspect
      "#<Slotshift::DiffReport #{total_differences} differences>"
    end
  end

  # What Slotshift.migrate did.
  class MigrateReport < MigrationReport
    # Keys written on the destination (restored plus rewritten); in a dry run, the keys that
    # would be.
    attr_reader :copied

    def initialize(json, text, copied)
      super(json, text)
      @copied = copied
    end

    # The final diff's report (a DiffReport's Hash), or nil without one.
    def final_diff
      @data["final_diff"]
    end

    def inspect
      "#<Slotshift::MigrateReport #{copied} copied>"
    end
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
