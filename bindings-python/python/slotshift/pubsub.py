"""``PubSub``: redis-py's own ``PubSub`` class over the core's ``Subscriber``.

redis-py's ``PubSub`` keeps the subscription bookkeeping (``channels``, ``patterns``,
``shard_channels``, their handlers, the ``subscribed`` event), builds the message dicts
(``handle_message``) and runs ``listen()``, ``get_message()`` and ``run_in_thread()``. It
reaches the server through three methods only — ``execute_command`` (send), ``parse_response``
(read the next message) and ``reset`` (drop the connection) — which this subclass implements on
a :class:`slotshift._slotshift.Subscriber`, a pub/sub connection of its own opened on the
first command. Messages are therefore exactly redis-py's dicts, decoded per
``decode_responses``.

Connections are made again as redis-py makes them. One dropped by ``p.connection.disconnect()``
or by closing the client is opened again by the next read or command, and ``on_connect``
(redis-py's) subscribes again to every channel, pattern and shard channel its bookkeeping
holds. One lost (the server closed it, the network failed) is opened again the same way once the
messages received before the loss are read, and then the read or command is tried again as the
client's ``retry=`` allows (redis-py's ``Retry``): without ``retry=``, not at all, so the caller
hears of the loss once (``ConnectionError``) and its next read continues on the new connection,
as on redis-py's clients made by ``from_url``; ``Redis(host=...)``'s default is redis-py's
constructor default (three retries with backoff).

``p.connection`` is a :class:`Connection` (:class:`AsyncConnection` on asyncio): the core's
subscriber under redis-py's ``Connection`` names (``is_connected``, ``disconnect()``,
``socket_timeout``). There is no health-check PING (``health_check_interval`` is not an
option of slotshift's clients).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Optional

import redis.asyncio.client
import redis.asyncio.retry
import redis.client
import redis.retry
from redis.backoff import NoBackoff

from . import _slotshift

if TYPE_CHECKING:
    from .client import _ClientCore

__all__ = ["AsyncConnection", "AsyncPubSub", "Connection", "PubSub"]

_SUBSCRIPTION_COMMANDS = frozenset(
    "SUBSCRIBE PSUBSCRIBE SSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE SUNSUBSCRIBE".split())

#: Unsubscribe-of-all commands sent with the names redis-py's bookkeeping holds (see
#: ``PubSub._subscribed_names``): the command → the attribute of those names.
_UNSUBSCRIBE_ALL = {"UNSUBSCRIBE": "channels", "PUNSUBSCRIBE": "patterns"}


class Connection:
    """A ``PubSub``'s connection (``p.connection``) under the names redis-py's ``Connection``
    gives what callers do with it; ``subscriber`` is the core's pub/sub connection."""

    def __init__(self, subscriber: _slotshift.Subscriber, socket_timeout: Optional[float]) -> None:
        #: The core's pub/sub connection.
        self.subscriber = subscriber
        #: Whether ``disconnect()`` dropped it (the next use opens another without an error).
        self.dropped = False
        #: The client's ``socket_timeout`` (its commands' response timeout; a pub/sub read
        #: waits as long as it is asked to).
        self.socket_timeout = socket_timeout

    def __repr__(self) -> str:
        return repr(self.subscriber)

    @property
    def is_connected(self) -> bool:
        """Whether the connection is open."""
        return self.subscriber.is_open

    def disconnect(self) -> None:
        """Drops the connection at once (the server forgets its subscriptions); the
        ``PubSub`` connects again and subscribes again on its next read or command."""
        self.dropped = True
        self.subscriber.disconnect()


class AsyncConnection(Connection):
    """``Connection`` of an ``AsyncPubSub``: ``disconnect()`` is awaited, as in redis-py's
    asyncio ``Connection``."""

    async def disconnect(self) -> None:  # type: ignore[override]
        """``Connection.disconnect``, awaitable."""
        Connection.disconnect(self)


def _retry(client: _ClientCore) -> Any:
    """The reconnect policy of ``client``'s pub/sub objects: its ``retry=``, else no retry
    (redis-py's connections' own default)."""
    if client._settings.retry is not None:
        return client._settings.retry
    if client._is_async_client:
        return redis.asyncio.retry.Retry(NoBackoff(), 0)
    return redis.retry.Retry(NoBackoff(), 0)


class _OnSubscriber:
    """What the blocking and the asyncio ``PubSub`` share: the connection opened on the
    first command (and again after a lost one), the commands as sent, and replies shaped as
    redis-py reads them."""

    _client: _ClientCore
    _node: Optional[str]
    _pending: deque[Any]
    _retry: Any
    connection: Optional[Connection]
    subscribed: bool
    shard_channels: dict[Any, Any]

    def _init_subscriber(self, client: _ClientCore, node: Optional[str]) -> None:
        self._client = client
        self._node = node
        self._pending = deque()
        self._retry = _retry(client)
        self.connection = None

    def __repr__(self) -> str:
        return f"<slotshift.PubSub {self.connection!r}>"

    def _forget(self) -> Optional[_slotshift.Subscriber]:
        """Forgets the connection and the replies not read yet; the connection, to close."""
        conn = getattr(self, "connection", None)
        self.connection = None
        self._pending = deque()
        return None if conn is None else conn.subscriber

    def _disconnect(self) -> None:
        """Drops the connection (its client is closing); the next use connects again."""
        if self.connection is not None:
            Connection.disconnect(self.connection)

    def _dropped(self) -> bool:
        """Whether the connection was dropped on purpose (``disconnect()``), to be opened
        again before the next read or command."""
        return self.connection is not None and self.connection.dropped

    def _open(self, name: str, args: tuple[Any, ...]) -> Connection:
        """A new connection: to this object's node when it has one; on a cluster, to the
        master of the slot of the first command's first channel or pattern, as redis-py's
        cluster pub/sub chooses (a shard channel must be heard there; plain channels reach
        every node, so subscribers spread over the masters); else the default."""
        client = self._client
        client._reopen()  # a closed client connects again, as for its commands
        store = client._raw() if client._py_decode else client._core()
        if self._node is not None:
            sub = _slotshift.Subscriber(store, node=self._node)
        elif args and store.kind == "cluster":
            sub = _slotshift.Subscriber(store, key=args[0])
        else:
            sub = _slotshift.Subscriber(store)
        make = AsyncConnection if client._is_async_client else Connection
        return make(sub, client._settings.store.get("response_timeout"))

    def _reopen(self) -> Connection:
        """The connection that replaces a lost one: opened as the first was, a cluster's
        shard channels on the master that serves the first one's slot now."""
        old = self.connection
        if old is not None:
            old.subscriber.disconnect()
        if self.shard_channels:
            first = self._client.encoder.encode(  # type: ignore[no-untyped-call]
                next(iter(self.shard_channels)))
            self.connection = self._open("SSUBSCRIBE", (first,))
        else:
            self.connection = self._open("", ())
        return self.connection

    def get_pubsub_node(self) -> Any:
        """On a cluster, the node (a ``ClusterNode``) this object listens on, as redis-py's
        ``ClusterPubSub.get_pubsub_node``: the one it was made for, else the one its first
        command chose; ``None`` before that (and on a standalone client)."""
        if self._node is not None:
            name = self._node
        elif self.connection is not None:
            name = self.connection.subscriber.node
        else:
            return None
        get_node = getattr(self._client, "get_node", None)
        return None if get_node is None else get_node(node_name=name)

    def get_redis_connection(self) -> Any:
        """On a cluster, the client of the node this object listens on
        (``get_pubsub_node().redis_connection``); ``None`` before it has one."""
        node = self.get_pubsub_node()
        return None if node is None else node.redis_connection

    def _text(self, value: Any) -> Any:
        """A raw reply in this client's shape: decoded (nested values too) when the core did
        not decode it and ``decode_responses`` asks for it."""
        if self._client._py_decode:
            return self._client._decode(value)
        return value

    def _command(self, args: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        """The command's name upper-cased and the command as sent; the connection is opened
        on the first command."""
        if not args:
            raise redis.exceptions.DataError("execute_command needs at least the command name")
        wire = self._client._wire(args)
        first = wire[0]
        name = (first.decode("utf-8", "replace") if isinstance(first, bytes) else
                str(first)).upper()
        if self.connection is None:
            self.connection = self._open(name, wire[1:])
        return name, wire

    def _change_names(self, name: str, wire: tuple[Any, ...]) -> Optional[tuple[Any, ...]]:
        """The names of a subscription change (``None``: ``name`` is another command)."""
        if name not in _SUBSCRIPTION_COMMANDS:
            return None
        names = wire[1:]
        if not names and name in _UNSUBSCRIBE_ALL:
            names = self._subscribed_names(name)
        return names

    def _queue_reply(self, name: str, wire: tuple[Any, ...], reply: Any) -> None:
        """Any other command's reply takes its place among the messages, after those already
        received (``_pending``), as it would on redis-py's RESP2 connection."""
        if name == "PING" and self.subscribed:
            # RESP2's shape of a PING on a subscribed connection: ["pong", message].
            data = reply if len(wire) > 1 else b""
            if isinstance(data, str) and not self._client.decode_responses:
                data = data.encode()
            reply = ["pong" if self._client.decode_responses else b"pong",
                     self._text(data) if isinstance(data, bytes) else data]
        elif isinstance(reply, str) and not self._client.decode_responses:
            reply = reply.encode()
        self._pending.append(self._text(reply))

    def _subscribed_names(self, name: str) -> tuple[Any, ...]:
        """The names an ``UNSUBSCRIBE`` / ``PUNSUBSCRIBE`` of all leaves, named one by one.
        The core's unsubscribe-of-all waits for as many confirmations as its connection
        library counted subscriptions, which an unsubscribe-of-all followed by a subscribe
        before the confirmations were read leaves miscounted (the request then times out);
        named, each gets exactly its own confirmation. None subscribed: sent without names
        (the server confirms once, with a nil name). One difference from redis-py: a name
        whose unsubscribe confirmation is still unread is named again, and confirmed twice."""
        subscribed: dict[Any, Any] = getattr(self, _UNSUBSCRIBE_ALL[name])
        enc: Callable[[Any], bytes] = self._client.encoder.encode
        return tuple(enc(k) for k in subscribed)

    def _connected(self) -> _slotshift.Subscriber:
        """The core's connection, or redis-py's RuntimeError before the first command."""
        if self.connection is None:
            raise RuntimeError(
                "pubsub connection not set: did you forget to call subscribe() or psubscribe()?")
        return self.connection.subscriber


class PubSub(_OnSubscriber, redis.client.PubSub):
    """redis-py's ``PubSub`` on a slotshift pub/sub connection (made by ``pubsub()`` of
    ``slotshift.Redis`` or ``slotshift.RedisCluster``).

    >>> p = r.pubsub(ignore_subscribe_messages=True)
    >>> p.subscribe("news")
    >>> r.publish("news", "hello")
    1
    >>> next(p.listen())["data"]        # the ignored confirmation is skipped
    b'hello'
    >>> p.close()
    """

    connection: Optional[Connection]  # type: ignore[assignment]

    def __init__(self, client: _ClientCore, ignore_subscribe_messages: bool = False,
                 push_handler_func: Optional[Callable[[Any], None]] = None,
                 node: Optional[str] = None) -> None:
        """A pub/sub object of ``client``; it connects on its first command (to ``node``,
        ``"host:port"``, when given; on a cluster a first ``ssubscribe`` goes to the master of
        its first channel's slot)."""
        self._init_subscriber(client, node)
        super().__init__(
            connection_pool=None, ignore_subscribe_messages=ignore_subscribe_messages,
            encoder=client.encoder, push_handler_func=push_handler_func)

    def reset(self) -> None:
        """Closes the connection (every subscription ends) and forgets the subscriptions."""
        conn = self._forget()
        if conn is not None:
            conn.close()
        super().reset()

    def _connect_again(self, error: Optional[Exception]) -> None:
        """After a lost connection (the ``fail`` of redis-py's ``Retry``): a new connection,
        subscribed again to what redis-py's bookkeeping holds (its ``on_connect``)."""
        self.on_connect(self._reopen())

    def execute_command(self, *args: Any) -> None:
        """Sends a pub/sub command (``SUBSCRIBE``, ``UNSUBSCRIBE`` …, ``PING``) on this
        object's connection, opening it on the first command (and again after a lost one).
        Confirmations and replies are read by ``get_message()`` / ``listen()``, as in
        redis-py."""
        name, wire = self._command(args)
        if self._dropped():
            self._connect_again(None)
        self._retry.call_with_retry(lambda: self._send(name, wire), self._connect_again)

    def _send(self, name: str, wire: tuple[Any, ...]) -> None:
        with self._lock:
            conn = self._connected()
            names = self._change_names(name, wire)
            if names is not None:
                getattr(conn, name.lower())(*names)
                return
            reply = conn.call(*wire)
            while True:
                earlier = conn.next_message(0)
                if earlier is None:
                    break
                self._pending.append(self._text(earlier))
            self._queue_reply(name, wire, reply)

    def parse_response(self, block: bool = True, timeout: Optional[float] = 0) -> Any:
        """The next message or reply as redis-py's parser gives it (a list, RESP2-shaped);
        ``None`` when none came within ``timeout`` seconds (``block=True``: waits until one
        comes). After a lost connection, the messages received before it, then those of a
        new connection (see ``_connect_again``)."""
        self._connected()
        if self._pending:
            return self._pending.popleft()
        if self._dropped():
            self._connect_again(None)
        wait = None if block else (timeout or 0.0)
        raw = self._retry.call_with_retry(
            lambda: self._connected().next_message(wait), self._connect_again)
        return None if raw is None else self._text(raw)

    def check_health(self) -> None:
        """No health-check PING: the core's subscriber reports a lost connection itself."""
        self._connected()

    def clean_health_check_responses(self) -> None:
        """Nothing to clean (no health-check PING is sent)."""


class AsyncPubSub(_OnSubscriber, redis.asyncio.client.PubSub):
    """redis-py's asyncio ``PubSub`` on a slotshift pub/sub connection (made by ``pubsub()``
    of ``slotshift.asyncio.Redis`` or ``RedisCluster``): ``await p.subscribe(...)``,
    ``await p.get_message(timeout=...)``, ``async for m in p.listen()``, ``await
    p.aclose()``. Waits await the core's subscriber (no thread per wait).

    >>> p = r.pubsub(ignore_subscribe_messages=True)
    >>> await p.subscribe("news")
    >>> await r.publish("news", "hello")
    1
    >>> (await anext(p.listen()))["data"]
    b'hello'
    >>> await p.aclose()
    """

    connection: Optional[Connection]  # type: ignore[assignment]

    def __init__(self, client: _ClientCore, ignore_subscribe_messages: bool = False,
                 push_handler_func: Optional[Callable[[Any], None]] = None,
                 node: Optional[str] = None) -> None:
        """As ``PubSub``, for asyncio (``retry=`` a ``redis.asyncio.retry.Retry``)."""
        self._init_subscriber(client, node)
        if not inspect.iscoroutinefunction(self._retry.call_with_retry):
            raise TypeError("retry= of an asyncio client must be a redis.asyncio.retry.Retry, "
                            f"not {type(self._retry).__module__}.{type(self._retry).__name__}")
        super().__init__(
            connection_pool=None,  # type: ignore[arg-type]
            ignore_subscribe_messages=ignore_subscribe_messages,
            encoder=client.encoder, push_handler_func=push_handler_func)

    def __del__(self) -> None:
        """Nothing to deregister (redis-py's connection callbacks are not used)."""

    async def aclose(self) -> None:
        """Closes the connection (every subscription ends, confirmed by the server) and
        forgets the subscriptions."""
        conn = self._forget()
        if conn is not None:
            await conn.close_async()
        self.channels = {}
        self.pending_unsubscribe_channels = set()
        self.patterns = {}
        self.pending_unsubscribe_patterns = set()
        self.shard_channels = {}
        self.pending_unsubscribe_shard_channels = set()

    async def connect(self) -> None:
        """Opens the connection now (it is otherwise opened by the first command), or again
        after ``disconnect()``, subscribed again. Yields to the event loop once, as a connect
        does: a loop of ``connect()`` and ``listen()`` after ``aclose()`` (``listen()`` then
        returns at once) must not starve the loop's other tasks and timeouts."""
        if self.connection is None:
            self.connection = self._open("", ())
        elif self._dropped():
            await self._connect_again(None)
        await asyncio.sleep(0)

    async def _connect_again(self, error: Optional[Exception]) -> None:
        """``PubSub._connect_again`` for asyncio."""
        await self.on_connect(self._reopen())  # type: ignore[arg-type]

    async def execute_command(self, *args: Any) -> None:
        """Sends a pub/sub command on this object's connection (opened on the first
        command, and again after a lost one); confirmations and replies are read by
        ``get_message()`` / ``listen()``."""
        name, wire = self._command(args)
        if self._dropped():
            await self._connect_again(None)
        await self._retry.call_with_retry(lambda: self._send(name, wire), self._connect_again)

    async def _send(self, name: str, wire: tuple[Any, ...]) -> None:
        # The lock is not held across a reconnect: redis-py's on_connect subscribes again
        # through execute_command, and an asyncio.Lock is not reentrant.
        async with self._lock:
            conn = self._connected()
            names = self._change_names(name, wire)
            if names is not None:
                await conn.change_async(name, *names)
                return
            reply = await conn.call_async(*wire)
            while True:
                earlier = await conn.next_message_async(0)
                if earlier is None:
                    break
                self._pending.append(self._text(earlier))
            self._queue_reply(name, wire, reply)

    async def parse_response(self, block: bool = True, timeout: Optional[float] = 0) -> Any:
        """The next message or reply (a list, RESP2-shaped); ``None`` when none came within
        ``timeout`` seconds (``block=True``: waits until one comes). After a lost connection,
        as ``PubSub.parse_response``."""
        self._connected()
        if self._pending:
            return self._pending.popleft()
        if self._dropped():
            await self._connect_again(None)
        wait = None if block else (timeout or 0.0)
        raw = await self._retry.call_with_retry(
            lambda: self._connected().next_message_async(wait), self._connect_again)
        return None if raw is None else self._text(raw)

    async def check_health(self) -> None:
        """No health-check PING: the core's subscriber reports a lost connection itself."""
        self._connected()
