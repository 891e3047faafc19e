"""Faults end in the caller's own timeout and a clear error of redis-py's family: a stopped
(SIGSTOP) server, and each scripted hostile node of `slotshift servers up --hostile` (replies a
real server never sends: garbage, a 999999999999-byte bulk, deep nesting, a reply cut by a
closed socket, no reply, a reply a byte at a time, MOVED loops and to unknown hosts, an empty
error). Blocking and asyncio."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import slotshift
import slotshift.asyncio

from conftest import servers_up

#: The redis-py class each hostile behaviour must end in (slotshift raises subclasses).
EXPECTED: dict[str, type[Exception]] = {
    "garbage": redis.ConnectionError,  # the connection is dropped, as redis-py drops it
    "huge_bulk": redis.RedisError,
    "deep_nesting": redis.RedisError,
    "mid_reply_close": redis.ConnectionError,
    "never_reply": redis.TimeoutError,
    "slowloris": redis.TimeoutError,
    "moved_loop": redis.RedisError,
    "moved_to_unknown": redis.RedisError,
    "empty_error": redis.exceptions.ResponseError,
}

#: The caller's timeouts: 300 ms to connect, 300 ms for a reply, 1 s for the whole call.
TIMEOUTS = {"socket_timeout": 0.3, "socket_connect_timeout": 0.3, "retry_deadline": 1.0}


@pytest.fixture(scope="module")
def hostile() -> Iterator[dict[str, str]]:
    for urls in servers_up("--hostile"):
        yield urls["hostile"]


def test_a_stopped_server_ends_in_a_timeout_error_within_the_callers_timeouts(
        standalone_url: str) -> None:
    r = slotshift.Redis.from_url(standalone_url, **TIMEOUTS)
    r.set("fault:k", "v")
    pid = int(r.info("server")["process_id"])
    os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        with pytest.raises(redis.TimeoutError) as info:
            r.get("fault:k")
        took = time.monotonic() - start
    finally:
        os.kill(pid, signal.SIGCONT)
    assert isinstance(info.value, slotshift.SlotshiftError)
    assert "timed out" in str(info.value)
    # Reported, not asserted (timings are not asserted in tests): the figure the issue names.
    print(f"GET to a stopped server failed after {took:.3f} s")
    assert r.get("fault:k") == b"v"
    r.close()


def test_a_stopped_server_asyncio(standalone_url: str) -> None:
    async def main() -> None:
        r = slotshift.asyncio.Redis.from_url(standalone_url, **TIMEOUTS)
        await r.set("fault:a", "v")
        pid = int((await r.info("server"))["process_id"])
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(redis.TimeoutError):
                await r.get("fault:a")
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await r.get("fault:a") == b"v"
        await r.aclose()

    asyncio.run(main())


def error_of(url: str) -> BaseException:
    r = slotshift.Redis.from_url(url, **TIMEOUTS)
    try:
        r.get("fault:k")
    except Exception as e:  # noqa: BLE001 - what is raised is the subject
        return e
    finally:
        r.close()
    raise AssertionError(f"{url}: GET succeeded")


def test_every_hostile_node_ends_in_a_clear_error(hostile: dict[str, str]) -> None:
    assert sorted(hostile) == sorted(EXPECTED)
    for name, url in hostile.items():
        e = error_of(url)
        assert isinstance(e, EXPECTED[name]), f"{name}: {type(e).__name__}: {e}"
        assert isinstance(e, slotshift.SlotshiftError), f"{name}: {type(e).__name__}: {e}"
        assert str(e).strip(), f"{name}: an empty message"


def test_every_hostile_node_asyncio(hostile: dict[str, str]) -> None:
    async def one(url: str) -> Any:
        r = slotshift.asyncio.Redis.from_url(url, **TIMEOUTS)
        try:
            await r.get("fault:k")
        except Exception as e:  # noqa: BLE001
            return e
        finally:
            await r.aclose()
        raise AssertionError(f"{url}: GET succeeded")

    async def main() -> None:
        errors = await asyncio.gather(*(one(url) for url in hostile.values()))
        for (name, _), e in zip(hostile.items(), errors):
            assert isinstance(e, EXPECTED[name]), f"{name}: {type(e).__name__}: {e}"

    asyncio.run(main())


def test_a_slot_no_node_serves_is_redis_pys_cluster_down_error(
        cluster_urls: list[str]) -> None:
    """A slot its master no longer serves (``CLUSTER DELSLOTS``, sent to that master as
    redis-py sends it): the command ends in redis-py's ``ClusterDownError``, as on redis-py,
    whether the master's ``CLUSTERDOWN`` outlasted the retry deadline or the core's slot map
    shows no owner. Once the slot is served again, the same command works."""
    rc = slotshift.RedisCluster.from_urls(cluster_urls, **TIMEOUTS)
    key = "faults:unserved"
    rc.set(key, "v")
    owner = rc.get_node_from_key(key)
    slot = rc.keyslot(key)
    assert rc.cluster_delslots(slot) == [True]
    try:
        with pytest.raises(redis.exceptions.ClusterDownError) as info:
            rc.get(key)
        # Either the master's own CLUSTERDOWN after the retries, or, once the core's refreshed
        # map shows the hole, SlotNotServedError: redis-py's ClusterDownError both.
        assert isinstance(info.value, (slotshift.ClusterDownError, slotshift.SlotNotServedError))
        assert "not served" in str(info.value)
    finally:
        assert rc.cluster_addslots(owner, slot) is True
    time.sleep(0.2)
    assert rc.get(key) == b"v"
    rc.delete(key)
    rc.close()
