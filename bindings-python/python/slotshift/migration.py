"""``diff`` and ``migrate``: compare two deployments key by key, and copy what differs."""

from __future__ import annotations

from typing import Any, Union

from . import _slotshift
from .client import Redis, RedisCluster

__all__ = ["DiffReport", "MigrateReport", "diff", "migrate"]

DiffReport = _slotshift.DiffReport
MigrateReport = _slotshift.MigrateReport


def _store(client: Union[Redis, RedisCluster], what: str, fn: str) -> _slotshift.Store:
    if not isinstance(client, (Redis, RedisCluster)):
        raise TypeError(
            f"{fn}() needs a slotshift.Redis or RedisCluster (slotshift.Client) as {what}, not "
            f"{type(client).__name__}")
    return client.store


def diff(source: Union[Redis, RedisCluster], destination: Union[Redis, RedisCluster], **options: Any) -> _slotshift.DiffReport:
    """Compares every key of ``source`` with ``destination`` (and, with ``reverse``, the
    other way): missing, extra, type, value and TTL differences, re-checked before they are
    reported. Options: ``mode`` (``"full"``, ``"length"``, ``"outline"``), ``match``,
    ``key_type``, ``slots`` (``"A-B"``), ``rate`` (keys per second), ``ttl_tolerance_ms``
    (milliseconds, as on the command line and in C), ``reverse``. Raises ``MigrateError`` for bad options and for the same store
    on both sides.
    """
    return _slotshift.diff(
        _store(source, "source", "diff"), _store(destination, "destination", "diff"), **options
    )


def migrate(source: Union[Redis, RedisCluster], destination: Union[Redis, RedisCluster], **options: Any) -> _slotshift.MigrateReport:
    """Copies the keys of ``source`` that are missing or different on ``destination``
    (``DUMP``/``RESTORE``, TTLs kept), then diffs both ways. Options: ``match``,
    ``key_type``, ``slots`` (``"A-B"``), ``rate`` (keys per second), ``dry_run``,
    ``ttl_tolerance_ms`` (milliseconds), ``delete_extra``, ``missing_only`` (write only keys the
    destination lacks: the backfill under dual-write, where its copy is the newer). Raises
    ``MigrateError`` for bad options,
    the same store on both sides, and a read-only destination.
    """
    return _slotshift.migrate(
        _store(source, "source", "migrate"), _store(destination, "destination", "migrate"),
        **options,
    )
