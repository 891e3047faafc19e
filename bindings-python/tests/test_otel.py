"""redis-py's OpenTelemetry command metrics from slotshift's clients (``slotshift.otel``),
side by side with redis-py's own clients on the same servers.

The meter is a small recording stand-in (no OpenTelemetry SDK is installed); everything
between the client and the meter is redis-py's: its recorder, its collector, its attributes.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterator
from unittest.mock import patch

import pytest
import redis
import redis.cluster
from redis.observability import recorder
from redis.observability.config import MetricGroup, OTelConfig
from redis.observability.metrics import RedisMetricsCollector

import slotshift
import slotshift.asyncio
from slotshift import otel


class Instrument:
    """A histogram or counter that keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def record(self, value: Any, attributes: Any = None, **_: Any) -> None:
        self.calls.append((value, dict(attributes or {})))

    add = record


class Meter:
    """A meter whose instruments keep their calls, by instrument name."""

    def __init__(self) -> None:
        self.instruments: dict[str, Instrument] = {}

    def _make(self, name: str, **_: Any) -> Instrument:
        return self.instruments.setdefault(name, Instrument())

    create_histogram = create_counter = create_up_down_counter = _make

    def create_observable_gauge(self, name: str, **_: Any) -> Instrument:
        return self._make(name)

    def operations(self) -> list[dict[str, Any]]:
        """The attributes of every ``db.client.operation.duration`` recorded, in order."""
        hist = self.instruments.get("db.client.operation.duration")
        return [attrs for _, attrs in hist.calls] if hist else []

    def durations(self) -> list[Any]:
        hist = self.instruments.get("db.client.operation.duration")
        return [value for value, _ in hist.calls] if hist else []

    def clear(self) -> None:
        for instrument in self.instruments.values():
            instrument.calls.clear()


@pytest.fixture()
def meter() -> Iterator[Meter]:
    """redis-py's observability on, its command metrics going to a recording meter."""
    meter = Meter()
    recorder.reset_collector()
    with patch("redis.observability.metrics.OTEL_AVAILABLE", True):
        collector = RedisMetricsCollector(meter, OTelConfig(metric_groups=[MetricGroup.COMMAND]))
    with patch.object(recorder, "_get_or_create_collector", return_value=collector):
        recorder._metrics_collector = collector
        yield meter
    recorder.reset_collector()


def shape(ops: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What both sides must agree on: name, server, port, database, whether an error."""
    return [(a["db.operation.name"], a.get("server.address"), a.get("server.port"),
             a.get("db.namespace"), "error.type" in a) for a in ops]


def workload(client: Any) -> None:
    """The same commands for either side's standalone client (fixtures that come before the
    meter in a test's arguments are made before it records)."""
    client.set("otel:a", "1")
    client.get("otel:a")
    with client.pipeline(transaction=False) as pipe:
        pipe.set("otel:b", "2").get("otel:b")
        pipe.execute()
    with client.pipeline() as tx:
        tx.incr("otel:n").incr("otel:n")
        tx.execute()
    with pytest.raises(redis.ResponseError):
        client.lpush("otel:a", "x")


def test_standalone_commands_record_what_redis_py_records(
        r: slotshift.Redis, peer: redis.Redis, meter: Meter) -> None:
    workload(peer)
    theirs = shape(meter.operations())
    r.flushdb()
    meter.clear()
    workload(r)
    ours = shape(meter.operations())
    assert [op[0] for op in ours] == ["SET", "GET", "PIPELINE", "MULTI", "LPUSH"]
    # redis-py's standalone client records a failed command in its error counter only; its
    # cluster client, and slotshift's every client, also record its duration, with error.type
    # (as OpenTelemetry's conventions for database clients ask).
    assert ours[-1][-1] is True
    assert ours[:-1] == theirs
    assert all(isinstance(d, float) and d >= 0 for d in meter.durations())


def test_cluster_commands_name_the_master_of_their_slot(
        rc: slotshift.RedisCluster, meter: Meter) -> None:
    keys = [f"otel:{i}" for i in range(12)]
    for key in keys:
        rc.set(key, "v")
    ops = meter.operations()
    assert [a["db.operation.name"] for a in ops] == ["SET"] * len(keys)
    where = [(a["server.address"], a["server.port"]) for a in ops]
    owners = [(n.host, n.port) for n in map(rc.get_node_from_key, keys)]
    assert where == owners
    assert len(set(where)) == 3, "the keys lie on the three masters"
    assert {a["db.namespace"] for a in ops} == {"0"}

    meter.clear()
    assert rc.delete(*keys) == len(keys)   # a PIPELINE, as redis-py's cluster client sends it
    rc.ping()                              # keyless: the first master named
    with rc.pipeline() as pipe:
        pipe.get(keys[0]).get(keys[1])
        pipe.execute()
    ops = meter.operations()
    assert [a["db.operation.name"] for a in ops] == ["PIPELINE", "PING", "PIPELINE"]
    assert all(a["server.port"] > 0 for a in ops)
    assert ops[2]["server.port"] == rc.get_node_from_key(keys[0]).port


def test_a_failed_cluster_command_records_its_error(
        rc: slotshift.RedisCluster, meter: Meter) -> None:
    rc.set("otel:s", "string")
    with pytest.raises(redis.ResponseError):
        rc.lpush("otel:s", "x")
    failed = [a for a in meter.operations() if a["db.operation.name"] == "LPUSH"]
    assert len(failed) == 1 and failed[0]["error.type"]


def test_asyncio_clients_record_too(meter: Meter, standalone_url: str) -> None:
    async def run() -> None:
        async with slotshift.asyncio.Redis.from_url(standalone_url) as client:
            await client.set("otel:x", "1")
            async with client.pipeline(transaction=False) as pipe:
                pipe.get("otel:x")
                await pipe.execute()

    asyncio.run(run())
    names = [a["db.operation.name"] for a in meter.operations()]
    assert names == ["SET", "PIPELINE"]


def test_nothing_is_recorded_while_observability_is_off(r: slotshift.Redis) -> None:
    recorder.reset_collector()
    assert otel.on() is False
    r.set("otel:off", "1")
    assert r.get("otel:off") == b"1"
    assert recorder._metrics_collector is None
