"""redis-py behaviours: the same calls on `redis.Redis` and `slotshift.Client` (one standalone
server), and on `redis.cluster.RedisCluster` and `slotshift.Client` (one cluster), give equal
results — bytes, and str with decode_responses=True."""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.cluster

import slotshift

from conftest import close_redis_cluster

Scenario = Callable[[Any], list[Any]]


def norm(x: Any) -> Any:
    """Exceptions by kind (redis-py's and slotshift's classes share the name ResponseError)."""
    if isinstance(x, BaseException):
        return ("error", type(x).__name__)
    if isinstance(x, list):
        return [norm(i) for i in x]
    if isinstance(x, tuple):
        return tuple(norm(i) for i in x)
    return x


BINARY = {"value": b"\x00\xff\r\n"}


def B() -> Any:
    """A binary-safe value: raw bytes, or (with decode_responses, which cannot hold arbitrary
    bytes) non-ASCII text with control characters."""
    return BINARY["value"]


def legacy(fn: Callable[[], Any]) -> Any:
    """Calls a method redis-py marks deprecated (setnx, setex, psetex) without its warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return fn()


def every_master(c: Any, method: str, *args: Any) -> Any:
    """slotshift runs DBSIZE/KEYS on every master of a cluster; redis-py's RedisCluster does
    that only when asked with target_nodes=PRIMARIES (otherwise one node answers)."""
    if isinstance(c, redis.cluster.RedisCluster):
        return getattr(c, method)(*args, target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    return getattr(c, method)(*args)


def catch(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (redis.ResponseError, slotshift.ResponseError) as e:
        return ("error", type(e).__name__)


def strings(c: Any) -> list[Any]:
    out = [
        c.set("s:a", "1"), c.set("s:a", "2", nx=True), c.set("s:a", "3", xx=True),
        c.set("s:new", "3", xx=True), c.get("s:a"), c.get("s:missing"),
        c.set("s:b", "x", ex=100), c.ttl("s:b") > 90,
        c.set("s:c", "y", px=100_000), c.pttl("s:c") > 90_000,
        c.set("s:d", "z", ex=datetime.timedelta(seconds=50)), c.ttl("s:d") > 40,
        c.set("s:d", "w", keepttl=True), c.ttl("s:d") > 40,
        c.set("s:a", "4", get=True),
        c.set("s:e", "v", exat=int(datetime.datetime.now().timestamp()) + 100), c.ttl("s:e") > 90,
        legacy(lambda: c.setnx("s:n", "1")), legacy(lambda: c.setnx("s:n", "2")),
        legacy(lambda: c.setex("s:x", 100, "v")), legacy(lambda: c.psetex("s:y", 100_000, "v")), c.get("s:x"),
        c.incr("s:i"), c.incr("s:i", 5), c.incrby("s:i", 2), c.decr("s:i"), c.decrby("s:i", 3),
        c.incrbyfloat("s:f", 1.5), c.incrbyfloat("s:f"),
        c.append("s:a", "xyz"), c.strlen("s:a"), c.getrange("s:a", 0, 1),
        c.setrange("s:a", 1, "Q"), c.get("s:a"), c.getdel("s:a"), c.get("s:a"),
        c.getex("s:n", ex=100), c.ttl("s:n") > 90, c.getex("s:n", persist=True), c.ttl("s:n"),
        c.set("s:big", 12345678901234567890), c.get("s:big"),
        c.set("s:fl", 0.1), c.get("s:fl"), c.set("s:bin", B()), c.get("s:bin"),
        c.set("s:neg", -7), c.incr("s:neg"),
        catch(lambda: c.incr("s:bin")),
    ]
    return out


def multi_key(c: Any) -> list[Any]:
    return [
        c.mset({"{t}a": "1", "{t}b": B()}), c.mget(["{t}a", "{t}b", "{t}c"]),
        c.mget("{t}a", "{t}b"), c.msetnx({"{t}a": "9", "{t}z": "1"}),
        c.msetnx({"{t}y": "9", "{t}z": "1"}), c.mget(["{t}y", "{t}z"]),
        c.exists("{t}a", "{t}a", "{t}nope"), c.touch("{t}a", "{t}b", "{t}nope"),
        c.delete("{t}a", "{t}nope"), c.unlink("{t}b", "{t}y"), c.exists("{t}a"),
        c.rename("{t}z", "{t}z2"), c.renamenx("{t}z2", "{t}zz"), c.renamenx("{t}zz", "{t}zz"),
        catch(lambda: c.rename("{t}missing", "{t}x")),
    ]


def keys_and_expiry(c: Any) -> list[Any]:
    c.set("k:a", "1")
    c.rpush("k:l", "x")
    c.hset("k:h", "f", "v")
    c.sadd("k:s", "m")
    c.zadd("k:z", {"m": 1})
    c.pfadd("k:p", "m")
    when = datetime.datetime.now() + datetime.timedelta(seconds=200)
    return [
        c.type("k:a"), c.type("k:l"), c.type("k:h"), c.type("k:s"), c.type("k:z"),
        c.type("k:nope"),
        c.expire("k:a", 100), c.ttl("k:a") > 90, c.expire("k:a", 200, nx=True),
        c.expire("k:a", 300, xx=True), c.expire("k:a", 10, gt=True), c.expire("k:a", 10, lt=True),
        c.ttl("k:a") <= 10, c.persist("k:a"), c.persist("k:a"), c.ttl("k:a"), c.ttl("k:nope"),
        c.pexpire("k:l", 100_000), c.pttl("k:l") > 90_000, c.pttl("k:nope"),
        c.expireat("k:h", when), c.ttl("k:h") > 190, c.expiretime("k:h") == int(when.timestamp()),
        c.pexpireat("k:s", int(when.timestamp() * 1000)), c.ttl("k:s") > 190,
        c.expire("k:nope", 10), c.expiretime("k:z"),
        c.expire("k:z", datetime.timedelta(seconds=100)), c.ttl("k:z") > 90,
    ]


def hashes(c: Any) -> list[Any]:
    return [
        c.hset("h", "a", "1"), c.hset("h", mapping={"b": 2, "c": 3.5}),
        c.hset("h", items=["d", "4", "e", "5"]), c.hset("h", "a", "1", mapping={"f": "6"}),
        c.hget("h", "a"), c.hget("h", "nope"), c.hgetall("h"), c.hgetall("nope"),
        c.hmget("h", ["a", "b", "nope"]), c.hmget("h", "a", "c"),
        c.hdel("h", "a", "nope"), c.hexists("h", "a"), c.hexists("h", "b"),
        c.hincrby("h", "b"), c.hincrby("h", "b", 10), c.hincrbyfloat("h", "c", 0.25),
        c.hincrbyfloat("h", "c"), sorted(c.hkeys("h")), sorted(c.hvals("h")), c.hlen("h"),
        c.hsetnx("h", "b", "x"), c.hsetnx("h", "z", "x"), c.hstrlen("h", "z"),
        catch(lambda: c.hincrby("h", "z")),
    ]


def sets(c: Any) -> list[Any]:
    out = [
        c.sadd("{s}a", "1", "2", "3", B()), c.sadd("{s}a", "1"), c.srem("{s}a", "3", "9"),
        c.smembers("{s}a"), c.smembers("{s}nope"), c.sismember("{s}a", "1"),
        c.sismember("{s}a", "9"), c.smismember("{s}a", ["1", "9"]), c.scard("{s}a"),
        c.sadd("{s}b", "2", "4"),
        c.sinter(["{s}a", "{s}b"]), c.sunion("{s}a", "{s}b"), c.sdiff(["{s}a", "{s}b"]),
        c.sinterstore("{s}i", ["{s}a", "{s}b"]), c.sunionstore("{s}u", "{s}a", "{s}b"),
        c.sdiffstore("{s}d", ["{s}a", "{s}b"]), c.smembers("{s}u"),
        c.smove("{s}a", "{s}b", "1"), c.smove("{s}a", "{s}b", "nope"), c.smembers("{s}b"),
        c.sadd("{s}one", "x"), c.spop("{s}one"), c.spop("{s}one"), c.sadd("{s}one", "x"),
        c.srandmember("{s}one"), c.srandmember("{s}one", 5), c.spop("{s}one", 3),
    ]
    return out


def sorted_sets(c: Any) -> list[Any]:
    return [
        c.zadd("z", {"a": 1, "b": 2.5, "c": 3}), c.zadd("z", {"a": 5}, nx=True),
        c.zadd("z", {"a": 0.5}, xx=True, ch=True), c.zadd("z", {"a": 10}, gt=True, ch=True),
        c.zadd("z", {"a": 1}, lt=True, ch=True), c.zadd("z", {"b": 1.5}, incr=True),
        c.zrange("z", 0, -1), c.zrange("z", 0, -1, withscores=True),
        c.zrange("z", 0, -1, desc=True), c.zrange("z", 0, 1, desc=True, withscores=True),
        c.zrange("z", 1, 3, byscore=True), c.zrange("z", "[a", "[b", bylex=True),
        c.zrange("z", 0, 10, byscore=True, offset=1, num=1),
        c.zrange("z", 0, -1, withscores=True, score_cast_func=int),
        c.zrevrange("z", 0, -1), c.zrevrange("z", 0, 0, withscores=True),
        c.zrangebyscore("z", 1, 3), c.zrangebyscore("z", "-inf", "+inf", withscores=True),
        c.zrangebyscore("z", 0, 10, start=1, num=5), c.zrevrangebyscore("z", 10, 0),
        c.zrevrangebyscore("z", "+inf", "-inf", withscores=True),
        c.zscore("z", "b"), c.zscore("z", "nope"), c.zmscore("z", ["a", "nope"]),
        c.zincrby("z", 2, "c"), c.zrem("z", "c", "nope"), c.zcard("z"), c.zcount("z", 1, 2),
        c.zcount("z", "-inf", "(1.5"), c.zrank("z", "b"), c.zrank("z", "nope"),
        c.zrevrank("z", "b"),
        c.zadd("z", {"d": 4, "e": 5, "f": 6}), c.zpopmin("z"), c.zpopmax("z", 2),
        c.zremrangebyrank("z", 0, 0), c.zremrangebyscore("z", 0, 4), c.zrange("z", 0, -1),
        catch(lambda: c.zadd("z", {"x": "notanumber"})),
    ]


def lists(c: Any) -> list[Any]:
    return [
        c.lpush("{l}a", "1", "2"), c.rpush("{l}a", "3", B()), c.lrange("{l}a", 0, -1),
        c.llen("{l}a"), c.lindex("{l}a", 0), c.lindex("{l}a", 99), c.lset("{l}a", 0, "x"),
        c.lrem("{l}a", 0, "x"), c.linsert("{l}a", "BEFORE", "3", "2.5"),
        c.linsert("{l}a", "AFTER", "nope", "y"), c.ltrim("{l}a", 0, 2), c.lrange("{l}a", 0, -1),
        c.lpop("{l}a"), c.rpop("{l}a"), c.rpush("{l}a", "a", "b", "c"), c.lpop("{l}a", 2),
        c.rpop("{l}a", 5), c.lpop("{l}a"), c.rpop("{l}nope", 2),
        c.rpush("{l}a", "p", "q"), c.lmove("{l}a", "{l}b"), c.lmove("{l}a", "{l}b", "RIGHT", "LEFT"),
        c.rpoplpush("{l}b", "{l}a"), c.lrange("{l}b", 0, -1), c.lrange("{l}a", 0, -1),
        c.blpop(["{l}a", "{l}b"], timeout=1), c.brpop("{l}b", timeout=1),
        c.blpop("{l}empty", timeout=0.1), catch(lambda: c.lset("{l}nope", 0, "x")),
    ]


def hyperloglog_and_server(c: Any) -> list[Any]:
    return [
        c.pfadd("{h}a", "x", "y", "z"), c.pfadd("{h}a", "x"), c.pfcount("{h}a"),
        c.pfadd("{h}b", "w"), c.pfcount("{h}a", "{h}b"), c.pfmerge("{h}m", "{h}a", "{h}b"),
        c.pfcount("{h}m"),
        c.publish("nobody-listens", "hi"), c.ping(),
        [type(v).__name__ for v in c.time()],
        c.execute_command("SET", "e:a", "1"), c.execute_command("GET", "e:a"),
        c.execute_command("set", "e:a", "1", "NX"), c.execute_command("HSET", "e:h", "f", "v"),
        c.execute_command("HGETALL", "e:h"), c.execute_command("EXPIRE", "e:a", 10),
        c.execute_command("SMEMBERS", "e:nope"),
    ]


def pipelines(c: Any) -> list[Any]:
    out: list[Any] = []
    with c.pipeline(transaction=False) as p:
        p.set("{p}a", 1).incr("{p}a").get("{p}a").hset("{p}h", "f", "v").hgetall("{p}h")
        p.zadd("{p}z", {"m": 1}).zrange("{p}z", 0, -1, withscores=True).exists("{p}a")
        p.execute_command("SET", "{p}b", "2")
        out.append(len(p))
        out.append(p.execute())
        out.append(len(p))
        p.set("{p}s", "x").hget("{p}s", "f").get("{p}s")
        out.append(norm(p.execute(raise_on_error=False)))
        p.set("{p}s", "x").hget("{p}s", "f").get("{p}s")
        out.append(catch(p.execute))
        out.append(p.execute())
    return out


def transactions(c: Any) -> list[Any]:
    with c.pipeline() as p:
        p.set("{x}a", "1").incr("{x}a").lpush("{x}l", "1").lrange("{x}l", 0, -1)
        return [p.execute(), c.get("{x}a")]


def scanning(c: Any) -> list[Any]:
    c.mset({f"{{sc}}key:{i}": i for i in range(300)})
    c.set("{sc}other", 1)
    return [
        sorted(c.scan_iter()), sorted(c.scan_iter(match="{sc}key:1*")),
        sorted(c.scan_iter(match="{sc}key:*", count=7)), sorted(c.scan_iter(_type="string"))[:3],
        sorted(every_master(c, "keys", "{sc}key:2?")), every_master(c, "dbsize"),
    ]


SCENARIOS: list[Scenario] = [strings, multi_key, keys_and_expiry, hashes, sets, sorted_sets, lists,
                             hyperloglog_and_server, pipelines, scanning]


def one_server(c: Any) -> list[Any]:
    c.set("o:a", 1)
    return [c.echo("hello"), c.echo(B()), c.execute_command(b"PING"), sorted(c.keys()),
            sorted(c.keys("o:*")), catch(lambda: c.execute_command("NOSUCHCOMMAND", "x")), c.flushall(), c.dbsize(), c.flushall(asynchronous=True)]


def cursor_scan(c: Any) -> list[Any]:
    c.mset({f"cs:{i}": i for i in range(50)})
    seen: list[Any] = []
    cursor = 0
    while True:
        cursor, keys = c.scan(cursor, match="cs:*", count=10)
        seen.extend(keys)
        if cursor == 0:
            break
    return [sorted(seen), c.dbsize(), c.flushdb(), c.dbsize()]


def cross_slot(c: Any) -> list[Any]:
    keys = [f"key:{i}" for i in range(200)]
    for i, k in enumerate(keys[:150]):
        c.set(k, i)
    return [
        c.mget_nonatomic(keys), c.exists(*keys), c.touch(*keys[:20]), c.delete(*keys[:50]),
        c.unlink(*keys[50:100]), c.exists(*keys), every_master(c, "dbsize"),
        sorted(every_master(c, "keys", "key:1??")),
        sorted(c.scan_iter(match="key:*")),
    ]


def run_both(peer: Any, ours: Any, scenario: Scenario) -> None:
    BINARY["value"] = "\u00e9\x00\r\n" if ours.decode_responses else b"\x00\xff\r\n"
    peer.flushdb()
    expected = norm(scenario(peer))
    peer.flushdb()
    got = norm(scenario(ours))
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"{scenario.__name__}[{i}]: slotshift {g!r} != redis-py {e!r}"


STANDALONE_ONLY: list[Scenario] = [transactions, one_server, cursor_scan]


@pytest.mark.parametrize("decode", [False, True], ids=["bytes", "str"])
@pytest.mark.parametrize("scenario", SCENARIOS + STANDALONE_ONLY,
                         ids=lambda s: s.__name__)
def test_standalone_equals_redis_py(standalone_url: str, scenario: Scenario, decode: bool) -> None:
    peer = redis.Redis.from_url(standalone_url, decode_responses=decode)
    with slotshift.Client.from_url(standalone_url, decode_responses=decode) as ours:
        assert ours.kind == "standalone"
        try:
            run_both(peer, ours, scenario)
        finally:
            peer.close()


@pytest.mark.parametrize("decode", [False, True], ids=["bytes", "str"])
@pytest.mark.parametrize("scenario", SCENARIOS + [cross_slot], ids=lambda s: s.__name__)
def test_cluster_equals_redis_cluster(cluster_urls: list[str], scenario: Scenario,
                                      decode: bool) -> None:
    peer = redis.cluster.RedisCluster.from_url(cluster_urls[0], decode_responses=decode)
    with slotshift.RedisCluster.from_urls(cluster_urls, decode_responses=decode) as ours:
        assert ours.kind == "cluster"
        try:
            run_both(peer, ours, scenario)
        finally:
            close_redis_cluster(peer)


def test_every_redis_py_command_method_is_offered() -> None:
    """slotshift.Redis is a drop-in: every public method of redis.Redis exists on it (the
    command methods are redis-py's own, inherited), except redis-py's connection-pool
    plumbing and the redis-stack module namespaces; RedisCluster likewise for
    redis.cluster.RedisCluster's command methods."""
    import redis.cluster

    plumbing = {"connection_pool", "connection", "single_connection_lock", "auto_close_connection_pool",
                "get_cache", "get_retry", "set_retry", "load_external_module", "initialize",
                "parse_response", "get_connection", "from_pool",
                # per-connection state (HIMPORT fieldsets, keyspace notifications over
                # pub/sub): they need a dedicated connection, which the core lacks yet
                "himport_registry", "himport_discard", "himport_discard_all",
                "himport_prepare", "keyspace_notifications"}
    modules = {"bf", "cf", "cms", "ft", "json", "tdigest", "topk", "ts", "vset"}
    missing = sorted(n for n in dir(redis.Redis) if not n.startswith("_")
                     and not hasattr(slotshift.Redis, n) and n not in plumbing | modules)
    assert missing == []
    assert isinstance(slotshift.Redis, type) and issubclass(slotshift.Redis, redis.commands.CoreCommands)
    assert issubclass(slotshift.RedisCluster, redis.commands.RedisClusterCommands)
    for name in ("mget_nonatomic", "mset_nonatomic", "keyslot", "scan_iter", "pipeline"):
        assert hasattr(slotshift.RedisCluster, name)
