"""``slotshift.asyncio``: ``Redis`` and ``RedisCluster`` for asyncio, the counterparts of
``redis.asyncio.Redis`` and ``redis.asyncio.RedisCluster``.

They inherit redis-py's async command mixins (``redis.commands.AsyncCoreCommands``,
``AsyncRedisClusterCommands`` …), so every redis-py asyncio method exists with redis-py's
signature and reply types, and implement ``execute_command`` by awaiting the core's futures:
the native store hands back an asyncio awaitable (``Store.call_async``), completed from the
core's own runtime — no thread waits per call. Options, reply conversion (redis-py's response
callbacks), pipelines' plans and errors are the blocking client's (``slotshift.client``).

Cancelling a task that awaits a command drops the core's future; the core discards a reply
that comes after, and the client stays usable.

>>> import slotshift.asyncio
>>> r = slotshift.asyncio.Redis.from_url(URL)
>>> await r.set("greeting", "hello")
True
>>> await r.get("greeting")
b'hello'
>>> await r.aclose()
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Literal, Optional, cast

import redis
import redis.asyncio.client
import redis.asyncio.lock
from redis.commands import (AsyncCoreCommands, AsyncRedisClusterCommands,
                            AsyncRedisModuleCommands, AsyncSentinelCommands)
from redis.commands.core import AsyncScript

from redis.client import EMPTY_RESPONSE as _EMPTY

from . import _slotshift, otel
from .client import (_Base, _ClientCore, _ClusterInit, _ClusterQueue,
                     _Connect, _lookup, _mset_items, _PipelineCore, _Plan, _StandaloneInit,
                     _transaction_options, _Unopened)
from .exceptions import WatchError
from .multistore import StoreLike, _MultiStoreCore

__all__ = ["ClusterPipeline", "Monitor", "MultiStore", "Pipeline", "Redis", "RedisCluster"]


class _AsyncScriptForPipelines(AsyncScript):
    """redis-py's ``AsyncScript``, which also knows slotshift's asyncio pipelines (so a script
    called on one is loaded before the pipeline runs, as redis-py does for its own)."""

    async def __call__(self, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        if isinstance(client, _AsyncPipelineBase):
            client.scripts.add(self)  # type: ignore[arg-type]
        return await super().__call__(keys, args, client)


class _AsyncClientBase(_ClientCore):
    """Awaits each command on the core."""

    _is_async_client: Literal[True] = True  # type: ignore[assignment]
    _script_class = _AsyncScriptForPipelines
    _lock_class = redis.asyncio.lock.Lock

    def _pubsub_class(self) -> Callable[..., Any]:
        """``AsyncPubSub``."""
        from .pubsub import AsyncPubSub

        return AsyncPubSub

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """Sends one command (``args``: its name and arguments) and returns its reply
        converted by redis-py's response callback, awaiting the core (no thread per call).
        Recorded in redis-py's OpenTelemetry metrics when they are on (``slotshift.otel``)."""
        if otel.on():
            return await otel.timed_async(self, args[0] if args else "", args,
                                          lambda: self._execute(args, options))
        return await self._execute(args, options)

    async def _execute(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """``execute_command``'s work."""
        upper, words = _lookup(args, self._single)
        options.pop("keys", None)
        if type(self._store) is _Unopened:  # type: ignore[comparison-overlap]
            await self.initialize()
        if self._is_slow(options):
            return await self._execute_slow(args, options)
        try:
            reply = await self._store.call_async(
                *(args if words is None else (*words, *args[1:])))
        except redis.exceptions.ConnectionError:
            if not self._reopen():
                raise
            return await self._execute(args, options)
        return self._callback(upper, reply, options)

    async def _execute_slow(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """``execute_command`` with redis-py's reply options or Python-side encoding."""
        if self._single and (self._line is None or not self._line.is_open):
            # The single connection is opened in a worker thread (connecting blocks), not on
            # the event loop; a task that finds it opened meanwhile uses that one.
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self._slow_store, options)
        try:
            reply = await self._slow_store(options).call_async(*self._wire(args))
        except redis.exceptions.RedisError as e:
            if self._slow_failed(e, options):
                return await self._execute_slow(args, options)
            return options[_EMPTY]
        return self._slow_reply(args, reply, options)

    async def transaction(self, func: Callable[[Any], Any], *watches: Any,
                          **kwargs: Any) -> Any:
        """Runs ``func(pipe)`` (a function or a coroutine function) then the pipeline as one
        transaction (redis-py's ``transaction``): with ``watches``, WATCHed first on a
        connection of the pipeline's own, and run again when one of them changed."""
        value_from_callable, watch_delay = _transaction_options(kwargs)
        async with self.pipeline(True) as pipe:
            while True:
                try:
                    if watches:
                        await pipe.watch(*watches)
                    func_value = func(pipe)
                    if inspect.isawaitable(func_value):
                        func_value = await func_value
                    exec_value = await pipe.execute()
                    return func_value if value_from_callable else exec_value
                except WatchError:
                    if watch_delay is not None and watch_delay > 0:
                        await asyncio.sleep(watch_delay)
                    continue

    async def initialize(self) -> Any:
        """Connects now, if no command has yet (on the core's runtime: the event loop is not
        blocked); the client. ``await client`` does the same."""
        store = self._store
        if type(store) is _Unopened:  # type: ignore[comparison-overlap]
            await cast(_Unopened, store).open_async()
        return self

    def __await__(self) -> Any:
        return self.initialize().__await__()

    async def aclose(self, close_connection_pool: Optional[bool] = None) -> None:
        """Closes this client's connections, its ``pubsub()`` objects' too (other clients on
        the same store keep theirs); as in redis-py, the next command connects again."""
        self._close_stores()

    async def close(self, close_connection_pool: Optional[bool] = None) -> None:
        """The former name of ``aclose()``."""
        await self.aclose(close_connection_pool)

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.aclose()


class _AsyncPipelineBase(_PipelineCore):
    """Queues commands (each command method returns the pipeline); ``await execute()``
    sends them together."""

    _client: _AsyncClientBase

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.reset()

    def __await__(self) -> Any:
        return self._self().__await__()

    async def _self(self) -> Any:
        return self

    async def reset(self) -> None:
        """Forgets the queued commands and scripts; after a ``watch()``, sends ``UNWATCH``
        as redis-py does and closes the watching connection."""
        session = self._session if self.watching else None
        if session is not None:
            try:
                await session.call_async("UNWATCH")
            except redis.exceptions.ConnectionError:
                pass  # closed anyway: the server forgets the WATCH with the connection
        self._reset()

    async def aclose(self) -> None:
        """Forgets the queued commands (``reset()``; the connections belong to the client)."""
        await self.reset()

    async def discard(self) -> None:
        """Queues ``DISCARD`` (see ``slotshift.Pipeline.discard``)."""
        self.command_stack.append((("DISCARD",), {}))

    async def _immediate(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        assert self._session is not None
        options.pop("keys", None)
        try:
            reply = await self._session.call_async(*self._wire(args))
        except redis.exceptions.RedisError as e:
            return self._immediate_failed(e, options)
        return self._watched_reply(args, reply, options)

    async def watch(self, *names: Any) -> bool:
        """WATCHes ``names`` on a connection of this pipeline's own (as the blocking
        pipeline's ``watch``): until ``multi()`` its commands run at once there (await them);
        ``execute()`` then raises ``WatchError`` when a watched key changed."""
        await cast(Any, self._client).initialize()
        session, wire = self._watch_session(names)
        try:
            reply = await session.call_async(*wire)
        except redis.exceptions.ConnectionError:
            self._end_watch()
            raise
        self.watching = True
        return bool(reply == b"OK")

    async def unwatch(self) -> bool:
        """Forgets the WATCHed keys (closes the ``watch()`` connection); True."""
        self._end_watch()
        return True

    async def load_scripts(self) -> None:
        """Loads the pipeline's scripts the server lacks (as redis-py does before running)."""
        await self._load_scripts()

    async def _load_scripts(self) -> None:
        scripts = list(self.scripts)
        if not scripts:
            return
        exists = await self._client.execute_command("SCRIPT EXISTS", *[s.sha for s in scripts])
        for s, exist in zip(scripts, exists):
            if not exist:
                s.sha = await self._client.execute_command("SCRIPT LOAD", s.script)

    async def _send(self, plan: _Plan) -> list[Any]:
        if self._session is not None:
            return self._watched_results(
                await self._session.pipeline_async([("MULTI",), *plan.wire, ("EXEC",)]))
        if plan.transaction:
            try:
                replies = await plan.store.transaction_async(plan.wire)
            except redis.exceptions.ResponseError as e:
                self._annotate_refused(plan, e)
                raise
            return self._exec_results(replies)
        return await plan.store.pipeline_async(plan.wire)

    async def _send_observed(self, plan: _Plan) -> list[Any]:
        """``_send``, recorded in redis-py's OpenTelemetry metrics when they are on."""
        if otel.on():
            result: list[Any] = await otel.timed_async(
                self, self._operation_name(plan), plan.first_args, lambda: self._send(plan))
            return result
        return await self._send(plan)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Sends the queued commands; their results in order, converted by redis-py's
        callbacks (errors as redis-py's ``raise_on_error`` says)."""
        if not self.command_stack and self._session is None:
            self._reset()
            return []
        await cast(Any, self._client).initialize()
        try:
            plan = self._plan()
            if self.scripts:
                await self._load_scripts()
            results = await self._send_observed(plan) if plan.sends else []
        finally:
            self._reset()
        return self._results(plan, results, raise_on_error)


class _AsyncConnect(_Connect, _AsyncClientBase):
    """An asyncio client that connects by address."""


async def _core_scan(client: _Base, match: Any, count: Optional[int],
                     _type: Optional[str]) -> AsyncIterator[Any]:
    """Every key of every master through the core's keyspace walk (each batch fetched on the
    loop's default executor: the walk has no asyncio form yet)."""
    store = client._raw() if client._py_decode else client._store
    batches = iter(store.scan(match, count, _type))
    loop = asyncio.get_running_loop()
    while True:
        batch = await loop.run_in_executor(None, next, batches, None)
        if batch is None:
            return
        for key in (client._decode(batch) if client._py_decode else batch):
            yield key


class Pipeline(_AsyncPipelineBase, AsyncRedisModuleCommands,  # type: ignore[misc]
               AsyncCoreCommands, AsyncSentinelCommands):
    """A pipeline of a ``slotshift.asyncio.Redis``: command methods queue and return the
    pipeline; ``await execute()`` returns the results in order.

    >>> async with r.pipeline(transaction=False) as pipe:
    ...     await pipe.set("a", 1).incr("a").get("a").execute()
    [True, 2, b'2']
    """


class _MonitorLines:
    """The part of a redis-py asyncio connection ``redis.asyncio.client.Monitor`` reads
    through: the lines of the core's MONITOR connection, awaited on the core."""

    def __init__(self, native: _slotshift.Monitor) -> None:
        self._native = native

    async def read_response(self) -> Optional[str]:
        """The next line the server logged (waits until one comes)."""
        return await self._native.next_line_async()

    async def disconnect(self) -> None:
        """Closes the MONITOR connection."""
        self._native.close()


class Monitor(redis.asyncio.client.Monitor):
    """redis-py's asyncio ``Monitor`` — ``await next_command()``, ``async for … in
    listen()``, ``async with`` — on a MONITOR connection of its own to the server, opened
    (off the event loop) when the block starts and closed when it ends."""

    def __init__(self, store: _slotshift.Store, node: Optional[str] = None) -> None:
        self._store = store
        self._node = node
        self.connection: Any = None

    async def connect(self) -> None:
        """Opens the MONITOR connection, in a worker thread (connecting blocks)."""
        if self.connection is None:
            loop = asyncio.get_running_loop()
            native = await loop.run_in_executor(
                None, lambda: _slotshift.Monitor(self._store, node=self._node))
            self.connection = _MonitorLines(native)

    async def __aenter__(self) -> "Monitor":
        await self.connect()
        return self

    async def __aexit__(self, *args: Any) -> None:
        if self.connection is not None:
            await self.connection.disconnect()


class Redis(_StandaloneInit, _AsyncConnect, AsyncRedisModuleCommands,  # type: ignore[misc]
            AsyncCoreCommands, AsyncSentinelCommands):
    """redis-py's ``redis.asyncio.Redis`` on the slotshift core: every command method of
    ``redis.commands.AsyncCoreCommands`` with redis-py's signature and return value, awaited
    on the core. Made like ``slotshift.Redis`` (the same keywords, ``from_url``).

    >>> r = slotshift.asyncio.Redis.from_url(URL)
    >>> await r.set("greeting", "hello")
    True
    >>> await r.aclose()
    """

    _pipeline_class = Pipeline

    def monitor(self) -> Monitor:
        """redis-py's asyncio ``Monitor`` on a MONITOR connection of its own to the server (on
        a cluster, the master of slot 0): ``async with r.monitor() as m: await
        m.next_command()``."""
        return Monitor(self._core())

    def scan_iter(  # type: ignore[override]
            self, match: Any = None, count: Optional[int] = None,
            _type: Optional[str] = None, **kwargs: Any) -> AsyncIterator[Any]:
        """Every key matching ``match`` (redis-py's ``scan_iter``, an async iterator); over a
        cluster, every key of every master."""
        if self._store.kind == "cluster":
            if kwargs:
                raise TypeError(f"unexpected keyword arguments: {', '.join(kwargs)}")
            return _core_scan(self, match, count, _type)
        it: AsyncIterator[Any] = super().scan_iter(match, count, _type, **kwargs)
        return it


class ClusterPipeline(_ClusterQueue, _AsyncPipelineBase,  # type: ignore[misc]
                      AsyncRedisClusterCommands):
    """A pipeline of a ``slotshift.asyncio.RedisCluster``: not transactional by default, split
    per slot and node by the core, refusing what redis-py's refuses unless made with
    ``cross_slot=True`` (as ``slotshift.ClusterPipeline``); ``await execute()``."""

    async def discard(self) -> None:
        """Inside a transaction, queues ``DISCARD``; outside, ``ClusterPipelineError``, as
        ``slotshift.ClusterPipeline.discard``."""
        self._check_discard()
        await super().discard()


class RedisCluster(_ClusterInit, _AsyncConnect, AsyncRedisClusterCommands):  # type: ignore[misc]
    """redis-py's ``redis.asyncio.RedisCluster`` on the slotshift core: the commands of
    ``AsyncRedisClusterCommands`` routed by the core (keyed commands to their slot's master,
    keyspace-wide ones to every master by their tips, cross-slot MGET/MSET/DEL split by the
    CrossSlot batcher). Made like ``slotshift.RedisCluster``.

    >>> rc = slotshift.asyncio.RedisCluster(host="127.0.0.1", port=7000)
    >>> await rc.mset_nonatomic({"a": 1, "b": 2})
    [True, True]
    """

    _pipeline_class = ClusterPipeline

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """As ``slotshift.RedisCluster.execute_command``: ``target_nodes`` may name a node
        group or particular nodes (``ClusterNode``s from ``get_nodes()`` …); the command then
        runs on each of them, on this client's own connection to it, and the replies combine
        as redis-py combines them."""
        if type(self._store) is _Unopened:  # type: ignore[comparison-overlap]
            await self.initialize()
        nodes = self._aimed_nodes(args, options)
        if nodes is None:
            return await super().execute_command(*args, **options)
        results = {node.name: await self._on_node(node, args, dict(options)) for node in nodes}
        return self._combined(args, results, options)

    async def _on_node(self, node: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """``args`` run on ``node`` alone, on this client's own connection to it, its reply
        converted (``slotshift.RedisCluster._on_node``, awaited)."""
        line, store, wire = self._node_line(node, args)
        if otel.on():
            reply = await otel.timed_async(self, args[0], args,
                                           lambda: line.call_async(store, wire),
                                           node=(node.host, int(node.port)))
        else:
            reply = await line.call_async(store, wire)
        return self._node_reply(args, reply, options)

    async def mget_nonatomic(self, keys: Any, *args: Any) -> list[Any]:  # type: ignore[override]
        """MGET of keys of any slots, split by the core's CrossSlot batcher."""
        from redis.client import list_or_args  # type: ignore[attr-defined]

        return list(await self.execute_command("MGET", *list_or_args(keys, args)))

    async def mset_nonatomic(  # type: ignore[override]
            self, mapping: Mapping[Any, Any]) -> list[bool]:
        """MSET of keys of any slots through the core's CrossSlot batcher; one ``True`` per
        slot written, as redis-py returns."""
        items = _mset_items(mapping)
        if not items:
            return []
        await self.execute_command("MSET", *items)
        return self._mset_result(mapping)

    async def _split_command_across_slots(  # type: ignore[override]
            self, command: str, *keys: Any) -> int:
        # DEL/EXISTS/TOUCH/UNLINK of any slots: the core splits and sums (a PIPELINE in
        # redis-py's metrics, as its cluster client sends one).
        args = (command, *keys)
        if otel.on():
            return int(await otel.timed_async(self, "PIPELINE", args,
                                              lambda: self._execute(args, {})))
        return int(await self._execute(args, {}))

    def scan_iter(  # type: ignore[override]
            self, match: Any = None, count: Optional[int] = None,
            _type: Optional[str] = None, **kwargs: Any) -> AsyncIterator[Any]:
        """Every key of every master (an async iterator)."""
        kwargs.pop("target_nodes", None)
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {', '.join(kwargs)}")
        return _core_scan(self, match, count, _type)


class MultiStore(_MultiStoreCore, _AsyncClientBase, AsyncCoreCommands,  # type: ignore[misc]
                 AsyncSentinelCommands):
    """``slotshift.MultiStore`` for asyncio: the same core MultiStore (phases, flags, dual
    writes, counters), every redis-py asyncio command method awaited on the core's runtime
    (no thread per call), pipelines and transactions too.

    >>> ms = slotshift.asyncio.MultiStore("sessions", primary=new, secondary=old,
    ...                                   dual_write=True)
    >>> await ms.set("session:1", "x")
    True
    >>> await ms.get("session:1")
    b'x'
    """

    _pipeline_class = Pipeline

    def __init__(self, name: str, *, primary: StoreLike, secondary: StoreLike,
                 decode_responses: bool = False, **options: Any) -> None:
        """The options of ``slotshift.MultiStore``."""
        self._init_multistore(name, primary, secondary, decode_responses, options)

    @property
    def primary(self) -> Redis:
        """The primary (new) store as an asyncio client."""
        return Redis(_store=self._ms.primary)

    @property
    def secondary(self) -> Redis:
        """The secondary (old) store as an asyncio client."""
        return Redis(_store=self._ms.secondary)

    async def drain(self, timeout: float = 5.0) -> bool:
        """Waits (in a worker thread, off the event loop) for the non-default write queue to
        empty; whether it did."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._ms.drain, timeout)

    async def aclose(self, close_connection_pool: Optional[bool] = None) -> None:
        """Nothing to release beyond the stores' own connections (kept by their clients)."""
