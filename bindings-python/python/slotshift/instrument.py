"""The command ``Recorder``, the cross-slot allow scope, and the analyzer entry point."""

from __future__ import annotations

import contextlib
import json
from types import TracebackType
from typing import Any, NamedTuple, Optional, Union

from . import _slotshift
from .client import Redis, RedisCluster
from .migration import shared

__all__ = ["Recorded", "Recorder", "allow_cross_slot", "analyze", "Report"]

Report = _slotshift.Report


class Recorded(NamedTuple):
    """One recorded command."""

    store: str
    """The store's name."""
    args: list[bytes]
    """The command name and arguments, as sent."""
    via: str
    """``"call"``, ``"pipeline"`` or ``"transaction"``."""

    @property
    def name(self) -> str:
        """The command name, upper case."""
        return self.args[0].decode("utf-8", "replace").upper() if self.args else ""


class Recorder:
    """Captures every command this thread sends — single calls and every command of a
    pipeline or transaction — to catch N+1 patterns in tests.

    >>> with slotshift.Recorder() as rec:
    ...     _ = r.get("a"), r.mget(["a", "b"])
    >>> rec.count, [c.name for c in rec.log()]
    (2, ['GET', 'MGET'])
    """

    def __init__(self, pattern: Optional[Union[bytes, str]] = None) -> None:
        """Starts recording; with ``pattern`` (a Redis glob) only commands with a matching key."""
        self._native = _slotshift.Recorder(pattern)

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()

    def stop(self) -> None:
        """Stops recording (what was recorded stays)."""
        self._native.stop()

    @property
    def active(self) -> bool:
        """Whether it is recording."""
        return self._native.active

    @property
    def count(self) -> int:
        """How many commands were recorded."""
        return self._native.count

    def log(self) -> list[Recorded]:
        """Every recorded command."""
        return [Recorded(*e) for e in self._native.log()]

    def by_command(self, name: str) -> list[Recorded]:
        """The recorded commands named ``name`` (any case)."""
        return [Recorded(*e) for e in self._native.by_command(name)]

    def by_key(self, pattern: Union[bytes, str]) -> list[Recorded]:
        """The recorded commands with a key matching ``pattern`` (Redis glob)."""
        return [Recorded(*e) for e in self._native.by_key(pattern)]

    def clear(self) -> None:
        """Forgets what was recorded."""
        self._native.clear()


class allow_cross_slot(contextlib.ContextDecorator):
    """Inside this scope (this thread), the cross-slot validator lets commands through
    (counted as allowed). A context manager and a decorator; scopes nest.

    >>> with slotshift.allow_cross_slot():
    ...     r.mget(["a", "b"])
    [None, None]
    """

    def __enter__(self) -> "allow_cross_slot":
        _slotshift.allow_enter()
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        _slotshift.allow_exit()


def analyze(client: Union[Redis, RedisCluster], **options: Any) -> _slotshift.Report:
    """Analyses the keyspace behind ``client`` (every master of a cluster): patterns, memory,
    types and TTLs. Options: ``match``, ``key_type``, ``count``, ``samples``, ``rate``,
    ``rules`` (YAML text), ``show_keys``, ``top``, ``digest_key``; ``coordinator=`` (a
    client) and ``job=`` share the analysis between processes (docs/analyzer.md).

    >>> report = slotshift.analyze(r)
    >>> json.loads(report.to_json())["complete"]
    True
    """
    if not isinstance(client, (Redis, RedisCluster)):
        raise TypeError(
            f"analyze() needs a slotshift.Redis or RedisCluster (slotshift.Client), not "
            f"{type(client).__name__}")
    return _slotshift.analyze(client.store, **shared(options, "analyze"))


def report_dict(report: _slotshift.Report) -> dict[str, Any]:
    """The report as a dict (its JSON, parsed)."""
    out: dict[str, Any] = json.loads(report.to_json())
    return out
