# frozen_string_literal: true

module Slotshift
  # redis-rb's command methods: the same names, positional and keyword arguments and return
  # values as redis-rb 4.8. A class that includes this module defines
  # `send_command(args, &transform)` (and `send_blocking_command(args, timeout, &transform)`);
  # `transform` turns the raw reply into what redis-rb returns.
  #
  # Included by Client, MultiStore and the batch objects of `pipelined` and `multi`.
  module Commands
    # Reply conversions, as redis-rb applies them.
    module Reply
      BOOL = ->(v) { v.is_a?(Integer) ? v.positive? : v }
      BOOL_SET = lambda do |v|
        case v
        when "OK" then true
        when nil then false
        else v
        end
      end
      FLOAT = lambda do |v|
        case v
        when "inf" then Float::INFINITY
        when "-inf" then -Float::INFINITY
        when String then Float(v)
        else v
        end
      end
      FLOAT_PAIRS = lambda do |v|
        next v unless v.respond_to?(:each_slice)

        v.each_slice(2).map { |member, score| [member, FLOAT.call(score)] }
      end
      HASH = ->(v) { v.respond_to?(:each_slice) ? v.each_slice(2).to_h : v }
      PAIRS = ->(v) { v.respond_to?(:each_slice) ? v.each_slice(2).to_a : v }
      INFO = lambda do |v|
        next v unless v.is_a?(String)

        v.split("\r\n").grep_v(/\A(#|\z)/).map { |line| line.split(":", 2) }.to_h
      end
    end

    # --- connection / server -----------------------------------------------------------------

    def ping(message = nil)
      send_command([:ping, message].compact)
    end

    def echo(value)
      send_command([:echo, value])
    end

    def info(section = nil)
      send_command([:info, section].compact, &Reply::INFO)
    end

    def time
      send_command([:time]) { |r| r.is_a?(Array) ? r.map(&:to_i) : r }
    end

    # --- keys -----------------------------------------------------------------------------------

    def del(*keys)
      keys.flatten!(1)
      return 0 if keys.empty?

      send_command([:del, *keys])
    end

    def unlink(*keys)
      send_command([:unlink, *keys])
    end

    def exists(*keys)
      send_command([:exists, *keys])
    end

    def exists?(*keys)
      send_command([:exists, *keys]) { |v| v.is_a?(Integer) ? v.positive? : v }
    end

    def expire(key, seconds, nx: nil, xx: nil, gt: nil, lt: nil)
      send_command(expire_args(:expire, key, seconds, nx, xx, gt, lt), &Reply::BOOL)
    end

    def expireat(key, unix_time, nx: nil, xx: nil, gt: nil, lt: nil)
      send_command(expire_args(:expireat, key, unix_time, nx, xx, gt, lt), &Reply::BOOL)
    end

    def pexpire(key, milliseconds, nx: nil, xx: nil, gt: nil, lt: nil)
      send_command(expire_args(:pexpire, key, milliseconds, nx, xx, gt, lt), &Reply::BOOL)
    end

    def pexpireat(key, ms_unix_time, nx: nil, xx: nil, gt: nil, lt: nil)
      send_command(expire_args(:pexpireat, key, ms_unix_time, nx, xx, gt, lt), &Reply::BOOL)
    end

    def persist(key)
      send_command([:persist, key], &Reply::BOOL)
    end

    def ttl(key)
      send_command([:ttl, key])
    end

    def pttl(key)
      send_command([:pttl, key])
    end

    def type(key)
      send_command([:type, key])
    end

    def rename(old_name, new_name)
      send_command([:rename, old_name, new_name])
    end

    def renamenx(old_name, new_name)
      send_command([:renamenx, old_name, new_name], &Reply::BOOL)
    end

    def dump(key)
      send_command([:dump, key])
    end

    def restore(key, ttl, serialized_value, replace: nil)
      args = [:restore, key, ttl, serialized_value]
      args << "REPLACE" if replace
      send_command(args)
    end

    def copy(source, destination, db: nil, replace: false)
      args = [:copy, source, destination]
      args << "DB" << db if db
      args << "REPLACE" if replace
      send_command(args, &Reply::BOOL)
    end

    def object(*args)
      send_command([:object, *args])
    end

    def touch(*keys)
      send_command([:touch, *keys])
    end

    # --- strings --------------------------------------------------------------------------------

    def set(key, value, ex: nil, px: nil, exat: nil, pxat: nil, nx: nil, xx: nil, keepttl: nil, get: nil)
      args = [:set, key, value.to_s]
      args << "EX" << ex if ex
      args << "PX" << px if px
      args << "EXAT" << exat if exat
      args << "PXAT" << pxat if pxat
      args << "NX" if nx
      args << "XX" if xx
      args << "KEEPTTL" if keepttl
      args << "GET" if get
      nx || xx ? send_command(args, &Reply::BOOL_SET) : send_command(args)
    end

    def setex(key, ttl, value)
      send_command([:setex, key, ttl, value.to_s])
    end

    def psetex(key, ttl, value)
      send_command([:psetex, key, ttl, value.to_s])
    end

    def setnx(key, value)
      send_command([:setnx, key, value.to_s], &Reply::BOOL)
    end

    def get(key)
      send_command([:get, key])
    end

    def getset(key, value)
      send_command([:getset, key, value.to_s])
    end

    def getdel(key)
      send_command([:getdel, key])
    end

    def getex(key, ex: nil, px: nil, exat: nil, pxat: nil, persist: false)
      args = [:getex, key]
      args << "EX" << ex if ex
      args << "PX" << px if px
      args << "EXAT" << exat if exat
      args << "PXAT" << pxat if pxat
      args << "PERSIST" if persist
      send_command(args)
    end

    def mget(*keys, &blk)
      keys.flatten!(1)
      send_command([:mget, *keys], &blk)
    end

    def mapped_mget(*keys)
      mget(*keys) { |reply| reply.is_a?(Array) ? keys.zip(reply).to_h : reply }
    end

    def mset(*args)
      send_command([:mset, *args])
    end

    def mapped_mset(hash)
      mset(hash.flatten)
    end

    def msetnx(*args)
      send_command([:msetnx, *args], &Reply::BOOL)
    end

    def mapped_msetnx(hash)
      msetnx(hash.flatten)
    end

    def incr(key)
      send_command([:incr, key])
    end

    def incrby(key, increment)
      send_command([:incrby, key, increment])
    end

    def incrbyfloat(key, increment)
      send_command([:incrbyfloat, key, increment], &Reply::FLOAT)
    end

    def decr(key)
      send_command([:decr, key])
    end

    def decrby(key, decrement)
      send_command([:decrby, key, decrement])
    end

    def append(key, value)
      send_command([:append, key, value])
    end

    def strlen(key)
      send_command([:strlen, key])
    end

    def getrange(key, start, stop)
      send_command([:getrange, key, start, stop])
    end

    def setrange(key, offset, value)
      send_command([:setrange, key, offset, value.to_s])
    end

    def getbit(key, offset)
      send_command([:getbit, key, offset])
    end

    def setbit(key, offset, value)
      send_command([:setbit, key, offset, value])
    end

    def bitcount(key, start = 0, stop = -1)
      send_command([:bitcount, key, start, stop])
    end

    # --- hashes ---------------------------------------------------------------------------------

    def hset(key, *attrs)
      attrs = attrs.first.flatten if attrs.size == 1 && attrs.first.is_a?(Hash)
      send_command([:hset, key, *attrs])
    end

    def hsetnx(key, field, value)
      send_command([:hsetnx, key, field, value], &Reply::BOOL)
    end

    def hmset(key, *attrs)
      send_command([:hmset, key, *attrs])
    end

    def mapped_hmset(key, hash)
      hmset(key, hash.flatten)
    end

    def hget(key, field)
      send_command([:hget, key, field])
    end

    def hmget(key, *fields, &blk)
      fields.flatten!(1)
      send_command([:hmget, key, *fields], &blk)
    end

    def mapped_hmget(key, *fields)
      fields.flatten!(1)
      hmget(key, fields) { |reply| reply.is_a?(Array) ? fields.zip(reply).to_h : reply }
    end

    def hdel(key, *fields)
      fields.flatten!(1)
      send_command([:hdel, key, *fields])
    end

    def hexists(key, field)
      send_command([:hexists, key, field], &Reply::BOOL)
    end

    def hincrby(key, field, increment)
      send_command([:hincrby, key, field, increment])
    end

    def hincrbyfloat(key, field, increment)
      send_command([:hincrbyfloat, key, field, increment], &Reply::FLOAT)
    end

    def hkeys(key)
      send_command([:hkeys, key])
    end

    def hvals(key)
      send_command([:hvals, key])
    end

    def hgetall(key)
      send_command([:hgetall, key], &Reply::HASH)
    end

    def hlen(key)
      send_command([:hlen, key])
    end

    def hstrlen(key, field)
      send_command([:hstrlen, key, field])
    end

    def hrandfield(key, count = nil, withvalues: false, with_values: withvalues)
      raise ArgumentError, "count argument must be specified" if with_values && count.nil?

      args = [:hrandfield, key]
      args << count if count
      args << "WITHVALUES" if with_values
      send_command(args, &(with_values ? Reply::PAIRS : nil))
    end

    def hscan(key, cursor, **options)
      scan_args(:hscan, key, cursor, **options) { |r| [r[0], r[1].each_slice(2).to_a] }
    end

    def hscan_each(key, **options, &block)
      return enum_for(:hscan_each, key, **options) unless block

      each_scanned(block) { |c| hscan(key, c, **options) }
    end

    # --- lists ----------------------------------------------------------------------------------

    def lpush(key, value)
      send_command([:lpush, key, value])
    end

    def lpushx(key, value)
      send_command([:lpushx, key, value])
    end

    def rpush(key, value)
      send_command([:rpush, key, value])
    end

    def rpushx(key, value)
      send_command([:rpushx, key, value])
    end

    def lpop(key, count = nil)
      send_command([:lpop, key, count].compact)
    end

    def rpop(key, count = nil)
      send_command([:rpop, key, count].compact)
    end

    def llen(key)
      send_command([:llen, key])
    end

    def lrange(key, start, stop)
      send_command([:lrange, key, start, stop])
    end

    def lindex(key, index)
      send_command([:lindex, key, index])
    end

    def lset(key, index, value)
      send_command([:lset, key, index, value])
    end

    def linsert(key, where, pivot, value)
      send_command([:linsert, key, where, pivot, value])
    end

    def lrem(key, count, value)
      send_command([:lrem, key, count, value])
    end

    def ltrim(key, start, stop)
      send_command([:ltrim, key, start, stop])
    end

    def rpoplpush(source, destination)
      send_command([:rpoplpush, source, destination])
    end

    def lmove(source, destination, where_source, where_destination)
      send_command([:lmove, source, destination, where_source.to_s.upcase, where_destination.to_s.upcase])
    end

    def blpop(*args)
      bpop(:blpop, args)
    end

    def brpop(*args)
      bpop(:brpop, args)
    end

    def brpoplpush(source, destination, deprecated_timeout = 0, timeout: deprecated_timeout)
      send_blocking_command([:brpoplpush, source, destination, timeout], timeout)
    end

    def blmove(source, destination, where_source, where_destination, timeout: 0)
      send_blocking_command(
        [:blmove, source, destination, where_source.to_s.upcase, where_destination.to_s.upcase, timeout],
        timeout
      )
    end

    # --- sets -----------------------------------------------------------------------------------

    # redis-rb 4.8: a single member answers true/false, an Array of members an Integer.
    def sadd(key, member)
      send_command([:sadd, key, member], &(member.is_a?(Array) ? nil : Reply::BOOL))
    end

    def sadd?(key, member)
      send_command([:sadd, key, member], &Reply::BOOL)
    end

    def srem(key, member)
      send_command([:srem, key, member], &(member.is_a?(Array) ? nil : Reply::BOOL))
    end

    def srem?(key, member)
      send_command([:srem, key, member], &Reply::BOOL)
    end

    def scard(key)
      send_command([:scard, key])
    end

    def smembers(key)
      send_command([:smembers, key])
    end

    def sismember(key, member)
      send_command([:sismember, key, member], &Reply::BOOL)
    end

    def smismember(key, *members)
      send_command([:smismember, key, *members]) { |r| r.is_a?(Array) ? r.map(&Reply::BOOL) : r }
    end

    def spop(key, count = nil)
      send_command([:spop, key, count].compact)
    end

    def srandmember(key, count = nil)
      send_command([:srandmember, key, count].compact)
    end

    def smove(source, destination, member)
      send_command([:smove, source, destination, member], &Reply::BOOL)
    end

    def sdiff(*keys)
      send_command([:sdiff, *keys])
    end

    def sdiffstore(destination, *keys)
      send_command([:sdiffstore, destination, *keys])
    end

    def sinter(*keys)
      send_command([:sinter, *keys])
    end

    def sinterstore(destination, *keys)
      send_command([:sinterstore, destination, *keys])
    end

    def sunion(*keys)
      send_command([:sunion, *keys])
    end

    def sunionstore(destination, *keys)
      send_command([:sunionstore, destination, *keys])
    end

    def sscan(key, cursor, **options)
      scan_args(:sscan, key, cursor, **options)
    end

    def sscan_each(key, **options, &block)
      return enum_for(:sscan_each, key, **options) unless block

      each_scanned(block) { |c| sscan(key, c, **options) }
    end

    # --- sorted sets ----------------------------------------------------------------------------

    def zadd(key, *args, nx: nil, xx: nil, lt: nil, gt: nil, ch: nil, incr: nil)
      command = [:zadd, key]
      command << "NX" if nx
      command << "XX" if xx
      command << "LT" if lt
      command << "GT" if gt
      command << "CH" if ch
      command << "INCR" if incr
      if args.size == 1 && args[0].is_a?(Array)
        return 0 if args[0].empty?

        send_command(command + args[0], &(incr ? Reply::FLOAT : nil))
      elsif args.size == 2
        send_command(command + args, &(incr ? Reply::FLOAT : Reply::BOOL))
      else
        raise ArgumentError, "wrong number of arguments"
      end
    end

    def zincrby(key, increment, member)
      send_command([:zincrby, key, increment, member], &Reply::FLOAT)
    end

    def zrem(key, member)
      if member.is_a?(Array)
        return 0 if member.empty?

        send_command([:zrem, key, member])
      else
        send_command([:zrem, key, member], &Reply::BOOL)
      end
    end

    def zcard(key)
      send_command([:zcard, key])
    end

    def zscore(key, member)
      send_command([:zscore, key, member], &Reply::FLOAT)
    end

    def zmscore(key, *members)
      send_command([:zmscore, key, *members]) { |r| r.is_a?(Array) ? r.map(&Reply::FLOAT) : r }
    end

    def zrange(key, start, stop, byscore: false, by_score: byscore, bylex: false, by_lex: bylex,
               rev: false, limit: nil, withscores: false, with_scores: withscores)
      raise ArgumentError, "only one of :by_score or :by_lex can be specified" if by_score && by_lex

      args = [:zrange, key, start, stop]
      args << "BYSCORE" if by_score
      args << "BYLEX" if by_lex
      args << "REV" if rev
      args.push("LIMIT", *limit) if limit
      args << "WITHSCORES" if with_scores
      send_command(args, &(with_scores ? Reply::FLOAT_PAIRS : nil))
    end

    def zrevrange(key, start, stop, withscores: false, with_scores: withscores)
      args = [:zrevrange, key, start, stop]
      args << "WITHSCORES" if with_scores
      send_command(args, &(with_scores ? Reply::FLOAT_PAIRS : nil))
    end

    def zrangebyscore(key, min, max, withscores: false, with_scores: withscores, limit: nil)
      args = [:zrangebyscore, key, min, max]
      args << "WITHSCORES" if with_scores
      args.push("LIMIT", *limit) if limit
      send_command(args, &(with_scores ? Reply::FLOAT_PAIRS : nil))
    end

    def zrevrangebyscore(key, max, min, withscores: false, with_scores: withscores, limit: nil)
      args = [:zrevrangebyscore, key, max, min]
      args << "WITHSCORES" if with_scores
      args.push("LIMIT", *limit) if limit
      send_command(args, &(with_scores ? Reply::FLOAT_PAIRS : nil))
    end

    def zrangebylex(key, min, max, limit: nil)
      args = [:zrangebylex, key, min, max]
      args.push("LIMIT", *limit) if limit
      send_command(args)
    end

    def zrank(key, member)
      send_command([:zrank, key, member])
    end

    def zrevrank(key, member)
      send_command([:zrevrank, key, member])
    end

    def zcount(key, min, max)
      send_command([:zcount, key, min, max])
    end

    def zlexcount(key, min, max)
      send_command([:zlexcount, key, min, max])
    end

    def zremrangebyrank(key, start, stop)
      send_command([:zremrangebyrank, key, start, stop])
    end

    def zremrangebyscore(key, min, max)
      send_command([:zremrangebyscore, key, min, max])
    end

    def zpopmin(key, count = nil)
      send_command([:zpopmin, key, count].compact) do |r|
        pairs = Reply::FLOAT_PAIRS.call(r)
        count.to_i > 1 ? pairs : pairs.first
      end
    end

    def zpopmax(key, count = nil)
      send_command([:zpopmax, key, count].compact) do |r|
        pairs = Reply::FLOAT_PAIRS.call(r)
        count.to_i > 1 ? pairs : pairs.first
      end
    end

    def bzpopmin(*args)
      bpop(:bzpopmin, args) { |r| r.is_a?(Array) ? [r[0], r[1], Reply::FLOAT.call(r[2])] : r }
    end

    def bzpopmax(*args)
      bpop(:bzpopmax, args) { |r| r.is_a?(Array) ? [r[0], r[1], Reply::FLOAT.call(r[2])] : r }
    end

    def zrandmember(key, count = nil, withscores: false, with_scores: withscores)
      raise ArgumentError, "count argument must be specified" if with_scores && count.nil?

      args = [:zrandmember, key]
      args << count if count
      args << "WITHSCORES" if with_scores
      send_command(args, &(with_scores ? Reply::FLOAT_PAIRS : nil))
    end

    def zinterstore(destination, *keys, weights: nil, aggregate: nil)
      zstore(:zinterstore, destination, keys.flatten(1), weights, aggregate)
    end

    def zunionstore(destination, *keys, weights: nil, aggregate: nil)
      zstore(:zunionstore, destination, keys.flatten(1), weights, aggregate)
    end

    def zscan(key, cursor, **options)
      scan_args(:zscan, key, cursor, **options) { |r| [r[0], Reply::FLOAT_PAIRS.call(r[1])] }
    end

    def zscan_each(key, **options, &block)
      return enum_for(:zscan_each, key, **options) unless block

      each_scanned(block) { |c| zscan(key, c, **options) }
    end

    # --- HyperLogLog, pub/sub, scripts ----------------------------------------------------------

    def pfadd(key, member)
      send_command([:pfadd, key, member], &Reply::BOOL)
    end

    def pfcount(*keys)
      send_command([:pfcount, *keys])
    end

    def pfmerge(dest_key, *source_key)
      send_command([:pfmerge, dest_key, *source_key], &Reply::BOOL_SET)
    end

    def publish(channel, message)
      send_command([:publish, channel, message])
    end

    def eval(script, keys = nil, argv = nil, **options)
      script_call(:eval, script, keys, argv, options)
    end

    def evalsha(sha, keys = nil, argv = nil, **options)
      script_call(:evalsha, sha, keys, argv, options)
    end

    def script(subcommand, *args)
      subcommand = subcommand.to_s.downcase
      return send_command([:script, subcommand, *args]) unless subcommand == "exists"

      arg = args.first
      send_command([:script, :exists, arg]) do |reply|
        next reply unless reply.is_a?(Array)

        reply = reply.map(&Reply::BOOL)
        arg.is_a?(Array) ? reply : reply.first
      end
    end

    private

    def expire_args(name, key, value, nx, xx, gt, lt)
      args = [name, key, value]
      args << "NX" if nx
      args << "XX" if xx
      args << "GT" if gt
      args << "LT" if lt
      args
    end

    def scan_args(name, key, cursor, match: nil, count: nil, type: nil, &block)
      args = [name, key, cursor].compact
      args << "MATCH" << match if match
      args << "COUNT" << count if count
      args << "TYPE" << type if type
      send_command(args, &block)
    end

    def each_scanned(block)
      cursor = 0
      loop do
        cursor, items = yield(cursor)
        items.each(&block)
        break if cursor == "0"
      end
    end

    # blpop/brpop/bzpop*: keys, then `timeout:` or a trailing Integer timeout (redis-rb's rule).
    def bpop(name, args, &blk)
      timeout = if args.last.is_a?(Hash)
                  args.pop[:timeout]
                elsif args.last.respond_to?(:to_int)
                  args.pop.to_int
                end
      timeout ||= 0
      send_blocking_command([name, *args.flatten, timeout], timeout, &blk)
    end

    def zstore(name, destination, keys, weights, aggregate)
      args = [name, destination, keys.size, *keys]
      args.push("WEIGHTS", *weights) if weights
      args.push("AGGREGATE", aggregate) if aggregate
      send_command(args)
    end

    def script_call(name, script, keys, argv, options)
      keys ||= options[:keys] || []
      argv ||= options[:argv] || []
      send_command([name, script, keys.length, *keys, *argv])
    end
  end
end
