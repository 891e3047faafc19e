"""pytest plugin for redis-py 8.1.0's own suite (unmodified, from its sdist): run it against
slotshift or against redis-py itself, on the servers the runner started.

``SLOTSHIFT_COMPAT_SIDE=slotshift`` makes the suite's client factory (``_get_client`` in
redis-py's ``tests/conftest.py``, behind the ``r``, ``r2``, ``decoded_r``, ``r_timeout`` …
fixtures) build a ``slotshift.Redis`` from the same URL and keyword arguments where it builds a
``redis.Redis``; ``SLOTSHIFT_COMPAT_SIDE=redis-py`` leaves the suite as it is. Both sides skip
the same out-of-scope tests (``skips.py``, one list with a reason each) and write each test's
outcome to ``SLOTSHIFT_COMPAT_RESULTS`` (JSON) for the runner.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

import pytest

from skips import SKIP_FIXTURES, SKIP_MARKERS, SKIPS

SIDE = os.environ.get("SLOTSHIFT_COMPAT_SIDE", "redis-py")
RESULTS = os.environ.get("SLOTSHIFT_COMPAT_RESULTS")

_outcomes: dict[str, dict[str, Any]] = {}


def _slotshift_get_client(cls: Any, request: Any, single_connection_client: bool = True,
                          flushdb: bool = True, from_url: Any = None, **kwargs: Any) -> Any:
    """redis-py's ``_get_client`` with ``slotshift.Redis`` in place of ``redis.Redis``: the
    same URL (``--redis-url`` or ``from_url``), the same keyword arguments (they override the
    URL's), the same teardown (FLUSHDB, close)."""
    import redis
    from redis.connection import parse_url

    import slotshift

    if cls is not redis.Redis:
        raise NotImplementedError(f"the compat plugin swaps redis.Redis only, not {cls!r}")
    url = from_url if from_url is not None else request.config.getoption("--redis-url")
    if "protocol" not in url and kwargs.get("protocol") is None:
        protocol = request.config.getoption("--protocol")
        if protocol:
            kwargs["protocol"] = protocol
    if "legacy_responses" not in kwargs:
        legacy = request.config.getoption("--legacy-responses")
        if legacy and legacy != "default":
            kwargs["legacy_responses"] = legacy.lower() == "true"
    if kwargs.pop("ssl", False):
        raise NotImplementedError("the compat runner starts no TLS server")
    options = parse_url(url)
    options.update(kwargs)
    client = slotshift.Redis(**options)

    def teardown() -> None:
        if flushdb:
            client.flushdb()
        client.close()

    if request:
        request.addfinalizer(teardown)
    return client


def pytest_configure(config: pytest.Config) -> None:
    if SIDE == "slotshift":
        conftest = sys.modules.get("tests.conftest")
        if conftest is None:
            raise pytest.UsageError("redis-py's tests/conftest.py was not loaded first")
        conftest._get_client = _slotshift_get_client  # type: ignore[attr-defined]
    elif SIDE != "redis-py":
        raise pytest.UsageError(f"SLOTSHIFT_COMPAT_SIDE must be slotshift or redis-py, not {SIDE!r}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        reason = None
        for marker, why in SKIP_MARKERS.items():
            if item.get_closest_marker(marker) is not None:
                reason = why
                break
        if reason is None:
            for fixture in getattr(item, "fixturenames", ()):
                if fixture in SKIP_FIXTURES:
                    reason = SKIP_FIXTURES[fixture]
                    break
        if reason is None:
            for pattern, why in SKIPS:
                if re.search(pattern, item.nodeid):
                    reason = why
                    break
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"out of scope: {reason}"))


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[-1])
    return str(report.longrepr)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _outcomes.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
    if report.skipped:
        if entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
            entry["message"] = _message(report)
    elif report.failed:
        if entry["outcome"] != "failed":
            entry["outcome"] = "failed"
            entry["message"] = f"{report.when}: {_message(report)}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if RESULTS:
        with open(RESULTS, "w") as f:
            json.dump(_outcomes, f, indent=0, sort_keys=True)
