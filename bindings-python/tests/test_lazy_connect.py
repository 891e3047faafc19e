"""Connect on first use, as redis-py does: a client made while its Redis is down does not fail
until a command is sent, and works once the server is up; bad URLs and options still raise at
construction; `connect()` (asyncio: `await client`) connects at once; the password stays in the
native target, not in a Python attribute."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

import slotshift
import slotshift.asyncio


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def redis_server(port: int) -> Iterator[None]:
    """A plain redis-server on 127.0.0.1:`port`, until the block ends (also on failure)."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with redis.Redis(port=port, socket_connect_timeout=0.2) as probe:
                    probe.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_client_made_while_redis_is_down_works_once_it_is_up() -> None:
    port = free_port()
    r = slotshift.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    from_url = slotshift.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5)
    assert "not connected yet" in repr(r)
    with pytest.raises(redis.ConnectionError) as info:
        r.ping()
    assert isinstance(info.value, slotshift.SlotshiftError)
    with pytest.raises(redis.ConnectionError):
        from_url.pipeline().set("k", "v").execute()
    with redis_server(port):
        assert r.ping() is True
        assert from_url.pipeline().set("k", "v").get("k").execute() == [True, b"v"]
        assert r.get("k") == b"v"
        assert "not connected yet" not in repr(r)
        assert r.store.kind == "standalone"


def test_first_use_from_many_threads_opens_one_store(standalone_url: str) -> None:
    r = slotshift.Redis.from_url(standalone_url)
    seen: list[Any] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            r.set(f"lazy:{i}", i)
            seen.append(r.store)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(seen) == 8 and all(s is seen[0] for s in seen)
    assert r.mget([f"lazy:{i}" for i in range(8)]) == [str(i).encode() for i in range(8)]
    r.close()


def test_bad_input_still_raises_at_construction() -> None:
    with pytest.raises(slotshift.ConfigError):
        slotshift.Redis.from_url("nonsense://x")
    with pytest.raises(ValueError, match="batch_limit"):
        slotshift.Redis(port=free_port(), batch_limit=0)
    with pytest.raises(ValueError, match="cross_slot_validation"):
        slotshift.RedisCluster(host="127.0.0.1", port=free_port(), cross_slot_validation="loud")
    with pytest.raises(slotshift.ConfigError):
        slotshift.RedisCluster.from_urls(["redis://127.0.0.1:1", "bogus://y"])


def test_a_bad_environment_value_raises_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOTSHIFT_CROSS_SLOT_VALIDATION", "raies")
    with pytest.raises(slotshift.ConfigError, match="SLOTSHIFT_CROSS_SLOT_VALIDATION.*raies"):
        slotshift.Redis(port=free_port())
    monkeypatch.delenv("SLOTSHIFT_CROSS_SLOT_VALIDATION")
    monkeypatch.setenv("SLOTSHIFT_CLUSTER_PIPELINE_BATCH_LIMIT", "many")
    with pytest.raises(redis.RedisError, match="SLOTSHIFT_CLUSTER_PIPELINE_BATCH_LIMIT"):
        slotshift.RedisCluster(host="127.0.0.1", port=free_port())
    slotshift.RedisCluster(host="127.0.0.1", port=free_port(), batch_limit=10)  # set: env unread


def test_connect_connects_at_once(standalone_url: str, cluster_urls: list[str]) -> None:
    with pytest.raises(redis.ConnectionError):
        slotshift.Redis(port=free_port(), socket_connect_timeout=0.5).connect()
    with pytest.raises(redis.ConnectionError):
        slotshift.RedisCluster(host="127.0.0.1", port=free_port(),
                               socket_connect_timeout=0.5).connect()
    r = slotshift.Redis.from_url(standalone_url)
    assert r.connect() is r
    assert "not connected yet" not in repr(r)
    rc = slotshift.RedisCluster.from_urls(cluster_urls).connect()
    assert rc.store.kind == "cluster"
    r.close()
    rc.close()


def test_asyncio_clients_connect_on_first_await() -> None:
    port = free_port()

    async def main() -> None:
        r = slotshift.asyncio.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
        with pytest.raises(redis.ConnectionError):
            await r.ping()
        with pytest.raises(redis.ConnectionError):
            await r
        with redis_server(port):
            assert await r.ping() is True
            async with r.pipeline(transaction=True) as pipe:
                assert await pipe.set("a", 1).incr("a").execute() == [True, 2]
            fresh = slotshift.asyncio.Redis(host="127.0.0.1", port=port)
            assert await fresh is fresh
            assert await fresh.get("a") == b"2"
            await fresh.aclose()
        await r.aclose()

    asyncio.run(main())


def test_the_password_is_kept_natively_only() -> None:
    secret = "lazy-S3cret"
    r = slotshift.Redis(host="127.0.0.1", port=free_port(), password=secret,
                        socket_connect_timeout=0.5)
    rc = slotshift.RedisCluster(host="127.0.0.1", port=free_port(), password=secret)
    u = slotshift.Redis.from_url(f"redis://:{secret}@127.0.0.1:{free_port()}/0")
    for client in (r, rc, u):
        assert secret not in repr(client)
        reachable = [vars(client), vars(client._settings), vars(client._store)]
        assert secret not in repr(reachable)
    with pytest.raises(redis.ConnectionError) as info:
        r.ping()
    assert secret not in str(info.value) and secret not in repr(info.value)
