"""Real servers for the suite: one `slotshift servers up --json` per session (a standalone
server and a 3-master cluster; a second one with a 3x1 cluster for the tests that ask for it),
stopped with SIGTERM at the end, also when tests fail."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.cluster

import slotshift

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def fixture(name: str) -> Any:
    """A shared test vector file of tests/fixtures."""
    return json.loads((FIXTURES / name).read_text())


def servers_up(*topology: str) -> Iterator[dict[str, Any]]:
    """Runs `slotshift servers up --json TOPOLOGY…`, yields its URLs, stops it (SIGTERM)."""
    binary = os.environ.get("SLOTSHIFT_BIN", str(REPO / "target" / "debug" / "slotshift"))
    if not Path(binary).exists():
        pytest.fail(f"{binary} is missing: run `make cli` first (or set SLOTSHIFT_BIN)")
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [binary, "servers", "up", "--json", *topology],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
    )
    try:
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(120)
        if not line or not line[0]:
            log.seek(0)
            pytest.fail("slotshift servers up printed no URLs: " + log.read().decode(errors="replace"))
        urls: dict[str, Any] = json.loads(line[0])
        yield urls
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, Any]]:
    yield from servers_up("--standalone", "--cluster", "3x0")


@pytest.fixture(scope="session")
def servers_3x1() -> Iterator[dict[str, Any]]:
    """A standalone server and a cluster of 3 masters with one replica each, of their own
    (started only when a test asks for them): tests that empty every master use these."""
    yield from servers_up("--standalone", "--cluster", "3x1")


@pytest.fixture(scope="session")
def sentinel_set() -> Iterator[dict[str, Any]]:
    """A master, a replica and three sentinels of their own (started when a test asks):
    `{"master": url, "master_name": name, "replicas": [url], "sentinels": ["host:port"]}`."""
    for urls in servers_up("--sentinel"):
        yield urls["sentinel"]


@pytest.fixture(scope="session")
def standalone_url(servers: dict[str, Any]) -> str:
    url: str = servers["standalone"]
    return url


@pytest.fixture(scope="session")
def cluster_urls(servers: dict[str, Any]) -> list[str]:
    urls: list[str] = servers["cluster"]
    return urls


@pytest.fixture()
def r(standalone_url: str) -> Iterator[slotshift.Client]:
    """A slotshift client on the standalone server, emptied first."""
    with slotshift.Client.from_url(standalone_url) as client:
        client.flushdb()
        yield client


@pytest.fixture()
def rc(cluster_urls: list[str]) -> Iterator[slotshift.Client]:
    """A slotshift client on the cluster, emptied first."""
    with slotshift.RedisCluster.from_urls(cluster_urls) as client:
        client.flushdb()
        yield client


@pytest.fixture()
def peer(standalone_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(standalone_url)
    yield client
    client.close()


@pytest.fixture()
def peer_cluster(cluster_urls: list[str]) -> Iterator[redis.cluster.RedisCluster]:
    client = redis.cluster.RedisCluster.from_url(cluster_urls[0])
    yield client
    close_redis_cluster(client)


def close_redis_cluster(client: redis.cluster.RedisCluster) -> None:
    """Closes a redis-py cluster client. redis-py 8.1's ClusterPipeline (its pipelines,
    mget_nonatomic …) may keep a node connection out of its pool, closed only by the garbage
    collector: it is collected here, where the only Python sockets are redis-py's (slotshift's
    connections live in Rust), instead of at a random later point of the run."""
    client.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
