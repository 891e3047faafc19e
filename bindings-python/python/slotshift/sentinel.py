"""redis-py's ``redis.sentinel.Sentinel`` on the slotshift core.

``Sentinel(sentinels).master_for(name)`` is a ``slotshift.Redis`` (or the ``redis_class``
given, such as ``slotshift.asyncio.Redis``) on a ``redis+sentinel://`` deployment: the core
asks the sentinels for the master, connects to it and, after a failover, to the new one.

>>> from slotshift.sentinel import Sentinel
>>> sentinel = Sentinel([("127.0.0.1", 26379)], socket_timeout=0.5)
>>> r = sentinel.master_for("mymaster")
>>> r.set("key", "value")
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

import redis
from redis.sentinel import MasterNotFoundError, SlaveNotFoundError

from .client import _ADDRESS_OPTIONS, Redis, _Settings, _StandaloneInit

__all__ = ["MasterNotFoundError", "Sentinel", "SlaveNotFoundError"]

# What ``sentinel_kwargs`` may carry: the sentinels' own credentials (the core's
# ``sentinel_username``/``sentinel_password``); timeouts and the rest apply to every connection.
_SENTINEL_AUTH = {"username": "sentinel_username", "password": "sentinel_password"}


class Sentinel:
    """The sentinels of one or more monitored masters (redis-py's constructor).

    ``sentinels``: ``(host, port)`` pairs. ``sentinel_kwargs``: ``username`` and ``password``
    of the sentinels themselves. ``connection_kwargs``: the keywords of ``slotshift.Redis``
    for the master (``password``, ``db``, ``socket_timeout``, ``decode_responses`` …), as
    redis-py takes them. ``min_other_sentinels`` and ``force_master_ip`` are accepted at
    their defaults only (``ValueError`` otherwise: the core follows whatever master the
    sentinels name, at the address they give)."""

    def __init__(self, sentinels: Iterable[tuple[str, int]], min_other_sentinels: int = 0,
                 sentinel_kwargs: Optional[dict[str, Any]] = None,
                 force_master_ip: Optional[str] = None, **connection_kwargs: Any) -> None:
        if isinstance(sentinels, (str, bytes)):
            raise TypeError("sentinels must be (host, port) pairs, not a single string")
        self.sentinels = [(str(h), int(p)) for h, p in sentinels]
        if not self.sentinels:
            raise ValueError("Sentinel needs at least one (host, port) of a sentinel")
        if min_other_sentinels != 0:
            raise ValueError("min_other_sentinels= is not supported: the core takes the "
                             "master the sentinels name")
        if force_master_ip is not None:
            raise ValueError("force_master_ip= is not supported: the core connects to the "
                             "address the sentinels give")
        auth = dict(sentinel_kwargs or {})
        unknown = sorted(set(auth) - set(_SENTINEL_AUTH))
        if unknown:
            raise TypeError(f"sentinel_kwargs supports username and password only, not "
                            f"{', '.join(unknown)}")
        self._sentinel_auth = [(_SENTINEL_AUTH[k], str(v)) for k, v in auth.items()
                               if v is not None]
        self.connection_kwargs = connection_kwargs
        _Settings("Sentinel", dict(connection_kwargs), address=True)  # fails early on a typo

    def __repr__(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"<slotshift.sentinel.Sentinel<sentinels=[{hosts}]>>"

    def master_for(self, service_name: str, redis_class: type[Any] = Redis,
                   connection_pool_class: Any = None, **kwargs: Any) -> Any:
        """A client of the master named ``service_name`` (a ``redis_class``: ``slotshift.Redis``
        by default, ``slotshift.asyncio.Redis`` for asyncio), connected on its first command;
        ``kwargs`` override the constructor's ``connection_kwargs``. ``connection_pool_class``
        is accepted as ``None`` only (the core has its own connections)."""
        if not (isinstance(redis_class, type) and issubclass(redis_class, _StandaloneInit)):
            raise TypeError("redis_class must be slotshift.Redis or slotshift.asyncio.Redis "
                            "(or a subclass)")
        if connection_pool_class is not None:
            raise TypeError("connection_pool_class= is not supported: the core keeps the "
                            "connections")
        if not isinstance(service_name, str) or not service_name:
            raise TypeError("service_name must be a non-empty str")
        options = {**self.connection_kwargs, **kwargs}
        settings = _Settings(redis_class.__name__, dict(options), address=True)
        target = settings.target(
            settings.sentinel_url(self.sentinels, service_name, self._sentinel_auth))
        rest = {k: v for k, v in options.items() if k not in _ADDRESS_OPTIONS}
        return redis_class(_target=target, **rest)

    def slave_for(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        """Not supported: a client bound to one replica. ``master_for(name,
        read_from_replicas=True)`` sends reads to the replicas and writes to the master."""
        raise NotImplementedError(
            "slave_for is not supported: use master_for(name, read_from_replicas=True), whose "
            "reads go to the master's replicas")

    def _ask(self, *args: Any) -> Iterable[Any]:
        """``SENTINEL args…`` asked of each sentinel in turn: each reply, skipping those that
        cannot be reached."""
        options = {k: v for k, v in self.connection_kwargs.items()
                   if k in ("socket_timeout", "socket_connect_timeout")}
        auth = dict(self._sentinel_auth)
        for host, port in self.sentinels:
            client = Redis(host=host, port=port, username=auth.get("sentinel_username"),
                           password=auth.get("sentinel_password"), **options)
            try:
                reply = client.execute_command("SENTINEL", *args)
            except redis.ConnectionError:
                continue
            finally:
                client.close()
            yield reply

    def discover_master(self, service_name: str) -> tuple[str, int]:
        """``(host, port)`` of the master named ``service_name``, as the first sentinel that
        knows it answers; ``MasterNotFoundError`` when none does."""
        for reply in self._ask("GET-MASTER-ADDR-BY-NAME", service_name):
            if reply:
                host, port = reply
                return _text(host), int(port)
        raise MasterNotFoundError(f"No master found for {service_name!r}")

    def discover_slaves(self, service_name: str) -> list[tuple[str, int]]:
        """``(host, port)`` of each healthy replica of ``service_name`` (not down, not
        disconnected), as the first sentinel that answers lists them."""
        for reply in self._ask("REPLICAS", service_name):
            found = []
            for entry in reply:
                info = dict(zip(map(_text, entry[::2]), map(_text, entry[1::2])))
                flags = set(info.get("flags", "").split(","))
                if not flags & {"s_down", "o_down", "disconnected"}:
                    found.append((info["ip"], int(info["port"])))
            return found
        return []


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

