# frozen_string_literal: true

require "uri"
require "cgi"
require "tempfile"

module Slotshift
  # What Slotshift::Redis and Slotshift::MultiStore change in redis-rb's `Redis`: a command
  # sent outside `pipelined`/`multi` goes straight to the client object, without redis-rb's
  # Monitor. redis-rb serializes every thread of a process on its one connection; in the core
  # each thread has connections of its own, so threads sharing one client run their
  # commands concurrently (a BLPOP does not hold up the other threads' GETs). Inside a
  # `pipelined`/`multi` block (the thread owns the Monitor) commands go where redis-rb sends
  # them: to the block's pipeline.
  module Multiplexed
    private

    def send_command(command, &block)
      (@monitor.mon_owned? ? @client : @original_client).call(command, &block)
    end

    def send_blocking_command(command, timeout, &block)
      (@monitor.mon_owned? ? @client : @original_client).call_with_timeout(command, timeout, &block)
    end
  end

  # redis-rb 4.8's string-setting commands turn their value into a string with `to_s` before
  # the client sees it, so `set("k", nil)` stores "", `set("k", {a: 1})` stores '{:a=>1}' and
  # `set("k", Object.new)` stores "#<Object:0x…>", each answering "OK". Slotshift::Redis and
  # the MultiStore refuse such values instead (an InvalidCommandError, as the client refuses a
  # Hash argument of any command) and send nothing — in `pipelined` and `multi` blocks too.
  # Strings, Symbols, numbers and other objects with a string form of their own go as before,
  # Arrays included (redis-rb 4.8's own suite stores `["a", "b"].to_s` and reads it back).
  # redis-rb 5 and redis-py refuse nil and Hash values too.
  module ValueChecks
    # The commands checked, with the index of the value among their arguments.
    VALUE_AT = { set: 1, setex: 2, psetex: 2, setnx: 1, setrange: 2, getset: 1 }.freeze

    VALUE_AT.each do |command, at|
      define_method(command) do |*args, **options, &block|
        ValueChecks.check(command, args[at])
        super(*args, **options, &block)
      end
    end

    # Raises Slotshift::InvalidCommandError when `value` has no string form that was meant.
    def self.check(command, value)
      problem =
        case value
        when String, Symbol, Numeric, Array then nil
        when nil then "nil (redis-rb 4.8 would store \"\"; pass \"\" to store an empty string)"
        when Hash then "a Hash (redis-rb 4.8 would store its inspect form)"
        else
          "a #{value.class} with no string form of its own" if value.method(:to_s).owner == Kernel
        end
      raise InvalidCommandError, "#{command.upcase}: the value is #{problem}" if problem
    end

    # The connection a `pipelined`/`multi` block gets checks its values too.
    def pipelined(*args, **kw, &block)
      return super if block.nil? || block.arity.zero?

      super { |pipeline| block.call(pipeline.extend(ValueChecks)) }
    end

    def multi(*args, **kw, &block)
      return super if block.nil? || block.arity.zero?

      super { |transaction| block.call(transaction.extend(ValueChecks)) }
    end
  end

  # The drop-in for redis-rb 4.8's `Redis`: a subclass of it (`is_a?(::Redis)` holds), so every
  # redis-rb method exists with redis-rb's arguments and reply transforms, and `pipelined`,
  # `multi` and `Redis::Future` are redis-rb's own. Beneath its command layer sits a
  # Slotshift::NativeClient that sends every command through the Rust core: standalone,
  # Sentinel or Redis Cluster (slot routing, redirects, the CrossSlot batcher: on a cluster,
  # MGET/MSET/DEL/UNLINK/EXISTS and `pipelined` across slots just work), instrumentation and
  # the cross-slot validator.
  #
  #   redis = Slotshift::Redis.new(url: "redis://127.0.0.1:6379/0")          # was Redis.new(...)
  #   redis = Slotshift::Redis.new(cluster: ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
  #   redis = Slotshift::Redis.new(url: "redis://mymaster", sentinels: [{ host: "s1", port: 26379 }],
  #                                role: :master)
  #
  # Thread-safe: one client may be shared by every thread of a process (commands of different
  # threads run on connections of their own, one per node, the GVL released while waiting).
  # Works after fork. Connects on the first command, as redis-rb does.
  class Redis < ::Redis
    include Multiplexed
    include ValueChecks
    include ShardPubSub

    # redis-rb's default for `timeout:` (connect and read), in seconds.
    DEFAULT_TIMEOUT = 5.0

    # redis-rb's options that slotshift takes, with what they do here (docs/ruby.md):
    REDIS_RB_OPTIONS = %i[url host port path db username password scheme ssl ssl_params timeout
                          connect_timeout read_timeout write_timeout reconnect_attempts
                          reconnect_delay reconnect_delay_max driver id logger sentinels role name
                          cluster replica inherit_socket tcp_keepalive].freeze
    # slotshift's own options.
    SLOTSHIFT_OPTIONS = %i[nodes retry_deadline instrument batch_limit read_from_replicas
                           idempotent_writes cross_slot_validation sentinel_password].freeze
    # redis-rb options that cannot be honoured, with why: an ArgumentError names them.
    UNSUPPORTED_OPTIONS = {
      connector: "slotshift's transport is the Rust core; a Ruby connector class cannot replace it",
      fixed_hostname: "not supported yet by slotshift's cluster client",
    }.freeze

    # The native store (Slotshift::Native::Store), connected on first use: for
    # Slotshift.analyze, diff, migrate and the MultiStore.
    def native
      @original_client.native
    end

    # The deployment kind (connects if needed): :standalone, :sentinel or :cluster.
    def kind
      @original_client.kind
    end

    # Whether the deployment is a Redis Cluster (connects if needed).
    def cluster?
      kind == :cluster
    end

    # Options as redis-rb accepts them (Hash with Symbol or String keys, or keywords).
    def initialize(options = {}, **kwargs)
      options = options.to_h.merge(kwargs).transform_keys(&:to_sym)
      client_options, native_options, urls = Redis.parse_options(options)
      client = NativeClient.new(Native::Target.parse(urls), client_options, native_options)
      setup(Redis.redacted(options), client)
    end

    # A new client for the same deployment and options (its own connections).
    def dup
      copy = self.class.allocate
      copy.send(:setup, @options, @original_client.dup_client)
      copy
    end

    # On a cluster, SCAN walks every master in turn: the cursor is "<master index>-<cursor>",
    # "0" again only after the last master, so `cursor, keys = scan(cursor)` loops (as
    # RedisCacheStore#delete_matched runs) see every key. On one server, redis-rb's SCAN.
    def scan(cursor, **options)
      return super unless cluster?

      args = []
      args.push("MATCH", options[:match]) if options[:match]
      args.push("COUNT", Integer(options[:count])) if options[:count]
      args.push("TYPE", options[:type]) if options[:type]
      masters = native.masters
      index, node_cursor = cursor.to_s == "0" ? [0, "0"] : cursor.to_s.split("-", 2)
      index = Integer(index)
      next_cursor, found = synchronize do
        native.call_on(masters.fetch(index), [:scan, node_cursor, *args])
      end
      if next_cursor == "0"
        index += 1
        next_cursor = index < masters.size ? "#{index}-0" : "0"
      else
        next_cursor = "#{index}-#{next_cursor}"
      end
      [next_cursor, found]
    end

    # Every key (of every master of a cluster), optionally matching `match:` / of `type:`.
    def scan_each(**options, &block)
      return super unless cluster?
      return enum_for(:scan_each, **options) unless block

      walk = native.scan({ "match" => options[:match], "count" => options[:count], "type" => options[:type] })
      while (batch = walk.next_batch)
        batch.each(&block)
      end
      nil
    end

    private

    def setup(options, client)
      @options = options
      @cluster_mode = options.key?(:cluster)
      @original_client = @client = client
      @queue = Hash.new { |h, k| h[k] = [] }
      @monitor = Monitor.new
    end

    class << self
      # @api private: the options as given, secrets replaced by "[FILTERED]" (what #dup and
      # error trackers may see of them).
      def redacted(options)
        options.to_h do |k, v|
          v = case k
              when :password, :sentinel_password then "[FILTERED]"
              when :url then v.to_s.sub(%r{\A([a-z+]+://[^:@/]*):[^@/]*@}i, '\1:[FILTERED]@')
              when :sentinels, :cluster, :nodes
                Array(v).map { |n| n.is_a?(Hash) ? n.transform_keys(&:to_sym).merge(password: ("[FILTERED]" if n[:password] || n["password"])).compact : redacted(url: n)[:url] }
              when :ssl_params then v.is_a?(Hash) ? v.to_h { |pk, pv| [pk, pk.to_s.start_with?("key") ? "[FILTERED]" : pv] } : v
              else v
              end
          [k, v]
        end
      end

      # @api private: redis-rb options → [the client's accessor values (no password), the
      # core's store options, the deployment's URLs]. Raises ArgumentError naming any option
      # it does not know or cannot honour.
      def parse_options(options)
        options = options.transform_keys(&:to_sym).reject { |k, v| k == :_parsed || v.nil? }
        # As redis-rb: REDIS_URL is the URL when none is given; explicit options override it.
        options[:url] = ENV["REDIS_URL"] if !options.key?(:url) && ENV["REDIS_URL"] && !options[:cluster] && !options[:nodes]
        unknown = options.keys - REDIS_RB_OPTIONS - SLOTSHIFT_OPTIONS
        unsupported = unknown & UNSUPPORTED_OPTIONS.keys
        if unsupported.any?
          raise ArgumentError, unsupported.map { |k| "#{k.inspect}: #{UNSUPPORTED_OPTIONS[k]}" }.join("; ")
        end
        if unknown.any?
          raise ArgumentError, "unknown option#{'s' if unknown.size > 1}: #{unknown.map(&:inspect).join(', ')}"
        end

        check_tcp_keepalive(options[:tcp_keepalive])
        if options[:cluster] && options[:nodes]
          raise ArgumentError, "give cluster: or nodes:, not both"
        end
        raise ArgumentError, "give either url: or nodes:, not both" if options[:url] && options[:nodes]

        client = client_options(options)
        [client, native_options(options), urls(options, client)]
      end

      private

      def check_tcp_keepalive(value)
        return if value.nil? || value == 0

        raise ArgumentError, "tcp_keepalive: #{value.inspect} is not supported (the core keeps its own keepalive); " \
                             "leave it out or give 0"
      end

      # What redis-rb's Redis::Client reports (host, port, db, timeouts …), from the options
      # and the URL as redis-rb reads them. The password is kept out.
      def client_options(options)
        o = { scheme: "redis", host: "127.0.0.1", port: 6379, path: nil, db: 0, username: nil,
              ssl: false, role: nil, id: options[:id], logger: options[:logger],
              driver: options[:driver] || :ruby, cluster: nil }
        url = options[:url]
        if url && !url.to_s.empty?
          uri = URI(url.to_s)
          case uri.scheme
          when "unix"
            o[:path] = uri.path
          when "redis", "rediss"
            o[:scheme] = uri.scheme
            o[:host] = uri.host.sub(/\A\[(.*)\]\z/, '\1') if uri.host
            o[:port] = uri.port if uri.port
            o[:username] = CGI.unescape(uri.user) if uri.user && !uri.user.empty?
            o[:db] = uri.path[1..].to_i if uri.path && uri.path.size > 1
            o[:ssl] = true if uri.scheme == "rediss"
          end
          # Other schemes (redis+sentinel://, or a wrong one) are the core's to read: it raises
          # Slotshift::ConfigError naming what is wrong.
        end
        %i[host port path db username scheme].each { |k| o[k] = options[k] unless options[k].nil? }
        o[:path] = nil if options[:host] && !options[:path]
        if o[:path]
          o[:scheme] = "unix"
          o[:host] = o[:port] = nil
        end
        o[:port] = Integer(o[:port]) unless o[:path]
        o[:host] = o[:host].to_s unless o[:path]
        o[:db] = Integer(o[:db])
        o[:ssl] = true if options[:ssl]
        o[:role] = options[:role]&.to_sym if options[:sentinels]
        timeout = options.fetch(:timeout, DEFAULT_TIMEOUT)
        o[:connect_timeout] = Float(options[:connect_timeout] || timeout)
        o[:read_timeout] = Float(options[:read_timeout] || timeout)
        o[:write_timeout] = Float(options[:write_timeout] || timeout)
        o[:reconnect_attempts] = options.fetch(:reconnect_attempts, 1).to_i
        o[:reconnect_delay] = Float(options.fetch(:reconnect_delay, 0))
        o[:reconnect_delay_max] = Float(options.fetch(:reconnect_delay_max, 0.5))
        o[:cluster] = true if options[:cluster] || options[:nodes] && Array(options[:nodes]).size > 1
        o
      end

      def native_options(options)
        out = {}
        timeout = options[:timeout]
        out["connect_timeout"] = Float(options[:connect_timeout] || timeout) if options[:connect_timeout] || timeout
        out["read_timeout"] = Float(options[:read_timeout] || timeout) if options[:read_timeout] || timeout
        %i[retry_deadline instrument batch_limit read_from_replicas idempotent_writes].each do |k|
          out[k.to_s] = options[k] unless options[k].nil?
        end
        # As redis-rb: a server that cannot be reached fails the command within the connect
        # timeout (then redis-rb's reconnect_attempts), not after the core's longer deadline.
        out["retry_deadline"] ||= Float(options[:connect_timeout] || timeout || DEFAULT_TIMEOUT)
        out["name"] = options[:name].to_s if options[:name] && !options[:sentinels]
        # redis-rb names its connection after `id:` (CLIENT SETNAME on connect); so does the core.
        out["client_name"] = options[:id].to_s if options[:id]
        out["read_from_replicas"] = true if options[:replica]
        out["read_from_replicas"] = true if options[:sentinels] && %w[slave replica].include?(options[:role].to_s)
        out["cross_slot_validation"] = options[:cross_slot_validation].to_s if options[:cross_slot_validation]
        out
      end

      # The URLs the core's Deployment parses: one server, the cluster seeds, or a
      # redis+sentinel:// URL. Credentials are percent-encoded into them here and kept only
      # by the native target from then on.
      def urls(options, client)
        query = tls_query(options, client)
        if options[:sentinels]
          return [sentinel_url(options, client, query)]
        end

        nodes = options[:cluster] || options[:nodes]
        if nodes
          nodes = Array(nodes)
          raise ArgumentError, "#{options[:cluster] ? 'cluster' : 'nodes'}: is empty" if nodes.empty?

          return nodes.map { |n| with_query(node_url(n, options, client), query) }
        end
        if client[:path]
          query += [["db", client[:db].to_s]] unless client[:db].zero?
          return [with_query(with_credentials("unix://#{client[:path]}", options, client, url_password(options)), query)]
        end
        # A URL with core options (?ca_file= …), or of a scheme the core reads itself
        # (redis+sentinel://), with nothing to override, goes as it is.
        url = options[:url].to_s
        if (url.include?("?") || !url.match?(%r{\A(rediss?|unix)://}i)) && !url.empty? &&
           (options.keys & %i[host port db username password scheme]).empty?
          return [with_query(options[:url].to_s, query)]
        end

        host = client[:host].to_s
        host = "[#{host}]" if host.include?(":")
        scheme = client[:ssl] ? "rediss" : "redis"
        url = "#{scheme}://#{host}:#{client[:port]}"
        url += "/#{client[:db]}" unless client[:db].zero?
        [with_query(with_credentials(url, options, client, url_password(options)), query)]
      end

      def sentinel_url(options, client, query)
        role = options[:role].to_s
        unless ["", "master", "slave", "replica"].include?(role)
          raise ArgumentError, "role: #{options[:role].inspect} (expected :master, :slave or :replica)"
        end

        master = options[:name] || client[:host]
        raise ArgumentError, "sentinels: needs the master's name (name: or the url's host)" if master.to_s.empty?

        sentinels = Array(options[:sentinels]).map do |s|
          s = s.is_a?(String) ? (URI(s.include?("://") ? s : "redis://#{s}").then { |u| { host: u.host, port: u.port } }) : s.to_h.transform_keys(&:to_sym)
          "#{s[:host]}:#{Integer(s[:port] || 26_379)}"
        end
        raise ArgumentError, "sentinels: is empty" if sentinels.empty?

        scheme = client[:ssl] ? "rediss+sentinel" : "redis+sentinel"
        url = "#{scheme}://#{sentinels.join(',')}/#{URI.encode_www_form_component(master.to_s)}"
        url += "/#{client[:db]}" unless client[:db].zero?
        url = with_credentials(url, options, client, url_password(options))
        sentinel_password = options[:sentinel_password] ||
                            Array(options[:sentinels]).map { |s| s.is_a?(Hash) && (s[:password] || s["password"]) }.find(&:itself)
        query += [["sentinel_password", sentinel_password.to_s]] if sentinel_password
        with_query(url, query)
      end

      def node_url(node, options, client)
        case node
        when String
          node.include?("@") ? node : with_credentials(node, options, client, options[:password])
        when Hash
          node = node.transform_keys(&:to_sym)
          if node[:url]
            return node_url(node[:url], options, client)
          end

          host = node[:host].to_s
          host = "[#{host}]" if host.include?(":")
          scheme = client[:ssl] || node[:ssl] ? "rediss" : "redis"
          with_credentials("#{scheme}://#{host}:#{Integer(node[:port] || 6379)}", options, client,
                           node[:password] || options[:password])
        else
          raise TypeError, "cluster: expected URL Strings or Hashes with host:/port:, got #{node.class}"
        end
      end

      # The password of `url:` when no password: option overrides it.
      def url_password(options)
        return options[:password] if options[:password]
        return nil unless options[:url]

        uri = URI(options[:url].to_s)
        uri.password && !uri.password.empty? ? CGI.unescape(uri.password) : nil
      end

      def with_credentials(url, options, client, password = options[:password])
        username = options[:username] || client[:username]
        base = url.sub(%r{\A([a-z+]+://)[^@/]*@}, '\1')
        return base unless password || username

        enc = ->(s) { URI.encode_www_form_component(s.to_s).gsub("+", "%20") }
        userinfo = username ? "#{enc.call(username)}:#{enc.call(password.to_s)}" : ":#{enc.call(password)}"
        userinfo = enc.call(username) if username && password.nil?
        base.sub(%r{\A([a-z+]+://)}) { "#{Regexp.last_match(1)}#{userinfo}@" }
      end

      # ssl_params: (redis-rb's, OpenSSL's names) → the core's TLS URL options.
      def tls_query(options, client)
        params = options[:ssl_params]
        return [] unless params

        raise ArgumentError, "ssl_params: expected a Hash, got #{params.class}" unless params.is_a?(Hash)

        client[:ssl] = true
        params = params.transform_keys(&:to_sym)
        out = []
        params.each do |k, v|
          case k
          when :ca_file then out << ["ca_file", v.to_s]
          when :cert, :cert_file then out << ["cert_file", pem_file(v, "cert")]
          when :key, :key_file then out << ["key_file", pem_file(v, "key")]
          when :verify_mode
            out << %w[insecure true] if v.to_i.zero? # OpenSSL::SSL::VERIFY_NONE
          when :hostname, :server_name then out << ["server_name", v.to_s]
          else
            raise ArgumentError, "ssl_params: #{k.inspect} is not supported (supported: ca_file, cert, cert_file, key, " \
                                 "key_file, verify_mode, hostname)"
          end
        end
        out
      end

      # A certificate or key given as an OpenSSL object (as GitLab's config passes them) is
      # written to a private temporary file for the core; a String is a path.
      def pem_file(value, what)
        return value.to_s if value.is_a?(String) || value.respond_to?(:to_path)
        raise ArgumentError, "ssl_params: #{what} must be a path or an OpenSSL object" unless value.respond_to?(:to_pem)

        file = Tempfile.new(["slotshift-#{what}", ".pem"])
        File.chmod(0o600, file.path)
        file.write(value.to_pem)
        file.close
        (@pem_files ||= []) << file # kept (and so on disk) as long as the process
        file.path
      end

      def with_query(url, pairs)
        return url if pairs.empty?

        sep = url.include?("?") ? "&" : "?"
        url + sep + URI.encode_www_form(pairs)
      end
    end
  end

  # The same class: slotshift's client has been `Slotshift::Client` since its first release.
  Client = Redis
end
