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
    # How this client runs the commands whose effect is tied to the one connection they run
    # on (the core's stores share their connections between callers, and refuse them):
    # - :transaction (WATCH, MULTI, EXEC, DISCARD, UNWATCH): on a session of this client's own
    #   (Slotshift::Native::Session), opened by WATCH or MULTI, closed when EXEC, DISCARD or
    #   UNWATCH ends what they started; every command in between goes to it;
    # - :subscription (SUBSCRIBE …): on a subscriber of its own (Slotshift::Native::Subscriber),
    #   for the length of #call_loop;
    # - :auth and CLIENT SETNAME: this client's stores are opened again with the credentials or
    #   the name, as redis-rb's one connection would carry them;
    # - :select: as :auth, with the database;
    # - :quit: closes this client's connections;
    # - :monitor: on a monitor of its own (Slotshift::Native::Monitor), in #call_loop;
    # - :refused (HELLO, RESET, READONLY, READWRITE): raise, naming the command.
    KINDS = {
      transaction: %i[watch multi exec discard unwatch],
      subscription: %i[subscribe psubscribe ssubscribe unsubscribe punsubscribe sunsubscribe],
      monitor: %i[monitor],
      refused: %i[hello reset readonly readwrite],
      auth: %i[auth], select: %i[select], quit: %i[quit], client: %i[client],
    }.freeze
    # CLIENT subcommands that change the connection they run on and are refused (SETNAME is
    # carried by reopening, see KINDS).
    REFUSED_CLIENT_SUBCOMMANDS = %w[reply tracking caching no-evict no-touch].freeze

    # Command name => its kind in KINDS, keyed by lowercase and uppercase Symbols.
    SPECIAL = KINDS.flat_map { |kind, names| names.flat_map { |n| [[n, kind], [n.upcase, kind]] } }.to_h.freeze

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
      @authed = nil
      @session = nil
      @in_multi = false
      @subscriber = nil
      @reconnect = true
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
      # A cluster has database 0 only; SELECT of another is the server's error, not ignored.
      raise ::Redis::CommandError, "ERR SELECT is not allowed in cluster mode" if db != 0 && (cluster? || (@native && kind == :cluster))

      @lock.synchronize do
        @options[:db] = db
        drop_stores
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
    # when one is given (redis-rb's reply transforms; not to the QUEUED a command gets inside
    # MULTI, as redis-rb's). An error reply raises.
    def call(command)
      command = map_command(command)
      reply = reconnecting { dispatch(command) { native.call(command) } }
      block_given? && !(@in_multi && reply == "QUEUED") ? yield(reply) : reply
    end

    # A blocking command (BLPOP …). The core sends it on a connection of its own (a blocked
    # command holds its connection) and waits for the reply as long as redis-rb does: the
    # command's own timeout plus the read timeout, without end for a timeout of 0.
    # `extra_timeout` is redis-rb's name for the command's timeout, which the core reads from
    # the command itself.
    def call_with_timeout(command, _extra_timeout, &block)
      call(command, &block)
    end

    # A blocking command without redis-rb's extra timeout (as `call_with_timeout(command, 0)`).
    def call_without_timeout(command, &block)
      call_with_timeout(command, 0, &block)
    end

    # Runs a Redis::Pipeline (or Redis::Pipeline::Multi): a plain pipeline goes to the core in
    # one piece (split per slot and node on a cluster); a MULTI block goes as one transaction
    # (on this client's session when a WATCH is in progress). Errors are raised as redis-rb
    # raises them: the first error reply after all ran. A broken connection closes this
    # client's connections and raises (a pipeline is not sent twice), except after SHUTDOWN,
    # whose server is expected to go: nil, as redis-rb.
    def call_pipeline(pipeline)
      return [] if pipeline.futures.empty?

      run_pipeline(pipeline)
    rescue ::Redis::BaseConnectionError
      disconnect
      return nil if pipeline.shutdown?

      raise
    end

    # #call_pipeline's work.
    def run_pipeline(pipeline)
      if pipeline.is_a?(::Redis::Pipeline::Multi)
        commands = pipeline.futures.map { |f| map_command(f._command) }
        return pipeline.finish(session_transaction(commands)) if @session

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

      replies = @session ? session_pipeline(commands) : pipelined_runs(commands, pipeline.timeouts.any?)
      error = replies.find { |r| r.is_a?(::Redis::BaseConnectionError) } ||
              replies.find { |r| r.is_a?(::Redis::CommandError) }
      raise error if error

      replies
    end

    # redis-rb's low-level `process(commands) { read }`: the commands are sent (as one
    # pipeline) and each `read` in the block returns the next reply. While #call_loop runs a
    # subscription, redis-rb's SubscribedClient sends the subscription changes made inside it
    # (`subscribe`, `unsubscribe` …) through here, without reading: they go to the subscriber,
    # whose confirmations #call_loop reads.
    def process(commands)
      return commands.each { |c| subscription_change(map_command(c)) } if @subscriber

      commands = commands.map { |c| map_command(c) }
      commands.each { |c| check_shared!(c) }
      @pending = @session ? session_pipeline(commands) : send_pipeline(commands, false)
      yield if block_given?
    ensure
      @pending = nil
    end

    # The next reply of `process`.
    def read
      raise ::Redis::ConnectionError, "read called outside process" if @pending.nil? || @pending.empty?

      @pending.shift
    end

    # redis-rb's reply loop: SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE (with `timeout` seconds the
    # longest wait for a message, 0 for none) run on a subscriber of this client's own, each
    # confirmation and message yielded as RESP2 shapes it (`["message", channel, data]` …),
    # until the block breaks (redis-rb's SubscribedClient does when the last subscription
    # ends); the subscriber is closed when the loop ends, however it ends. MONITOR runs on a
    # monitor of its own: "OK", then each line of the server's command log. Any other command
    # runs once and its reply is yielded (an error reply raises).
    def call_loop(command, timeout = 0, &block)
      command = map_command(command)
      case NativeClient.special(command.first)
      when :subscription then subscription_loop(command, timeout, &block)
      when :monitor then monitor_loop(timeout, &block)
      when :refused then raise refused_error(command)
      else yield call(command)
      end
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

    # Drops this client's stores, its session (a WATCH or MULTI in progress is forgotten, as
    # when redis-rb's connection closes) and its subscriber; the next command opens new ones.
    def disconnect
      @lock.synchronize do
        drop_stores
        @authed = nil
      end
      end_session
      @subscriber&.close
      @subscriber = nil
      nil
    end
    alias close disconnect

    # Drops this client's connections and opens new ones.
    def reconnect
      disconnect
      connect
    end

    # Runs the block with redis-rb's reconnection on (`val` true) or off for this client's
    # commands: a command that fails with a broken connection is sent again on new
    # connections, up to `reconnect_attempts:` times (redis-rb's default: once), whether or
    # not it may have run, as redis-rb does. Beneath that, the core resends on its own only
    # what is safe to run twice (reads), within `retry_deadline:`.
    def with_reconnect(val = true)
      original = @reconnect
      @reconnect = val
      yield
    ensure
      @reconnect = original
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

    # A store with `native_options` (and this client's database): from the store AUTH opened
    # when there is one (it alone holds the credentials AUTH gave), else from the target.
    def open_store(native_options)
      opts = native_options
      opts = opts.merge("db" => @options[:db]) if @options[:db] && !cluster?
      return @authed.reopen(opts) if @authed
      return @target.call(native_options) if @target.respond_to?(:call)

      @target.connect(opts)
    end

    # Forgets the stores (their connections close when collected); called under @lock.
    def drop_stores
      @native = nil
      @blocking = nil
    end

    # The store for pipelines and transactions that hold a blocking command (a BLPOP inside
    # `pipelined` or `multi` waits on the shared pipeline's connection, so that connection's
    # read timeout must not end it); opened on first use. A lone blocking command needs none:
    # the core gives it a connection of its own and waits as long as its timeout says.
    def blocking_native
      @blocking || @lock.synchronize do
        @blocking ||= open_store(@native_options.merge("read_timeout" => BLOCKING_READ_TIMEOUT))
      end
    end

    # Blocking commands' read timeout (10 years: the server-side timeout ends them).
    BLOCKING_READ_TIMEOUT = 10 * 365 * 24 * 3600

    # redis-rb's reconnection policy around one command: a connection failure closes this
    # client's connections; with reconnection on and attempts left, the command runs again
    # after redis-rb's backoff (`reconnect_delay:` doubled each time, at most
    # `reconnect_delay_max:`). A session's or subscriber's command is never sent twice: their
    # state is gone with their connection.
    def reconnecting
      return yield if @session || @subscriber

      attempts = 0
      begin
        attempts += 1
        yield
      rescue ::Redis::BaseConnectionError
        disconnect
        raise unless @reconnect && attempts <= @options[:reconnect_attempts].to_i

        Kernel.sleep([@options[:reconnect_delay].to_f * 2**(attempts - 1), @options[:reconnect_delay_max].to_f].min)
        retry
      end
    end

    # Commands this client answers itself or runs on a connection of its own, then everything
    # else through the block (which opens the store it sends to), or on the session while one
    # is open.
    def dispatch(command)
      case NativeClient.special(command.first)
      when :transaction then log([command]) { transaction_command(command) }
      when :select
        self.db = command[1]
        log([command]) { "OK" }
      when :auth then log([[command.first]]) { authenticate(command.drop(1)) }
      when :quit then quit(command)
      when :client
        return log([command]) { session_call(command) } if @session
        return log([command]) { rename(command[2]) } if command[1].to_s.casecmp?("setname")

        check_shared!(command)
        log([command]) { yield }
      when :subscription
        raise ::Redis::CommandError, "#{command.first.to_s.upcase} outside a subscription loop: use redis-rb's subscribe"
      when :monitor, :refused then raise refused_error(command)
      else log([command]) { @session ? session_call(command) : yield }
      end
    end

    # QUIT closes the connections it runs on: this client's own (shared only by the threads
    # that share this client, as redis-rb's one connection is). Each open one gets QUIT, then
    # the client lets go of them.
    def quit(command)
      begin
        log([command]) { @native&.quit }
      rescue Slotshift::Error, ::Redis::BaseConnectionError
        nil
      end
      disconnect
      "OK"
    end

    # AUTH [username] password: this client's stores are opened again with the credentials
    # (the first store checks them: a refusal raises, and the client keeps the ones it had).
    def authenticate(args)
      raise ::Redis::CommandError, "ERR wrong number of arguments for 'auth' command" unless [1, 2].include?(args.size)
      raise ::Redis::CommandError, "AUTH on a MultiStore client: give the credentials in each store's URL" if @target.respond_to?(:call)

      credentials = { "password" => args.last.to_s }
      credentials["username"] = args.first.to_s if args.size == 2
      store = open_store(@native_options.merge(credentials))
      store.call([:ping]) # a store may connect lazily: the credentials are checked here
      @lock.synchronize do
        drop_stores
        @authed = store
        @native = store
      end
      "OK"
    end

    # CLIENT SETNAME name: this client's stores are opened again under the name (an empty
    # name clears it).
    def rename(name)
      name = name.to_s
      @native_options = @native_options.merge("client_name" => name)
      @native_options.delete("client_name") if name.empty?
      @lock.synchronize { drop_stores }
      native
      "OK"
    end

    # WATCH, MULTI, EXEC, DISCARD, UNWATCH. WATCH and MULTI open this client's session (on
    # the master of the first watched key's slot, or the default node); EXEC, DISCARD, and
    # UNWATCH outside a MULTI close it, ending the state the server kept. Without a session,
    # EXEC and DISCARD get the server's own error and UNWATCH has nothing to forget.
    def transaction_command(command)
      name = command.first.to_s.downcase
      unless @session
        case name
        when "exec", "discard" then raise ::Redis::CommandError, "ERR #{name.upcase} without MULTI"
        when "unwatch" then return "OK"
        end
        open_session(name == "watch" ? command[1] : nil)
      end
      reply = session_call(command)
      case name
      when "multi" then @in_multi = true
      when "exec", "discard" then end_session
      when "unwatch" then end_session unless @in_multi
      end
      reply
    end

    # MULTI, `commands`, EXEC on the session as one write (the WATCH before it decides whether
    # EXEC runs them); the session ends with the EXEC. The replies as redis-rb's Multi#finish
    # reads them: OK, one QUEUED (or error) per command, then EXEC's (nil when a watched key
    # changed).
    def session_transaction(commands)
      commands.each { |c| check_shared!(c) }
      log([[:multi], *commands, [:exec]]) { session_pipeline([[:multi], *commands, [:exec]]) }
    ensure
      end_session
    end

    def open_session(key)
      key = key.first if key.is_a?(Array)
      @session = Native::Session.open(native, key&.to_s)
      @in_multi = false
    end

    # Closes the session (the server forgets its WATCH and MULTI queue).
    def end_session
      session = @session
      @session = nil
      @in_multi = false
      session&.close
    end

    # One command on the session; a broken connection ends the session (its state is gone
    # with it, as redis-rb's is when its connection breaks) and raises.
    def session_call(command)
      on_session { @session.call(command) }
    end

    def session_pipeline(commands)
      on_session { @session.pipeline(commands) }
    end

    def on_session
      yield
    rescue ::Redis::BaseConnectionError, Slotshift::ConnectionError
      end_session
      raise
    end

    # A plain pipeline's commands through the core, a MULTI … EXEC inside it as one
    # transaction and a SELECT as #db=, in their places.
    def pipelined_runs(commands, blocking)
      replies = []
      run = []
      i = 0
      while i < commands.size
        special = NativeClient.special(commands[i].first)
        if special == :transaction && commands[i].first.to_s.casecmp?("multi")
          replies.concat(send_pipeline(run, blocking)) unless run.empty?
          run = []
          j = i + 1
          j += 1 while j < commands.size && !commands[j].first.to_s.casecmp?("exec")
          inner = commands[(i + 1)...j]
          replies << "OK"
          replies.concat(Array.new(inner.size, "QUEUED"))
          replies << transaction(inner, blocking: blocking)
          i = j + 1
        elsif special == :select
          # SELECT changes this client's database for the commands after it, as it would on
          # redis-rb's one connection.
          replies.concat(send_pipeline(run, blocking)) unless run.empty?
          run = []
          self.db = commands[i][1]
          replies << "OK"
          i += 1
        else
          check_shared!(commands[i])
          run << commands[i]
          i += 1
        end
      end
      replies.concat(send_pipeline(run, blocking)) unless run.empty?
      replies
    end

    def send_pipeline(commands, blocking)
      store = blocking ? blocking_native : native
      log(commands) { store.pipeline(commands) }
    end

    def transaction(commands, blocking: false)
      commands.each { |c| check_shared!(c) }
      store = blocking ? blocking_native : native
      log([[:multi], *commands, [:exec]]) { store.transaction(commands) }
    end

    # The subscription loop of #call_loop (see there).
    def subscription_loop(command, timeout)
      raise ::Redis::CommandError, "#{command.first.to_s.upcase} inside a subscription loop: call it from the loop's block" if @subscriber

      name, *names = command
      shard = name.to_s.casecmp?("ssubscribe")
      @subscriber = Native::Subscriber.open(native, shard ? names.first&.to_s : nil)
      begin
        log([command]) { @subscriber.change(name.to_s, names) }
        wait = timeout.to_f.positive? ? timeout.to_f : nil
        loop do
          message = @subscriber.next_message(wait)
          raise Slotshift::TimeoutError, "no message within #{wait} s" if message.nil?

          yield message
        end
      ensure
        subscriber = @subscriber
        @subscriber = nil
        subscriber&.close
      end
    end

    # The MONITOR loop of #call_loop: "OK" (MONITOR's reply, as redis-rb yields it), then every
    # line until the block breaks; `timeout` seconds (0: none) the longest wait for a line.
    def monitor_loop(timeout)
      monitor = Native::Monitor.open(native)
      begin
        yield "OK"
        wait = timeout.to_f.positive? ? timeout.to_f : nil
        loop do
          line = monitor.next_line(wait)
          raise Slotshift::TimeoutError, "no MONITOR line within #{wait} s" if line.nil?

          yield line
        end
      ensure
        monitor.close
      end
    end

    # A command sent while a subscription loop runs: a subscription change goes to the
    # subscriber; anything else is refused with the server's own words for it.
    def subscription_change(command)
      return @subscriber.change(command.first.to_s, command.drop(1)) if NativeClient.special(command.first) == :subscription

      raise ::Redis::CommandError,
            "ERR Can't execute '#{command.first.to_s.downcase}': only (P|S)SUBSCRIBE / " \
            "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    end

    # A command renamed by `command_map` as redis-rb's drivers send it: nested Arrays flattened
    # once (redis-rb's `select` in a pipeline queues `[[:select, db]]`).
    def map_command(command)
      command = command.flatten(1) if command.first.is_a?(Array)
      return command if @command_map.empty? || !@command_map.key?(command.first)

      [@command_map[command.first], *command.drop(1)]
    end

    # Raises for a command that cannot go through the shared connections of a store (in a
    # pipeline or transaction: there is no place for its connection state there).
    def check_shared!(command)
      special = NativeClient.special(command.first)
      return if special.nil? || special == :select
      return unless %i[transaction subscription monitor refused auth].include?(special) ||
                    (special == :client && (REFUSED_CLIENT_SUBCOMMANDS + ["setname"]).include?(command[1].to_s.downcase))

      raise refused_error(command)
    end

    def refused_error(command)
      name = command.first(command.first.to_s.casecmp?("client") ? 2 : 1).join(" ").upcase
      InvalidCommandError.new(
        "#{name} needs a connection of its own, which slotshift does not give it here " \
        "(commands share the core's connections; see docs/ruby.md)"
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
