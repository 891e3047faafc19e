"""slotshift.sentinel.Sentinel as redis-py's: master_for gives a client of the master the
sentinels name (blocking and asyncio), discover_master/discover_slaves answer as redis-py's do
on the same sentinels, and what the core cannot do is refused with the reason."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.sentinel

import slotshift
import slotshift.asyncio
from slotshift.sentinel import MasterNotFoundError, Sentinel


def pairs(sentinel_set: dict[str, Any]) -> list[tuple[str, int]]:
    out = []
    for s in sentinel_set["sentinels"]:
        host, port = s.rsplit(":", 1)
        out.append((host, int(port)))
    return out


def test_master_for_writes_to_the_master_the_sentinels_name(sentinel_set: dict[str, Any]) -> None:
    ours = Sentinel(pairs(sentinel_set), socket_timeout=2)
    theirs = redis.sentinel.Sentinel(pairs(sentinel_set), socket_timeout=2)
    name = sentinel_set["master_name"]
    assert ours.discover_master(name) == theirs.discover_master(name)
    assert sorted(ours.discover_slaves(name)) == sorted(theirs.discover_slaves(name))
    r = ours.master_for(name, decode_responses=True)
    assert isinstance(r, slotshift.Redis)
    assert r.set("sentinel:key", "v") is True
    assert r.get("sentinel:key") == "v"
    assert r.store.kind == "sentinel"
    peer = theirs.master_for(name, decode_responses=True)
    assert peer.get("sentinel:key") == "v"
    assert r.info("replication")["role"] == "master"
    r.close()
    peer.close()
    assert slotshift.Sentinel is Sentinel


def test_master_for_asyncio(sentinel_set: dict[str, Any]) -> None:
    async def main() -> None:
        r = Sentinel(pairs(sentinel_set)).master_for(
            sentinel_set["master_name"], redis_class=slotshift.asyncio.Redis)
        assert isinstance(r, slotshift.asyncio.Redis)
        assert await r.set("sentinel:async", 1) is True
        assert await r.incr("sentinel:async") == 2
        await r.aclose()

    asyncio.run(main())


def test_unknown_master_and_unsupported_options(sentinel_set: dict[str, Any]) -> None:
    s = Sentinel(pairs(sentinel_set), socket_connect_timeout=1)
    with pytest.raises(MasterNotFoundError):
        s.discover_master("no-such-master")
    assert issubclass(MasterNotFoundError, redis.ConnectionError)
    with pytest.raises(redis.RedisError):
        s.master_for("no-such-master", retry_deadline=1).ping()
    with pytest.raises(NotImplementedError, match="read_from_replicas=True"):
        s.slave_for(sentinel_set["master_name"])
    with pytest.raises(ValueError, match="min_other_sentinels"):
        Sentinel(pairs(sentinel_set), min_other_sentinels=1)
    with pytest.raises(TypeError, match="sentinel_kwargs supports username and password"):
        Sentinel(pairs(sentinel_set), sentinel_kwargs={"socket_keepalive": True})
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        Sentinel(pairs(sentinel_set), bogus=1)
    with pytest.raises(TypeError, match="redis_class"):
        s.master_for(sentinel_set["master_name"], redis_class=redis.Redis)
    with pytest.raises(ValueError, match="at least one"):
        Sentinel([])
    secret = "sentinel-S3cret"
    r = Sentinel(pairs(sentinel_set)).master_for(sentinel_set["master_name"], password=secret)
    assert secret not in repr(r) and secret not in repr(vars(r)) and secret not in repr(vars(r._settings))
