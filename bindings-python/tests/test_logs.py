"""The core's log records reach Python's logging: at import, WARNING and above, under loggers
below ``slotshift`` named after where they come from."""

from __future__ import annotations

import logging
import time

import pytest

import slotshift


def _wait_for(caplog: pytest.LogCaptureFixture, text: str) -> logging.LogRecord:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for record in caplog.records:
            if text in record.getMessage():
                return record
        time.sleep(0.02)
    raise AssertionError(f"no log record with {text!r}; got {[r.getMessage() for r in caplog.records]}")


def test_a_multistore_over_one_server_warns_through_logging(
    caplog: pytest.LogCaptureFixture, standalone_url: str, r: slotshift.Client
) -> None:
    caplog.set_level(logging.WARNING, logger="slotshift")
    ms = slotshift.MultiStore("py_logged", primary=standalone_url, secondary=r, dual_write=True)
    ms.set("py:logged", "1")
    record = _wait_for(caplog, "multistore name=py_logged: primary and secondary are the same server")
    assert record.levelno == logging.WARNING
    assert record.name.startswith("slotshift")


def test_the_level_can_change_and_bad_levels_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown logging level"):
        slotshift.forward_logs("loud")
    slotshift.forward_logs(logging.INFO)
    slotshift.forward_logs("warning")
    slotshift.stop_forwarding_logs()
    slotshift.forward_logs()  # back to the import-time default
