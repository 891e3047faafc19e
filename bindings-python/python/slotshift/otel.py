"""redis-py's OpenTelemetry command metrics (``redis.observability``) from slotshift's clients.

An application that turns redis-py's observability on
(``get_observability_instance().init(OTelConfig(...))``) gets the same metrics from
``slotshift.Redis``, ``RedisCluster``, their asyncio forms and their pipelines as from
redis-py's clients: each command's ``db.client.operation.duration`` with

- ``db.operation.name``: the command's name; ``PIPELINE`` for a pipeline, ``MULTI`` for a
  transaction (``TRANSACTION`` on a cluster), and ``PIPELINE`` for a DEL, EXISTS, TOUCH or
  UNLINK of a cluster client, which redis-py's cluster client sends as a pipeline;
- ``server.address`` and ``server.port``: the node the core sends the command to (a pipeline:
  the node of its first command); on a cluster a keyless command, which goes to any master or
  to several, names the first master;
- ``db.namespace``: the database; ``error.type`` when the command failed. A failed command's
  duration is recorded as redis-py's cluster client records it, on every client (redis-py's
  standalone client counts it in the error counter only); it also counts there.

While observability is off, a command pays one check (about 0.1 µs).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, TypeVar

from redis.observability import recorder

T = TypeVar("T")

#: Where a metric says a command went when the store cannot say (it failed to connect).
_UNKNOWN = ("unknown", 0, "0")


def on() -> bool:
    """Whether redis-py's observability records command metrics now."""
    return recorder._metrics_collector is not None or recorder.is_enabled()


def timed(client: Any, name: Any, args: tuple[Any, ...], run: Callable[[], T],
          node: Optional[tuple[str, int]] = None) -> T:
    """``run()``, its duration recorded as the command ``name`` sent to where ``args`` (the
    command as ``client`` queues it; empty for none) goes, or to ``node`` when given."""
    started = time.monotonic()
    try:
        result = run()
    except Exception as e:
        record(client, name, args, started, e, node)
        raise
    record(client, name, args, started, None, node)
    return result


async def timed_async(client: Any, name: Any, args: tuple[Any, ...],
                      run: Callable[[], Any], node: Optional[tuple[str, int]] = None) -> Any:
    """``timed`` for an awaitable ``run()``."""
    started = time.monotonic()
    try:
        result = await run()
    except Exception as e:
        record(client, name, args, started, e, node)
        raise
    record(client, name, args, started, None, node)
    return result


def record(client: Any, name: Any, args: tuple[Any, ...], started: float,
           error: Optional[Exception] = None, node: Optional[tuple[str, int]] = None) -> None:
    """Records one operation that began at ``started`` (``time.monotonic()``), as redis-py
    does: its duration, and for a failure the error counter too."""
    host, port, db = _where(client, args, node)
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    recorder.record_operation_duration(
        command_name=str(name), duration_seconds=time.monotonic() - started,
        server_address=host, server_port=port, db_namespace=db, error=error)
    if error is not None:
        recorder.record_error_count(
            server_address=host, server_port=port, network_peer_address=host,
            network_peer_port=port, error_type=error, retry_attempts=0, is_internal=False)


def _where(client: Any, args: tuple[Any, ...],
           node: Optional[tuple[str, int]]) -> tuple[str, int, str]:
    """(host, port, database) of the node ``args`` goes to: the core's routing, asked without
    sending. A metric never fails the command it describes: an error here names no node."""
    try:
        store = client._core()
        if node is None and args:
            node = store.node_for(*client._wire(args))
        if node is None:
            host, _, port = store.masters()[0].rpartition(":")
            node = (host.strip("[]"), int(port))
        return node[0], int(node[1]), str(store.database)
    except Exception:
        return _UNKNOWN
