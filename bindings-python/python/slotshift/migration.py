"""``diff`` and ``migrate``: compare two deployments key by key, and copy what differs."""

from __future__ import annotations

from typing import Any

from . import _slotshift
from .client import Client

__all__ = ["DiffReport", "MigrateReport", "diff", "migrate"]

DiffReport = _slotshift.DiffReport
MigrateReport = _slotshift.MigrateReport


def _store(client: Client, what: str, fn: str) -> _slotshift.Store:
    if not isinstance(client, Client):
        raise TypeError(f"{fn}() needs a slotshift.Client as {what}, not {type(client).__name__}")
    return client.store


def diff(source: Client, destination: Client, **options: Any) -> _slotshift.DiffReport:
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


def migrate(source: Client, destination: Client, **options: Any) -> _slotshift.MigrateReport:
    """Copies the keys of ``source`` that are missing or different on ``destination``
    (``DUMP``/``RESTORE``, TTLs kept), then diffs both ways. Options: ``match``,
    ``key_type``, ``slots`` (``"A-B"``), ``rate`` (keys per second), ``dry_run``,
    ``ttl_tolerance_ms`` (milliseconds), ``delete_extra``. Raises ``MigrateError`` for bad options,
    the same store on both sides, and a read-only destination.
    """
    return _slotshift.migrate(
        _store(source, "source", "migrate"), _store(destination, "destination", "migrate"),
        **options,
    )
