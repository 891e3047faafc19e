"""``Redis``, ``RedisCluster`` and their pipelines: redis-py's own command layer over the
slotshift core.

redis-py builds every command as the arguments of one method, ``execute_command(*args,
**options)``, and turns replies into its types with its response callbacks. These classes
inherit redis-py's command mixins (``redis.commands.CoreCommands`` …) and implement that one
method on the core's store: every redis-py method exists with redis-py's signature and return
value, while routing, pipelining per node, CrossSlot batching and instrumentation happen in the
Rust core (with the GIL released).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Optional, Union, cast

import redis
import redis.client
import redis.retry
import redis.cluster
from redis._parsers.encoders import Encoder
from redis._parsers.response_callbacks import get_response_callbacks
from redis.client import EMPTY_RESPONSE, NEVER_DECODE, CaseInsensitiveDict
from redis.commands import (CoreCommands, RedisClusterCommands, RedisModuleCommands,
                            SentinelCommands)
from redis.commands.core import Script
from redis.lock import Lock

from . import _slotshift, otel
from .exceptions import (ClusterPipelineError, DedicatedConnectionError, UnknownNodeError,
                         WatchError)

__all__ = ["Client", "ClusterPipeline", "Pipeline", "Redis", "RedisCluster"]

_RESPONSE_ERROR = redis.exceptions.ResponseError

#: Commands that change or depend on the state of one connection. ``execute_command`` runs
#: every command on connections shared by all callers, so these are refused there before
#: anything is sent: run on a shared connection they would change it for everyone (SELECT,
#: MULTI, AUTH …) or take it over (SUBSCRIBE, MONITOR). Pub/sub has ``pubsub()`` and WATCH …
#: EXEC ``pipeline().watch()``, each on a connection of its own (the core's sessions).
SESSION_COMMANDS = frozenset(
    "SELECT WATCH UNWATCH MULTI EXEC DISCARD SUBSCRIBE PSUBSCRIBE SSUBSCRIBE UNSUBSCRIBE "
    "PUNSUBSCRIBE SUNSUBSCRIBE MONITOR QUIT RESET HELLO AUTH READONLY READWRITE SYNC PSYNC "
    "ASKING".split()
)
#: Of those, the ones that take a connection over (it then streams what the server sends):
#: refused on a single-connection client's connection too (``pubsub()``, ``monitor()``).
TAKEOVER_COMMANDS = frozenset(
    "SUBSCRIBE PSUBSCRIBE SSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE SUNSUBSCRIBE MONITOR SYNC PSYNC "
    "HELLO".split()
)
#: ``CLIENT`` subcommands that set state on the connection they run on.
SESSION_CLIENT_SUBCOMMANDS = frozenset(
    "SETNAME REPLY TRACKING CACHING NO-EVICT NO-TOUCH SETINFO".split()
)

# redis-py's keyword arguments slotshift maps onto the core's options.
_TIMEOUTS = {
    "socket_timeout": "response_timeout",
    "socket_connect_timeout": "connect_timeout",
}
# slotshift's own store options (see _slotshift.Target).
_STORE_OPTIONS = frozenset(
    "response_timeout connect_timeout retry_deadline name read_from_replicas idempotent_writes "
    "instrument batch_limit cross_slot_validation".split()
)
# Connection keywords: accepted by the constructors, given in the URL by from_url.
_ADDRESS_OPTIONS = frozenset(
    "host port db password username unix_socket_path ssl ssl_keyfile ssl_certfile "
    "ssl_ca_certs ssl_cert_reqs ssl_check_hostname".split()
)
# What every constructor understands beside the redis-py keywords that only take their default.
_DECODE_OPTIONS = frozenset({"decode_responses", "encoding", "encoding_errors", "protocol"})

_UNSET: Any = object()


def _redis_defaults() -> dict[str, Any]:
    """redis-py's ``Redis.__init__`` and ``RedisCluster.__init__`` keyword defaults."""
    import inspect

    out: dict[str, Any] = {}
    for fn in (redis.cluster.RedisCluster.__init__, redis.Redis.__init__):
        for name, p in inspect.signature(fn).parameters.items():
            if p.default is not inspect.Parameter.empty:
                out[name] = p.default
    return out


_REDIS_DEFAULTS = _redis_defaults()

# Why a redis-py keyword is refused when it is not at its default.
_UNSUPPORTED_WHY = {
    "client_name": "the core does not send CLIENT SETNAME when it connects",
    "connection_pool": "the core keeps its own connections",
    "max_connections": "the core multiplexes commands over its own connections",
    "credential_provider": "the core takes credentials from the URL or username=/password=",
    "retry_on_error": "the core retries by its own policy (retry_deadline=)",
    "retry_on_timeout": "the core retries by its own policy (retry_deadline=)",
    "cache": "client-side caching is not implemented",
    "cache_config": "client-side caching is not implemented",
    "legacy_responses": "slotshift returns redis-py's RESP2 (legacy) shapes",
    "connection_class": "the core keeps its own connections",
}


def _constructor_retry(is_async: bool) -> Any:
    """A copy of the default ``retry=`` of ``redis.Redis`` (``redis.asyncio.Redis``)."""
    import copy
    import inspect

    import redis.asyncio

    cls = redis.asyncio.Redis if is_async else redis.Redis
    return copy.deepcopy(inspect.signature(cls.__init__).parameters["retry"].default)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except Exception:
        return False


def _check_unsupported(cls_name: str, name: str, value: Any) -> None:
    """Accepts a redis-py keyword slotshift does not implement only at redis-py's default;
    otherwise a TypeError naming it."""
    if name in _REDIS_DEFAULTS:
        if _same(value, _REDIS_DEFAULTS[name]):
            return
        why = _UNSUPPORTED_WHY.get(name, "slotshift does not implement it")
        raise TypeError(f"{cls_name} does not support {name}= (other than its default): {why}")
    raise TypeError(f"{cls_name} got an unexpected keyword argument {name!r}")


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


class _Settings:
    """The keyword arguments of a constructor, checked and split: the URL parts, the store's
    options and the reply decoding."""

    def __init__(self, cls_name: str, options: dict[str, Any], *, address: bool,
                 cluster: bool = False) -> None:
        self.cls_name = cls_name
        self.store: dict[str, Any] = {}
        self.address: dict[str, Any] = {}
        decode = options.pop("decode_responses", False)
        if not isinstance(decode, bool):
            raise TypeError(f"decode_responses must be a bool, not {type(decode).__name__}")
        self.decode_responses = decode
        self.encoding = options.pop("encoding", "utf-8")
        self.encoding_errors = options.pop("encoding_errors", "strict")
        if not isinstance(self.encoding, str) or not isinstance(self.encoding_errors, str):
            raise TypeError("encoding and encoding_errors must be str")
        import codecs

        codecs.lookup(self.encoding)  # LookupError naming an unknown encoding
        retry = options.pop("retry", None)
        if retry is not None and not isinstance(retry, redis.retry.AbstractRetry):
            raise TypeError(f"retry= must be a redis.retry.Retry (redis.asyncio.retry.Retry on "
                            f"the asyncio clients), not {type(retry).__name__}")
        #: redis-py's ``Retry`` given as ``retry=`` (``Redis(host=...)`` fills in redis-py's
        #: constructor default): the reconnect policy of ``pubsub()`` objects; ``None``: no
        #: retry, as redis-py's connections from a URL or a pool.
        self.retry: Optional[Any] = retry
        single = options.pop("single_connection_client", False)
        if not isinstance(single, bool):
            raise TypeError(
                f"single_connection_client must be a bool, not {type(single).__name__}")
        #: ``single_connection_client=``: every command over one connection of the client's own.
        self.single = single
        protocol = options.pop("protocol", None)
        if protocol not in (None, 2, "2"):
            raise ValueError(
                f"{cls_name} supports protocol=2 only (redis-py's RESP2 reply shapes), "
                f"got protocol={protocol!r}")
        for key, value in options.items():
            if key in _TIMEOUTS or key in _STORE_OPTIONS:
                if value is not None:
                    self.store[_TIMEOUTS.get(key, key)] = value
            elif key in _ADDRESS_OPTIONS:
                if not address:
                    raise TypeError(
                        f"{cls_name}.from_url takes {key}= in the URL, not as a keyword argument")
                self.address[key] = value
            else:
                _check_unsupported(cls_name, key, value)
        if retry is not None and retry.get_retries() == 0 and not cluster:
            # No retry asked for: the core's own retries (of a lost connection, a loading
            # server) are off too. Not on a cluster, where the same deadline bounds following
            # MOVED/ASK, which redis-py's RedisCluster does whatever its retry= says.
            self.store.setdefault("retry_deadline", 0)
        # UTF-8 with strict errors is decoded by the core; other encodings here, by redis-py's
        # Encoder.
        self.native_decode = decode and (
            codecs.lookup(self.encoding).name == "utf-8" and self.encoding_errors == "strict")

    def _auth(self) -> str:
        """The URL's userinfo from ``username``/``password`` (``""`` without them)."""
        password, username = self.address.get("password"), self.address.get("username")
        if password is None and username is None:
            return ""
        auth = urllib.parse.quote(username or "", safe="")
        if password is not None:
            auth += ":" + urllib.parse.quote(str(password), safe="")
        return auth + "@"

    def _tls(self) -> tuple[bool, list[tuple[str, str]]]:
        """Whether ``ssl`` is on, and the URL's TLS options from the ``ssl_*`` keywords."""
        a = self.address
        query: list[tuple[str, str]] = []
        ssl = bool(a.get("ssl", False))
        tls = {"ssl_keyfile": "key_file", "ssl_certfile": "cert_file", "ssl_ca_certs": "ca_file"}
        for key, name in tls.items():
            if a.get(key) is not None:
                if not ssl:
                    raise ValueError(f"{key}= needs ssl=True")
                query.append((name, str(a[key])))
        reqs = a.get("ssl_cert_reqs", "required")
        check_hostname = a.get("ssl_check_hostname", True)
        insecure = reqs is None or str(getattr(reqs, "name", reqs)).lower() in (
            "none", "cert_none")
        if ssl and insecure:
            query.append(("insecure", "true"))
        elif not check_hostname:
            raise ValueError(
                "ssl_check_hostname=False needs ssl_cert_reqs='none' (the core verifies both or "
                "neither)")
        return ssl, query

    def url(self, host: str, port: int) -> str:
        """The URL of a standalone server from the address keywords."""
        auth = self._auth()
        db = _whole("db", self.address.get("db", 0))
        ssl, query = self._tls()
        sock = self.address.get("unix_socket_path")
        if sock is not None:
            query.append(("db", str(db)))
            url = f"unix://{auth}{urllib.parse.quote(str(sock))}"
        else:
            scheme = "rediss" if ssl else "redis"
            url = f"{scheme}://{auth}{_url_host(host)}:{_whole('port', port)}/{db}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return url

    def sentinel_url(self, sentinels: list[tuple[Any, Any]], service_name: str,
                     sentinel_auth: list[tuple[str, str]]) -> str:
        """The ``redis+sentinel://`` URL of the master ``service_name`` known to
        ``sentinels``, with the address keywords for the master and ``sentinel_auth``
        (``sentinel_username``/``sentinel_password`` pairs) for the sentinels."""
        if self.address.get("unix_socket_path") is not None:
            raise ValueError("unix_socket_path= cannot name a master found through Sentinel")
        db = _whole("db", self.address.get("db", 0))
        ssl, query = self._tls()
        hosts = ",".join(f"{_url_host(h)}:{_whole('port', p)}" for h, p in sentinels)
        scheme = "rediss+sentinel" if ssl else "redis+sentinel"
        name = urllib.parse.quote(service_name, safe="")
        url = f"{scheme}://{self._auth()}{hosts}/{name}/{db}"
        query.extend(sentinel_auth)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return url

    def target(self, url: Union[str, list[str]]) -> _slotshift.Target:
        """Where to connect: ``url`` and the store options, checked now (a bad URL or
        option raises here), connected on first use."""
        return _slotshift.Target(url, **self.store)

    def address_target(self, nodes: list[tuple[Any, Any]], *, seeds: bool) -> _slotshift.Target:
        """The target of the address keywords at ``nodes`` (one URL, or a seed list where
        ``seeds``). The keywords, a password among them, are forgotten then: only the native
        target keeps them, out of reach of anything that serializes Python objects."""
        urls = [self.url(host, port) for host, port in nodes]
        target = self.target(urls if seeds else urls[0])
        self.address.clear()
        return target


class _Unopened:
    """A client's store before its first command: redis-py connects on first use, so a
    client made while its Redis is down does not fail until it is used. The first attribute
    asked for other than ``decode``, ``closed`` and ``close`` connects (once, under a lock)
    and the client's ``_store`` becomes the connected store, so later commands go straight
    to it."""

    closed = False

    def __init__(self, target: _slotshift.Target, decode: bool, owner: _Base) -> None:
        self._target = target
        self.decode = decode
        self._owner = weakref.ref(owner)
        self._lock = threading.Lock()
        self._opened: Optional[_slotshift.Store] = None

    def close(self) -> None:
        """Nothing to close: nothing is open."""

    def open(self) -> _slotshift.Store:
        """The connected store (connecting now if no caller has yet)."""
        with self._lock:
            if self._opened is None:
                self._adopt(self._target.open(self.decode))
            assert self._opened is not None
            return self._opened

    async def open_async(self) -> _slotshift.Store:
        """``open`` for asyncio: connects on the core's runtime, not on the event loop."""
        if self._opened is None:
            store = await self._target.open_async(self.decode)
            with self._lock:
                if self._opened is None:
                    self._adopt(store)
                else:
                    store.close()
        assert self._opened is not None
        return self._opened

    def _adopt(self, store: _slotshift.Store) -> None:
        self._opened = store
        owner = self._owner()
        if owner is not None and owner._store is cast(Any, self):
            owner._store = store
            owner._raw_store = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.open(), name)

    def __repr__(self) -> str:
        return f"{self._target!r} (not connected yet)"


def _split_name(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """redis-py's convention: a first argument with spaces (``"CONFIG GET"``) is several
    words of the command name."""
    first = args[0]
    if isinstance(first, str) and " " in first:
        return (*first.split(), *args[1:])
    return args


def _upper_name(args: tuple[Any, ...]) -> str:
    first = args[0]
    if isinstance(first, bytes):
        first = first.decode("utf-8", "replace")
    return str(first).upper()


def _check_session(args: tuple[Any, ...]) -> None:
    """Refuses a command that needs a dedicated connection (see ``SESSION_COMMANDS``)."""
    name = _upper_name(args)
    words = name.split()
    head = words[0] if words else name
    if head in SESSION_COMMANDS:
        raise DedicatedConnectionError(
            f"{head} needs a dedicated connection: slotshift.Redis runs commands on "
            f"connections shared by every caller (pub/sub: pubsub(); WATCH … EXEC: "
            f"pipeline().watch() and multi())")
    if head == "CLIENT":
        sub = words[1] if len(words) > 1 else (
            _upper_name(args[1:]) if len(args) > 1 else "")
        if sub in SESSION_CLIENT_SUBCOMMANDS:
            raise DedicatedConnectionError(
                f"CLIENT {sub} needs a dedicated connection: slotshift.Redis runs commands "
                f"on connections shared by every caller")


#: Command name (as given to execute_command) → (the name upper-cased to look up its response
#: callback, or None for a bytes name as in redis-py; the words it is sent as when it has
#: spaces, else None; whether the session check must run on each call).
_NAMES: dict[Any, tuple[Optional[str], Optional[tuple[str, ...]], bool]] = {}


def _name_info(args: tuple[Any, ...]) -> tuple[Optional[str], Optional[tuple[str, ...]], bool]:
    """What ``execute_command`` needs to know about ``args[0]`` (cached per name)."""
    if not args:
        raise redis.exceptions.DataError("execute_command needs at least the command name")
    first = args[0]
    upper = first.upper() if isinstance(first, str) else None
    words = tuple(first.split()) if isinstance(first, str) and " " in first else None
    head = _upper_name(args).split()
    check = bool(head) and (head[0] in SESSION_COMMANDS or head[0] == "CLIENT")
    info = (upper, words, check)
    if isinstance(first, (str, bytes)) and len(_NAMES) < 10_000:
        _NAMES[first] = info
    return info


def _lookup(args: tuple[Any, ...],
            single: bool = False) -> tuple[Optional[str], Optional[tuple[str, ...]]]:
    """The name of ``args`` upper-cased for its callback and its words (see ``_NAMES``);
    refuses a command that needs a dedicated connection (``single``: the client has one, and
    refuses only what would take it over)."""
    try:
        upper, words, check = _NAMES[args[0]]
    except (KeyError, IndexError, TypeError):
        upper, words, check = _name_info(args)
    if check:
        if not single:
            _check_session(args)
        else:
            head = _upper_name(args).split()[0]
            if head in TAKEOVER_COMMANDS:
                raise DedicatedConnectionError(
                    f"{head} takes a connection over: use pubsub() or monitor(), which open "
                    f"connections of their own")
    return upper, words


class _ScriptForPipelines(Script):
    """redis-py's ``Script``, which also knows slotshift's pipelines (so a script called
    on one is loaded before the pipeline runs, as redis-py does for its own)."""

    def __call__(self, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        if isinstance(client, _PipelineBase):
            client.scripts.add(self)
        return super().__call__(keys, args, client)


class _Base:
    """What the clients and pipelines share: the store, the encoder, the callbacks."""

    _is_async_client: Literal[False] = False
    #: The ``Script`` class of ``register_script`` (the asyncio clients: redis-py's
    #: ``AsyncScript``'s).
    _script_class: Callable[..., Any] = _ScriptForPipelines
    #: redis-py's command protocol declares it; no slotshift command method uses it.
    _event_dispatcher: Any = None
    _store: _slotshift.Store
    _settings: _Settings
    response_callbacks: CaseInsensitiveDict
    #: Whether every command goes over one connection of the client's own (redis-py's
    #: ``single_connection_client=True`` and ``client()``); pipelines never do.
    _single = False
    #: That connection, once opened (it is opened again after it was lost or closed).
    _line: Optional[_slotshift.Session] = None

    def _init_base(self, store: Optional[_slotshift.Store], settings: _Settings,
                   target: Optional[_slotshift.Target] = None) -> None:
        """``store`` (a client made on a store, or a pipeline on its client's); ``None``:
        ``target``'s, connected on first use."""
        if store is None:
            assert target is not None
            store = cast(_slotshift.Store, _Unopened(target, settings.native_decode, self))
        self._store = store
        self._target = target
        self._settings = settings
        self._raw_store: Optional[_slotshift.Store] = None
        self.encoder = Encoder(settings.encoding, settings.encoding_errors,  # type: ignore[no-untyped-call]
                               settings.decode_responses)
        self.response_callbacks = CaseInsensitiveDict(
            get_response_callbacks(user_protocol=2, legacy_responses=True))  # type: ignore[arg-type]
        # Arguments are encoded by the core (str as UTF-8) unless another encoding is asked.
        import codecs

        self._encode_args = codecs.lookup(settings.encoding).name != "utf-8" or (
            settings.encoding_errors != "strict")
        self._py_decode = settings.decode_responses and not settings.native_decode

    @property
    def store(self) -> _slotshift.Store:
        """The native store (shared connections), connected now if it was not yet."""
        return self._core()

    def _core(self) -> _slotshift.Store:
        """The store, connected: what native functions are given."""
        store = self._store
        if type(store) is _Unopened:  # type: ignore[comparison-overlap]
            return store.open()
        return store

    @property
    def kind(self) -> str:
        """``"standalone"``, ``"sentinel"`` or ``"cluster"``."""
        return self._store.kind

    @property
    def decode_responses(self) -> bool:
        """Whether replies are str instead of bytes."""
        return self._settings.decode_responses

    def get_encoder(self) -> Encoder:
        """redis-py's encoder with this client's ``encoding``, ``encoding_errors`` and
        ``decode_responses``."""
        return self.encoder

    def get_connection_kwargs(self) -> dict[str, Any]:
        """The reply options, as redis-py reports them (``decode_responses``, ``encoding``,
        ``encoding_errors``, ``protocol``)."""
        return {
            "decode_responses": self._settings.decode_responses,
            "encoding": self._settings.encoding,
            "encoding_errors": self._settings.encoding_errors,
            "protocol": 2,
        }

    def set_response_callback(self, command: str, callback: Callable[..., Any]) -> None:
        """Sets the conversion applied to ``command``'s replies (as redis-py)."""
        self.response_callbacks[command] = callback

    def _reopen(self) -> bool:
        """After ``close()``: opens the same deployment again (as redis-py reconnects on the
        next command); False when this client was made from a store, not a URL."""
        if self._target is None or not self._store.closed:
            return False
        self._store = self._target.open(self._settings.native_decode)
        self._raw_store = None
        return True

    def _raw(self) -> _slotshift.Store:
        """The store with replies left as bytes (connected)."""
        if self._raw_store is None:
            store = self._core()
            self._raw_store = store.with_decode(False) if store.decode else store
        return self._raw_store

    def _wire(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """The arguments as sent: the command name split into words, str encoded with
        ``encoding`` when it is not UTF-8."""
        if self._encode_args:
            # As redis-py's pack_command: the name in UTF-8 (split into its words), the
            # arguments in the client's encoding.
            enc: Callable[[Any], bytes] = self.encoder.encode
            first = args[0]
            name = tuple(first.encode().split()) if isinstance(first, str) else (first,)
            return (*name, *(a if isinstance(a, (bytes, bool)) else enc(a) for a in args[1:]))
        return _split_name(args)

    def _decode(self, value: Any) -> Any:
        """A raw reply decoded with ``encoding``/``encoding_errors`` (nested values too)."""
        if isinstance(value, bytes):
            return value.decode(self._settings.encoding, self._settings.encoding_errors)
        if isinstance(value, list):
            return [self._decode(v) for v in value]
        if isinstance(value, dict):
            return {self._decode(k): self._decode(v) for k, v in value.items()}
        if isinstance(value, set):
            return {self._decode(v) for v in value}
        return value

    def _convert(self, name: Any, reply: Any, options: dict[str, Any]) -> Any:
        """Applies redis-py's response callback for ``name`` (as ``Redis.parse_response``)."""
        options.pop(NEVER_DECODE, None)
        options.pop(EMPTY_RESPONSE, None)
        options.pop("keys", None)
        if name in self.response_callbacks:
            callback: Callable[..., Any] = self.response_callbacks[name]
            return callback(reply, **options)
        return reply

    def register_script(self, script: Any) -> Any:
        """A callable script object for the Lua ``script`` (redis-py's ``Script``, or
        ``AsyncScript`` on the asyncio clients, aware of slotshift's pipelines)."""
        return self._script_class(self, script)

    def _callback(self, upper: Optional[str], reply: Any, options: dict[str, Any]) -> Any:
        """``reply`` through the response callback of the command named ``upper`` (``None``:
        a bytes name, no callback, as in redis-py)."""
        callback = None if upper is None else dict.get(self.response_callbacks, upper)
        return reply if callback is None else callback(reply, **options)

    def _is_slow(self, options: dict[str, Any]) -> bool:
        """Whether a command needs ``_slow_store``/``_slow_reply`` rather than the direct call:
        redis-py's reply options, encoding and decoding done here rather than by the core, or
        the single connection."""
        return bool(self._encode_args or self._py_decode or self._single or (options and (
            NEVER_DECODE in options or EMPTY_RESPONSE in options)))

    def _slow_store(self, options: dict[str, Any]) -> Union[_slotshift.Store,
                                                            _slotshift.Session]:
        """What a slow command goes through: the single connection, opened now if it is not
        (undecoded: its replies are decoded here), or the store (undecoded when decoding
        happens here)."""
        if self._single:
            line = self._line
            if line is None or not line.is_open:
                self._reopen()
                store = self._raw()
                if store.kind == "cluster":
                    raise DedicatedConnectionError(
                        "single_connection_client needs a standalone or Sentinel-managed "
                        "Redis: on a cluster each command goes to the master of its slot")
                line = self._line = _slotshift.Session(store)
            return line
        return self._raw() if (NEVER_DECODE in options or self._py_decode) else self._store

    def _slow_failed(self, e: redis.exceptions.RedisError, options: dict[str, Any]) -> bool:
        """After a slow command failed with ``e``: True to send it again (a connection error
        of a closed client, now opened again), False to return redis-py's ``EMPTY_RESPONSE``
        value (an error reply when one was given); otherwise ``e`` is raised. A single
        connection that failed is opened again by the next command (what it held, a
        ``SELECT`` or a name, is gone with it, as on redis-py's)."""
        if isinstance(e, _RESPONSE_ERROR) and EMPTY_RESPONSE in options:
            return False
        if isinstance(e, redis.exceptions.ConnectionError) and not self._single and (
                self._reopen()):
            return True
        raise e

    def _slow_reply(self, args: tuple[Any, ...], reply: Any, options: dict[str, Any]) -> Any:
        """A slow command's reply decoded here when asked, then converted."""
        if self._py_decode and NEVER_DECODE not in options:
            reply = self._decode(reply)
        if self._single and _upper_name(args) == "QUIT":
            self._drop_line()  # the server closes it: the next command opens another
        return self._convert(args[0], reply, options)

    def _become_single(self) -> None:
        """Every command over one connection of this client's own (opened on the first one),
        its replies decoded here (one connection cannot serve both decoded and raw replies)."""
        self._single = True
        self._py_decode = self._settings.decode_responses

    def _drop_line(self) -> None:
        """Closes the single connection; the next command opens another."""
        line, self._line = self._line, None
        if line is not None:
            line.close()


class _ClientCore(_Base):
    """What the blocking and the asyncio clients share beside the commands."""

    _pipeline_class: type["_PipelineCore"]
    #: The ``Lock`` class of ``lock()``.
    _lock_class: Callable[..., Any] = Lock

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        """A pipeline: commands are queued and sent together by ``execute()``; with
        ``transaction=True`` inside MULTI/EXEC."""
        if shard_hint is not None:
            _check_unsupported(type(self).__name__, "shard_hint", shard_hint)
        return self._pipeline_class(self, transaction)

    def monitor(self) -> Any:
        """MONITOR needs a dedicated connection: ``DedicatedConnectionError``."""
        raise DedicatedConnectionError(
            "monitor() needs a dedicated connection that streams what the server sends; the "
            "core's sessions read one reply per request")

    def client(self) -> Any:
        """A client of the same deployment and options whose commands all go over one
        connection of its own (redis-py's ``client()``): what a command leaves on the
        connection (``SELECT``, ``CLIENT SETNAME``, ``AUTH``, ``CLIENT TRACKING`` …) holds for
        its next commands. Its pipelines run as this client's. Closing it closes only that
        connection."""
        import copy

        if isinstance(self, _ClusterInit):
            raise TypeError("a cluster client has no single-connection form (nor has "
                            "redis-py's RedisCluster)")
        settings = copy.copy(self._settings)
        settings.single = True
        other = type(self).__new__(type(self))
        opened = type(self._store) is not _Unopened  # type: ignore[comparison-overlap]
        other._init_base(self._store if opened else None, settings, self._target)
        other._borrowed = opened
        other._become_single()
        return other

    def lock(self, name: Any, timeout: Optional[float] = None, sleep: float = 0.1,
             blocking: bool = True, blocking_timeout: Optional[float] = None,
             lock_class: Any = None, thread_local: bool = True,
             raise_on_release_error: bool = True) -> Any:
        """redis-py's ``Lock`` (a Lua-script lock; redis-py's asyncio ``Lock`` on the asyncio
        clients) over this client."""
        cls = self._lock_class if lock_class is None else lock_class
        return cls(self, name, timeout=timeout, sleep=sleep, blocking=blocking,
                   blocking_timeout=blocking_timeout, thread_local=thread_local,
                   raise_on_release_error=raise_on_release_error)

    def pubsub(self, ignore_subscribe_messages: bool = False,
               push_handler_func: Optional[Callable[[Any], None]] = None,
               **kwargs: Any) -> Any:
        """redis-py's ``PubSub`` on a pub/sub connection of its own (``slotshift.PubSub``,
        opened on its first command; ``slotshift.pubsub.AsyncPubSub`` on the asyncio
        clients): ``subscribe``, ``psubscribe``, ``ssubscribe`` …, ``get_message``,
        ``listen``, ``run_in_thread``, ``ping``, ``close``. As redis-py's, it connects again
        after a lost connection and subscribes again to what it was subscribed to (the
        client's ``retry=`` policy)."""
        _no_options(kwargs)
        return self._new_pubsub(ignore_subscribe_messages=ignore_subscribe_messages,
                                push_handler_func=push_handler_func)

    def _pubsub_class(self) -> Callable[..., Any]:
        """The ``PubSub`` class of this client (imported late: it imports this module)."""
        from .pubsub import PubSub

        return PubSub

    def _new_pubsub(self, **kwargs: Any) -> Any:
        """A ``pubsub()`` object, kept (weakly) so that closing the client drops its
        connection too, as closing redis-py's client closes every connection of its pool, the
        pub/sub ones among them (the object connects again on its next use)."""
        p = self._pubsub_class()(self, **kwargs)
        made: weakref.WeakSet[Any] = self.__dict__.setdefault("_made_pubsubs", weakref.WeakSet())
        made.add(p)
        return p

    #: Whether the store is another client's (a ``client()``: closing closes only its own
    #: connection).
    _borrowed = False

    def _close_stores(self) -> None:
        """Closes this client's stores (other clients on the same store keep theirs) and drops
        the connections of its ``pubsub()`` objects and its single connection."""
        for p in list(self.__dict__.get("_made_pubsubs", ())):
            p._disconnect()
        self._drop_line()
        if self._borrowed:
            return
        if self._raw_store is not None and self._raw_store is not self._store:
            self._raw_store.close()
        self._store.close()

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} {self._store!r}>"


def _transaction_options(kwargs: dict[str, Any]) -> tuple[bool, Optional[float]]:
    """``transaction()``'s keywords (``value_from_callable``, ``watch_delay``;
    ``shard_hint`` ignored); a TypeError naming any other."""
    kwargs.pop("shard_hint", None)
    value_from_callable = bool(kwargs.pop("value_from_callable", False))
    watch_delay = kwargs.pop("watch_delay", None)
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {', '.join(kwargs)}")
    return value_from_callable, watch_delay


def _no_options(kwargs: dict[str, Any]) -> None:
    """``pubsub()``'s keywords: ``shard_hint`` ignored, any other a TypeError."""
    kwargs.pop("shard_hint", None)
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {', '.join(kwargs)}")


class _ClientBase(_ClientCore):
    """Sends each command at once through the core."""

    def connect(self) -> Any:
        """Connects now rather than on the first command (a client made while its Redis is
        down raises only when used, as redis-py's); the client."""
        self._core()
        return self

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Sends one command (``args``: its name and arguments) and returns its reply
        converted by redis-py's response callback. ``options`` are redis-py's
        (``NEVER_DECODE``, ``EMPTY_RESPONSE``, ``keys``, and the callback's own). Recorded in
        redis-py's OpenTelemetry metrics when they are on (``slotshift.otel``)."""
        if otel.on():
            return otel.timed(self, args[0] if args else "", args,
                              lambda: self._execute(args, options))
        return self._execute(args, options)

    def _execute(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """``execute_command``'s work."""
        upper, words = _lookup(args, self._single)
        options.pop("keys", None)
        if self._is_slow(options):
            return self._execute_slow(args, options)
        try:
            reply = self._store.call(*(args if words is None else (*words, *args[1:])))
        except redis.exceptions.ConnectionError:
            if not self._reopen():
                raise
            return self._execute(args, options)
        return self._callback(upper, reply, options)

    def _execute_slow(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """``execute_command`` with redis-py's reply options or Python-side encoding."""
        try:
            reply = self._slow_store(options).call(*self._wire(args))
        except redis.exceptions.RedisError as e:
            if self._slow_failed(e, options):
                return self._execute_slow(args, options)
            return options[EMPTY_RESPONSE]
        return self._slow_reply(args, reply, options)

    def transaction(self, func: Callable[[Any], Any], *watches: Any, **kwargs: Any) -> Any:
        """Runs ``func(pipe)`` then the pipeline as one transaction (redis-py's
        ``transaction``): with ``watches``, WATCHed first on a connection of the pipeline's own,
        and run again from the start when one of them changed before EXEC."""
        value_from_callable, watch_delay = _transaction_options(kwargs)
        with self.pipeline(True) as pipe:
            while True:
                try:
                    if watches:
                        pipe.watch(*watches)
                    func_value = func(pipe)
                    exec_value = pipe.execute()
                    return func_value if value_from_callable else exec_value
                except WatchError:
                    if watch_delay is not None and watch_delay > 0:
                        time.sleep(watch_delay)
                    continue

    def close(self) -> None:
        """Closes this client's connections (other clients on the same store keep theirs).
        As in redis-py, a client made from a URL or an address connects again on its next
        command."""
        self._close_stores()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()


class _Plan:
    """What ``execute()`` sends: the commands as sent, through which store, whether in
    MULTI/EXEC, and what the results need afterwards."""

    __slots__ = ("stack", "transaction", "watched", "raw", "store", "skipped", "wire", "never")

    def __init__(self, pipe: "_PipelineCore") -> None:
        stack = pipe.command_stack
        self.stack = stack
        self.watched = pipe._session is not None
        self.transaction = bool(pipe.transaction or pipe.explicit_transaction or self.watched)
        self.never = [NEVER_DECODE in opts for _, opts in stack]
        self.raw = self.watched or pipe._py_decode or (pipe._store.decode and any(self.never))
        self.store = pipe._raw() if self.raw else pipe._store
        # As redis-py's _execute_transaction: inside MULTI/EXEC a command with an
        # EMPTY_RESPONSE value (MGET of no keys …) is not sent; the value takes its place.
        self.skipped = [i for i, (_, opts) in enumerate(stack)
                        if self.transaction and EMPTY_RESPONSE in opts]
        self.wire = [pipe._wire(args) for i, (args, _) in enumerate(stack)
                     if i not in self.skipped]

    @property
    def first_args(self) -> tuple[Any, ...]:
        """The first command as queued (empty for none): where a metric says the plan went."""
        return self.stack[0][0] if self.stack else ()

    @property
    def sends(self) -> bool:
        """Whether anything goes to the server (a watched pipeline always runs its EXEC)."""
        return bool(self.wire or self.watched)


class _PipelineCore(_Base):
    """What the blocking and the asyncio pipelines share: queueing, the plan of what
    ``execute()`` sends and the conversion of what comes back."""

    def __init__(self, client: _ClientCore, transaction: bool) -> None:
        """A pipeline of ``client`` (made by ``client.pipeline()``)."""
        self._client = client
        self._init_base(client._store, client._settings)
        self._raw_store = client._raw_store
        self.response_callbacks = client.response_callbacks
        self.transaction = transaction
        self.command_stack: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.scripts: set[Script] = set()
        self.explicit_transaction = False
        self.watching = False
        #: The dedicated connection of a ``watch()`` (``None`` when not watching).
        self._session: Optional[_slotshift.Session] = None

    def __len__(self) -> int:
        return len(self.command_stack)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} {len(self.command_stack)} commands>"

    def _reset(self) -> None:
        """Forgets the queued commands and scripts; after a ``watch()``, closes its
        connection (the server forgets the WATCH with it)."""
        self.command_stack = []
        self.scripts = set()
        self.explicit_transaction = False
        self._end_watch()

    def _end_watch(self) -> None:
        session, self._session = getattr(self, "_session", None), None
        self.watching = False
        if session is not None:
            session.close()

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Queues one command (converted by redis-py's callback at ``execute()``); returns
        the pipeline."""
        if not args:
            raise redis.exceptions.DataError("execute_command needs at least the command name")
        _check_session(args)
        if self._session is not None and not self.explicit_transaction:
            return self._immediate(args, options)
        self.command_stack.append((args, options))
        return self

    def _immediate(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """Runs a command at once on the ``watch()`` connection (as redis-py's pipeline does
        between ``watch()`` and ``multi()``) and returns its converted reply (the asyncio
        pipeline: an awaitable of it)."""
        raise NotImplementedError

    def _immediate_failed(self, e: redis.exceptions.RedisError, options: dict[str, Any]) -> Any:
        """What an immediate command that failed gives: the ``EMPTY_RESPONSE`` value of an
        error reply when redis-py gave one; otherwise ``e`` is raised (after a connection
        error, with the ``watch()`` connection closed)."""
        if isinstance(e, _RESPONSE_ERROR) and EMPTY_RESPONSE in options:
            return options[EMPTY_RESPONSE]
        if isinstance(e, redis.exceptions.ConnectionError):
            self._end_watch()
        raise e

    def _watched_reply(self, args: tuple[Any, ...], reply: Any, options: dict[str, Any]) -> Any:
        """A reply read on the ``watch()`` connection (undecoded), decoded and converted."""
        if self._settings.decode_responses and NEVER_DECODE not in options:
            reply = self._decode(reply)
        return self._convert(args[0], reply, options)

    #: A transaction's name in redis-py's metrics (its cluster pipeline says ``TRANSACTION``).
    _transaction_name = "MULTI"

    def _operation_name(self, plan: _Plan) -> str:
        """How redis-py's metrics name what ``plan`` sends: ``PIPELINE``, or a transaction's
        name."""
        return self._transaction_name if plan.transaction else "PIPELINE"

    def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
        """Queues one command (redis-py's name for it)."""
        return self.execute_command(*args, **options)

    def multi(self) -> None:
        """Starts the transactional block (redis-py's ``multi``): the queued commands run
        inside MULTI/EXEC."""
        if self.explicit_transaction:
            raise redis.exceptions.RedisError("Cannot issue nested calls to MULTI")
        if self.command_stack:
            raise redis.exceptions.RedisError("Commands without an initial WATCH have already been issued")
        self.explicit_transaction = True

    def _watch_session(self, names: tuple[Any, ...]) -> tuple[_slotshift.Session, tuple[Any, ...]]:
        """The ``watch()`` connection (opened on the master of the first name's slot at the
        first ``watch()``) and the WATCH command as sent."""
        if self.explicit_transaction:
            raise redis.exceptions.RedisError("Cannot issue a WATCH after a MULTI")
        if not names:
            raise redis.exceptions.DataError("WATCH needs at least one key")
        wire = self._wire(("WATCH", *names))
        if self._session is None:
            self._take_client_store()
            self._session = _slotshift.Session(self._raw(), key=wire[1])
        return self._session, wire

    def unwatch(self) -> Any:
        """Forgets the WATCHed keys (closes the ``watch()`` connection); True, as redis-py
        (the asyncio pipeline: an awaitable of True)."""
        self._end_watch()
        return True

    def _plan(self) -> _Plan:
        """What ``execute()`` sends (after a reconnect of a closed client)."""
        if self._session is None:
            self._take_client_store()
        return _Plan(self)

    def _take_client_store(self) -> None:
        """The client's store, connected (opened again after the client's ``close()``, or for
        the first time), becomes this pipeline's."""
        self._client._reopen()
        self._client._core()
        self._store, self._raw_store = self._client._store, self._client._raw_store

    def annotate_exception(self, exception: BaseException, number: int,
                           command: Sequence[Any]) -> None:
        """redis-py's annotation: ``Command # N (…) of pipeline caused error: …``."""
        redis.client.Pipeline.annotate_exception(  # type: ignore[no-untyped-call]
            self, exception, number, command)  # type: ignore[arg-type]

    def _annotate_refused(self, plan: _Plan, e: BaseException) -> None:
        """A transaction discarded at EXEC raises the error of the command the server refused
        when queued (``command_index``, among the commands sent); annotated as redis-py does:
        ``Command # 2 (ZREM b) of pipeline caused error: …``."""
        index = getattr(e, "command_index", None)
        if index is not None:
            sent = [i for i in range(len(plan.stack)) if i not in plan.skipped]
            number = sent[index]
            self.annotate_exception(e, number + 1, plan.stack[number][0])

    def _exec_results(self, replies: Any) -> list[Any]:
        """The results of a transaction from EXEC's reply (``None``: ``WatchError``)."""
        if replies is None:
            raise WatchError("Watched variable changed.")
        out: list[Any] = list(replies)
        return out

    def _watched_results(self, replies: list[Any]) -> list[Any]:
        """The results of MULTI, the commands, EXEC sent on the ``watch()`` connection:
        EXEC's values, or ``WatchError`` when it replied nil (a watched key changed)."""
        exec_reply = replies[-1]
        if isinstance(exec_reply, BaseException):
            # Refused at queue time: each command's own error, else EXEC's (EXECABORT).
            queued = replies[1:-1]
            return [r if isinstance(r, BaseException) else exec_reply for r in queued]
        return self._exec_results(exec_reply)

    def _results(self, plan: _Plan, results: list[Any], raise_on_error: bool) -> list[Any]:
        """The replies of ``plan`` converted by redis-py's callbacks, in order; the first
        error raised (annotated as redis-py does) unless ``raise_on_error=False``, which
        leaves each exception in its place."""
        stack = plan.stack
        for i in plan.skipped:
            results.insert(i, stack[i][1][EMPTY_RESPONSE])
        if plan.raw and self._settings.decode_responses:
            results = [r if n or isinstance(r, BaseException) else self._decode(r)
                       for r, n in zip(results, plan.never)]
        out: list[Any] = []
        first: Optional[BaseException] = None
        for i, ((args, options), r) in enumerate(zip(stack, results)):
            if isinstance(r, _RESPONSE_ERROR) and EMPTY_RESPONSE in options:
                r = options[EMPTY_RESPONSE]
            if isinstance(r, BaseException):
                if isinstance(r, _RESPONSE_ERROR):
                    self.annotate_exception(r, i + 1, args)
                if first is None:
                    first = r
            elif not (plan.transaction and first is not None and raise_on_error):
                r = self._convert(args[0], r, dict(options))
            out.append(r)
        if first is not None and raise_on_error:
            raise first
        return out


class _PipelineBase(_PipelineCore):
    """Queues commands; ``execute()`` sends them together."""

    _client: _ClientBase

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.reset()

    def reset(self) -> None:
        """Forgets the queued commands and scripts; after a ``watch()``, sends ``UNWATCH``
        as redis-py does and closes the watching connection."""
        session = self._session if self.watching else None
        if session is not None:
            try:
                session.call("UNWATCH")
            except redis.exceptions.ConnectionError:
                pass  # closed anyway: the server forgets the WATCH with the connection
        self._reset()

    def close(self) -> None:
        """Forgets the queued commands (``reset()``; the connections belong to the client)."""
        self.reset()

    def discard(self) -> None:
        """Queues ``DISCARD``, as redis-py: inside the transaction it drops what was queued
        before it, and the server then refuses the ``EXEC`` (``ResponseError``). The core sends
        a pipeline's commands together, so DISCARD cannot reach another caller's MULTI."""
        self.command_stack.append((("DISCARD",), {}))

    def _immediate(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        assert self._session is not None
        options.pop("keys", None)
        try:
            reply = self._session.call(*self._wire(args))
        except redis.exceptions.RedisError as e:
            return self._immediate_failed(e, options)
        return self._watched_reply(args, reply, options)

    def watch(self, *names: Any) -> Any:
        """WATCHes ``names`` on a connection of this pipeline's own (a session on the master
        of the first name's slot), as redis-py: until ``multi()`` the pipeline's commands run
        at once on that connection and return their values; ``execute()`` then runs the queued
        commands in MULTI/EXEC there and raises ``WatchError`` when a watched key changed.
        ``reset()`` (or the end of ``execute()``) closes the connection."""
        session, wire = self._watch_session(names)
        try:
            reply = session.call(*wire)
        except redis.exceptions.ConnectionError:
            self._end_watch()
            raise
        self.watching = True
        return reply == b"OK"

    def load_scripts(self) -> None:
        """Loads the pipeline's scripts the server lacks (as redis-py does before running)."""
        self._load_scripts()

    def _load_scripts(self) -> None:
        scripts = list(self.scripts)
        if not scripts:
            return
        shas = [s.sha for s in scripts]
        exists = self._client.execute_command("SCRIPT EXISTS", *shas)
        for s, exist in zip(scripts, exists):
            if not exist:
                s.sha = self._client.execute_command("SCRIPT LOAD", s.script)

    def _send(self, plan: _Plan) -> list[Any]:
        if self._session is not None:
            return self._watched_results(
                self._session.pipeline([("MULTI",), *plan.wire, ("EXEC",)]))
        if plan.transaction:
            try:
                replies = plan.store.transaction(plan.wire)
            except redis.exceptions.ResponseError as e:
                self._annotate_refused(plan, e)
                raise
            return self._exec_results(replies)
        return plan.store.pipeline(plan.wire)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Sends the queued commands; returns their results in order, converted by redis-py's
        callbacks. A command that failed raises its error (the first one, annotated as
        redis-py does) unless ``raise_on_error=False``, which returns the exception in its
        place."""
        if not self.command_stack and self._session is None:
            self._reset()
            return []
        try:
            plan = self._plan()
            if self.scripts:
                self._load_scripts()
            results = self._send_observed(plan) if plan.sends else []
        finally:
            self._reset()
        return self._results(plan, results, raise_on_error)

    def _send_observed(self, plan: _Plan) -> list[Any]:
        """``_send``, recorded in redis-py's OpenTelemetry metrics when they are on."""
        if otel.on():
            return otel.timed(self, self._operation_name(plan), plan.first_args,
                              lambda: self._send(plan))
        return self._send(plan)


class _Connect:
    """``from_url`` / ``from_urls`` of the clients that connect by address."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Any:
        """A client for ``url`` (``redis://``, ``rediss://``, ``unix://``,
        ``redis+sentinel://``, any node of a cluster); the keywords are the constructor's
        (the address belongs in the URL)."""
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        settings = _Settings(cls.__name__, dict(options), address=False,
                             cluster=issubclass(cls, _ClusterInit))
        make: Callable[..., Any] = cls
        return make(_target=settings.target(url), **options)

    @classmethod
    def from_urls(cls, urls: Sequence[str], **options: Any) -> Any:
        """A client for a cluster given by several seed URLs."""
        if isinstance(urls, (str, bytes)):
            raise TypeError("urls must be a sequence of str, not a single string")
        settings = _Settings(cls.__name__, dict(options), address=False,
                             cluster=issubclass(cls, _ClusterInit))
        make: Callable[..., Any] = cls
        return make(_target=settings.target(list(urls)), **options)


class _FromUrl(_Connect, _ClientBase):
    """A blocking client that connects by address."""


def _core_scan(client: _Base, match: Any, count: Optional[int],
               _type: Optional[str]) -> Iterator[Any]:
    """Every key of every master through the core's keyspace walk."""
    store = client._raw() if client._py_decode else client._store
    for batch in store.scan(match, count, _type):
        yield from (client._decode(batch) if client._py_decode else batch)


class Pipeline(_PipelineBase, RedisModuleCommands, CoreCommands,  # type: ignore[misc]
               SentinelCommands):
    """A pipeline of a ``slotshift.Redis``: every redis-py command method queues and returns
    the pipeline; ``execute()`` returns the results in order.

    >>> with r.pipeline(transaction=False) as pipe:
    ...     pipe.set("a", 1).incr("a").get("a").execute()
    [True, 2, b'2']
    """


class _StandaloneInit(_Base):
    """The constructor of ``Redis`` (blocking and asyncio)."""

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        password: Optional[str] = None,
        socket_timeout: Optional[float] = None,
        socket_connect_timeout: Optional[float] = None,
        *,
        _store: Optional[_slotshift.Store] = None,
        _target: Optional[_slotshift.Target] = None,
        **options: Any,
    ) -> None:
        """A client like ``redis.Redis(host=, port=, db=, password=, username=,
        socket_timeout=, socket_connect_timeout=, decode_responses=, encoding=,
        encoding_errors=, protocol=2, ssl=, ssl_keyfile=, ssl_certfile=, ssl_ca_certs=,
        ssl_cert_reqs=, ssl_check_hostname=, unix_socket_path=)``; slotshift's own options:
        ``name``, ``read_from_replicas``, ``idempotent_writes``, ``instrument``,
        ``batch_limit``, ``cross_slot_validation``, ``retry_deadline``. Any other redis-py
        keyword is accepted only at its default; otherwise a ``TypeError`` names it. The
        address and options are checked here; the client connects on its first command (as
        redis-py's), or at once with ``connect()`` (asyncio: ``await client``)."""
        options.update(db=db, password=password, socket_timeout=socket_timeout,
                       socket_connect_timeout=socket_connect_timeout)
        settings = _Settings(type(self).__name__, options, address=True)
        if _store is None and _target is None:
            _target = settings.address_target([(host, port)], seeds=False)
            if settings.retry is None:
                # redis-py's Redis(host=...) hands its constructor's default Retry to its
                # connections (from_url's and a pool's connections retry 0 times).
                settings.retry = _constructor_retry(self._is_async_client)
        elif _store is not None and _store.decode != settings.native_decode:
            _store = _store.with_decode(settings.native_decode)
        self._init_base(_store, settings, _target)
        if settings.single:
            self._become_single()


class _MonitorLines:
    """The part of a redis-py connection ``redis.client.Monitor`` reads through: the lines of
    the core's MONITOR connection."""

    def __init__(self, native: _slotshift.Monitor) -> None:
        self._native = native

    def read_response(self) -> Optional[str]:
        """The next line the server logged (waits until one comes; Ctrl-C interrupts)."""
        return self._native.next_line()

    def disconnect(self) -> None:
        """Closes the MONITOR connection."""
        self._native.close()


class Monitor(redis.client.Monitor):
    """redis-py's ``Monitor`` — ``next_command()``, ``listen()``, the ``with`` block, its
    parsing of each line — on a MONITOR connection of its own, to the server or to one node of
    a cluster. The connection opens when the ``with`` block starts and closes when it ends."""

    def __init__(self, store: _slotshift.Store, node: Optional[str] = None) -> None:
        self._store = store
        self._node = node
        self.connection: Any = None

    def __enter__(self) -> "Monitor":
        self.connection = _MonitorLines(_slotshift.Monitor(self._store, node=self._node))
        return self

    def __exit__(self, *args: Any) -> None:
        if self.connection is not None:
            self.connection.disconnect()


class Redis(_StandaloneInit, _FromUrl, RedisModuleCommands, CoreCommands, SentinelCommands):
    """redis-py's ``Redis`` on the slotshift core: every command method of
    ``redis.commands.CoreCommands`` with redis-py's signature and return value. The
    deployment behind it may be a standalone server, a Sentinel-managed master or a Redis
    Cluster (the core detects the kind from the URL and routes every command).

    >>> import slotshift
    >>> r = slotshift.Redis.from_url(URL)
    >>> r.set("greeting", "hello")
    True
    >>> r.get("greeting")
    b'hello'
    >>> r.close()
    """

    _pipeline_class = Pipeline

    def monitor(self) -> Monitor:
        """redis-py's ``Monitor`` on a MONITOR connection of its own to the server (on a
        cluster, the master of slot 0): ``with r.monitor() as m: m.next_command()``."""
        return Monitor(self._core())

    def scan_iter(self, match: Any = None, count: Optional[int] = None,
                  _type: Optional[str] = None, **kwargs: Any) -> Iterator[Any]:
        """Every key matching ``match`` (redis-py's ``scan_iter``); over a cluster, every
        key of every master."""
        if self._store.kind == "cluster":
            if kwargs:
                raise TypeError(f"unexpected keyword arguments: {', '.join(kwargs)}")
            return _core_scan(self, match, count, _type)
        it: Iterator[Any] = super().scan_iter(match, count, _type, **kwargs)
        return it

#: The pipeline methods redis-py's cluster pipeline refuses because the keys of one call may
#: hash to several slots, and its script methods (it runs no script in a cluster pipeline).
#: slotshift's cluster pipeline refuses them too, with redis-py's ``RedisClusterException``,
#: unless it was made with ``pipeline(cross_slot=True)``: the core then splits each per slot (or
#: serves it in rounds) and runs scripts by their keys. ``delete``/``unlink``/``exists``/``touch``
#: of several keys outside a transaction are refused the same way (``_split_command_across_slots``).
CROSS_SLOT_PIPELINE_METHODS = (
    "bitop", "brpoplpush", "mget", "mget_nonatomic", "mset", "mset_nonatomic", "msetnx",
    "pfcount", "pfmerge", "rename", "renamenx", "rpoplpush", "sdiff", "sdiffstore", "sinter",
    "sinterstore", "smove", "sort", "sunion", "sunionstore",
)
_SCRIPT_PIPELINE_METHODS = ("eval", "evalsha", "load_scripts")


def _refused_in_cluster_pipeline(name: str, scripts: bool) -> ClusterPipelineError:
    what = ("scripts do not run in a cluster pipeline" if scripts else
            "the keys of one call may hash to several slots")
    return ClusterPipelineError(
        f"ERROR: Calling pipelined function {name} is blocked when running redis in cluster "
        f"mode (as redis-py's cluster pipeline: {what}); a pipeline made with "
        f"pipeline(cross_slot=True) serves it, split per slot by slotshift's core")


def _guarded(name: str, method: Callable[..., Any], scripts: bool) -> Callable[..., Any]:
    """``method`` of a cluster pipeline, refused unless the pipeline is ``cross_slot``."""

    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.cross_slot:
            raise _refused_in_cluster_pipeline(name, scripts)
        return method(self, *args, **kwargs)

    guarded.__name__ = guarded.__qualname__ = name
    guarded._cross_slot_guard = True  # type: ignore[attr-defined]
    guarded.__doc__ = (f"Queues ``{name}`` in a ``cross_slot=True`` pipeline; refused "
                       f"(``ClusterPipelineError``) in any other, as redis-py's cluster pipeline "
                       f"refuses it.")
    return guarded


class _ClusterQueue(_PipelineCore):
    """What the blocking and the asyncio cluster pipelines queue differently from the
    standalone ones. A concrete subclass gets the methods of ``CROSS_SLOT_PIPELINE_METHODS``
    and the script methods guarded: refused unless ``cross_slot``."""

    _transaction_name = "TRANSACTION"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for names, scripts in ((CROSS_SLOT_PIPELINE_METHODS, False),
                               (_SCRIPT_PIPELINE_METHODS, True)):
            for name in names:
                method = getattr(cls, name)
                if not getattr(method, "_cross_slot_guard", False):  # a subclass of a guarded one
                    setattr(cls, name, _guarded(name, method, scripts))

    def __init__(self, client: _ClientCore, transaction: bool, cross_slot: bool = False) -> None:
        """A pipeline of ``client`` (made by ``client.pipeline()``); ``cross_slot``: serve
        what redis-py's cluster pipeline refuses."""
        super().__init__(client, transaction)
        #: Whether commands whose keys may span slots, and scripts, are served (split per
        #: slot by the core) rather than refused as redis-py refuses them.
        self.cross_slot = cross_slot

    def script_load_for_pipeline(self, *args: Any, **kwargs: Any) -> None:
        """Refused (``ClusterPipelineError``), as redis-py's cluster pipeline refuses it, in
        every pipeline: ``execute()`` loads the scripts a pipeline runs."""
        raise ClusterPipelineError("method script_load_for_pipeline() is not implemented: "
                                   "execute() loads the scripts the pipeline runs")

    def _check_discard(self) -> None:
        """``discard()`` outside a transaction: ``ClusterPipelineError``, as redis-py's
        cluster pipeline (there is no MULTI to discard)."""
        if not (self.transaction or self.explicit_transaction):
            raise ClusterPipelineError(
                "method discard() is not supported outside of transactional context")

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Queues one command (``target_nodes`` is left to the core's routing)."""
        options.pop("target_nodes", None)
        return super().execute_command(*args, **options)

    def _split_command_across_slots(self, command: str, *keys: Any) -> Any:
        # DEL/EXISTS/TOUCH/UNLINK, queued: of several keys outside a transaction only in a
        # cross_slot pipeline (the core splits and sums), as redis-py's refuses them.
        if len(keys) != 1 and not (self.cross_slot or self.transaction
                                   or self.explicit_transaction):
            raise _refused_in_cluster_pipeline(f"{command.lower()} of several keys", False)
        return self.execute_command(command, *keys)

    def mget_nonatomic(self, keys: Any, *args: Any) -> Any:
        """Queues an MGET of keys of any slots (split by the core's CrossSlot batcher)."""
        from redis.client import list_or_args  # type: ignore[attr-defined]

        return self.execute_command("MGET", *list_or_args(keys, args))


class ClusterPipeline(_ClusterQueue, _PipelineBase, RedisClusterCommands):  # type: ignore[misc]
    """A pipeline of a ``slotshift.RedisCluster``. Not transactional by default: the core
    splits the commands per slot, groups them per node and sends one batch per node, and the
    results come back in order with redis-py's ``raise_on_error`` semantics. With
    ``transaction=True`` the keys must hash to one slot; otherwise ``CrossSlotTransactionError``
    is raised before anything is sent.

    As redis-py's, it refuses (``ClusterPipelineError``, a ``RedisClusterException``) the
    methods whose keys may span slots — MGET, MSET, RENAME, SUNION … and a DEL of several keys
    outside a transaction — and scripts. Made with ``pipeline(cross_slot=True)`` it serves
    them: the core's CrossSlot batcher splits each per slot."""

    def discard(self) -> None:
        """Inside a transaction, queues ``DISCARD`` (``Pipeline.discard``); outside,
        ``ClusterPipelineError``, as redis-py's cluster pipeline."""
        self._check_discard()
        super().discard()


_TARGET_FLAGS = frozenset({"primaries", "replicas", "all", "random", "default-node"})


def _target_nodes(options: dict[str, Any]) -> Optional[list[Any]]:
    """Takes ``target_nodes`` out of a cluster command's options: ``None`` for none or a node
    group (``RedisCluster.PRIMARIES`` …), left to the core's routing by the command's tips;
    else the particular nodes (a ``ClusterNode``, a list of them, or a dict of them, as
    redis-py takes them)."""
    target = options.pop("target_nodes", None)
    if target is None or (isinstance(target, str) and target in _TARGET_FLAGS):
        return None
    if isinstance(target, redis.cluster.ClusterNode):
        return [target]
    if isinstance(target, (list, tuple)):
        return list(target)
    if isinstance(target, dict):
        return list(target.values())
    raise TypeError("target_nodes= takes a node flag (RedisCluster.PRIMARIES …), a ClusterNode, "
                    f"a list or a dict of them, not {type(target).__name__}")


def _pubsub_node(node: Any, host: Optional[str], port: Optional[int],
                 kwargs: dict[str, Any]) -> tuple[bool, Any, Optional[str]]:
    """A cluster ``pubsub()``'s keywords: ``ignore_subscribe_messages``,
    ``push_handler_func`` and the node (``"host:port"``) it connects to, if one is named."""
    if node is not None:
        host, port = getattr(node, "host", None), getattr(node, "port", None)
    ignore = bool(kwargs.pop("ignore_subscribe_messages", False))
    push = kwargs.pop("push_handler_func", None)
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {', '.join(kwargs)}")
    addr = None
    if host is not None or port is not None:
        if host is None or port is None:
            raise redis.exceptions.DataError("give both host= and port=, or node=")
        addr = f"{_url_host(host)}:{_whole('port', port)}"
    return ignore, push, addr


def _mset_items(mapping: Mapping[Any, Any]) -> list[Any]:
    """``mset_nonatomic``'s MSET arguments: keys and values in turn."""
    items: list[Any] = []
    for pair in mapping.items():
        items.extend(pair)
    return items


class _ClusterInit(_ClientCore):
    """The constructor of ``RedisCluster`` (blocking and asyncio) and what needs no server."""

    _pipeline_class: type[_ClusterQueue]

    PRIMARIES = "primaries"
    REPLICAS = "replicas"
    ALL_NODES = "all"
    RANDOM = "random"
    DEFAULT_NODE = "default-node"

    def __init__(
        self,
        host: Optional[str] = None,
        port: int = 6379,
        startup_nodes: Optional[Iterable[Any]] = None,
        *,
        _store: Optional[_slotshift.Store] = None,
        _target: Optional[_slotshift.Target] = None,
        **options: Any,
    ) -> None:
        """A client like ``redis.cluster.RedisCluster(host=, port=)`` or
        ``RedisCluster(startup_nodes=[ClusterNode(host, port), …])``, with the keywords of
        ``slotshift.Redis`` (no ``db``: a cluster has one database); it connects on its first
        command, or with ``connect()`` (asyncio: ``await client``)."""
        if options.get("db") not in (None, 0):
            raise ValueError("a Redis Cluster has database 0 only: db= must be 0")
        options.pop("db", None)
        # redis-py's cluster-level reply callbacks, applied after the command's own (as
        # RedisCluster does): CLUSTER SHARDS as dicts (str keys unless protocol= is given).
        callbacks = dict(redis.cluster.RedisCluster.CLUSTER_COMMANDS_RESPONSE_CALLBACKS)
        if options.get("protocol") is None:
            callbacks["CLUSTER SHARDS"] = redis.cluster.parse_cluster_shards_with_str_keys
        self.cluster_response_callbacks: CaseInsensitiveDict = CaseInsensitiveDict(
            callbacks)  # type: ignore[arg-type]
        settings = _Settings(type(self).__name__, options, address=True, cluster=True)
        if settings.single:
            raise TypeError(f"{type(self).__name__} has no single_connection_client= (nor "
                            f"has redis-py's RedisCluster): each command goes to its slot")
        if _store is None and _target is None:
            nodes: list[tuple[Any, Any]] = []
            if host is not None:
                nodes.append((host, port))
            for node in startup_nodes or ():
                nodes.append((getattr(node, "host", None), getattr(node, "port", None)))
            if not nodes:
                raise redis.exceptions.RedisClusterException(
                    "RedisCluster requires at least one node to discover the cluster: give "
                    "startup_nodes=, or host= and port=")
            _target = settings.address_target(nodes, seeds=True)
        elif _store is not None and _store.decode != settings.native_decode:
            _store = _store.with_decode(settings.native_decode)
        self._init_base(_store, settings, _target)

    def _convert(self, name: Any, reply: Any, options: dict[str, Any]) -> Any:
        """The command's response callback, then redis-py's cluster-level one for it."""
        reply = super()._convert(name, reply, options)
        return self._cluster_callback(name.upper() if isinstance(name, str) else None, reply, options)

    def _callback(self, upper: Optional[str], reply: Any, options: dict[str, Any]) -> Any:
        """As ``_convert``, for the direct call path (the name already in capitals)."""
        return self._cluster_callback(upper, super()._callback(upper, reply, options), options)

    def _cluster_callback(self, upper: Optional[str], reply: Any, options: dict[str, Any]) -> Any:
        callback = None if upper is None else dict.get(self.cluster_response_callbacks, upper)
        return reply if callback is None else callback(reply, **options)

    def pipeline(self, transaction: Optional[bool] = None, shard_hint: Any = None, *,
                 cross_slot: bool = False) -> Any:
        """A ``ClusterPipeline``: not transactional unless ``transaction=True`` (then its keys
        must hash to one slot), as redis-py's ``RedisCluster.pipeline``; ``shard_hint``
        refused with redis-py's ``RedisClusterException``. It refuses what redis-py's refuses
        (MGET, RENAME, SUNION …, a DEL of several keys, scripts: ``CROSS_SLOT_PIPELINE_METHODS``)
        unless ``cross_slot=True`` (slotshift's own): then the core splits those per slot."""
        if shard_hint:
            raise redis.exceptions.RedisClusterException(
                "shard_hint is deprecated in cluster mode")
        return self._pipeline_class(self, bool(transaction), cross_slot=bool(cross_slot))

    def keyslot(self, key: Any) -> int:
        """The hash slot of ``key`` (as redis-py encodes it)."""
        encoded: bytes = self.encoder.encode(key)  # type: ignore[no-untyped-call]
        return _slotshift.key_slot(encoded)

    def pubsub(self, node: Any = None, host: Optional[str] = None,  # type: ignore[override]
               port: Optional[int] = None, **kwargs: Any) -> Any:
        """redis-py's ``PubSub`` on a pub/sub connection of its own: to ``node`` (a
        ``ClusterNode``) or ``host``/``port`` when given; else channels and patterns go to one
        node (a cluster forwards every ``PUBLISH`` to all), and a first ``ssubscribe`` to the
        master of its first channel's slot (shard channels of other masters' slots are then
        refused by the server with ``MOVED``)."""
        ignore, push, addr = _pubsub_node(node, host, port, kwargs)
        get_node = getattr(self, "get_node", None)  # the blocking client's node view
        if addr is not None and get_node is not None and get_node(node_name=addr) is None:
            raise UnknownNodeError(f"Node {addr} doesn't exist in the cluster")
        return self._new_pubsub(ignore_subscribe_messages=ignore, push_handler_func=push,
                                node=addr)

    def _aimed_nodes(self, args: tuple[Any, ...], options: dict[str, Any]) -> Optional[list[Any]]:
        """The nodes a command runs on one by one, on this client's own connection to each
        (``_node_line``): those ``target_nodes`` names (a node group, as redis-py runs it on
        each of its nodes; the core's routing by the command's tips may choose others: PUBSUB
        NUMSUB, for one, has no tip and would go to one node), or for a command that sets
        connection state, where redis-py sends it (``_connection_state_nodes``). ``None``: the
        core routes the command."""
        flag = options.get("target_nodes")
        if isinstance(flag, str) and flag in _TARGET_FLAGS:
            options["target_nodes"] = self._flag_nodes(flag)
        nodes = _target_nodes(options)
        return nodes if nodes is not None else self._connection_state_nodes(args)

    #: How replies of several nodes combine, per command: redis-py's own table.
    result_callbacks: dict[str, Callable[..., Any]] = CaseInsensitiveDict(
        redis.cluster.RedisCluster.RESULT_CALLBACKS)

    def _combined(self, args: tuple[Any, ...], results: dict[str, Any],
                  options: dict[str, Any]) -> Any:
        """The replies of the nodes a command ran on (``{node name: reply}``) as redis-py
        combines them: one node's reply, the command's result callback, or the dict."""
        name = _upper_name(args)
        callback = self.result_callbacks.get(name)
        if callback is not None:
            return callback(name, results, **options)
        return next(iter(results.values())) if len(results) == 1 else results

    def _connection_state_nodes(self, args: tuple[Any, ...]) -> Optional[list[Any]]:
        """For a command that sets state on the connection it runs on (``CLIENT SETNAME``,
        ``CLIENT TRACKING``, ``READONLY`` …; the shared connections refuse it) and names no
        nodes: the nodes redis-py sends it to (its default node; ``CLIENT TRACKING``: every
        node), where it runs on this client's own connections. ``None`` for any other
        command."""
        if not args:
            return None
        words = _upper_name(args).split()
        if len(words) == 1 and len(args) > 1:
            words.append(_upper_name(args[1:]))
        if words[0] == "CLIENT" and len(words) > 1 and words[1] in SESSION_CLIENT_SUBCOMMANDS:
            return self._flag_nodes("all" if words[1] == "TRACKING" else "default-node")
        if words[0] in ("READONLY", "READWRITE"):
            return self._flag_nodes("default-node")
        return None

    def _flag_nodes(self, flag: str) -> list[Any]:
        """The nodes of a ``target_nodes`` flag (``RedisCluster.PRIMARIES`` …)."""
        if flag == "all":
            return list(self.get_nodes())
        if flag == "primaries":
            return list(self.get_primaries())
        if flag == "replicas":
            return list(self.get_replicas())
        if flag == "random":
            return [self.get_random_node()]
        return [self.get_default_node()]

    def _node_line(self, node: Any, args: tuple[Any, ...]) -> tuple["_NodeLine", Any, tuple[Any, ...]]:
        """For ``args`` aimed at ``node`` (a ``ClusterNode``): this client's own connection to
        it, the store it opens on, and the command as sent. What a command leaves on that
        connection (``CLIENT SETNAME``, ``READONLY``, ``CLIENT TRACKING``) holds for the node's
        next commands, as on redis-py's per-node client; what would take it over
        (``SUBSCRIBE``, ``MONITOR``) is refused: ``pubsub(node=)``, ``monitor(target_node=)``."""
        _lookup(args, single=True)
        addr = f"{_url_host(node.host)}:{int(node.port)}"
        with self._node_lines_lock:
            line = self._node_lines.get(addr)
            if line is None:
                line = self._node_lines[addr] = _NodeLine(addr)
        store = self._raw() if self._py_decode else self._core()
        return line, store, self._wire(args)

    def _node_reply(self, args: tuple[Any, ...], reply: Any, options: dict[str, Any]) -> Any:
        """A reply read on a node's own connection, decoded and converted."""
        if self._py_decode and NEVER_DECODE not in options:
            reply = self._decode(reply)
        return self._convert(args[0], reply, options)

    @property
    def _node_lines(self) -> dict[str, "_NodeLine"]:
        """``"host:port"`` → this client's own connection to that node."""
        lines: dict[str, _NodeLine] = self.__dict__.setdefault("_node_lines_by_addr", {})
        return lines

    #: Guards ``_node_lines`` (one per class is enough: it is held only to look a line up).
    _node_lines_lock = threading.Lock()

    def _close_stores(self) -> None:
        """Also closes the client's own connections to particular nodes."""
        with self._node_lines_lock:
            lines = list(self._node_lines.values())
            self._node_lines.clear()
        for line in lines:
            line.close()
        super()._close_stores()

    # --- redis-py's view of the topology: ClusterNode objects from the core's slot map -----

    def _shards(self) -> list[tuple[list[tuple[int, int]], list[Any]]]:
        """Each shard's slot ranges and its nodes (``ClusterNode``, the primary first, then its
        online replicas), from the core's slot map: where the core routes, no command sent."""
        if self._is_async_client and type(self._store) is _Unopened:
            return []  # as redis.asyncio's before initialize(): connecting would block the loop
        shards = []
        for ranges, master, replicas in self._core().shards() or ():
            nodes = [self._cluster_node(master, redis.cluster.PRIMARY)]
            nodes += [self._cluster_node(r, redis.cluster.REPLICA) for r in replicas]
            shards.append((list(ranges), nodes))
        return shards

    def _cluster_node(self, addr: tuple[str, int], server_type: str) -> Any:
        """redis-py's ``ClusterNode`` for ``addr``; its ``redis_connection`` is the blocking
        client's ``NodeClient`` of that node (the asyncio client's nodes have none)."""
        host, port = addr
        client = None if self._is_async_client else NodeClient(cast(RedisCluster, self), host, port)
        return redis.cluster.ClusterNode(  # type: ignore[no-untyped-call]
            host, port, server_type, client)

    @property
    def nodes_manager(self) -> "NodesView":
        """The topology in the shape of redis-py's ``NodesManager`` (``nodes_cache``,
        ``slots_cache``, ``get_node_from_slot``, ``default_node``): a snapshot of the core's
        slot map, the one it routes by (refreshed by the core on MOVED and topology changes;
        nothing set on the view changes routing)."""
        return NodesView(self._shards())

    def get_nodes(self) -> list[Any]:
        """Every online node of the cluster (redis-py's ``ClusterNode``), primaries and
        replicas."""
        return [n for _, nodes in self._shards() for n in nodes]

    def get_primaries(self) -> list[Any]:
        """The online primaries (``ClusterNode``)."""
        return [n for n in self.get_nodes() if n.server_type == redis.cluster.PRIMARY]

    def get_replicas(self) -> list[Any]:
        """The online replicas (``ClusterNode``)."""
        return [n for n in self.get_nodes() if n.server_type == redis.cluster.REPLICA]

    def get_random_node(self) -> Any:
        """One online node, chosen at random."""
        return random.choice(self.get_nodes())

    #: The name (``"host:port"``) ``set_default_node`` chose; ``None``: the first primary.
    _default_node: Optional[str] = None

    def get_default_node(self) -> Any:
        """The default node: the one ``set_default_node`` chose while the cluster has it, else
        the first primary. ``target_nodes=RedisCluster.DEFAULT_NODE`` runs there; keyless
        commands without it are routed by the core by their tips, where redis-py sends them
        to this node."""
        if self._default_node is not None:
            node = self.get_node(node_name=self._default_node)
            if node is not None:
                return node
        return self.get_primaries()[0]

    def set_default_node(self, node: Any) -> bool:
        """Makes ``node`` (a ``ClusterNode`` of this cluster) the default node; ``False``, and
        nothing changes, for ``None`` or a node the cluster does not have."""
        if node is None or self.get_node(node_name=node.name) is None:
            return False
        self._default_node = node.name
        return True

    def replace_default_node(self, target_node: Any = None) -> None:
        """Makes ``target_node`` the default node, or without it another node than the
        current default, a primary when there is one (as redis-py)."""
        if target_node is not None:
            self.set_default_node(target_node)
            return
        current = self.get_default_node()
        others = [n for n in self.get_primaries() if n != current] or [
            n for n in self.get_nodes() if n != current]
        if others:
            self.set_default_node(random.choice(others))

    def get_node(self, host: Optional[str] = None, port: Optional[int] = None,
                 node_name: Optional[str] = None) -> Any:
        """The online node at ``host``/``port`` or named ``node_name`` (``"host:port"``), or
        ``None``."""
        name = node_name if node_name is not None else f"{host}:{port}"
        return next((n for n in self.get_nodes() if n.name == name), None)

    def get_node_from_key(self, key: Any, replica: bool = False) -> Any:
        """The primary serving ``key``'s slot, or with ``replica=True`` one of its replicas
        (``None`` when it has none)."""
        slot = self.keyslot(key)
        for ranges, nodes in self._shards():
            if any(a <= slot <= b for a, b in ranges):
                if not replica:
                    return nodes[0] if nodes else None
                replicas = [n for n in nodes if n.server_type == redis.cluster.REPLICA]
                return replicas[0] if replicas else None
        return None

    def _mset_result(self, mapping: Mapping[Any, Any]) -> list[bool]:
        """What redis-py's ``mset_nonatomic`` returns: one ``True`` per slot written."""
        enc: Callable[[Any], bytes] = self.encoder.encode
        return [True] * len({_slotshift.key_slot(enc(k)) for k in mapping})


class _NodeLine:
    """A cluster client's own connection to one node, for commands aimed at that node
    (``target_nodes=node``, ``node.redis_connection``): opened on first use, kept while it
    works, opened again after it broke; one command at a time (``call`` for the blocking
    client, ``call_async`` for the asyncio one)."""

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self._lock = threading.Lock()
        #: The asyncio client's (made on first use, in its event loop).
        self._async_lock: Optional[asyncio.Lock] = None
        self._session: Optional[_slotshift.Session] = None

    def call(self, store: _slotshift.Store, wire: tuple[Any, ...]) -> Any:
        """Runs the command ``wire`` on the node; a connection error closes the connection
        (the next command opens another) and is raised."""
        with self._lock:
            session = self._session
            if session is None or not session.is_open:
                session = self._session = _slotshift.Session(store, node=self.addr)
            try:
                return session.call(*wire)
            except redis.exceptions.ConnectionError:
                session.close()
                self._session = None
                raise

    async def call_async(self, store: _slotshift.Store, wire: tuple[Any, ...]) -> Any:
        """``call`` for the asyncio client: the connection is opened in a worker thread
        (connecting blocks), the command awaited on the core."""
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            session = self._session
            if session is None or not session.is_open:
                loop = asyncio.get_running_loop()
                session = self._session = await loop.run_in_executor(
                    None, lambda: _slotshift.Session(store, node=self.addr))
            try:
                return await session.call_async(*wire)
            except redis.exceptions.ConnectionError:
                session.close()
                self._session = None
                raise

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()


class NodeClient(CoreCommands):
    """A cluster node's own client, as redis-py's ``ClusterNode.redis_connection``: every
    command method of redis-py's ``CoreCommands``, run on that node alone, on a connection of
    its own for each command (``node.redis_connection.pubsub_numsub("news")``,
    ``.info()``, ``.dbsize()`` …). It holds its cluster client weakly."""

    #: redis-py's command protocol declares it; no command method uses it.
    _event_dispatcher: Any = None

    def __init__(self, cluster: "RedisCluster", host: str, port: int) -> None:
        self._cluster = weakref.ref(cluster)
        self._node = redis.cluster.ClusterNode(host, port)  # type: ignore[no-untyped-call]

    def __repr__(self) -> str:
        return f"<slotshift.NodeClient {self._node.name}>"

    def __eq__(self, other: object) -> bool:
        """The same node of the same cluster client."""
        return (isinstance(other, NodeClient) and other._node.name == self._node.name
                and other._cluster() is self._cluster())

    def __hash__(self) -> int:
        return hash(self._node.name)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Runs ``args`` on this node, its reply converted as the cluster client converts."""
        cluster = self._cluster()
        if cluster is None:
            raise redis.exceptions.ConnectionError(
                f"the cluster client of node {self._node.name} was closed and collected")
        return cluster._on_node(self._node, args, options)


class NodesView:
    """A snapshot of the cluster's topology in the shape of redis-py's ``NodesManager``, for
    code that reads it (``rc.nodes_manager.get_node_from_slot(slot)``). Read-only: it does not
    route, and nothing set on it changes how the core routes."""

    def __init__(self, shards: list[tuple[list[tuple[int, int]], list[Any]]]) -> None:
        #: ``"host:port"`` → ``ClusterNode``, every online node.
        self.nodes_cache: dict[str, Any] = {n.name: n for _, nodes in shards for n in nodes}
        #: slot → its nodes, the primary first.
        self.slots_cache: dict[int, list[Any]] = {
            slot: nodes for ranges, nodes in shards if nodes
            for a, b in ranges for slot in range(a, b + 1)}
        primaries = [n for n in self.nodes_cache.values()
                     if n.server_type == redis.cluster.PRIMARY]
        #: A primary (redis-py's default node for keyless commands).
        self.default_node: Any = primaries[0] if primaries else None

    def get_node_from_slot(self, slot: int, read_from_replicas: bool = False,
                           load_balancing_strategy: Any = None, server_type: Any = None) -> Any:
        """The primary serving ``slot`` (a replica of it with ``read_from_replicas=True`` or
        ``server_type=REPLICA``, when it has one)."""
        nodes = self.slots_cache.get(slot)
        if not nodes:
            raise redis.exceptions.SlotNotCoveredError(
                f'Slot "{slot}" not covered by the cluster.')
        if read_from_replicas or server_type == redis.cluster.REPLICA:
            replicas = [n for n in nodes if n.server_type == redis.cluster.REPLICA]
            if replicas:
                return replicas[0]
        return nodes[0]


class RedisCluster(_ClusterInit, _FromUrl, RedisClusterCommands):
    """redis-py's ``RedisCluster`` on the slotshift core: ``RedisClusterCommands``
    (``mget_nonatomic``, ``mset_nonatomic``, ``keyslot`` …) with the core's routing: keyed
    commands go to their slot's master, keyspace-wide commands (DBSIZE, KEYS, FLUSHDB,
    SCRIPT LOAD …) to every master by the command's Redis 7 tips, cross-slot MGET/MSET/DEL …
    through the CrossSlot batcher.

    >>> rc = slotshift.RedisCluster(host="127.0.0.1", port=7000)
    >>> rc.mset_nonatomic({"a": 1, "b": 2})
    [True, True]
    """

    _pipeline_class = ClusterPipeline

    def monitor(self, target_node: Any = None) -> Monitor:
        """redis-py's ``Monitor`` on a MONITOR connection of its own to ``target_node`` (a
        ``ClusterNode``; by default the master of slot 0), as ``RedisCluster.monitor``."""
        node = None if target_node is None else f"{_url_host(target_node.host)}:{int(target_node.port)}"
        return Monitor(self._core(), node)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """As ``Redis.execute_command``. ``target_nodes`` may name a node group
        (``RedisCluster.PRIMARIES`` …), which the core decides by the command's tips, or
        particular nodes (``ClusterNode``s from ``get_nodes()`` …): the command then runs on
        each of them, on a connection of its own, and the replies are combined as redis-py
        combines them (one node: its reply; several: ``{node name: reply}`` or the command's
        result callback)."""
        nodes = self._aimed_nodes(args, options)
        if nodes is None:
            return super().execute_command(*args, **options)
        results = {node.name: self._on_node(node, args, dict(options)) for node in nodes}
        return self._combined(args, results, options)

    def _on_node(self, node: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """``args`` run on ``node`` (a ``ClusterNode``) alone, on this client's own connection
        to it (``_NodeLine``), its reply converted. What a command leaves on that connection
        (``CLIENT SETNAME``, ``READONLY``, ``CLIENT TRACKING``) holds for the node's next
        commands, as on redis-py's per-node client; what would take the connection over
        (``SUBSCRIBE``, ``MONITOR``) is refused: ``pubsub(node=)``, ``monitor(target_node=)``."""
        line, store, wire = self._node_line(node, args)
        if otel.on():
            reply = otel.timed(self, args[0], args, lambda: line.call(store, wire),
                               node=(node.host, int(node.port)))
        else:
            reply = line.call(store, wire)
        return self._node_reply(args, reply, options)

    def mget_nonatomic(self, keys: Any, *args: Any) -> list[Any]:
        """MGET of keys of any slots: one MGET split per slot and node by the core's
        CrossSlot batcher; values in the order of ``keys``."""
        from redis.client import list_or_args  # type: ignore[attr-defined]

        keys = list_or_args(keys, args)
        if not keys:
            return []  # as redis-py: nothing to ask
        return list(self.execute_command("MGET", *keys))

    def mset_nonatomic(self, mapping: Mapping[Any, Any]) -> list[bool]:
        """MSET of keys of any slots through the core's CrossSlot batcher; one ``True`` per
        slot written, as redis-py returns."""
        items = _mset_items(mapping)
        if not items:
            return []
        self.execute_command("MSET", *items)
        return self._mset_result(mapping)

    def _split_command_across_slots(self, command: str, *keys: Any) -> int:
        # DEL/EXISTS/TOUCH/UNLINK of any slots: the core splits and sums (a PIPELINE in
        # redis-py's metrics, as its cluster client sends one).
        args = (command, *keys)
        if otel.on():
            return int(otel.timed(self, "PIPELINE", args, lambda: self._execute(args, {})))
        return int(self._execute(args, {}))

    def scan_iter(self, match: Any = None, count: Optional[int] = None,
                  _type: Optional[str] = None, **kwargs: Any) -> Iterator[Any]:
        """Every key of every master (SCAN, master after master)."""
        kwargs.pop("target_nodes", None)
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {', '.join(kwargs)}")
        return _core_scan(self, match, count, _type)


Client = Redis
"""The former name of ``Redis`` (the same class)."""
