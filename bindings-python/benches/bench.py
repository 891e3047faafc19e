"""slotshift vs redis-py (with hiredis), side by side in one run: `make bench-python`.

Starts its own servers (`slotshift servers up --json --standalone --cluster 3x0`), alternates
slotshift and redis-py rounds, keeps the best round of each, prints a Markdown table of
ratios (redis-py time / slotshift time: above 1 means slotshift is faster)."""

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

import slotshift
import slotshift.asyncio

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def best(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def pair(ours: Callable[[], object], peer: Callable[[], object]) -> tuple[float, float]:
    """Best of ROUNDS for each, rounds alternating."""
    a, b = [], []
    for _ in range(ROUNDS):
        a.append(best(ours, 1))
        b.append(best(peer, 1))
    return min(a), min(b)


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


def asyncio_gets(url: str, tasks: int = 100, each: int = 200) -> tuple[str, str, str, float]:
    """GETs from `tasks` concurrent asyncio tasks on one client, rounds alternating in one
    event loop: slotshift.asyncio.Redis against redis.asyncio.Redis (hiredis)."""
    total = tasks * each

    async def main() -> tuple[float, float]:
        ours = slotshift.asyncio.Redis.from_url(url)
        peer = redis.asyncio.Redis.from_url(url, max_connections=tasks)
        await ours.set("bench:k", "v" * 32)

        async def one(c) -> None:
            for _ in range(each):
                await c.get("bench:k")

        async def timed(c) -> float:
            t = time.perf_counter()
            await asyncio.gather(*(one(c) for _ in range(tasks)))
            return time.perf_counter() - t

        await timed(ours), await timed(peer)  # warm both (connections, pools)
        a, b = [], []
        for _ in range(ROUNDS):
            a.append(await timed(ours))
            b.append(await timed(peer))
        await ours.aclose()
        await peer.aclose()
        return min(a), min(b)

    a, b = asyncio.run(main())
    return (f"asyncio GET, {tasks} concurrent tasks on one client (standalone)",
            f"{total / a:,.0f} GET/s", f"{total / b:,.0f} GET/s", b / a)


def run(urls: dict) -> None:
    rows = []
    ours = slotshift.Redis.from_url(urls["standalone"])
    peer = redis.Redis.from_url(urls["standalone"])
    hiredis = redis.utils.HIREDIS_AVAILABLE
    ours.set("bench:k", "v" * 32)
    n = 20_000

    def gets(c):
        return lambda: [c.get("bench:k") for _ in range(n)]

    def sets(c):
        return lambda: [c.set("bench:k", "v" * 32) for _ in range(n)]

    for label, mk in (("GET, one at a time (standalone)", gets), ("SET, one at a time (standalone)", sets)):
        a, b = pair(mk(ours), mk(peer))
        rows.append((label, f"{a / n * 1e6:.1f} µs", f"{b / n * 1e6:.1f} µs", b / a))

    rows.append(asyncio_gets(urls["standalone"]))

    cl_ours = slotshift.RedisCluster.from_urls(urls["cluster"])
    cl_peer = redis.cluster.RedisCluster.from_url(urls["cluster"][0])
    keys = [f"bench:{i}" for i in range(10_000)]
    cl_ours.mset({k: "x" * 16 for k in keys})
    assert cl_ours.mget_nonatomic(keys) == cl_peer.mget_nonatomic(keys)
    a, b = pair(lambda: cl_ours.mget_nonatomic(keys), lambda: cl_peer.mget_nonatomic(keys))
    rows.append(("MGET 10,000 keys, 3-master cluster (peer: mget_nonatomic)",
                 f"{a * 1e3:.1f} ms ({10_000 / a:,.0f} keys/s)", f"{b * 1e3:.1f} ms ({10_000 / b:,.0f} keys/s)", b / a))

    def pipe(c):
        def go():
            p = c.pipeline(transaction=False)
            for i in range(500):
                p.set(keys[i], i)
                p.get(keys[i + 500])
            return p.execute()
        return go

    assert pipe(cl_ours)() == pipe(cl_peer)()
    a, b = pair(pipe(cl_ours), pipe(cl_peer))
    rows.append(("pipeline of 1,000 commands (SET/GET), 3-master cluster",
                 f"{a * 1e3:.2f} ms", f"{b * 1e3:.2f} ms", b / a))

    many = [f"user:{i}:session" .encode() for i in range(100_000)]
    assert slotshift.key_slots(many) == [redis.crc.key_slot(k) for k in many]
    a, b = pair(lambda: slotshift.key_slots(many), lambda: [redis.crc.key_slot(k) for k in many])
    rows.append(("key_slots of 100,000 keys (peer: redis.crc.key_slot in a loop)",
                 f"{a * 1e3:.2f} ms", f"{b * 1e3:.2f} ms", b / a))

    print(f"Python {sys.version.split()[0]}, redis-py {redis.__version__} (hiredis: {hiredis}), "
          f"best of {ROUNDS} alternating rounds\n")
    print("| benchmark | slotshift | redis-py | redis-py / slotshift |")
    print("|---|---|---|---|")
    for label, a_s, b_s, ratio in rows:
        print(f"| {label} | {a_s} | {b_s} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
