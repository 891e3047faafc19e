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


def shared(options: dict[str, Any], fn: str) -> dict[str, Any]:
    """``options`` with a ``coordinator=`` client replaced by its store (a job shared by
    several processes: ``coordinator=`` and ``job=`` together)."""
    if options.get("coordinator") is not None:
        options = dict(options, coordinator=_store(options["coordinator"], "coordinator", fn))
    return options


def diff(source: Union[Redis, RedisCluster], destination: Union[Redis, RedisCluster], **options: Any) -> _slotshift.DiffReport:
    """Compares every key of ``source`` with ``destination`` (and, with ``reverse``, the
    other way): missing, extra, type, value and TTL differences, re-checked before they are
    reported. Options: ``mode`` (``"full"``, ``"length"``, ``"outline"``), ``match``,
    ``key_type``, ``slots`` (``"A-B"``), ``rate`` (keys per second), ``ttl_tolerance_ms``
    (milliseconds, as on the command line and in C), ``reverse``. Raises ``MigrateError`` for bad options and for the same store
    on both sides.

    With ``coordinator=`` (a client of any Redis) and ``job=`` (a name), this process is one
    of several sharing the diff: each leases slot ranges from the coordinator, and every
    process returns the merged report (docs/migrate.md, "One job, several processes").
    """
    return _slotshift.diff(
        _store(source, "source", "diff"), _store(destination, "destination", "diff"),
        **shared(options, "diff"),
    )


def migrate(source: Union[Redis, RedisCluster], destination: Union[Redis, RedisCluster], **options: Any) -> _slotshift.MigrateReport:
    """Copies the keys of ``source`` that are missing or different on ``destination``
    (``DUMP``/``RESTORE``, TTLs kept), then diffs both ways. Options: ``match``,
    ``key_type``, ``slots`` (``"A-B"``), ``rate`` (keys per second), ``dry_run``,
    ``ttl_tolerance_ms`` (milliseconds), ``delete_extra``, ``missing_only`` (write only keys the
    destination lacks: the backfill under dual-write, where its copy is the newer). Raises
    ``MigrateError`` for bad options,
    the same store on both sides, and a read-only destination.

    ``coordinator=`` and ``job=`` share the migration between processes, as for :func:`diff`.
    """
    return _slotshift.migrate(
        _store(source, "source", "migrate"), _store(destination, "destination", "migrate"),
        **shared(options, "migrate"),
    )
