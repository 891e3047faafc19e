# frozen_string_literal: true

require "uri"

module Slotshift
  # A client with redis-rb's method names and return values over one deployment: a
  # standalone server, a Sentinel-managed master or a Redis Cluster (the kind is detected).
  # On a cluster, multi-key commands and pipelines whose keys span slots are split per slot
  # and put back together (the CrossSlot batcher), so MGET/MSET/DEL and `pipelined` just work.
  #
  #   redis = Slotshift::Client.new(url: "redis://127.0.0.1:6379/0")
  #   redis = Slotshift::Client.new(nodes: ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
  #
  # Thread-safe: one client may be shared by every thread of a process (calls are multiplexed
  # over one connection per node, the GVL released while waiting). Works after fork.
  class Client
    include Commands

    # Options of redis-rb that mean nothing here and are accepted so existing configs load.
    IGNORED_OPTIONS = %i[driver reconnect_attempts reconnect_delay reconnect_delay_max
                         write_timeout id inherit_socket logger tcp_keepalive ssl_params
                         replica_affinity fixed_hostname].freeze
    OPTIONS = %i[url nodes host port db path password username ssl timeout connect_timeout
                 read_timeout retry_deadline name instrument batch_limit read_from_replicas
                 replica idempotent_writes cross_slot_validation].freeze

    # Blocking commands (BLPOP …) run on their own connections with this read timeout, so
    # they neither stall other callers nor time out before the server answers.
    BLOCKING_READ_TIMEOUT = 10 * 365 * 24 * 3600

    # The native store (Slotshift::Native::Store). For Slotshift.analyze and the MultiStore.
    attr_reader :native

    def initialize(options = {}, **kwargs)
      options = options.merge(kwargs).transform_keys(&:to_sym)
      unknown = options.keys - OPTIONS - IGNORED_OPTIONS
      raise ArgumentError, "unknown option#{'s' if unknown.size > 1}: #{unknown.map(&:inspect).join(', ')}" if unknown.any?

      # The URLs (passwords included) go to the native store and are kept only there: no
      # instance variable holds a secret for an error tracker or a debugger to show.
      @native_options = Client.native_options(options)
      @native = Native::Store.open(Client.urls_from(options), @native_options)
      @blocking = nil
      @blocking_lock = Mutex.new
    end

    # The deployment kind: :standalone, :sentinel or :cluster.
    def kind
      @native.kind.to_sym
    end

    def cluster?
      kind == :cluster
    end

    # Sends any command as given (`call("GET", "k")`, `call(:set, "k", 1)`) and returns the
    # raw reply. An error reply raises Slotshift::CommandError with the server's message.
    def call(*args)
      @native.call(args)
    end

    # @api private (redis-rb's hook: every command method ends here).
    def send_command(args, &transform)
      reply = @native.call(args)
      transform ? transform.call(reply) : reply
    end

    # @api private
    def send_blocking_command(args, _timeout, &transform)
      reply = blocking_native.call(args)
      transform ? transform.call(reply) : reply
    end

    # Queues the block's commands and sends them at once (per node, split per slot on a
    # cluster); returns their replies in order. Raises the first error after all ran.
    #
    #   redis.pipelined { |p| p.set("a", 1); p.get("a") } # => ["OK", "1"]
    def pipelined
      raise ArgumentError, "pipelined needs a block taking the pipeline: pipelined { |p| ... }" unless block_given?

      batch = Batch.new(self)
      yield batch
      return [] if batch.commands.empty?

      batch.finish(@native.pipeline(batch.commands))
    end

    # Runs the block's commands in MULTI/EXEC and returns EXEC's replies (nil if aborted).
    # On a cluster, every key must hash to one slot (use a hash tag), else
    # Slotshift::RoutingError and nothing is sent.
    def multi
      raise ArgumentError, "multi needs a block taking the transaction: multi { |t| ... }" unless block_given?

      batch = Batch.new(self)
      yield batch
      return [] if batch.commands.empty?

      replies = @native.transaction(batch.commands)
      return nil if replies.nil?

      batch.finish(replies)
    end

    # Yields the client itself, so it can stand where a connection pool is expected
    # (ActiveSupport's RedisCacheStore, Sidekiq-style `redis.with { |c| }`).
    def with
      yield self
    end

    # Connections close when the client is garbage collected; afterwards (or in a forked
    # child) they reopen on first use. Returns nil, as redis-rb.
    def close
      @blocking_lock.synchronize { @blocking = nil }
      nil
    end
    alias disconnect! close
    alias quit close

    def connected?
      true
    end

    # --- keyspace-wide commands ------------------------------------------------------------------
    #
    # On a cluster the core routes these by their Redis 7 command tips: to every master, the
    # replies aggregated (DBSIZE summed, KEYS concatenated, FLUSHDB/FLUSHALL successful on all).

    # KEYS: the keys of every master of a cluster.
    def keys(pattern = "*")
      send_command([:keys, pattern])
    end

    # Number of keys, all masters together.
    def dbsize
      send_command([:dbsize])
    end

    def flushdb(options = nil)
      send_command(flush_args(:flushdb, options))
    end

    def flushall(options = nil)
      send_command(flush_args(:flushall, options))
    end

    # A random key (of any master), or nil when there is none.
    def randomkey
      send_command([:randomkey])
    end

    # SCAN. On a cluster the cursor walks every master in turn ("0" again at the very end),
    # so `cursor, keys = scan(cursor)` loops (RedisCacheStore#delete_matched) see every key.
    def scan(cursor, match: nil, count: nil, type: nil)
      opts = []
      opts.push("MATCH", match) if match
      opts.push("COUNT", count) if count
      opts.push("TYPE", type) if type
      return @native.call([:scan, cursor, *opts]) unless cluster?

      masters = @native.masters
      index, node_cursor = cursor.to_s == "0" ? [0, "0"] : cursor.to_s.split("-", 2)
      index = Integer(index)
      next_cursor, found = @native.call_on(masters.fetch(index), [:scan, node_cursor, *opts])
      if next_cursor == "0"
        index += 1
        next_cursor = index < masters.size ? "#{index}-0" : "0"
      else
        next_cursor = "#{index}-#{next_cursor}"
      end
      [next_cursor, found]
    end

    # Every key (of every master), optionally matching `match:` / of `type:`.
    def scan_each(match: nil, count: nil, type: nil, &block)
      return enum_for(:scan_each, match: match, count: count, type: type) unless block

      scan = @native.scan({ "match" => match, "count" => count, "type" => type })
      while (batch = scan.next_batch)
        batch.each(&block)
      end
      nil
    end

    def inspect
      "#<Slotshift::Client #{kind} #{@native.name}>"
    end

    # @api private: the native store for blocking commands (opened on first use).
    def blocking_native
      @blocking_lock.synchronize do
        @blocking ||= @native.reopen(@native_options.merge("read_timeout" => BLOCKING_READ_TIMEOUT,
                                                           "instrument" => @native_options.fetch("instrument", true)))
      end
    end

    class << self
      # @api private: the URL list a Deployment parses, from redis-rb style options.
      def urls_from(options)
        if options[:nodes]
          raise ArgumentError, "give either url: or nodes:, not both" if options[:url]

          nodes = Array(options[:nodes])
          raise ArgumentError, "nodes: is empty" if nodes.empty?

          return nodes.map { |n| node_url(n, options) }
        end
        return [with_credentials(String(options[:url]), options)] if options[:url]

        [node_url({ host: options[:host] || "127.0.0.1", port: options[:port] || 6379,
                    db: options[:db], path: options[:path] }, options)]
      end

      # @api private
      def node_url(node, options)
        case node
        when String then with_credentials(node, options)
        when Hash
          node = node.transform_keys(&:to_sym)
          if node[:path]
            url = "unix://#{node[:path]}"
          else
            host = node[:host].to_s
            host = "[#{host}]" if host.include?(":")
            scheme = options[:ssl] || node[:ssl] ? "rediss" : "redis"
            url = "#{scheme}://#{host}:#{Integer(node[:port] || 6379)}"
            db = node[:db] || options[:db]
            url += "/#{Integer(db)}" if db
          end
          with_credentials(url, options)
        else
          raise TypeError, "nodes: expected URL Strings or Hashes with host:/port:, got #{node.class}"
        end
      end

      # @api private: password:/username: options go into the URL (percent-encoded).
      def with_credentials(url, options)
        return url unless options[:password] || options[:username]

        raise ArgumentError, "password: given and the URL has credentials too" if url.include?("@")

        userinfo = [options[:username], options[:password]].map { |s| s && URI.encode_www_form_component(s.to_s).gsub("+", "%20") }
        userinfo = userinfo.first ? "#{userinfo[0]}:#{userinfo[1]}" : ":#{userinfo[1]}"
        url.sub(%r{\A([a-z]+://)}) { "#{Regexp.last_match(1)}#{userinfo}@" }
      end

      # @api private
      def native_options(options)
        out = {}
        if options[:timeout]
          out["connect_timeout"] = options[:timeout]
          out["read_timeout"] = options[:timeout]
        end
        %i[connect_timeout read_timeout retry_deadline name instrument batch_limit
           read_from_replicas idempotent_writes].each do |k|
          out[k.to_s] = options[k] unless options[k].nil?
        end
        out["name"] = out["name"].to_s if out.key?("name")
        out["read_from_replicas"] = true if options[:replica]
        out["cross_slot_validation"] = options[:cross_slot_validation].to_s if options[:cross_slot_validation]
        out
      end
    end

    private

    def flush_args(name, options)
      options.is_a?(Hash) && options[:async] ? [name, "ASYNC"] : [name]
    end
  end
end
