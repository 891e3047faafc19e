# frozen_string_literal: true

module Slotshift
  # The client object beneath redis-rb's command layer: what `::Redis` keeps in
  # `@original_client` and calls through its one seam (`call`, `call_with_timeout`,
  # `call_pipeline`, `process`, `connected?`, `disconnect`, `db=` …), with redis-rb's
  # Redis::Client's accessors (`id`, `location`, `host`, `port`, `db`, `timeout`, `options`).
  # Every command goes to the Rust core's store (Slotshift::Native::Store): routing, the
  # CrossSlot batcher, the validator and instrumentation stay there. redis-rb's command
  # methods build the commands and transform the replies, as they do for its own client.
  #
  # It is built by Slotshift::Redis (or Slotshift::MultiStore); applications do not use it
  # directly.
  class NativeClient
    # Commands whose effect is tied to the one connection they run on. The core multiplexes
    # every caller over shared connections, so they cannot run correctly until it offers a
    # dedicated connection (docs/ruby.md, "What does not work yet"): they raise instead of
    # corrupting other callers' commands.
    SESSION_COMMANDS = %i[watch unwatch multi exec discard subscribe psubscribe ssubscribe unsubscribe
                          punsubscribe sunsubscribe monitor auth hello reset readonly readwrite].freeze
    # CLIENT subcommands that change the connection they run on.
    SESSION_CLIENT_SUBCOMMANDS = %w[setname reply tracking caching no-evict no-touch].freeze

    # Command name (lowercase Symbol) => what this client does with it besides sending it:
    # :select and :quit it answers itself, :session it refuses, :client it looks into.
    # Keyed by lowercase and uppercase Symbols.
    SPECIAL = SESSION_COMMANDS.to_h { |c| [c, :session] }.merge(select: :select, quit: :quit, client: :client)
                              .flat_map { |k, v| [[k, v], [k.upcase, v]] }.to_h.freeze

    # What SPECIAL says of a command's name. redis-rb's methods name commands by lowercase
    # Symbols: one Hash lookup, no allocation; a String (`call("GET")`) is downcased first.
    def self.special(name)
      SPECIAL[name] || (SPECIAL[name.downcase.to_sym] if name.is_a?(String))
    end

    # redis-rb's Redis::Client options this client reports (`options`, `timeout` …).
    attr_reader :options
    # The logger given as `logger:` (commands are logged at debug level, as redis-rb does).
    attr_accessor :logger

    # `target`: a Slotshift::Native::Target, or a proc returning a connected native store (the
    # MultiStore's). `options`: redis-rb-shaped accessors' values (no password).
    # `native_options`: the core's store options.
    def initialize(target, options, native_options)
      @target = target
      @options = options
      @native_options = native_options
      @logger = options[:logger]
      @native = nil
      @blocking = nil
      @lock = Mutex.new
      @pending = nil
      @command_map = {}
    end

    # @api private: a new client object for the same deployment and options (Redis#dup).
    def dup_client
      self.class.new(@target, @options.dup, @native_options)
    end

    # --- redis-rb's Redis::Client accessors ----------------------------------------------------
    # What redis-rb's Redis::Client reports of its connection, from the options as redis-rb
    # reads them: scheme, host, port, path, db, timeouts, username, driver.

    # "redis", "rediss" or "unix".
    def scheme
      @options[:scheme]
    end

    def host
      @options[:host]
    end

    def port
      @options[:port]
    end

    def path
      @options[:path]
    end

    def db
      @options[:db]
    end

    # Selects database `db` for every later command of this client (a store on that database,
    # opened on first use), as redis-rb's `select` does. Not a SELECT on a shared connection.
    def db=(db)
      db = Integer(db)
      return if db == @options[:db]

      @lock.synchronize do
        @options[:db] = db
        @native = nil
        @blocking = nil
      end
    end

    # The per-command (read) timeout in seconds, as redis-rb's `timeout`.
    def timeout
      @options[:read_timeout]
    end

    def read_timeout
      @options[:read_timeout]
    end

    def connect_timeout
      @options[:connect_timeout]
    end

    def username
      @options[:username]
    end

    def driver
      @options[:driver]
    end

    # slotshift connections are never shared with a forked child: the child opens its own.
    def inherit_socket?
      false
    end

    # redis-rb's command renaming table (`command_map[:get] = :set` sends SET for `get`), for
    # servers with renamed commands.
    attr_reader :command_map

    # The password the deployment authenticates with, or nil: asked of the native layer, which
    # alone keeps it (no Ruby object of this client holds it, so none shows it).
    def password
      @target.respond_to?(:password) ? @target.password : nil
    end

    # `redis://host:port/db` (or the cluster's seeds), or the `id:` option.
    def id
      return @options[:id] if @options[:id]
      return @target.to_s if cluster?

      "#{@options[:ssl] ? 'rediss' : scheme}://#{location}/#{db}"
    end

    # "host:port", or the unix socket's path.
    def location
      path || "#{host}:#{port}"
    end

    # For a cluster: one Hash per master (redis-rb's Redis::Cluster#connection_info).
    def connection_info
      native.masters.map do |node|
        host, _, port = node.rpartition(":")
        { host: host, port: port.to_i, db: 0, id: "redis://#{node}", location: node }
      end
    end

    # The deployment kind once connected: :standalone, :sentinel or :cluster.
    def kind
      native.kind.to_sym
    end

    # Whether the options named a cluster (`cluster:`, or several `nodes:`).
    def cluster?
      @options[:cluster] ? true : false
    end

    # --- the seam ------------------------------------------------------------------------------

    # Sends one command (an Array: name first) and returns its reply, passed through the block
    # when one is given (redis-rb's reply transforms). An error reply raises.
    def call(command)
      command = map_command(command)
      reply = dispatch(command) { |n| n.call(command) }
      block_given? ? yield(reply) : reply
    end

    # A blocking command (BLPOP …): on this client's connections for blocking commands, so it
    # neither stalls other callers nor times out before the server answers. `extra_timeout`
    # is redis-rb's (the command carries the server-side timeout itself).
    def call_with_timeout(command, _extra_timeout, &block)
      command = map_command(command)
      reply = dispatch(command) { |_| blocking_native.call(command) }
      block ? block.call(reply) : reply
    end

    # A blocking command without redis-rb's extra timeout (as `call_with_timeout(command, 0)`).
    def call_without_timeout(command, &block)
      call_with_timeout(command, 0, &block)
    end

    # Runs a Redis::Pipeline (or Redis::Pipeline::Multi): a plain pipeline goes to the core in
    # one piece (split per slot and node on a cluster); a MULTI block goes as one transaction.
    # Errors are raised as redis-rb raises them: the first error reply after all ran.
    def call_pipeline(pipeline)
      return [] if pipeline.futures.empty?

      if pipeline.is_a?(::Redis::Pipeline::Multi)
        commands = pipeline.futures.map(&:_command)
        exec = transaction(commands, blocking: pipeline.futures.any?(&:timeout))
        return pipeline.finish([*Array.new(commands.size + 1, "QUEUED"), exec])
      end

      replies = call_pipelined(pipeline)
      pipeline.finish(replies).tap do
        self.db = pipeline.db if pipeline.db
      end
    end

    # The replies of a plain Redis::Pipeline's commands, in order. MULTI … EXEC inside it
    # (a `multi` nested in `pipelined`) runs as one transaction of the core, in its place.
    def call_pipelined(pipeline)
      commands = pipeline.commands.map { |c| map_command(c) }
      return [] if commands.empty?

      blocking = pipeline.timeouts.any?
      replies = []
      run = []
      i = 0
      while i < commands.size
        name = NativeClient.special(commands[i].first)
        if name == :session && commands[i].first.to_s.casecmp?("multi")
          replies.concat(send_pipeline(run, blocking)) unless run.empty?
          run = []
          j = i + 1
          j += 1 while j < commands.size && !commands[j].first.to_s.casecmp?("exec")
          inner = commands[(i + 1)...j]
          replies << "OK"
          replies.concat(Array.new(inner.size, "QUEUED"))
          replies << transaction(inner, blocking: blocking)
          i = j + 1
        elsif name == :select
          # SELECT changes this client's database for the commands after it, as it would on
          # redis-rb's one connection.
          replies.concat(send_pipeline(run, blocking)) unless run.empty?
          run = []
          self.db = commands[i][1]
          replies << "OK"
          i += 1
        else
          check_session!(commands[i])
          run << commands[i]
          i += 1
        end
      end
      replies.concat(send_pipeline(run, blocking)) unless run.empty?
      error = replies.find { |r| r.is_a?(::Redis::CommandError) }
      raise error if error

      replies
    end

    # redis-rb's low-level `process(commands) { read }`: the commands are sent (as one
    # pipeline) and each `read` in the block returns the next reply.
    def process(commands)
      commands.each { |c| check_session!(c) }
      @pending = send_pipeline(commands, false)
      yield if block_given?
    ensure
      @pending = nil
    end

    # The next reply of `process`.
    def read
      raise ::Redis::ConnectionError, "read called outside process" if @pending.nil? || @pending.empty?

      @pending.shift
    end

    # MONITOR and SUBSCRIBE read replies in a loop on one connection: not possible until the
    # core has dedicated connections.
    def call_loop(command, _timeout = 0)
      raise session_error(command)
    end

    # Whether this client has its store open (after the first command, until #disconnect).
    def connected?
      !@native.nil?
    end

    # Connects now (redis-rb connects on the first command; so does this client).
    def connect
      native
      self
    end

    # Drops this client's stores; their connections close, and the next command opens new ones.
    def disconnect
      @lock.synchronize do
        @native = nil
        @blocking = nil
      end
      nil
    end
    alias close disconnect

    # Drops this client's connections and opens new ones.
    def reconnect
      disconnect
      connect
    end

    # redis-rb retries a command once on a broken connection; the core retries idempotent
    # commands within its retry deadline whatever the flag says.
    def with_reconnect(_val = true)
      yield
    end

    # As `with_reconnect(false)`.
    def without_reconnect(&block)
      with_reconnect(false, &block)
    end

    # The core's per-command timeouts stay as configured; blocking commands have their own
    # connections without one.
    def with_socket_timeout(_timeout)
      yield
    end

    # As `with_socket_timeout(0)`.
    def without_socket_timeout(&block)
      with_socket_timeout(0, &block)
    end

    # The connected native store (opened on first use, and again after #disconnect or #db=).
    def native
      @native || @lock.synchronize { @native ||= open_store(@native_options) }
    end

    # The class and #id (never a password).
    def inspect
      "#<#{self.class} #{id}>"
    end

    private

    def open_store(native_options)
      return @target.call(native_options) if @target.respond_to?(:call)

      opts = native_options
      opts = opts.merge("db" => @options[:db]) if @options[:db] && !cluster?
      @target.connect(opts)
    end

    # The store for blocking commands (opened on first use).
    def blocking_native
      @blocking || @lock.synchronize do
        @blocking ||= open_store(@native_options.merge("read_timeout" => BLOCKING_READ_TIMEOUT))
      end
    end

    # Blocking commands' read timeout (10 years: the server-side timeout ends them).
    BLOCKING_READ_TIMEOUT = 10 * 365 * 24 * 3600

    # Commands this client answers itself, then everything else through the core.
    def dispatch(command)
      case NativeClient.special(command.first)
      when :select
        self.db = command[1]
        log([command]) { "OK" }
      when :quit
        # QUIT closes the connection it runs on: these are this client's own (shared only by
        # the threads that share this client, as redis-rb's one connection is).
        begin
          log([command]) { @native&.call(command) }
        rescue Slotshift::Error, ::Redis::BaseConnectionError
          nil
        end
        disconnect
        "OK"
      else
        check_session!(command)
        log([command]) { yield native }
      end
    end

    def send_pipeline(commands, blocking)
      store = blocking ? blocking_native : native
      log(commands) { store.pipeline(commands) }
    end

    def transaction(commands, blocking: false)
      commands.each { |c| check_session!(c) }
      store = blocking ? blocking_native : native
      log([[:multi], *commands, [:exec]]) { store.transaction(commands) }
    end

    # A command as redis-rb's drivers send it: nested Arrays flattened once (redis-rb's
    # `select` in a pipeline queues `[[:select, db]]`), the name renamed by `command_map`.
    def map_command(command)
      command = command.flatten(1) if command.first.is_a?(Array)
      return command if @command_map.empty? || !@command_map.key?(command.first)

      [@command_map[command.first], *command.drop(1)]
    end

    def check_session!(command)
      special = NativeClient.special(command.first)
      return if special.nil?
      raise session_error(command) if special == :session
      return unless special == :client && SESSION_CLIENT_SUBCOMMANDS.include?(command[1].to_s.downcase)

      raise session_error(command)
    end

    def session_error(command)
      name = command.first(command.first.to_s.casecmp?("client") ? 2 : 1).join(" ").upcase
      InvalidCommandError.new(
        "#{name} needs a connection of its own, which slotshift's core does not offer yet " \
        "(commands share multiplexed connections; see docs/ruby.md)"
      )
    end

    # redis-rb's command log (debug level): "[Redis] command=GET args=\"k\"", then the time.
    def log(commands)
      return yield unless @logger&.debug?

      begin
        commands.each do |name, *args|
          @logger.debug("[Redis] command=#{name.to_s.upcase} args=#{args.map(&:inspect).join(' ')}")
        end
        t1 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        yield
      ensure
        @logger.debug(format("[Redis] call_time=%0.2f ms", (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t1) * 1000)) if t1
      end
    end
  end
end
