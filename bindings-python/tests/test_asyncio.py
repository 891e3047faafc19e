"""slotshift.asyncio against the suite's real servers: commands and reply types, pipelines on
a standalone server and on the cluster, pub/sub, WATCH, cancellation, concurrency, errors.

Each test runs its coroutine with ``asyncio.run`` (no asyncio plugin needed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio
import redis.commands

import slotshift
import slotshift.asyncio

T = TypeVar("T")


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Runs the coroutine ``make()`` on a new event loop."""
    async def main() -> T:
        return await make()

    return asyncio.run(main())


@pytest.fixture()
def url(standalone_url: str) -> str:
    """The standalone server, emptied first."""
    with slotshift.Redis.from_url(standalone_url) as r:
        r.flushdb()
    return standalone_url


@pytest.fixture()
def curls(cluster_urls: list[str]) -> list[str]:
    """The cluster, emptied first."""
    with slotshift.RedisCluster.from_urls(cluster_urls) as rc:
        rc.flushdb()
    return cluster_urls


def test_redis_py_async_mixins_and_signatures() -> None:
    r_cls = slotshift.asyncio.Redis
    assert issubclass(r_cls, redis.commands.AsyncCoreCommands)
    assert issubclass(slotshift.asyncio.RedisCluster, redis.commands.AsyncRedisClusterCommands)
    import inspect

    for name in ("set", "get", "hset", "zadd", "blpop", "xadd", "eval"):
        ours = inspect.signature(getattr(r_cls, name))
        theirs = inspect.signature(getattr(redis.asyncio.Redis, name))
        assert ours == theirs, name


def test_commands_and_reply_types(url: str) -> None:
    async def main() -> None:
        async with slotshift.asyncio.Redis.from_url(url) as r:
            assert await r.set("greeting", "hello") is True
            assert await r.get("greeting") == b"hello"
            assert await r.set("greeting", "x", nx=True) is None
            assert await r.incr("n") == 1 and await r.incrbyfloat("f", 1.5) == 1.5
            assert await r.mget(["greeting", "missing"]) == [b"hello", None]
            assert await r.hset("h", mapping={"a": "1", "b": "2"}) == 2
            assert await r.hgetall("h") == {b"a": b"1", b"b": b"2"}
            assert await r.zadd("z", {"a": 1, "b": 2.5}) == 2
            assert await r.zrange("z", 0, -1, withscores=True) == [(b"a", 1.0), (b"b", 2.5)]
            assert await r.sadd("s", "x", "y") == 2 and await r.smembers("s") == {b"x", b"y"}
            assert await r.exists("greeting", "missing") == 1
            assert await r.expire("greeting", 60) is True and 0 < await r.ttl("greeting") <= 60
            assert await r.ping() is True
            assert await r.execute_command("OBJECT", "ENCODING", "n") == b"int"
            assert sorted([k async for k in r.scan_iter(match="*", count=2)]) == [
                b"f", b"greeting", b"h", b"n", b"s", b"z"]
            assert await r.eval("return ARGV[1]", 0, "v") == b"v"
            double = r.register_script("return tonumber(ARGV[1]) * 2")
            assert await double(args=[21]) == 42
            lock = r.lock("job", timeout=10)
            assert await lock.acquire(blocking=False) is True
            assert await lock.locked() is True
            await lock.release()
            assert await r.get("job") is None

    run(main)


def test_decode_responses_and_other_encodings(url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(url, decode_responses=True)
        await r.set("name", "Zoë")
        assert await r.get("name") == "Zoë"
        assert await r.hgetall("missing") == {}
        await r.aclose()
        latin = slotshift.asyncio.Redis.from_url(url, decode_responses=True, encoding="latin-1")
        await latin.set("l", "é")
        assert await latin.get("l") == "é"
        assert await latin.strlen("l") == 1            # one byte in latin-1
        await latin.aclose()

    run(main)


def test_constructor_keywords_and_await(url: str) -> None:
    host, port = url.removeprefix("redis://").split("/")[0].split(":")

    async def main() -> None:
        r = await slotshift.asyncio.Redis(host=host, port=int(port), db=0)
        assert await r.set("k", 1) is True and await r.get("k") == b"1"
        await r.close()                                   # the former name of aclose()
        assert await r.get("k") == b"1"                   # connects again, as redis-py
        await r.aclose()

    run(main)
    with pytest.raises(TypeError, match="retry="):
        slotshift.asyncio.Redis(host=host, port=int(port), retry=object())
    with pytest.raises(TypeError, match="url must be a str"):
        slotshift.asyncio.Redis.from_url(b"redis://x")  # type: ignore[arg-type]


def test_pipelines_standalone(url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(url)
        async with r.pipeline(transaction=False) as pipe:
            pipe.set("a", 1).incr("a").get("a")
            assert len(pipe) == 3
            assert await pipe.execute() == [True, 2, b"2"]
        async with r.pipeline() as tx:                    # MULTI/EXEC
            tx.set("{acct}:1", 10).decrby("{acct}:1", 3)
            assert await tx.execute() == [True, 7]
        pipe = r.pipeline(transaction=False)
        pipe.set("text", "x").hget("text", "field").get("text")
        results = await pipe.execute(raise_on_error=False)
        assert results[0] is True and results[2] == b"x"
        assert isinstance(results[1], redis.ResponseError)
        assert isinstance(results[1], slotshift.ResponseError)
        pipe.set("text", "x").hget("text", "field")
        with pytest.raises(redis.ResponseError, match="Command # 2"):
            await pipe.execute()
        assert await r.pipeline().execute() == []
        await r.aclose()

    run(main)


def test_pipeline_on_the_cluster_1000_keys(curls: list[str]) -> None:
    keys = [f"product:{i}" for i in range(1000)]

    async def main() -> None:
        rc = slotshift.asyncio.RedisCluster.from_urls(curls)
        assert len({slotshift.key_slot(k) for k in keys}) > 100    # many slots, every master
        async with rc.pipeline() as pipe:                          # not transactional
            for i, k in enumerate(keys):
                pipe.set(k, i)
            assert await pipe.execute() == [True] * 1000
        pipe = rc.pipeline()
        for k in keys:
            pipe.get(k)
        assert await pipe.execute() == [str(i).encode() for i in range(1000)]
        assert (await rc.mget(keys))[-1] == b"999"
        assert await rc.dbsize() == 1000                           # summed over the masters
        assert await rc.mget_nonatomic(keys[:2]) == [b"0", b"1"]
        assert len([k async for k in rc.scan_iter(match="product:*")]) == 1000
        with pytest.raises(slotshift.ClusterPipelineError):      # refused as redis-py's is
            rc.pipeline().mget(keys)
        async with rc.pipeline(cross_slot=True) as pipe:           # split per slot by the core
            pipe.mget(keys[:3]).delete(*keys[500:])
            assert await pipe.execute() == [[b"0", b"1", b"2"], 500]
        assert await rc.delete(*keys) == 500
        with pytest.raises(redis.exceptions.CrossSlotTransactionError):
            await rc.pipeline(transaction=True).set("a", 1).set("b", 2).execute()
        await rc.aclose()

    run(main)


def test_cluster_node_view_as_redis_asyncio(curls: list[str]) -> None:
    """The asyncio RedisCluster's node view (get_nodes, get_node_from_key …, no command sent
    once connected) names the nodes redis.asyncio's names; before it connects it is empty, as
    redis.asyncio's is before initialize(). Commands aimed at nodes run there, on the
    client's own connection to each."""

    async def main() -> None:
        ours = slotshift.asyncio.RedisCluster.from_urls(curls)
        assert ours.get_nodes() == []                              # not connected yet
        await ours.initialize()
        peer = redis.asyncio.cluster.RedisCluster.from_url(curls[0])
        await peer.initialize()
        assert sorted(n.name for n in ours.get_nodes()) == sorted(n.name for n in peer.get_nodes())
        assert sorted(n.name for n in ours.get_primaries()) == sorted(
            n.name for n in peer.get_primaries())
        for key in ("bar", "{user1}:a", "zzz", "product:7"):
            assert ours.get_node_from_key(key).name == peer.get_node_from_key(key).name
        assert ours.get_node(node_name=ours.get_default_node().name) is not None
        assert ours.nodes_manager.get_node_from_slot(ours.keyslot("bar")).name == \
            peer.nodes_manager.get_node_from_slot(peer.keyslot("bar")).name
        # Commands on particular nodes and node groups, on the client's own connection to each.
        node = ours.get_primaries()[0]
        await ours.mset_nonatomic({f"nv:{i}": i for i in range(30)})
        assert await ours.dbsize(target_nodes=ours.get_primaries()) == 30   # summed, as redis-py
        assert await ours.ping(target_nodes=node) is True
        assert await ours.ping(target_nodes=ours.PRIMARIES) is True
        assert await ours.client_setname("nv-node", target_nodes=node) is True
        assert await ours.client_getname(target_nodes=node) == "nv-node"   # the same connection
        assert await ours.cluster_myid(node) == await peer.cluster_myid(
            peer.get_node(node_name=node.name))
        with pytest.raises(slotshift.DedicatedConnectionError, match="takes a connection over"):
            await ours.execute_command("SUBSCRIBE", "ch", target_nodes=node)
        await ours.delete(*[f"nv:{i}" for i in range(30)])
        await ours.aclose()
        await peer.aclose()

    run(main)


def test_pubsub(url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(url)
        p = r.pubsub()
        await p.subscribe("news")
        assert await p.get_message(timeout=5) == {
            "type": "subscribe", "pattern": None, "channel": b"news", "data": 1}
        await p.psubscribe("n*")
        assert (await p.get_message(timeout=5))["type"] == "psubscribe"
        assert await p.get_message(timeout=0.05) is None      # nothing more: None
        assert await r.publish("news", "hello") == 2          # the channel and the pattern
        got = [await p.get_message(timeout=5) for _ in range(2)]
        assert {"type": "message", "pattern": None, "channel": b"news", "data": b"hello"} in got
        assert {"type": "pmessage", "pattern": b"n*", "channel": b"news",
                "data": b"hello"} in got
        await p.unsubscribe("news")
        await p.punsubscribe()
        kinds = [(await p.get_message(timeout=5))["type"] for _ in range(2)]
        assert sorted(kinds) == ["punsubscribe", "unsubscribe"]
        assert not p.subscribed
        await p.aclose()

        async with r.pubsub(ignore_subscribe_messages=True) as p2:
            await p2.subscribe("jobs")
            listener = p2.listen()
            await r.publish("jobs", "1")
            first = await listener.__anext__()                # the confirmation is skipped
            assert first["data"] == b"1"
        assert await r.pubsub_numsub("jobs") == [(b"jobs", 0)]  # closed: unsubscribed
        await r.aclose()

    run(main)


def test_aclose_closes_the_clients_pubsubs(url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(url)
        p = r.pubsub()
        await p.subscribe("left-open")
        assert await r.pubsub_numsub("left-open") == [(b"left-open", 1)]
        await r.aclose()                                      # as redis-py's pool disconnect
        assert not p.connection.is_connected and p.subscribed
        for _ in range(500):                                   # the client connects again
            if await r.pubsub_numsub("left-open") == [(b"left-open", 0)]:
                break
            await asyncio.sleep(0.01)
        assert await r.pubsub_numsub("left-open") == [(b"left-open", 0)]
        again = await p.get_message(timeout=5)                # p connects again, subscribed
        assert again == {"type": "subscribe", "pattern": None, "channel": b"left-open",
                         "data": 1}
        assert await r.pubsub_numsub("left-open") == [(b"left-open", 1)]
        await p.aclose()
        await r.aclose()

    run(main)


def test_multistore_dual_writes_on_asyncio(url: str, curls: list[str]) -> None:
    """slotshift.asyncio.MultiStore: old = standalone (secondary), new = cluster (primary),
    dual writes awaited, pipelines and transactions through the core MultiStore."""
    async def main() -> None:
        old = slotshift.asyncio.Redis.from_url(url)
        new = slotshift.asyncio.RedisCluster.from_urls(curls)
        ms = slotshift.asyncio.MultiStore("py_async_sessions", primary=new, secondary=old)
        assert ms.phase == "secondary_only" and await ms.set("ak:1", "a") is True
        assert (await old.get("ak:1"), await new.get("ak:1")) == (b"a", None)
        ms.set_flags(dual_write=True)
        assert await ms.set("ak:2", "b") is True
        assert (await old.get("ak:2"), await new.get("ak:2")) == (b"b", b"b")
        async with ms.pipeline(transaction=False) as pipe:
            assert await pipe.set("ak:3", "c").get("ak:2").execute() == [True, b"b"]
        assert (await old.get("ak:3"), await new.get("ak:3")) == (b"c", b"c")
        async with ms.pipeline(transaction=True) as pipe:
            assert await pipe.incr("{ak}n").incr("{ak}n").execute() == [1, 2]
        assert (await old.get("{ak}n"), await new.get("{ak}n")) == (b"2", b"2")
        ms.set_flags(primary_default=True)
        assert await ms.get("ak:1") is None and await ms.get("ak:2") == b"b"
        assert await ms.drain(1.0) is True
        assert ms.counter("pipelined_diff_error") == 0
        assert ms.primary.kind == "cluster" and ms.secondary.kind == "standalone"
        await ms.aclose()
        await old.aclose()
        await new.aclose()

    run(main)


def test_single_connection_client(url: str) -> None:
    async def main() -> None:
        shared = slotshift.asyncio.Redis.from_url(url)
        one = shared.client()
        assert await one.select(4) is True and await one.set("single:a", "1") is True
        assert await one.get("single:a") == b"1" and await shared.get("single:a") is None
        assert await one.flushdb() is True
        await one.aclose()
        assert await shared.ping() is True
        await shared.aclose()

    run(main)


def test_pubsub_handlers_and_cancelled_wait(url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(url, decode_responses=True)
        seen: list[Any] = []
        p = r.pubsub(ignore_subscribe_messages=True)
        await p.subscribe(**{"orders": seen.append})
        waiter = asyncio.create_task(p.get_message(timeout=None))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await r.publish("orders", "o1")
        for _ in range(3):                                    # the confirmation, the message
            if seen:
                break
            await p.get_message(timeout=5)
        assert seen == [{"type": "message", "pattern": None, "channel": "orders", "data": "o1"}]
        await p.aclose()
        await r.aclose()

    run(main)


def test_cluster_pubsub(curls: list[str]) -> None:
    async def main() -> None:
        rc = slotshift.asyncio.RedisCluster.from_urls(curls)
        p = rc.pubsub(ignore_subscribe_messages=True)
        await p.subscribe("cluster-news")
        await rc.publish("cluster-news", "hi")                # forwarded to every node
        message = None
        for _ in range(3):
            message = await p.get_message(timeout=5)
            if message is not None:
                break
        assert message is not None and message["data"] == b"hi"
        await p.aclose()
        await rc.aclose()

    run(main)


def test_watch_and_transaction(url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(url)
        await r.set("stock", 3)

        async def buy(pipe: Any) -> None:
            stock = int(await pipe.get("stock"))              # at once, on the WATCH connection
            pipe.multi()
            pipe.set("stock", stock - 1)

        assert await r.transaction(buy, "stock") == [True]
        assert await r.get("stock") == b"2"

        async with r.pipeline() as pipe:
            await pipe.watch("stock")
            await r.set("stock", 10)                          # changed by another connection
            pipe.multi()
            pipe.set("stock", 0)
            with pytest.raises(redis.WatchError):
                await pipe.execute()
        assert await r.get("stock") == b"10"
        await r.aclose()

    run(main)


def test_cancelled_blpop_leaves_the_client_usable(url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(url)
        waiting = asyncio.create_task(r.blpop("queue", timeout=0))   # waits for ever
        for _ in range(100):                                  # until the server has it blocked
            if (await r.info("clients"))["blocked_clients"] == 1:
                break
            await asyncio.sleep(0.01)
        assert (await r.info("clients"))["blocked_clients"] == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert waiting.cancelled()
        # The abandoned BLPOP takes nothing pushed afterwards, and the client works on.
        for _ in range(100):
            if (await r.info("clients"))["blocked_clients"] == 0:
                break
            await asyncio.sleep(0.01)
        assert (await r.info("clients"))["blocked_clients"] == 0
        assert await r.rpush("queue", "job") == 1
        assert await r.lrange("queue", 0, -1) == [b"job"]
        assert await r.blpop("queue", timeout=1) == (b"queue", b"job")
        assert await r.ping() is True
        await r.aclose()

    run(main)


def test_cancelling_many_commands(url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(url)
        tasks = [asyncio.create_task(r.incr("hits")) for _ in range(200)]
        await asyncio.sleep(0)
        for t in tasks[::2]:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        done = [x for x in results if not isinstance(x, BaseException)]
        # Each command either ran or not; the counter agrees with the replies received.
        assert int(await r.get("hits")) >= len(done) >= 100
        assert await r.set("after", 1) is True
        await r.aclose()

    run(main)


def test_100_concurrent_tasks_on_one_client(url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(url)

        async def worker(i: int) -> bytes:
            await r.set(f"w:{i}", i)
            await r.incr("total")
            value: bytes = await r.get(f"w:{i}")
            return value

        got = await asyncio.gather(*(worker(i) for i in range(100)))
        assert got == [str(i).encode() for i in range(100)]
        assert await r.get("total") == b"100"
        await r.aclose()

    run(main)


def test_errors_are_redis_py_classes(url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(url)
        await r.set("text", "x")
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE") as e1:
            await r.hget("text", "field")
        assert isinstance(e1.value, slotshift.ResponseError)
        with pytest.raises(redis.exceptions.NoScriptError) as e2:
            await r.evalsha("0" * 40, 0)
        assert isinstance(e2.value, slotshift.ResponseError)
        with pytest.raises(redis.DataError, match="NoneType"):
            await r.set("key", None)
        with pytest.raises(slotshift.DedicatedConnectionError):
            await r.execute_command("SELECT", 1)
        await r.aclose()
        with pytest.raises(redis.ConnectionError) as e3:        # at the first command
            down = slotshift.asyncio.Redis.from_url("redis://127.0.0.1:1",
                                                    socket_connect_timeout=0.2)
            await down.ping()
        assert isinstance(e3.value, slotshift.SlotshiftError)

    run(main)
    with pytest.raises(redis.RedisError) as e4:
        slotshift.asyncio.Redis.from_url("nonsense://x")
    assert isinstance(e4.value, slotshift.ConfigError)


def test_native_awaitables(url: str) -> None:
    async def main() -> None:
        store = slotshift._slotshift.Target(url).open()
        assert await store.call_async("SET", "k", "v") == b"OK"
        got, failed = await store.pipeline_async([("GET", "k"), ("INCR", "k")])
        assert got == b"v" and isinstance(failed, redis.ResponseError)
        assert await store.transaction_async([("SET", "k", "1"), ("INCR", "k")]) == [b"OK", 2]
        session = slotshift._slotshift.Session(store)
        assert await session.call_async("SELECT", "1") == b"OK"     # its own connection
        assert await session.pipeline_async([("SET", "k", "db1"), ("GET", "k")]) == [
            b"OK", b"db1"]
        session.close()
        sub = slotshift._slotshift.Subscriber(store)
        await sub.change_async("subscribe", "c")
        assert await sub.next_message_async(5) == [b"subscribe", b"c", 1]
        with pytest.raises(ValueError, match="command must be one of"):
            sub.change_async("publish", "c")
        await sub.close_async()
        store.close()
        with pytest.raises(redis.ConnectionError, match="closed"):
            store.call_async("PING")

    run(main)
    store = slotshift._slotshift.Target(url).open()
    with pytest.raises(RuntimeError):                            # no running event loop
        store.call_async("PING")
    store.close()


def test_works_in_every_new_event_loop(url: str) -> None:
    r = slotshift.asyncio.Redis.from_url(url)
    for i in range(3):
        assert asyncio.run(r.incr("loops")) == i + 1           # one client, several loops
    asyncio.run(r.aclose())


def test_a_wait_cancelled_after_its_line_came_loses_no_line(url: str) -> None:
    """The race a cancelled wait meets under load, made certain: the line reaches the core
    while the event loop is blocked, so the wait is cancelled after the core read the line but
    before the loop could hand it over. The line is given back: the next wait returns it."""

    async def go() -> None:
        r = slotshift.asyncio.Redis.from_url(url)
        writer = slotshift.Redis.from_url(url)
        async with r.monitor() as m:
            writer.set("handed-back", "1")
            seen = await m.next_command()
            while not seen["command"].startswith("SET handed-back"):
                seen = await m.next_command()
            waiting = asyncio.ensure_future(m.next_command())
            await asyncio.sleep(0)                  # the wait has started on the core
            writer.get("handed-back")               # blocking: the loop does not run ...
            time.sleep(0.2)                         # ... while the core reads the line
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            seen = await asyncio.wait_for(m.next_command(), 10)   # lost: it would wait forever
            assert seen["command"] == "GET handed-back"
        writer.close()
        await r.aclose()

    run(go)


def test_monitor(url: str) -> None:
    async def go() -> None:
        r = slotshift.asyncio.Redis.from_url(url)
        async with r.monitor() as m:
            await r.set("monitored", "1")
            seen = await m.next_command()
            while not seen["command"].startswith("SET"):  # the server logs handshakes too
                seen = await m.next_command()
            assert seen["command"] == "SET monitored 1" and seen["client_type"] == "tcp"
            # A cancelled wait loses no line: the next command is still read after it.
            waiting = asyncio.ensure_future(m.next_command())
            await asyncio.sleep(0.05)
            waiting.cancel()
            await r.get("monitored")
            seen = await m.next_command()
            while not seen["command"].startswith("GET"):
                seen = await m.next_command()
            assert seen["command"] == "GET monitored"
        with pytest.raises(redis.exceptions.ConnectionError):
            await m.next_command()  # closed with the block
        await r.aclose()

    run(go)
