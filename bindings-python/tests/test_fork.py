"""Fork stress (issue 20): parent threads hammer the same clients while the main thread forks,
again and again, children that use those clients — `os.fork()` rounds and
`multiprocessing.get_context("fork").Pool` rounds, 500 rounds in all — with instrumentation,
the cross-slot validator (count mode), the recorder and an async-queue MultiStore all on.

A lock that a parent thread held at the moment of `fork()` is held for ever in the child: such
a child hangs. Every child is bounded by CHILD_TIMEOUT; one that outlives it is killed (SIGKILL)
and the round counts as hung, which fails the test. After each child exits, the parent reads,
on connections of its own (redis-py), that every write of the child arrived — the MultiStore's
queued non-default write to the cluster included.

The test stops early once MAX_BAD_ROUNDS rounds went wrong (so a core that hangs often fails in
bounded time), and its failure message counts the rounds run, hung and otherwise failed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

import slotshift

FORK_ROUNDS = 450
"""Rounds of one `os.fork()` child each."""
POOL_ROUNDS = 50
"""Rounds of one `multiprocessing` fork pool each (POOL_SIZE processes, POOL_TASKS tasks)."""
POOL_SIZE = 2
POOL_TASKS = 4
CHILD_TIMEOUT = 10.0
"""Seconds a child (or a pool round) may take before it is killed and counted as hung."""
DRAIN_TIMEOUT = 2.0
"""Seconds a child waits for the MultiStore's async queue to send its non-default writes (a
pool process runs POOL_TASKS / POOL_SIZE tasks: their drains together stay well within
CHILD_TIMEOUT, so a queue that never drains fails the round, it does not read as a hang)."""
MAX_BAD_ROUNDS = 3
"""The test stops after this many hung or failed rounds."""
HAMMER_THREADS = 3

PREFIX = "fork:py"

# Exit codes of an `os.fork()` child (what went wrong in it).
EXIT_OK, EXIT_WRONG_REPLY, EXIT_EXCEPTION, EXIT_NOT_DRAINED, EXIT_NOT_RECORDED = 0, 1, 2, 3, 4
EXIT_REASONS = {
    EXIT_WRONG_REPLY: "a wrong reply in the child",
    EXIT_EXCEPTION: "an exception in the child",
    EXIT_NOT_DRAINED: "the child's async queue did not drain",
    EXIT_NOT_RECORDED: "the child's recorder missed commands",
}

# What the children use: the parent's own objects, inherited through fork (set by the test).
SHARED: dict[str, Any] = {}


@dataclass
class Tally:
    """What the rounds did."""

    rounds: int = 0
    hung: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return len(self.hung) + len(self.failed)

    def summary(self) -> str:
        return (f"{self.rounds} rounds run, {len(self.hung)} hung (killed after "
                f"{CHILD_TIMEOUT:g} s): {self.hung}; {len(self.failed)} failed: {self.failed}")


def child_keys(tag: str) -> dict[str, str]:
    """The keys a child writes: through the standalone client, the cluster client, and the
    MultiStore (synchronously to the standalone, its default; queued to the cluster)."""
    return {"r": f"{PREFIX}:{tag}:r", "rc": f"{PREFIX}:{tag}:rc", "ms": f"{PREFIX}:{tag}:ms"}


def child_work(tag: str) -> int:
    """What every child does with the inherited clients; returns an EXIT_* code."""
    r: slotshift.Client = SHARED["r"]
    rc: slotshift.Client = SHARED["rc"]
    ms: slotshift.MultiStore = SHARED["ms"]
    keys = child_keys(tag)
    with slotshift.Recorder() as rec:
        ok = r.set(keys["r"], tag) is True and r.get(keys["r"]) == tag.encode()
        ok = ok and rc.set(keys["rc"], tag) is True and rc.incr(f"{PREFIX}:{tag}:n") == 1
        # Keys of two slots: counted by the validator (count mode), split by the batcher.
        ok = ok and rc.mget([keys["rc"], keys["ms"]]) == [tag.encode(), None]
        ok = ok and ms.set(keys["ms"], tag) is True and ms.get(keys["ms"]) == tag.encode()
    if not ok:
        return EXIT_WRONG_REPLY
    if rec.count < 7:
        return EXIT_NOT_RECORDED
    if not ms.drain(DRAIN_TIMEOUT):
        return EXIT_NOT_DRAINED
    return EXIT_OK


def pool_task(tag: str) -> int:
    """One task of a pool round (in a pool process)."""
    try:
        return child_work(tag)
    except Exception:  # the code is what the parent checks; the exception stays in the child
        return EXIT_EXCEPTION


def missing_writes(tag: str, peer: redis.Redis, peer_cluster: redis.cluster.RedisCluster) -> list[str]:
    """The child's writes that the parent cannot read back (on redis-py connections)."""
    keys = child_keys(tag)
    want = tag.encode()
    found = {
        "standalone " + keys["r"]: peer.get(keys["r"]),
        "cluster " + keys["rc"]: peer_cluster.get(keys["rc"]),
        "standalone (MultiStore default) " + keys["ms"]: peer.get(keys["ms"]),
        "cluster (MultiStore async queue) " + keys["ms"]: peer_cluster.get(keys["ms"]),
    }
    return [what for what, got in found.items() if got != want]


def forked() -> int:
    """`os.fork()`, without Python 3.12's warning about threads (the point of this test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def fork_round(tag: str, children: set[int]) -> str | None:
    """One `os.fork()` child; None when it exited cleanly, else what went wrong ("hung: …"
    when it had to be killed)."""
    pid = forked()
    if pid == 0:
        code = EXIT_EXCEPTION
        try:
            code = child_work(tag)
        finally:
            os._exit(code)
    children.add(pid)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            children.discard(pid)
            return f"hung: {tag}"
        time.sleep(0.002)
    children.discard(pid)
    code = os.waitstatus_to_exitcode(status)
    return None if code == EXIT_OK else f"{tag}: {EXIT_REASONS.get(code, f'exit status {code}')}"


def kill_pool_processes() -> None:
    """SIGKILL every live multiprocessing child (a hung pool process ignores nothing else)."""
    for proc in multiprocessing.active_children():
        proc.kill()
        proc.join()


def pool_round(tags: list[str]) -> str | None:
    """One fork pool of POOL_SIZE processes running a task per tag; as fork_round."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pool = multiprocessing.get_context("fork").Pool(POOL_SIZE)
    try:
        codes = pool.map_async(pool_task, tags).get(timeout=CHILD_TIMEOUT)
    except multiprocessing.TimeoutError:
        kill_pool_processes()
        pool.terminate()
        pool.join()
        return f"hung: pool round {tags[0]}…"
    pool.close()
    pool.join()
    bad = [f"{tag}: {EXIT_REASONS.get(code, code)}" for tag, code in zip(tags, codes) if code != EXIT_OK]
    return "; ".join(bad) or None


class Hammer:
    """HAMMER_THREADS parent threads looping SET/GET (and a cross-slot MGET, metrics, a fresh
    Recorder now and then) on the clients the children inherit, until stopped."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.ops = [0] * HAMMER_THREADS
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(HAMMER_THREADS)]

    def run(self, i: int) -> None:
        client = [SHARED["r"], SHARED["rc"], SHARED["ms"]][i % 3]
        n = 0
        try:
            while not self.stop.is_set():
                with slotshift.Recorder():
                    for _ in range(20):
                        key = f"{PREFIX}:hammer:{i}:{n % 50}"
                        client.set(key, n)
                        if client.get(key) != str(n).encode():
                            raise AssertionError(f"{key}: read back something else")
                        n += 1
                    SHARED["rc"].mget([key, f"{PREFIX}:hammer:other:{n}"])
                    slotshift.metrics_text()
                self.ops[i] = n
        except Exception as e:  # reported by the test, in the parent
            self.errors.append(f"thread {i}: {type(e).__name__}: {e}")

    def __enter__(self) -> "Hammer":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


@pytest.fixture()
def fork_clients(standalone_url: str, cluster_urls: list[str]) -> Iterator[None]:
    """The clients the parent threads and the children share, every hook on; both stores
    emptied first."""
    r = slotshift.Client.from_url(standalone_url, name="py_fork_old", instrument=True,
                                  cross_slot_validation="count")
    rc = slotshift.RedisCluster.from_urls(cluster_urls, name="py_fork_new", instrument=True,
                                    cross_slot_validation="count")
    r.flushdb()
    rc.flushdb()
    ms = slotshift.MultiStore("py_fork", primary=rc, secondary=r, dual_write=True,
                              async_non_default_writes=True)
    assert ms.phase == "dual_write_secondary_default"  # the cluster is the non-default store
    SHARED.update(r=r, rc=rc, ms=ms)
    try:
        yield
    finally:
        SHARED.clear()
        ms.close()
        r.close()
        rc.close()


def test_fork_rounds_with_threads_and_every_hook(fork_clients: None, peer: redis.Redis,
                                                 peer_cluster: redis.cluster.RedisCluster) -> None:
    tally = Tally()
    children: set[int] = set()
    plan = ["fork"] * FORK_ROUNDS
    # The pool rounds spread among the fork rounds.
    for p in range(POOL_ROUNDS):
        plan.insert(p * (FORK_ROUNDS + POOL_ROUNDS) // POOL_ROUNDS, "pool")
    assert len(plan) == 500
    try:
        with Hammer() as hammer:
            for n, kind in enumerate(plan):
                if tally.bad >= MAX_BAD_ROUNDS or hammer.errors:
                    break
                if kind == "fork":
                    tags = [f"fork{n}"]
                    problem = fork_round(tags[0], children)
                else:
                    tags = [f"pool{n}-{t}" for t in range(POOL_TASKS)]
                    problem = pool_round(tags)
                tally.rounds += 1
                if problem is not None and problem.startswith("hung"):
                    tally.hung.append(problem)
                    continue
                missing = [m for tag in tags for m in missing_writes(tag, peer, peer_cluster)]
                if problem is not None or missing:
                    tally.failed.append("; ".join(filter(None, [problem, *missing])))
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        kill_pool_processes()
    assert hammer.errors == []
    assert all(n > 0 for n in hammer.ops), f"a parent thread did no work: {hammer.ops}"
    assert (tally.rounds, tally.bad) == (500, 0), tally.summary()
