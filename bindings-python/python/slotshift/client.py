"""``Client`` and ``Pipeline``: redis-py's ``Redis`` / ``RedisCluster`` API over a slotshift store."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Optional

from . import _slotshift
from .commands import CALLBACKS, Callback, Commands, KeyT, bool_ok, flatten_scan
from ._slotshift import RoutingError, SlotshiftError

__all__ = ["Client", "Pipeline"]

_OPTION_NAMES = {
    # redis-py's names → the store's options
    "socket_timeout": "response_timeout",
    "socket_connect_timeout": "connect_timeout",
    "response_timeout": "response_timeout",
    "connect_timeout": "connect_timeout",
    "retry_deadline": "retry_deadline",
    "name": "name",
    "read_from_replicas": "read_from_replicas",
    "idempotent_writes": "idempotent_writes",
    "instrument": "instrument",
    "batch_limit": "batch_limit",
    "cross_slot_validation": "cross_slot_validation",
}


def _store_options(opts: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    decode = opts.pop("decode_responses", False)
    if not isinstance(decode, bool):
        raise TypeError(f"decode_responses must be a bool, not {type(decode).__name__}")
    encoding = opts.pop("encoding", "utf-8")
    if str(encoding).lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ValueError(f"encoding must be 'utf-8' (slotshift decodes UTF-8 only), got {encoding!r}")
    out: dict[str, Any] = {}
    for key, value in opts.items():
        target = _OPTION_NAMES.get(key)
        if target is None:
            raise TypeError(
                f"unexpected keyword argument {key!r}; slotshift.Client accepts "
                + ", ".join(sorted(["decode_responses", "encoding", *_OPTION_NAMES]))
            )
        if value is not None:
            out[target] = value
    return decode, out


def _url_host(host: object) -> str:
    """``host`` as it stands in a URL (an IPv6 address in brackets); a clear error for what
    is not a host name or address (None would otherwise be looked up as "none", and '@' or
    '/' would change the URL's meaning)."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not host or any(c in host for c in "/@?#[]%\\ \t\r\n\0"):
        raise ValueError(f"host {host!r} is not a host name or an IP address")
    return f"[{host}]" if ":" in host else host


def _whole(name: str, value: object) -> int:
    """``value`` if it is an int (not a bool), else a TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


class Client(Commands):
    """A client of one deployment — a standalone server, a Sentinel-managed master or a Redis
    Cluster (detected from the URL) — with redis-py's method names and return values.

    >>> import slotshift
    >>> r = slotshift.Client.from_url(URL)
    >>> r.set("greeting", "hello")
    True
    >>> r.get("greeting")
    b'hello'
    >>> r.close()
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        password: Optional[str] = None,
        username: Optional[str] = None,
        *,
        ssl: bool = False,
        _store: Optional[_slotshift.Store] = None,
        **options: Any,
    ) -> None:
        """Connects like ``redis.Redis(host=, port=, db=, password=, username=)``."""
        if _store is None:
            decode, opts = _store_options(options)
            auth = ""
            if password is not None or username is not None:
                auth = urllib.parse.quote(username or "", safe="")
                if password is not None:
                    auth += ":" + urllib.parse.quote(password, safe="")
                auth += "@"
            scheme = "rediss" if ssl else "redis"
            address = f"{_url_host(host)}:{_whole('port', port)}/{_whole('db', db)}"
            _store = _slotshift.Store.open(f"{scheme}://{auth}{address}", decode=decode, **opts)
        self._store = _store
        self._call = _store.call

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "Client":
        """A client for ``url`` (``redis://``, ``rediss://``, ``unix://``, any node of a
        cluster). Options: ``decode_responses``, ``socket_timeout``, ``socket_connect_timeout``,
        ``name``, ``read_from_replicas``, ``idempotent_writes``, ``instrument``,
        ``batch_limit``, ``cross_slot_validation``, ``retry_deadline``."""
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        decode, opts = _store_options(dict(options))
        return cls(_store=_slotshift.Store.open(url, decode=decode, **opts))

    @classmethod
    def from_urls(cls, urls: Sequence[str], **options: Any) -> "Client":
        """A client for a cluster given by several seed URLs."""
        if isinstance(urls, (str, bytes)):
            raise TypeError("urls must be a sequence of str, not a single string")
        decode, opts = _store_options(dict(options))
        return cls(_store=_slotshift.Store.open(list(urls), decode=decode, **opts))

    # --------------------------------------------------------------- plumbing

    def _run(self, callback: Callback, *args: Any) -> Any:
        r = self._call(*args)
        return r if callback is None else callback(r)

    def get(self, name: KeyT) -> Any:
        """``GET``: the value, or None."""
        return self._call(b"GET", name)

    @property
    def store(self) -> _slotshift.Store:
        """The native store (shared connections)."""
        return self._store

    @property
    def kind(self) -> str:
        """``"standalone"``, ``"sentinel"`` or ``"cluster"``."""
        return self._store.kind

    @property
    def decode_responses(self) -> bool:
        """Whether replies are str instead of bytes."""
        return self._store.decode

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Sends any command; applies redis-py's conversion for the commands it knows."""
        if options:
            raise TypeError(f"unexpected keyword arguments: {', '.join(options)}")
        if not args:
            raise ValueError("execute_command needs at least the command name")
        r = self._call(*args)
        name = args[0]
        # As redis-py: the conversion is looked up by a str command name only.
        cb = CALLBACKS.get(name.upper()) if isinstance(name, str) else None
        return r if cb is None else cb(r)

    def pipeline(self, transaction: bool = True, shard_hint: None = None) -> "Pipeline":
        """A pipeline: commands are queued and sent together by ``execute()``; with
        ``transaction=True`` inside MULTI/EXEC (one slot on a cluster)."""
        return Pipeline(self._store, transaction)

    def close(self) -> None:
        """Closes this client's connections."""
        self._store.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<slotshift.Client {self._store!r}>"

    # ------------------------------------------------- keyspace-wide commands

    # On a cluster the core routes these by their Redis 7 command tips: to every master,
    # replies aggregated (DBSIZE summed, KEYS concatenated, FLUSHDB/FLUSHALL successful on all).

    def keys(self, pattern: KeyT = "*") -> list[Any]:
        """``KEYS`` (the keys of every master of a cluster)."""
        r: list[Any] = self._call(b"KEYS", pattern)
        return r

    def dbsize(self) -> int:
        """``DBSIZE`` (summed over the masters of a cluster)."""
        return int(self._call(b"DBSIZE"))

    def flushdb(self, asynchronous: bool = False) -> bool:
        """``FLUSHDB`` (on every master of a cluster)."""
        return bool_ok(self._call(b"FLUSHDB", *([b"ASYNC"] if asynchronous else [])))

    def flushall(self, asynchronous: bool = False) -> bool:
        """``FLUSHALL`` (on every master of a cluster)."""
        return bool_ok(self._call(b"FLUSHALL", *([b"ASYNC"] if asynchronous else [])))

    def scan(self, cursor: int = 0, match: Optional[KeyT] = None, count: Optional[int] = None,
             _type: Optional[str] = None) -> tuple[int, list[Any]]:
        """``SCAN`` with a cursor (one server; on a cluster use ``scan_iter``)."""
        if self._store.kind == "cluster":
            raise RoutingError("scan() with a cursor needs one server; use scan_iter() on a cluster")
        args: list[Any] = [b"SCAN", cursor]
        if match is not None:
            args += [b"MATCH", match]
        if count is not None:
            args += [b"COUNT", count]
        if _type is not None:
            args += [b"TYPE", _type]
        cur, keys = self._call(*args)
        return int(cur), keys

    def scan_iter(self, match: Optional[KeyT] = None, count: Optional[int] = None,
                  _type: Optional[str] = None) -> Iterator[Any]:
        """Every key (of every master), as redis-py's ``scan_iter``."""
        return flatten_scan(self._store.scan(match, count, _type))


class Pipeline(Commands):
    """Commands queued and sent together. Each command method returns the pipeline;
    ``execute()`` returns the results in order.

    >>> with r.pipeline(transaction=False) as pipe:
    ...     pipe.set("a", 1).incr("a").get("a").execute()
    [True, 2, b'2']
    """

    def __init__(self, store: Any, transaction: bool) -> None:
        self._store = store
        self.transaction = transaction
        self._commands: list[tuple[Any, ...]] = []
        self._callbacks: list[Callback] = []

    def _run(self, callback: Callback, *args: Any) -> "Pipeline":
        self._commands.append(args)
        self._callbacks.append(callback)
        return self

    def execute_command(self, *args: Any, **options: Any) -> "Pipeline":
        """Queues any command (redis-py's conversion applied at ``execute()``)."""
        if options:
            raise TypeError(f"unexpected keyword arguments: {', '.join(options)}")
        if not args:
            raise ValueError("execute_command needs at least the command name")
        name = args[0]
        # As redis-py: the conversion is looked up by a str command name only.
        cb = CALLBACKS.get(name.upper()) if isinstance(name, str) else None
        return self._run(cb, *args)

    def __len__(self) -> int:
        return len(self._commands)

    def __bool__(self) -> bool:
        return True

    def reset(self) -> None:
        """Forgets the queued commands."""
        self._commands = []
        self._callbacks = []

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Sends the queued commands; returns their results in order. A command that failed
        raises its error (the first one) unless ``raise_on_error=False``, which returns the
        exception in its place."""
        commands, callbacks = self._commands, self._callbacks
        self.reset()
        if not commands:
            return []
        if self.transaction:
            raw = self._store.transaction(commands)
            if raw is None:
                raise SlotshiftError("transaction aborted (EXEC returned nil)")
        else:
            raw = self._store.pipeline(commands)
        out: list[Any] = []
        first_error: Optional[BaseException] = None
        for r, cb in zip(raw, callbacks):
            if isinstance(r, BaseException):
                if first_error is None:
                    first_error = r
                out.append(r)
            else:
                out.append(r if cb is None else cb(r))
        if first_error is not None and raise_on_error:
            raise first_error
        return out

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.reset()

    def __repr__(self) -> str:
        return f"<slotshift.Pipeline {len(self._commands)} commands>"

