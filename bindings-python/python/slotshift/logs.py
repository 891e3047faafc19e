"""The core's own log records in Python's :mod:`logging`.

The core logs what an operator should see — a MultiStore's failed writes to the non-default
store and its same-server guard, the validator's count mode, migrate's skipped keys — under
loggers named after where it comes from (``slotshift.multistore``, ``slotshift.validator`` …,
all below ``slotshift``). From ``import slotshift`` on, records at ``WARNING`` and above reach
them; :func:`forward_logs` changes the level. A daemon thread of the package (``slotshift-log``)
hands them over, so a command never waits for a handler.

>>> import logging, slotshift
>>> logging.getLogger("slotshift").setLevel(logging.INFO)
>>> slotshift.forward_logs(logging.INFO)
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Optional, Union

from . import _slotshift

__all__ = ["forward_logs", "stop_forwarding_logs"]

_FROM_CORE = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}
_SLICE = 0.25  # seconds a wait lasts before the thread checks whether to stop


def _core_level(level: Union[int, str]) -> str:
    """The core's name for a :mod:`logging` level (or a level name)."""
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            raise ValueError(f"unknown logging level {level!r}")
        level = number
    if level >= logging.ERROR:
        return "error"
    if level >= logging.WARNING:
        return "warn"
    if level >= logging.INFO:
        return "info"
    if level >= logging.DEBUG:
        return "debug"
    return "trace"


class _Forwarder:
    """The thread that reads the core's queue and logs each record."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def restart_in_child(self) -> None:
        """After ``fork()``: the parent's thread (and the state of its lock) do not exist in
        the child; start the child's own."""
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="slotshift-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * _SLICE + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            record = _slotshift.next_log_record(_SLICE)
            if record is None:
                continue
            level, target, message = record
            logging.getLogger(target.replace("::", ".")).log(_FROM_CORE.get(level, logging.WARNING), "%s", message)


_FORWARDER = _Forwarder()


def forward_logs(level: Union[int, str] = logging.WARNING) -> None:
    """Passes the core's records at ``level`` (a :mod:`logging` level or its name) and above to
    :mod:`logging`, starting the forwarding thread if needed. Called at import with ``WARNING``."""
    _slotshift.log_enable(_core_level(level))
    _FORWARDER.start()


def stop_forwarding_logs() -> None:
    """Stops passing the core's records (and ends the forwarding thread)."""
    _slotshift.log_enable(None)
    _FORWARDER.stop()


def _install() -> None:
    try:
        forward_logs(logging.WARNING)
    except ValueError as e:  # another Rust logger in this process: its choice stands
        logging.getLogger("slotshift").debug("core log forwarding is off: %s", e)
        return
    atexit.register(_FORWARDER.stop)
    os.register_at_fork(after_in_child=_FORWARDER.restart_in_child)


_install()
