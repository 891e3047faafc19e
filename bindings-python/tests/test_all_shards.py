"""Keyspace-wide commands on a cluster of 3 masters with a replica each (3x1), sent as plain
calls: the core routes DBSIZE, KEYS, FLUSHALL/FLUSHDB and SCRIPT LOAD/EXISTS/FLUSH by their
Redis 7 command tips to every master and aggregates the replies (no fan-out in the binding).
And the MultiStore's dual-write of a cross-slot transaction onto that cluster (per-slot
transactions, counted by a metric).

What each master holds is read through a connection of its own (redis-py, standalone-style,
on the master's URL), never through slotshift, so these checks do not trust what they test."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import slotshift

# The MultiStore counter of dual-write transactions run as per-slot transactions on a cluster
# (its Prometheus name, without the prefix).
PER_SLOT_METRIC = "multi_store_per_slot_transactions_total"

# 30 keys, over many slots and (checked below) every master.
KEYS = [f"allshards:{i}" for i in range(30)]

SCRIPT = "return redis.call('GET', KEYS[1])"


@pytest.fixture(scope="module")
def masters(servers_3x1: dict[str, Any]) -> Iterator[list[redis.Redis]]:
    """A standalone-style redis-py connection to each master of the 3x1 cluster."""
    out: list[redis.Redis] = []
    replicas = 0
    for url in servers_3x1["cluster"]:
        node = redis.Redis.from_url(url)
        if node.execute_command("ROLE")[0] == b"master":  # type: ignore[no-untyped-call]
            out.append(node)
        else:
            replicas += 1
            node.close()
    assert (len(out), replicas) == (3, 3)
    yield out
    for node in out:
        node.close()


@pytest.fixture()
def rc3(servers_3x1: dict[str, Any], masters: list[redis.Redis]) -> Iterator[slotshift.Client]:
    """A slotshift client on the 3x1 cluster; every master emptied (directly) first."""
    for node in masters:
        node.flushall()
        node.script_flush()
    with slotshift.RedisCluster.from_urls(servers_3x1["cluster"]) as client:
        yield client


def write_keys(rc: slotshift.Client, masters: list[redis.Redis]) -> list[int]:
    """SETs every key of KEYS to its index; returns each master's own DBSIZE (all non-zero)."""
    for i, key in enumerate(KEYS):
        assert rc.set(key, i) is True
    per_master = [int(node.dbsize()) for node in masters]
    assert all(n > 0 for n in per_master), f"the keys must reach every master: {per_master}"
    return per_master


def test_keys_span_many_slots() -> None:
    assert len({slotshift.key_slot(k) for k in KEYS}) == len(KEYS)


def test_dbsize_is_the_sum_over_every_master(rc3: slotshift.Client, masters: list[redis.Redis]) -> None:
    per_master = write_keys(rc3, masters)
    assert sum(per_master) == len(KEYS)
    assert rc3.dbsize() == len(KEYS)
    assert rc3.execute_command("DBSIZE") == len(KEYS)


def test_keys_returns_the_keys_of_every_master(rc3: slotshift.Client, masters: list[redis.Redis]) -> None:
    write_keys(rc3, masters)
    expected = sorted(k.encode() for k in KEYS)
    assert sorted(rc3.keys("allshards:*")) == expected
    assert sorted(rc3.keys()) == expected  # no key twice (replicas are not asked)
    assert sorted(rc3.keys("allshards:1*")) == sorted(k.encode() for k in KEYS if k.startswith("allshards:1"))
    with slotshift.Client(_store=rc3.store, decode_responses=True) as text:
        assert sorted(text.keys("allshards:*")) == sorted(KEYS)
    own: list[Any] = []
    for node in masters:
        own.extend(node.keys("allshards:*"))
    assert sorted(own) == expected


def test_flushall_and_flushdb_empty_every_master(rc3: slotshift.Client, masters: list[redis.Redis]) -> None:
    write_keys(rc3, masters)
    assert rc3.flushall() is True
    assert rc3.dbsize() == 0
    assert [node.dbsize() for node in masters] == [0, 0, 0]
    assert rc3.keys() == []

    write_keys(rc3, masters)
    assert rc3.flushdb() is True
    assert rc3.dbsize() == 0
    assert [node.dbsize() for node in masters] == [0, 0, 0]

    write_keys(rc3, masters)
    assert rc3.flushall(asynchronous=True) is True
    # FLUSHALL ASYNC empties the keyspace at once (only the memory is freed in the background).
    assert [node.dbsize() for node in masters] == [0, 0, 0]


def test_script_load_then_evalsha_on_every_master(rc3: slotshift.Client, masters: list[redis.Redis]) -> None:
    write_keys(rc3, masters)
    want = hashlib.sha1(SCRIPT.encode()).hexdigest()
    assert [node.script_exists(want) for node in masters] == [[False]] * 3
    sha = rc3.execute_command("SCRIPT", "LOAD", SCRIPT)
    assert sha == want.encode()
    # Loaded on every master: EVALSHA works for a key of each of them.
    for i, key in enumerate(KEYS):
        assert rc3.execute_command("EVALSHA", sha, 1, key) == str(i).encode()
    assert [node.script_exists(sha) for node in masters] == [[True]] * 3
    assert rc3.execute_command("SCRIPT", "EXISTS", sha) == [1]
    assert rc3.execute_command("SCRIPT", "FLUSH") in (b"OK", "OK")
    assert [node.script_exists(sha) for node in masters] == [[False]] * 3
    with pytest.raises(slotshift.NoScriptError, match="No matching script"):
        rc3.execute_command("EVALSHA", sha, 1, KEYS[0])


# --------------------------------------------------- MultiStore dual-write, per-slot transactions


def metric_total(name: str, instance: str) -> int:
    """The sum of the counter `name` (any prefix) over the lines of `instance` in
    slotshift.metrics_text()."""
    total = 0
    for line in slotshift.metrics_text().splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, _, value = line.rpartition(" ")
        metric, _, labels = series.partition("{")
        if metric.endswith(name) and f'instance_name="{instance}"' in labels:
            total += int(value)
    return total


@pytest.fixture()
def stores(servers_3x1: dict[str, Any], rc3: slotshift.Client) -> Iterator[tuple[slotshift.Client, slotshift.Client]]:
    """(cluster, standalone), both empty."""
    with slotshift.Client.from_url(servers_3x1["standalone"]) as old:
        old.flushall()
        yield rc3, old


STRINGS = [f"ps:{i}" for i in range(100)]


def check_both_stores_hold_every_write(cluster: slotshift.Client, old: slotshift.Client,
                                       masters: list[redis.Redis]) -> None:
    want = [str(i + 1).encode() for i in range(100)]
    assert old.mget(STRINGS) == want
    assert cluster.mget(STRINGS) == want
    assert (old.dbsize(), sum(int(node.dbsize()) for node in masters)) == (100, 100)


def queue_200(p: slotshift.Pipeline) -> None:
    """100 SET then 100 INCR of the same keys (over many slots): order matters per key."""
    for i, key in enumerate(STRINGS):
        p.set(key, i)
    for key in STRINGS:
        p.incr(key)


EXPECTED_200 = [True] * 100 + [i + 1 for i in range(100)]


def test_multistore_dual_write_cross_slot_transaction(stores: tuple[slotshift.Client, slotshift.Client],
                                                      masters: list[redis.Redis]) -> None:
    cluster, old = stores
    assert len({slotshift.key_slot(k) for k in STRINGS}) > 90
    ms = slotshift.MultiStore("py_per_slot_tx", primary=cluster, secondary=old)
    ms.set_flags(dual_write=True)
    assert ms.phase == "dual_write_secondary_default"
    before = metric_total(PER_SLOT_METRIC, "py_per_slot_tx")
    diffs = ms.counter("pipelined_diff_error")

    with ms.pipeline() as p:  # redis-py's default: transaction=True
        assert p.transaction is True
        queue_200(p)
        assert len(p) == 200
        assert p.execute() == EXPECTED_200

    check_both_stores_hold_every_write(cluster, old, masters)
    assert metric_total(PER_SLOT_METRIC, "py_per_slot_tx") > before
    assert ms.counter("pipelined_diff_error") == diffs


def test_multistore_dual_write_cross_slot_pipeline(stores: tuple[slotshift.Client, slotshift.Client],
                                                   masters: list[redis.Redis]) -> None:
    """The same 200 commands as a plain pipeline: on both stores, and no per-slot transaction."""
    cluster, old = stores
    ms = slotshift.MultiStore("py_per_slot_pipe", primary=cluster, secondary=old)
    ms.set_flags(dual_write=True)
    before = metric_total(PER_SLOT_METRIC, "py_per_slot_pipe")

    with ms.pipeline(transaction=False) as p:
        queue_200(p)
        assert p.execute() == EXPECTED_200

    check_both_stores_hold_every_write(cluster, old, masters)
    assert metric_total(PER_SLOT_METRIC, "py_per_slot_pipe") == before
    assert ms.counter("pipelined_diff_error") == 0
