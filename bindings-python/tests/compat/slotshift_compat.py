"""pytest plugin for redis-py 8.1.0's own suite (unmodified, from its sdist): run it against
slotshift or against redis-py itself, on the servers the runner started.

``SLOTSHIFT_COMPAT_SIDE=slotshift`` makes the suite's client factories build slotshift's
clients from the same URL and keyword arguments where they build redis-py's: ``_get_client`` in
redis-py's ``tests/conftest.py`` (behind the ``r``, ``r2``, ``decoded_r``, ``r_timeout`` …
fixtures) a ``slotshift.Redis``, and the ``create_redis`` fixture of
``tests/test_asyncio/conftest.py`` (behind that directory's ``r``, ``r2``, ``decoded_r``) a
``slotshift.asyncio.Redis``. ``SLOTSHIFT_COMPAT_SIDE=redis-py`` leaves the suite as it is.

Both factories build redis-py's single-connection variant as redis-py's do, with ``client()``
(``single_connection_client=True``, the asyncio fixture's ``single`` parameter), and the
pooled one as a client on the core's shared connections. Both sides skip
the same out-of-scope tests (``skips.py``, one list with a reason each) and write each test's
outcome to ``SLOTSHIFT_COMPAT_RESULTS`` (JSON) for the runner.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from skips import SKIP_CALLS, SKIP_FIXTURES, SKIP_MARKERS, SKIPS

SIDE = os.environ.get("SLOTSHIFT_COMPAT_SIDE", "redis-py")
RESULTS = os.environ.get("SLOTSHIFT_COMPAT_RESULTS")

_outcomes: dict[str, dict[str, Any]] = {}
#: The tests that got a client from the swapped factories (slotshift's side): on a cluster many
#: of redis-py's tests build their own mocked ``RedisCluster`` and so test redis-py, not the
#: client under test; the runner counts only these.
_used: set[str] = set()


def _cluster_mode() -> bool:
    """Whether redis-py's conftest found a cluster at ``--redis-url``."""
    conftest = sys.modules.get("tests.conftest")
    return bool(conftest is not None and conftest.REDIS_INFO.get("cluster_enabled"))


def _options(request: Any, url: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The client's keyword arguments as redis-py's factories make them: the URL's, then the
    suite's ``--protocol`` / ``--legacy-responses``, then the test's own."""
    from redis.connection import parse_url

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
    options: dict[str, Any] = parse_url(url)
    options.update(kwargs)
    return options


def _like_a_pool(cls: Any, request: Any, url: str, kwargs: dict[str, Any]) -> Any:
    """slotshift's counterpart of what redis-py's factories build,
    ``cls(connection_pool=ConnectionPool(**url_options))``: ``cls.from_url(url, **kwargs)``,
    whose connections take redis-py's connection defaults as a pool's do (no ``retry=``: a
    pub/sub object reconnects but does not retry); the constructor with the URL's parts when
    the test gives an address keyword (``db=``, ``username=`` …), which ``from_url`` takes
    only in the URL."""
    options = _options(request, url, kwargs)
    if any(k in _ADDRESS or k.startswith("ssl") for k in kwargs):
        return cls(**options)
    return cls.from_url(url, **kwargs)


#: The keywords of an address (``from_url`` takes them in the URL only).
_ADDRESS = frozenset("host port db username password unix_socket_path path".split())


def _slotshift_get_client(cls: Any, request: Any, single_connection_client: bool = True,
                          flushdb: bool = True, from_url: Any = None, **kwargs: Any) -> Any:
    """redis-py's ``_get_client`` with ``slotshift.Redis`` in place of ``redis.Redis``: the
    same URL (``--redis-url`` or ``from_url``), the same keyword arguments (they override the
    URL's), the same teardown (FLUSHDB, close)."""
    import redis

    import slotshift

    url = from_url if from_url is not None else request.config.getoption("--redis-url")
    if _cluster_mode():
        # As redis-py's factory does on a cluster: RedisCluster.from_url(url, **kwargs).
        kwargs.pop("single_connection_client", None)
        if kwargs.get("protocol") is None and request.config.getoption("--protocol"):
            kwargs["protocol"] = request.config.getoption("--protocol")
        client = base = slotshift.RedisCluster.from_url(url, **kwargs)
    elif cls is not redis.Redis:
        raise NotImplementedError(f"the compat plugin swaps redis.Redis only, not {cls!r}")
    else:
        base = _like_a_pool(slotshift.Redis, request, url, kwargs)
        client = base.client() if single_connection_client else base
    if request is not None:
        _used.add(request.node.nodeid)

    def teardown() -> None:
        if flushdb:
            try:
                client.flushdb()
            except redis.ConnectionError:
                client.flushdb()  # as redis-py's: a test may have killed the connection
        client.close()
        if client is not base:
            base.close()

    if request:
        request.addfinalizer(teardown)
    return client


async def _slotshift_create_redis(request: Any) -> AsyncIterator[Any]:
    """redis-py's asyncio ``create_redis`` fixture with ``slotshift.asyncio.Redis`` in place
    of ``redis.asyncio.Redis``: the same URL and keyword arguments, the same teardown (FLUSHDB
    unless a ``username`` was given, ``aclose``)."""
    import redis.asyncio

    import slotshift.asyncio

    teardowns: list[Callable[[], Awaitable[None]]] = []
    (single,) = request.param

    async def client_factory(url: str = request.config.getoption("--redis-url"),
                             cls: Any = redis.asyncio.Redis, flushdb: bool = True,
                             **kwargs: Any) -> Any:
        if cls is not redis.asyncio.Redis:
            raise NotImplementedError(
                f"the compat plugin swaps redis.asyncio.Redis only, not {cls!r}")
        one = kwargs.pop("single_connection_client", False) or single
        base = _like_a_pool(slotshift.asyncio.Redis, request, url, kwargs)
        client = base.client() if one else base
        _used.add(request.node.nodeid)

        async def teardown() -> None:
            if flushdb and "username" not in kwargs:
                try:
                    await client.flushdb()
                except redis.ConnectionError:
                    await client.flushdb()  # as redis-py's: the test may have killed it
            await client.aclose()
            if client is not base:
                await base.aclose()

        teardowns.append(teardown)
        return client

    yield client_factory
    for teardown in teardowns:
        await teardown()


def _swap_asyncio_factory(items: list[pytest.Item]) -> None:
    """Points the ``create_redis`` fixture of ``tests/test_asyncio/conftest.py`` at
    ``_slotshift_create_redis`` (pytest-asyncio wraps whichever function it finds there when
    the fixture is set up)."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        for fixturedef in (info.name2fixturedefs.get("create_redis", ()) if info else ()):
            if "test_asyncio" in fixturedef.baseid:
                fixturedef.func = _slotshift_create_redis  # type: ignore[misc]


def pytest_configure(config: pytest.Config) -> None:
    if SIDE == "slotshift":
        conftest = sys.modules.get("tests.conftest")
        if conftest is None:
            raise pytest.UsageError("redis-py's tests/conftest.py was not loaded first")
        conftest._get_client = _slotshift_get_client  # type: ignore[attr-defined]
    elif SIDE != "redis-py":
        raise pytest.UsageError(f"SLOTSHIFT_COMPAT_SIDE must be slotshift or redis-py, not {SIDE!r}")


def _calls_skipped_helper(item: pytest.Item) -> str | None:
    """The reason of the first helper of ``SKIP_CALLS`` the test's own body calls, if any."""
    function = getattr(item, "function", None)
    if function is None:
        return None
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    for helper, why in SKIP_CALLS.items():
        if re.search(rf"\b{helper}\(", source):
            return why
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SIDE == "slotshift":
        _swap_asyncio_factory(items)
    for item in items:
        reason = None
        for marker, why in SKIP_MARKERS.items():
            if marker == "onlycluster" and _cluster_mode():
                continue  # the cluster run is this one
            if item.get_closest_marker(marker) is not None:
                reason = why
                break
        if reason is None:
            for fixture in getattr(item, "fixturenames", ()):
                if fixture in SKIP_FIXTURES:
                    reason = SKIP_FIXTURES[fixture]
                    break
        if reason is None:
            reason = _calls_skipped_helper(item)
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
    entry["slotshift_client"] = report.nodeid in _used
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
