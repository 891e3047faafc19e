"""``MultiStore``: one client over two stores through the migration phases (blocking; the
asyncio form is ``slotshift.asyncio.MultiStore``, on the same core)."""

from __future__ import annotations

from typing import Any, Optional, Union

from redis.commands import CoreCommands, SentinelCommands

from . import _slotshift
from .client import Client, Pipeline, _ClientBase, _ClientCore, _Settings

__all__ = ["MultiStore", "PHASES"]

PHASES = (
    "secondary_only",
    "dual_write_secondary_default",
    "dual_write_primary_default",
    "primary_only",
)
"""The four phases, in rollout order."""

#: A store given to a MultiStore: a slotshift client (blocking or asyncio), a native store or
#: a URL.
StoreLike = Union[_ClientCore, _slotshift.Store, str]


def _native(store: StoreLike, what: str) -> _slotshift.Store:
    if isinstance(store, _ClientCore):  # blocking or asyncio, standalone or cluster
        return store.store
    if isinstance(store, _slotshift.Store):
        return store
    if isinstance(store, str):
        return _slotshift.Target(store).open()
    raise TypeError(
        f"{what} must be a slotshift.Redis or RedisCluster (blocking or asyncio), a native "
        f"store or a URL, not {type(store).__name__}")


class _MultiStoreCore:
    """What the blocking and the asyncio ``MultiStore`` share: the native MultiStore, its
    flags, phase and counters."""

    _ms: _slotshift.MultiStore

    def _init_multistore(self, name: str, primary: StoreLike, secondary: StoreLike,
                         decode_responses: bool, options: dict[str, Any]) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        if not isinstance(decode_responses, bool):
            raise TypeError("decode_responses must be a bool")
        settings = _Settings("MultiStore", {"decode_responses": decode_responses},
                             address=False)
        self._ms = _slotshift.MultiStore(
            name, _native(primary, "primary"), _native(secondary, "secondary"),
            decode=decode_responses, **options)
        self._init_base(self._ms, settings)  # type: ignore[attr-defined]

    @property
    def name(self) -> str:
        """The instance name (flags, metrics, logs)."""
        return self._ms.name

    @property
    def phase(self) -> str:
        """The current phase (one of ``PHASES``)."""
        return self._ms.phase

    @property
    def flags(self) -> tuple[bool, bool]:
        """``(dual_write, primary_default)``."""
        return self._ms.flags

    def set_flags(self, dual_write: Optional[bool] = None,
                  primary_default: Optional[bool] = None) -> None:
        """Sets one or both flags (a flag left None keeps its value)."""
        for n, v in (("dual_write", dual_write), ("primary_default", primary_default)):
            if v is not None and not isinstance(v, bool):
                raise TypeError(f"{n} must be a bool or None, not {type(v).__name__}")
        self._ms.set_flags(dual_write, primary_default)

    @property
    def same_server(self) -> bool:
        """Whether both stores are one server (dual-write then stays off)."""
        return self._ms.same_server

    def metrics(self) -> dict[str, Any]:
        """The counters: ``{"counters": {metric: {command: n}}, "hits": {...},
        "misses": {...}, "shadow_reads": n}``."""
        return self._ms.metrics()

    def counter(self, metric: str, command: Optional[str] = None) -> int:
        """One counter (``pipelined_diff_error``, ``read_fallback``, ``method_missing``, …),
        for one command (lower case) or all."""
        per_command = self._ms.metrics()["counters"].get(metric)
        if per_command is None:
            raise ValueError(f"no MultiStore counter named {metric!r}")
        if command is None:
            return int(sum(per_command.values()))
        return int(per_command.get(command, 0))

    def metrics_text(self) -> str:
        """This MultiStore's counters as Prometheus text."""
        return self._ms.metrics_text()

    @property
    def kind(self) -> str:
        """``"multistore"``."""
        return "multistore"

    def __repr__(self) -> str:
        return f"<slotshift.MultiStore {self.name!r} phase={self.phase}>"


class MultiStore(_MultiStoreCore, _ClientBase, CoreCommands, SentinelCommands):
    """One client over a ``primary`` (new) and a ``secondary`` (old) store, with redis-py's
    command methods. Writes go to both stores while ``dual_write`` is on; reads and replies
    come from the default store (the primary once ``primary_default`` is on).

    >>> ms = slotshift.MultiStore("sessions", primary=new, secondary=old)
    >>> ms.phase
    'secondary_only'
    >>> ms.set_flags(dual_write=True)
    >>> ms.set("session:1", "x")
    True
    >>> new.get("session:1"), old.get("session:1")
    (b'x', b'x')
    """

    _pipeline_class = Pipeline

    def __init__(self, name: str, *, primary: StoreLike, secondary: StoreLike,
                 decode_responses: bool = False, **options: Any) -> None:
        """Options: ``dual_write``, ``primary_default`` (initial in-process flags),
        ``flags_from_env``, ``flags_key`` and ``flags_cache_ttl`` (flags shared through a hash
        in the secondary), ``strict``, ``async_non_default_writes``, ``queue_capacity``,
        ``primary_read_percentage``, ``fallback_reads``, ``shadow_read_ratio``,
        ``metrics_prefix``, ``non_default_timeout``."""
        self._init_multistore(name, primary, secondary, decode_responses, options)

    @property
    def primary(self) -> Client:
        """The primary (new) store as a client."""
        return Client(_store=self._ms.primary)

    @property
    def secondary(self) -> Client:
        """The secondary (old) store as a client."""
        return Client(_store=self._ms.secondary)

    def drain(self, timeout: float = 5.0) -> bool:
        """Waits for the async non-default write queue to empty; whether it did."""
        return self._ms.drain(timeout)

    def close(self) -> None:
        """Nothing to release beyond the stores' own connections (kept by their clients)."""
