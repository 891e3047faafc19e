#!/usr/bin/env python3
"""Chaos with a ledger, from Python: slotshift's clients beside redis-py's, on the same
servers, through the same faults at the same moments.

Scenario `cluster`: writer threads of each client run SET (a new key each time, so every
acknowledged SET must be readable with its value afterwards) and INCR (on a few counters, so
each counter must end equal to the INCRs acknowledged: fewer is a lost write, more than were
sent is a doubled one) against a 3-master cluster with a replica each, while
`redis-cli --cluster reshard` moves SLOTS slots between two masters and then one master is
killed with SIGKILL and its replica takes over.

Scenario `multistore`: writers through a dual-writing `slotshift.MultiStore` (default: a
standalone server; non-default: the cluster) while a cluster master is stopped (SIGSTOP) for
a while, another one is killed, and finally the default store itself is killed. Every write
the MultiStore acknowledged must be on the default store; once the default is dead, every
write must fail with a connection error (none acknowledged).

The ledger is checked with a fresh redis-py client once the cluster is whole again. Errors
are counted by class and message and by when they came (before the kill, during the failover,
after it). Prints a Markdown table, writes it with the raw figures to `--out`, and exits 1
when slotshift lost or doubled an acknowledged write, surfaced an error outside the fault
windows or an error that is not a connection/timeout/cluster-down one, or acknowledged a
write after the default store died. redis-py's figures are the baseline (reported, not
judged).

    python tests/chaos/ledger.py --short      # make test (about a minute)
    python tests/chaos/ledger.py              # make chaos
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import redis
import redis.cluster

import slotshift

REPO = Path(__file__).resolve().parents[2]
# `slotshift servers up --json`, started and stopped: the compat runner's, not a copy.
sys.path.insert(0, str(REPO / "bindings-python" / "tests" / "compat"))
from run import Servers  # noqa: E402

#: What a client may surface during a fault: the server went away or did not answer in time.
RETRYABLE = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterDownError,
             redis.exceptions.TryAgainError)


@dataclass
class Ledger:
    """What one client's writers did: acknowledged SETs, INCRs sent and acknowledged per
    counter, errors with their time (seconds since the run began) and latencies."""

    side: str
    sets: list[tuple[str, str]] = field(default_factory=list)
    incr_sent: collections.Counter[str] = field(default_factory=collections.Counter)
    incr_acked: collections.Counter[str] = field(default_factory=collections.Counter)
    #: (seconds since the run began, class name, message, whether it is a RETRYABLE one)
    errors: list[tuple[float, str, str, bool]] = field(default_factory=list)
    slowest: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, t: float, e: BaseException) -> None:
        with self.lock:
            self.errors.append((t, type(e).__name__, str(e), isinstance(e, RETRYABLE)))

    def ops(self) -> int:
        return len(self.sets) + sum(self.incr_acked.values())


class Clock:
    """Seconds since the run began (wall clock: the Ruby writers share it), and the named
    moments of the run."""

    def __init__(self) -> None:
        self.t0 = time.time()
        self.marks: dict[str, float] = {}

    def now(self) -> float:
        return time.time() - self.t0

    def mark(self, name: str) -> None:
        self.marks[name] = round(self.now(), 3)
        print(f"  {self.marks[name]:7.2f}s {name}", flush=True)


def node(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def pid_of(url: str) -> int:
    with node(url) as n:
        return int(n.info("server")["process_id"])


def masters(urls: list[str]) -> list[tuple[str, str, int]]:
    """`(url, node id, slot count)` of each master among `urls`, most slots first."""
    found = []
    for url in urls:
        try:
            with node(url) as n:
                if n.info("replication")["role"] != "master":
                    continue
                myid = n.execute_command("CLUSTER MYID").decode()
                slots = 0
                for entry in n.execute_command("CLUSTER SLOTS"):
                    if entry[2][2].decode() == myid:
                        slots += entry[1] - entry[0] + 1
                found.append((url, myid, slots))
        except redis.RedisError:
            continue
    return sorted(found, key=lambda m: -m[2])


def wait_whole(alive: list[str], victim: str, timeout: float = 60) -> None:
    """Until every live node says cluster_state:ok, all 16384 slots are served, and no slot
    is served by `victim` any more (its replica took its place)."""
    victim_port = int(victim.rsplit(":", 1)[1].split("/")[0])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ok = True
            for url in alive:
                with node(url) as n:
                    info = n.cluster("info")
                    ok = ok and info["cluster_state"] == "ok" and int(info["cluster_slots_ok"]) == 16384
                    ok = ok and all(int(e[2][1]) != victim_port
                                    for e in n.execute_command("CLUSTER SLOTS"))
            if ok:
                return
        except redis.RedisError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the cluster was not whole again within {timeout} s")


def writer(client: Any, ledger: Ledger, clock: Clock, stop: threading.Event, t: int,
           pause: float) -> None:
    """SET a new key, INCR one of 8 counters, again, until `stop`."""
    i = 0
    def timed(call: Callable[[], Any]) -> Any:
        start = time.monotonic()
        try:
            return call()
        except redis.RedisError as e:
            ledger.error(clock.now(), e)
            return None
        finally:
            ledger.slowest = max(ledger.slowest, time.monotonic() - start)

    while not stop.is_set():
        i += 1
        key, value = f"chaos:{ledger.side}:w{t}:{i}", str(i)
        if timed(lambda: client.set(key, value)) is True:
            with ledger.lock:
                ledger.sets.append((key, value))
        counter = f"chaos:{ledger.side}:c{t}:{i % 8}"
        with ledger.lock:
            ledger.incr_sent[counter] += 1
        if timed(lambda: client.incr(counter)) is not None:
            with ledger.lock:
                ledger.incr_acked[counter] += 1
        time.sleep(pause)


class RubyWriters:
    """tests/chaos/writer.rb in a process of its own: `threads` Ruby threads through one
    client (`kind`: slotshift or redis-rb), until `stop()`, which returns their ledger."""

    def __init__(self, side: str, kind: str, threads: int, pause: float, clock: Clock,
                 urls: list[str]) -> None:
        self.side = side
        self.proc = subprocess.Popen(
            ["ruby", str(REPO / "tests" / "chaos" / "writer.rb"), side, kind, str(threads),
             str(pause), repr(clock.t0), *urls],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"the Ruby writers ({kind}) did not start")

    def stop(self) -> Ledger:
        out, _ = self.proc.communicate(timeout=120)
        if self.proc.returncode != 0:
            raise SystemExit(f"the Ruby writers ({self.side}) failed: exit {self.proc.returncode}")
        raw = json.loads(out)
        ledger = Ledger(self.side)
        ledger.sets = [tuple(kv) for kv in raw["sets"]]
        ledger.incr_sent.update(raw["incr_sent"])
        ledger.incr_acked.update(raw["incr_acked"])
        ledger.errors = [tuple(e) for e in raw["errors"]]
        ledger.slowest = raw["slowest"]
        return ledger


def run_writers(clients: dict[str, Any], threads: int, clock: Clock, pause: float,
                faults: Callable[[], None],
                ruby: Callable[[], list[RubyWriters]] = list) -> dict[str, Ledger]:
    """`threads` writers per client (and the Ruby writers `ruby()` starts) while `faults()`
    runs; the ledgers."""
    stop = threading.Event()
    ledgers = {side: Ledger(side) for side in clients}
    rubies = ruby()
    workers = [threading.Thread(target=writer, args=(c, ledgers[s], clock, stop, t, pause),
                                daemon=True)
               for s, c in clients.items() for t in range(threads)]
    for w in workers:
        w.start()
    try:
        faults()
    finally:
        stop.set()
        for w in workers:
            w.join(60)
        for r in rubies:
            ledgers[r.side] = r.stop()
    return ledgers


def check(ledger: Ledger, mget: Callable[[list[str]], list[Any]]) -> dict[str, Any]:
    """Lost and doubled writes of `ledger`, read back with `mget` (the values of a list of
    keys, in order: a cluster's `mget_nonatomic`, a server's `mget`)."""
    lost = doubled = 0
    for start in range(0, len(ledger.sets), 1000):
        batch = ledger.sets[start:start + 1000]
        got = mget([k for k, _ in batch])
        lost += sum(1 for (_, v), g in zip(batch, got) if g is None or g.decode() != v)
    counters = list(ledger.incr_sent)
    for counter, got in zip(counters, mget(counters) if counters else []):
        value = int(got or 0)
        lost += max(0, ledger.incr_acked[counter] - value)
        doubled += max(0, value - ledger.incr_sent[counter])
    return {"acked": ledger.ops(), "lost": lost, "doubled": doubled}


def kinds(errors: list[tuple[float, str, str, bool]]) -> dict[str, int]:
    """Errors by class and message (numbers folded)."""
    folded = collections.Counter(
        f"{cls}: {re.sub(r'[0-9]+', 'N', msg)[:120]}" for _, cls, msg, _ in errors)
    return dict(folded.most_common())


def judge(side: str, errors: list[tuple[float, str, str, bool]],
          windows: list[tuple[float, float]], problems: list[str]) -> None:
    """slotshift's errors must fall in a fault window and be retryable ones."""
    for t, cls, msg, retryable in errors:
        if not retryable:
            problems.append(f"{side}: not a connection/timeout error at {t:.2f}s: {cls}: {msg}")
        if not any(a <= t <= b for a, b in windows):
            problems.append(f"{side}: an error outside the fault windows at {t:.2f}s: {cls}: {msg}")


def cluster_scenario(urls: dict[str, Any], args: argparse.Namespace,
                     problems: list[str]) -> list[dict[str, Any]]:
    cluster = urls["cluster"]
    clock = Clock()
    ours = slotshift.RedisCluster.from_urls(cluster)
    theirs = redis.cluster.RedisCluster.from_url(cluster[0])
    killed: list[str] = []

    def faults() -> None:
        time.sleep(args.settle)
        (src_url, src, _), (_, dst, _) = masters(cluster)[:2]
        host, port = src_url.split("//")[1].split("/")[0].rsplit(":", 1)
        clock.mark("reshard begins")
        subprocess.run(["redis-cli", "--cluster", "reshard", f"{host}:{port}",
                        "--cluster-from", src, "--cluster-to", dst,
                        "--cluster-slots", str(args.slots), "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=600)
        clock.mark("reshard ends")
        time.sleep(args.settle)
        victim = masters(cluster)[0][0]
        killed.append(victim)
        clock.mark("kill -9 a master")
        os.kill(pid_of(victim), signal.SIGKILL)
        wait_whole([u for u in cluster if u != victim], victim)
        clock.mark("replica took over")
        time.sleep(args.settle)

    def ruby() -> list[RubyWriters]:
        if args.no_ruby:
            return []
        return [RubyWriters(side, kind, args.threads, args.pause, clock, cluster)
                for side, kind in (("slotshift-rb", "slotshift"), ("redis-rb", "redis-rb"))]

    ledgers = run_writers({"slotshift-py": ours, "redis-py": theirs}, args.threads, clock,
                          args.pause, faults, ruby)
    m = clock.marks
    # A fault window: from the fault to a second after the cluster is whole again.
    windows = [(m["reshard begins"], m["reshard ends"] + 1.0),
               (m["kill -9 a master"], m["replica took over"] + 1.0)]
    reader = redis.cluster.RedisCluster.from_url(next(u for u in cluster if u not in killed))
    rows = []
    for side, ledger in ledgers.items():
        row = {"scenario": f"cluster: reshard {args.slots} slots, kill -9 a master",
               "client": side, **check(ledger, reader.mget_nonatomic), "errors": len(ledger.errors),
               "kinds": kinds(ledger.errors), "slowest_s": round(ledger.slowest, 3)}
        rows.append(row)
        if side.startswith("slotshift"):
            if row["lost"] or row["doubled"]:
                problems.append(f"{side} lost {row['lost']}, doubled {row['doubled']}")
            judge(side, ledger.errors, windows, problems)
    reader.close()
    ours.close()
    theirs.close()
    return rows


def multistore_scenario(urls: dict[str, Any], args: argparse.Namespace,
                        problems: list[str]) -> list[dict[str, Any]]:
    cluster, standalone = urls["cluster"], urls["standalone"]
    alive = [u for u in cluster if _answers(u)]
    clock = Clock()
    # The caller's timeouts: what a call to a stopped or dead node may take.
    timeouts = {"socket_timeout": 0.3, "socket_connect_timeout": 0.3, "retry_deadline": 1.0}
    primary = slotshift.RedisCluster.from_urls(alive, **timeouts)
    secondary = slotshift.Redis.from_url(standalone, **timeouts)
    ms = slotshift.MultiStore("chaos", primary=primary, secondary=secondary, dual_write=True)

    def faults() -> None:
        time.sleep(args.settle)
        stopped = masters(alive)[0][0]
        pid = pid_of(stopped)
        clock.mark("SIGSTOP a master of the non-default store")
        os.kill(pid, signal.SIGSTOP)
        time.sleep(1.2)  # less than cluster-node-timeout (2 s): no failover
        os.kill(pid, signal.SIGCONT)
        clock.mark("SIGCONT")
        time.sleep(args.settle)
        victim = masters(alive)[-1][0]
        clock.mark("kill -9 a master of the non-default store")
        os.kill(pid_of(victim), signal.SIGKILL)
        wait_whole([u for u in alive if u != victim], victim)
        clock.mark("replica took over")
        time.sleep(args.settle)

    ledgers = run_writers({"multistore": ms}, args.threads, clock, args.pause, faults)
    ledger = ledgers["multistore"]
    # Every acknowledged write is on the default store (the standalone server).
    with redis.Redis.from_url(standalone) as default:
        found = check(ledger, default.mget)
        pid = pid_of(standalone)
    lost, doubled = found["lost"], found["doubled"]
    if ledger.errors:
        problems.append(f"multistore: {len(ledger.errors)} errors reached the caller while only "
                        f"the non-default store failed: {kinds(ledger.errors)}")
    if lost or doubled:
        problems.append(f"multistore lost {lost}, doubled {doubled}")
    rows = [{"scenario": "MultiStore: non-default SIGSTOP 1.2 s, then kill -9 of one of its "
                         "masters", "client": "slotshift-py", **found,
             "errors": len(ledger.errors), "kinds": kinds(ledger.errors),
             "slowest_s": round(ledger.slowest, 3)}]

    # The default store dies: every write must now fail, and none be acknowledged.
    clock.mark("kill -9 the default store")
    os.kill(pid, signal.SIGKILL)
    after = run_writers({"multistore": ms}, args.threads, clock, args.pause,
                        lambda: time.sleep(args.settle))
    dead = after["multistore"]
    if dead.ops():
        problems.append(f"multistore acknowledged {dead.ops()} writes after its default died")
    wrong = [e for e in dead.errors if not e[3]]
    if not dead.errors or wrong:
        problems.append(f"multistore after the default died: {len(dead.errors)} errors, "
                        f"not connection/timeout ones: {kinds(wrong)}")
    rows.append({"scenario": "MultiStore: the default store killed", "client": "slotshift-py",
                 "acked": dead.ops(), "lost": 0, "doubled": 0, "errors": len(dead.errors),
                 "kinds": kinds(dead.errors), "slowest_s": round(dead.slowest, 3)})
    ms.close()
    return rows


def _answers(url: str) -> bool:
    try:
        with node(url) as n:
            return bool(n.ping())
    except redis.RedisError:
        return False


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| scenario | client | writes acked | errors surfaced | lost | doubled | slowest call | errors by kind |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        k = "; ".join(f"{n}× {text}" for text, n in r["kinds"].items()) or "—"
        out.append(f"| {r['scenario']} | {r['client']} | {r['acked']} | {r['errors']} | "
                   f"{r['lost']} | {r['doubled']} | {r['slowest_s']} s | {k.replace('|', '/')} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the short form make test runs")
    parser.add_argument("--out", default=str(REPO / "target" / "chaos"))
    parser.add_argument("--no-ruby", action="store_true",
                        help="Python writers only (the Ruby ones need the gem installed)")
    args = parser.parse_args()
    args.threads = 3 if args.short else 8
    args.slots = 1000 if args.short else 4000
    args.settle = 1.0 if args.short else 3.0
    args.pause = 0.002 if args.short else 0.0005
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    binary = os.environ.get("SLOTSHIFT_BIN", str(REPO / "target" / "debug" / "slotshift"))
    with Servers(binary, ["--standalone", "--cluster", "3x1"]) as urls:
        print("cluster scenario", flush=True)
        rows += cluster_scenario(urls, args, problems)
        print("multistore scenario", flush=True)
        rows += multistore_scenario(urls, args, problems)
    report = table(rows)
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report + "\n")
    (out / "report.json").write_text(json.dumps({"rows": rows, "problems": problems}, indent=1))
    for p in problems:
        print(f"chaos: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
