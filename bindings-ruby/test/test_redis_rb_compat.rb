# frozen_string_literal: true

require_relative "test_helper"
require "redis"

Redis.silence_deprecations = true

# Every command method Slotshift::Client offers, run against redis-rb 4.8 (`Redis`) and
# Slotshift::Client on the same standalone server, from an empty database each time: the
# return values (and raised error classes/messages) must be the same.
class TestRedisRbCompat < Minitest::Test
  include SlotshiftTestHelpers

  BIN = "\x00\xFFbin\r\nkey".b

  # name => proc(client) returning the values to compare. Deterministic commands only.
  CASES = {
    ping: ->(r) { [r.ping, r.ping("hi"), r.echo("x"), r.time.size, r.time.map(&:class)] },
    random_members: lambda do |r|
      r.hset("h", "f", "v")
      r.zadd("z", 2, "m")
      [r.hrandfield("h"), r.hrandfield("h", 1), r.hrandfield("h", 1, with_values: true), r.hrandfield("nope"),
       r.zrandmember("z"), r.zrandmember("z", 1), r.zrandmember("z", 1, with_scores: true)]
    end,
    set_get: lambda do |r|
      [r.set("s", "v"), r.get("s"), r.get("missing"), r.set("n", 42), r.get("n"), r.set("f", 1.5), r.get("f"),
       r.set(:sym, "v"), r.get("sym")]
    end,
    set_options: lambda do |r|
      [r.set("a", "1", nx: true), r.set("a", "2", nx: true), r.set("a", "3", xx: true), r.set("b", "1", xx: true),
       r.set("c", "1", ex: 100), r.ttl("c"), r.set("d", "1", px: 100_000), r.pttl("d") > 99_000,
       r.set("a", "4", get: true), r.set("c", "2", keepttl: true), r.ttl("c"), r.set("e", "1", nx: false)]
    end,
    setex_family: lambda do |r|
      [r.setex("a", 100, "v"), r.ttl("a"), r.psetex("b", 100_000, "v"), r.pttl("b") > 99_000,
       r.setnx("c", "v"), r.setnx("c", "w"), r.get("c")]
    end,
    getset_getdel_getex: lambda do |r|
      r.set("a", "1")
      [r.getset("a", "2"), r.getdel("a"), r.getdel("a"), r.set("b", "x"), r.getex("b", ex: 50), r.ttl("b"),
       r.getex("b", persist: true), r.ttl("b")]
    end,
    mget_mset: lambda do |r|
      [r.mset("a", "1", "b", "2"), r.mget("a", "b", "c"), r.mget(%w[a b]), r.mapped_mset("x" => "1", "y" => "2"),
       r.mapped_mget("x", "y", "z"), r.msetnx("x", "3", "q", "4"), r.msetnx("q", "4", "w", "5"),
       r.mapped_msetnx("e" => "1")]
    end,
    counters: lambda do |r|
      [r.incr("i"), r.incrby("i", 10), r.decr("i"), r.decrby("i", 3), r.incrbyfloat("f", 1.25),
       r.incrbyfloat("f", -0.25), r.get("i")]
    end,
    string_ranges: lambda do |r|
      [r.append("s", "hello"), r.append("s", " world"), r.strlen("s"), r.getrange("s", 0, 4),
       r.setrange("s", 6, "WORLD"), r.get("s"), r.setbit("b", 7, 1), r.getbit("b", 7), r.bitcount("b")]
    end,
    keys_and_expiry: lambda do |r|
      r.set("k1", "v")
      r.set("k2", "v")
      [r.exists("k1"), r.exists("k1", "k2", "nope"), r.exists?("k1"), r.exists?("nope"),
       r.expire("k1", 100), r.expire("nope", 100), r.ttl("k1"), r.persist("k1"), r.persist("k1"), r.ttl("k1"),
       r.ttl("nope"), r.pexpire("k2", 100_000), r.pttl("k2") > 99_000, r.expireat("k2", Time.now.to_i + 1000),
       r.pexpireat("k2", (Time.now.to_i + 1000) * 1000), r.type("k1"), r.type("nope"), r.keys("k*").sort,
       r.rename("k1", "k3"), r.renamenx("k3", "k2"), r.renamenx("k3", "k4"), r.touch("k2", "k4"),
       r.del("k2"), r.del("k4", "nope"), r.del(%w[k2 k4]), r.unlink("x"), r.dbsize]
    end,
    dump_restore_copy: lambda do |r|
      r.set("a", "v")
      d = r.dump("a")
      [r.restore("b", 0, d), r.get("b"), r.restore("b", 0, d, replace: true), r.copy("a", "c"), r.copy("a", "c"),
       r.copy("a", "c", replace: true), r.object("encoding", "a")]
    end,
    binary_keys: ->(r) { [r.set(BIN, BIN), r.get(BIN) == BIN, r.exists?(BIN), r.mget(BIN, "x").map { |v| v&.bytes }] },
    hashes: lambda do |r|
      [r.hset("h", "a", "1"), r.hset("h", "b", "2", "c", "3"), r.hset("h", { "d" => "4" }), r.hget("h", "a"),
       r.hget("h", "zz"), r.hsetnx("h", "a", "9"), r.hsetnx("h", "e", "5"), r.hmset("h", "f", "6", "g", "7"),
       r.mapped_hmset("h", "i" => "8"), r.hmget("h", "a", "zz"), r.hmget("h", %w[a b]),
       r.mapped_hmget("h", "a", "b"), r.hdel("h", "g"), r.hdel("h", "zz", "i"), r.hexists("h", "a"),
       r.hexists("h", "zz"), r.hincrby("h", "n", 5), r.hincrbyfloat("h", "x", 1.5), r.hkeys("h").sort,
       r.hvals("h").sort, r.hgetall("h"), r.hlen("h"), r.hstrlen("h", "a"), r.hgetall("nope")]
    end,
    hscan: lambda do |r|
      r.mapped_hmset("h", "a" => "1", "b" => "2")
      [r.hscan("h", 0).then { |c, pairs| [c, pairs.sort] }, r.hscan_each("h").to_a.sort,
       r.hscan("h", 0, match: "a").last]
    end,
    lists: lambda do |r|
      [r.lpush("l", "a"), r.lpush("l", %w[b c]), r.rpush("l", "z"), r.rpush("l", %w[y x]), r.lpushx("l", "p"),
       r.rpushx("nope", "p"), r.llen("l"), r.lrange("l", 0, -1), r.lindex("l", 1), r.lset("l", 0, "P"),
       r.linsert("l", :before, "a", "A"), r.linsert("l", "AFTER", "a", "AA"), r.lrem("l", 1, "AA"),
       r.lpop("l"), r.rpop("l"), r.lpop("l", 2), r.rpop("l", 2), r.ltrim("l", 0, 1), r.lrange("l", 0, -1),
       r.rpoplpush("l", "m"), r.lmove("l", "m", "LEFT", "RIGHT"), r.lrange("m", 0, -1), r.lpop("nope")]
    end,
    blocking_lists: lambda do |r|
      r.rpush("bl", %w[1 2 3])
      [r.blpop("bl", timeout: 1), r.brpop("bl", "other", timeout: 1), r.blpop(%w[none bl], 1),
       r.blpop("none", timeout: 0.1), r.rpush("bl", "4"), r.brpoplpush("bl", "dst", timeout: 1),
       r.blmove("dst", "bl", "LEFT", "RIGHT", timeout: 1), r.lrange("bl", 0, -1)]
    end,
    sets: lambda do |r|
      [r.sadd("s", "a"), r.sadd("s", "a"), r.sadd("s", %w[b c d]), r.sadd?("s", "e"), r.srem("s", "e"),
       r.srem("s", "e"), r.srem("s", %w[d zz]), r.srem?("s", "c"), r.scard("s"), r.smembers("s").sort,
       r.sismember("s", "a"), r.sismember("s", "zz"), r.smismember("s", "a", "zz"), r.smove("s", "t", "a"),
       r.smove("s", "t", "zz"), r.sadd("u", %w[b x]), r.sdiff("s", "u"), r.sinter("s", "u"),
       r.sunion("s", "u").sort, r.sdiffstore("d", "u", "s"), r.sinterstore("i", "s", "u"),
       r.sunionstore("n", "s", "u"), r.spop("nope"), r.srandmember("t"), r.srandmember("nope", 2)]
    end,
    sscan: lambda do |r|
      r.sadd("s", %w[a b c])
      [r.sscan("s", 0).then { |c, m| [c, m.sort] }, r.sscan_each("s").to_a.sort, r.sscan_each("s", match: "a").to_a]
    end,
    sorted_sets: lambda do |r|
      [r.zadd("z", 1, "a"), r.zadd("z", 1, "a"), r.zadd("z", [[2, "b"], [3, "c"], [4.5, "d"]]), r.zadd("z", []),
       r.zadd("z", 10, "a", xx: true, ch: true), r.zadd("z", 1, "a", incr: true), r.zadd("z", 5, "n", nx: true),
       r.zincrby("z", 2, "b"), r.zscore("z", "a"), r.zscore("z", "zz"), r.zmscore("z", "a", "zz"),
       r.zcard("z"), r.zrange("z", 0, -1), r.zrange("z", 0, 1, with_scores: true),
       r.zrange("z", 0, 1, withscores: true), r.zrange("z", "(1", "+inf", by_score: true, limit: [0, 2]),
       r.zrange("z", 0, -1, rev: true), r.zrevrange("z", 0, 1), r.zrevrange("z", 0, 1, with_scores: true),
       r.zrangebyscore("z", "-inf", "+inf", with_scores: true, limit: [1, 2]), r.zrangebyscore("z", 2, 5),
       r.zrevrangebyscore("z", "+inf", 2, limit: [0, 1]), r.zrank("z", "a"), r.zrevrank("z", "a"),
       r.zrank("z", "zz"), r.zcount("z", 1, 5), r.zrem("z", "n"), r.zrem("z", "n"), r.zrem("z", %w[d zz]),
       r.zrem("z", []), r.zpopmin("z"), r.zpopmax("z"), r.zadd("z", [[1, "p"], [2, "q"], [3, "r"]]),
       r.zpopmin("z", 2), r.zpopmax("z", 1), r.zpopmin("nope"), r.zremrangebyrank("z", 0, 0),
       r.zadd("z", [[1, "p"], [2, "q"]]), r.zremrangebyscore("z", 0, 1), r.zrange("z", 0, -1, with_scores: true),
       r.zadd("y", [[1, "q"], [7, "w"]]), r.zunionstore("u", %w[y z]), r.zinterstore("i", %w[y z], weights: [2, 3]),
       r.zrange("i", 0, -1, with_scores: true), r.zunionstore("v", %w[y z], aggregate: "max"),
       r.zrange("v", 0, -1, with_scores: true), r.zadd("lex", [[0, "a"], [0, "b"], [0, "c"]]),
       r.zrangebylex("lex", "[a", "(c"), r.zrangebylex("lex", "-", "+", limit: [1, 1]), r.zlexcount("lex", "-", "+"),
       r.zadd("inf", "+inf", "x"), r.zscore("inf", "x"), r.zrange("inf", 0, -1, with_scores: true)]
    end,
    blocking_zpop: lambda do |r|
      r.zadd("z", [[1, "a"], [2, "b"]])
      [r.bzpopmin("z", timeout: 1), r.bzpopmax("z", 1), r.bzpopmin("z", timeout: 0.1)]
    end,
    zscan: lambda do |r|
      r.zadd("z", [[1, "a"], [2.5, "b"]])
      [r.zscan("z", 0), r.zscan_each("z").to_a]
    end,
    hyperloglog: lambda do |r|
      [r.pfadd("h", "a"), r.pfadd("h", "a"), r.pfadd("h", %w[b c]), r.pfcount("h"), r.pfadd("g", "z"),
       r.pfcount("h", "g"), r.pfmerge("m", "h", "g"), r.pfcount("m")]
    end,
    publish: ->(r) { [r.publish("chan", "hello")] },
    scripts: lambda do |r|
      sha = r.script(:load, "return {KEYS[1], ARGV[1]}")
      [r.eval("return {KEYS[1], ARGV[1]}", ["k"], ["v"]), r.eval("return 1", keys: [], argv: []),
       r.eval("return KEYS[1]", keys: ["x"]), sha, r.evalsha(sha, ["a"], ["b"]), r.script(:exists, sha)]
    end,
    scan: lambda do |r|
      20.times { |i| r.set("sc:#{i}", i) }
      r.set("other", 1)
      keys = []
      cursor = "0"
      loop do
        cursor, batch = r.scan(cursor, match: "sc:*", count: 5)
        keys.concat(batch)
        break if cursor == "0"
      end
      [keys.sort, r.scan_each(match: "sc:1*").to_a.sort, r.scan_each.to_a.size, r.scan_each(type: "string").count]
    end,
    raw_call: ->(r) { [r.call("SET", "a", "1"), r.call(:get, "a"), r.call("INCRBY", "a", 5), r.call("HGETALL", "nope")] },
    info_dbsize: ->(r) { r.set("a", 1); [r.info.key?("redis_version"), r.info("keyspace").keys, r.dbsize] },
    pipelined: lambda do |r|
      values = r.pipelined do |p|
        p.set("a", "1")
        p.incr("a")
        p.get("a")
        p.hset("h", "f", "v")
        p.hgetall("h")
        p.exists?("a")
        p.zadd("z", [[1, "x"]])
        p.zrange("z", 0, -1, with_scores: true)
        p.mapped_mget("a", "b")
      end
      futures = []
      r.pipelined { |p| futures << p.get("a") << p.set("b", "2", nx: true) << p.sismember("s", "x") }
      [values, futures.map(&:value), r.pipelined { |_p| nil }]
    end,
    multi: lambda do |r|
      values = r.multi do |t|
        t.set("a", "1")
        t.incrby("a", 2)
        t.get("a")
        t.exists?("a")
        t.zadd("z", 1, "m")
        t.zscore("z", "m")
      end
      f = nil
      r.multi { |t| f = t.hgetall("nope") }
      [values, f.value]
    end,
    errors: lambda do |r|
      r.set("str", "x")
      out = []
      [-> { r.lpush("str", "v") }, -> { r.incr("str") }, -> { r.call("NOSUCHCOMMAND") },
       -> { r.pipelined { |p| p.set("x", "1"); p.lpush("str", "v"); p.get("x") } },
       -> { r.multi { |t| t.set("y", "1"); t.incr("str") } }].each do |f|
        f.call
        out << :no_error
      rescue StandardError => e
        out << e.message
      end
      out << r.get("x") << r.get("y")
      out
    end,
  }.freeze

  def run_case(client, flush, name)
    flush.call
    CASES.fetch(name).call(client)
  end

  CASES.each_key do |name|
    define_method("test_same_as_redis_rb_#{name}") do
      redis = Redis.new(url: TestServers.standalone_url(0))
      ours = standalone_client(0)
      expected = run_case(redis, -> { redis.flushdb }, name)
      actual = run_case(ours, -> { ours.flushdb }, name)
      assert_equal expected, actual, "#{name}: Slotshift::Redis differs from redis-rb 4.8"
    ensure
      redis&.close
    end
  end

  # Error classes: a server error reply raises Slotshift::CommandError, a Redis::CommandError,
  # with the server's message: both rescues work.
  def test_server_error_reply_raises_command_error_with_the_servers_message
    r = standalone_client(0)
    r.flushdb
    r.set("str", "x")
    e = assert_raises(Redis::CommandError) { r.lpush("str", "v") }
    assert_equal "WRONGTYPE Operation against a key holding the wrong kind of value", e.message
    assert_kind_of Slotshift::CommandError, e
    assert_kind_of Slotshift::Error, e
  end

  # The command layer is redis-rb's own: Slotshift::Redis is a ::Redis and redefines no
  # command method but SCAN's two (which walk every master of a cluster); the value checks
  # (Slotshift::ValueChecks) only check, then hand over to redis-rb's method.
  def test_the_command_layer_is_redis_rbs
    r = standalone_client(0)
    assert_kind_of ::Redis, r
    assert_same Slotshift::Redis, Slotshift::Client
    own = Slotshift::Redis.instance_methods(false) & ::Redis::Commands.instance_methods
    assert_equal %i[scan scan_each], own.sort
    checked = Slotshift::ValueChecks::VALUE_AT.keys + %i[pipelined multi]
    assert_equal checked.sort, Slotshift::ValueChecks.instance_methods(false).sort
    (::Redis::Commands.instance_methods - %i[scan scan_each]).each do |m|
      method = Slotshift::Redis.instance_method(m)
      method = method.super_method if method.owner == Slotshift::ValueChecks
      owner = method.owner
      assert owner.name.start_with?("Redis") && ::Redis.ancestors.include?(owner), "#{m} is defined by #{owner}, not redis-rb"
    end
  end
end
