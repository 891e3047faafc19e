"""The core's log records reach Python's logging: at import, WARNING and above, under loggers
below ``slotshift`` named after where they come from."""

from __future__ import annotations

import logging
import time

import pytest
import redis

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


def test_a_canary_password_appears_in_no_log_error_repr_or_metric(
        caplog: pytest.LogCaptureFixture, standalone_url: str, cluster_urls: list[str]) -> None:
    canary = "Canary-pw-7f3a9"
    caplog.set_level(1, logger="slotshift")
    slotshift.forward_logs(1)  # everything the core logs, down to trace
    try:
        host_port = standalone_url.split("//")[1].split("/")[0]
        seen: list[str] = []
        clients = [
            slotshift.Redis.from_url(f"redis://:{canary}@{host_port}/0", name="canary_py"),
            slotshift.Redis(host=host_port.rsplit(":", 1)[0], port=int(host_port.rsplit(":", 1)[1]),
                            password=canary),
            slotshift.RedisCluster.from_urls(
                [u.replace("redis://", f"redis://default:{canary}@") for u in cluster_urls]),
        ]
        for c in clients:
            seen += [repr(c), repr(vars(c)), repr(vars(c._settings)), repr(c._store)]
            try:
                c.ping()  # the servers have no password: AUTH is sent, and answered
                c.execute_command("NO-SUCH-COMMAND")
            except redis.RedisError as e:
                seen += [str(e), repr(e), repr(e.args)]
        # A record that surely comes (the same-server warning), after theirs.
        ms = slotshift.MultiStore("py_canary", primary=standalone_url,
                                  secondary=slotshift.Redis.from_url(standalone_url),
                                  dual_write=True)
        ms.set("py:canary", "1")
        seen += [repr(ms), slotshift.metrics_text()]
        _wait_for(caplog, "multistore name=py_canary")
        seen += [r.getMessage() for r in caplog.records]
        for text in seen:
            assert canary not in text, text
    finally:
        slotshift.forward_logs()
