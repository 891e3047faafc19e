"""slotshift vs redis-py (with hiredis) and valkey-glide, side by side in one run:
`make bench-python`.

Starts its own servers (`slotshift servers up --json --standalone --cluster 3x0`), alternates
slotshift, redis-py and valkey-glide rounds (glide's sync client `valkey-glide-sync` and its
asyncio client `valkey-glide`), keeps the best round of each, prints a Markdown table of ratios
(the peer's time / slotshift's: above 1 means slotshift is faster). glide has no client-side
key slot function: that row has no glide column."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncio

import redis
import redis.asyncio
import redis.cluster
import redis.crc
import redis.utils

import glide
import glide_sync

import slotshift
import slotshift.asyncio

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
GLIDE_TIMEOUT_MS = 10_000


def best(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def compare(*fns: Callable[[], object]) -> list[float]:
    """Best of ROUNDS for each of ``fns``, rounds alternating (so drift of the machine falls on
    every client alike). In each round a client's timed call follows an untimed one of its own:
    on this VM the first call after another client's turn runs on cold caches and a slowed CPU
    (a 5 ms MGET takes 8 ms, a Python loop of ``str.encode`` twice as long), which weighs on a
    short operation far more than on a long one and so measured the machine, not the client."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(ROUNDS):
        for fn, t in zip(fns, times):
            fn()
            t.append(best(fn, 1))
    return [min(t) for t in times]


def glide_address(url: str) -> "glide_sync.NodeAddress":
    host, port = url.removeprefix("redis://").split("/")[0].rsplit(":", 1)
    return glide_sync.NodeAddress(host, int(port))


def main() -> None:
    repo = Path(__file__).resolve().parents[2]
    binary = os.environ.get("SLOTSHIFT_BIN", str(repo / "target/debug/slotshift"))
    proc = subprocess.Popen([binary, "servers", "up", "--json", "--standalone", "--cluster", "3x0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        run(urls)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        if proc.stdout is not None:
            proc.stdout.close()


def asyncio_gets(url: str, tasks: int = 100, each: int = 200) -> tuple[str, list[str], list[float]]:
    """GETs from `tasks` concurrent asyncio tasks on one client, rounds alternating in one
    event loop: slotshift.asyncio.Redis against redis.asyncio.Redis (hiredis) and glide's
    asyncio client."""
    total = tasks * each

    async def main() -> list[float]:
        ours = slotshift.asyncio.Redis.from_url(url)
        peer = redis.asyncio.Redis.from_url(url, max_connections=tasks)
        gl = await glide.GlideClient.create(glide.GlideClientConfiguration([glide_address(url)]))
        await ours.set("bench:k", "v" * 32)

        async def one(c) -> None:
            for _ in range(each):
                await c.get("bench:k")

        async def timed(c) -> float:
            t = time.perf_counter()
            await asyncio.gather(*(one(c) for _ in range(tasks)))
            return time.perf_counter() - t

        clients = (ours, peer, gl)
        for c in clients:
            await timed(c)  # warm each (connections, pools)
        times: list[list[float]] = [[] for _ in clients]
        for _ in range(ROUNDS):
            for c, t in zip(clients, times):
                t.append(await timed(c))
        await ours.aclose()
        await peer.aclose()
        await gl.close()
        return [min(t) for t in times]

    times = asyncio.run(main())
    return (f"asyncio GET, {tasks} concurrent tasks on one client (standalone)",
            [f"{total / t:,.0f} GET/s" for t in times], times)


def run(urls: dict) -> None:
    # (label, each client's figure, each client's time): slotshift, redis-py, glide (if any).
    rows: list[tuple[str, list[str], list[float]]] = []
    ours = slotshift.Redis.from_url(urls["standalone"])
    peer = redis.Redis.from_url(urls["standalone"])
    gl = glide_sync.GlideClient.create(
        glide_sync.GlideClientConfiguration([glide_address(urls["standalone"])]))
    hiredis = redis.utils.HIREDIS_AVAILABLE
    ours.set("bench:k", "v" * 32)
    n = 20_000

    def gets(c):
        return lambda: [c.get("bench:k") for _ in range(n)]

    def sets(c):
        return lambda: [c.set("bench:k", "v" * 32) for _ in range(n)]

    for label, mk in (("GET, one at a time (standalone)", gets), ("SET, one at a time (standalone)", sets)):
        times = compare(mk(ours), mk(peer), mk(gl))
        rows.append((label, [f"{t / n * 1e6:.1f} µs" for t in times], times))

    rows.append(asyncio_gets(urls["standalone"]))

    cl_ours = slotshift.RedisCluster.from_urls(urls["cluster"])
    cl_peer = redis.cluster.RedisCluster.from_url(urls["cluster"][0])
    # glide's default request timeout (250 ms) is below its own MGET of 10,000 keys on a
    # loaded 2-core machine: the bench measures speed, so every client gets time to answer.
    cl_gl = glide_sync.GlideClusterClient.create(glide_sync.GlideClusterClientConfiguration(
        [glide_address(u) for u in urls["cluster"]], request_timeout=GLIDE_TIMEOUT_MS))
    keys = [f"bench:{i}" for i in range(10_000)]
    cl_ours.mset({k: "x" * 16 for k in keys})
    assert cl_ours.mget_nonatomic(keys) == cl_peer.mget_nonatomic(keys) == cl_gl.mget(keys)
    times = compare(lambda: cl_ours.mget_nonatomic(keys), lambda: cl_peer.mget_nonatomic(keys),
                    lambda: cl_gl.mget(keys))
    rows.append(("MGET 10,000 keys, 3-master cluster (redis-py: mget_nonatomic; glide: mget)",
                 [f"{t * 1e3:.1f} ms ({10_000 / t:,.0f} keys/s)" for t in times], times))

    def pipe(c):
        def go():
            p = c.pipeline(transaction=False)
            for i in range(500):
                p.set(keys[i], i)
                p.get(keys[i + 500])
            return p.execute()
        return go

    def glide_pipe():
        b = glide_sync.ClusterBatch(is_atomic=False)
        for i in range(500):
            b.set(keys[i], str(i))
            b.get(keys[i + 500])
        return cl_gl.exec(b, raise_on_error=True)

    assert pipe(cl_ours)() == pipe(cl_peer)()
    assert [True if r == "OK" else r for r in glide_pipe()] == pipe(cl_ours)()
    times = compare(pipe(cl_ours), pipe(cl_peer), glide_pipe)
    rows.append(("pipeline of 1,000 commands (SET/GET), 3-master cluster (glide: ClusterBatch)",
                 [f"{t * 1e3:.2f} ms" for t in times], times))

    many = [f"user:{i}:session" .encode() for i in range(100_000)]
    assert slotshift.key_slots(many) == [redis.crc.key_slot(k) for k in many]
    times = compare(lambda: slotshift.key_slots(many),
                    lambda: [redis.crc.key_slot(k) for k in many])
    rows.append(("key_slots of 100,000 keys (redis-py: redis.crc.key_slot in a loop)",
                 [f"{t * 1e3:.2f} ms" for t in times], times))
    gl.close()
    cl_gl.close()

    print(f"Python {sys.version.split()[0]}, redis-py {redis.__version__} (hiredis: {hiredis}), "
          f"valkey-glide {_version('valkey-glide')} / valkey-glide-sync "
          f"{_version('valkey-glide-sync')}, best of {ROUNDS} alternating rounds\n")
    print("| benchmark | slotshift | redis-py | valkey-glide | redis-py / slotshift "
          "| glide / slotshift |")
    print("|---|---|---|---|---|---|")
    for label, figures, times in rows:
        glide_fig = figures[2] if len(figures) > 2 else "—"
        glide_ratio = f"{times[2] / times[0]:.2f}×" if len(times) > 2 else "—"
        print(f"| {label} | {figures[0]} | {figures[1]} | {glide_fig} | "
              f"{times[1] / times[0]:.2f}× | {glide_ratio} |")


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    main()
