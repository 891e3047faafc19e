"""The compat runner: redis-py 8.1.0's own suite, unmodified, against slotshift and against
redis-py, on the same real servers.

    python tests/compat/run.py --update   # both sides; rewrite the committed lists
    python tests/compat/run.py --check    # slotshift's side; compare with the committed lists

It downloads redis-py's sdist (``pip download --no-binary :all: --no-deps redis==8.1.0``) into
``target/compat/`` once and unpacks its ``tests/`` (and ``pyproject.toml``, which holds the
suite's pytest settings: markers, the 30 s per-test timeout); starts ``slotshift servers up
--json --standalone`` and stops it on exit, also on failure; runs pytest on each side with
``slotshift_compat.py`` as a plugin (``--redis-url`` of that server, ``--protocol 2``,
pytest-timeout per test) and prints, per file, how many tests redis-py passes, how many of
those slotshift passes, and the ratio.

The files (``FILES``): six of the suite's, and their ``tests/test_asyncio/`` counterparts, run
against ``redis.asyncio.Redis`` and ``slotshift.asyncio.Redis`` (pytest-asyncio runs them).

``--cluster`` runs ``test_cluster.py`` instead, on a cluster of 3 masters with a replica each
(``servers up --cluster 3x1``; ``RedisCluster.from_url`` of the first node on each side), with
lists of its own (``*-cluster.txt``). Only the tests that got their client from the suite's
factory count: many of that file's tests build a mocked ``redis.RedisCluster`` of their own and
so test redis-py whichever side runs; they are reported apart.

Committed lists (in this directory):
  redis-py-passes.txt   the tests redis-py passes here (``--update`` rewrites it);
  known-failures.txt    the tests among them slotshift fails, ``node id<TAB>category: reason``.
``--check`` fails on a regression: a test of redis-py-passes.txt that slotshift does not pass
and that known-failures.txt does not list. It names the known failures that now pass.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from skips import FLAKY

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
VERSION = "8.1.0"
WORK = REPO / "target" / "compat"
SUITE = WORK / f"redis-{VERSION}"
SYNC_FILES = ["test_commands.py", "test_pipeline.py", "test_pubsub.py", "test_scripting.py",
              "test_encoding.py", "test_lock.py"]
# The asyncio counterparts (slotshift.asyncio against redis.asyncio).
FILES = SYNC_FILES + [f"test_asyncio/{f}" for f in SYNC_FILES]
CLUSTER_FILES = ["test_cluster.py"]
PASSES = HERE / "redis-py-passes.txt"
KNOWN = HERE / "known-failures.txt"
PER_TEST_TIMEOUT = 30

# A failure's message → its category (first match wins).
CATEGORIES: list[tuple[str, str]] = [
    (r"DedicatedConnectionError|needs a dedicated connection", "needs core dedicated connection"),
    (r"connection_pool|get_connection|'connection'|ConnectionPool", "redis-py connection-pool internals"),
    (r"does not support \w+=|unexpected keyword argument", "constructor option not supported"),
    (r"Timeout >", "hang (per-test timeout)"),
    (r"EXECABORT|ExecAbortError", "core transaction: queue-time error reported as EXECABORT only"),
    (r"<class .slotshift\.exceptions\.\w+.> == <class .redis\.exceptions", "exact class check (slotshift raises a subclass of the redis-py class)"),
]


def log(msg: str) -> None:
    print(msg, flush=True)


def fetch_suite(python: str) -> None:
    """redis-py's sdist in target/compat, its tests/ and pyproject.toml unpacked (once)."""
    if (SUITE / "tests" / "conftest.py").exists() and (SUITE / "pyproject.toml").exists():
        return
    WORK.mkdir(parents=True, exist_ok=True)
    sdist = WORK / f"redis-{VERSION}.tar.gz"
    if not sdist.exists():
        log(f"compat: downloading redis=={VERSION} (sdist) into {WORK}")
        subprocess.run([python, "-m", "pip", "download", "-q", "--no-binary", ":all:",
                        "--no-deps", f"redis=={VERSION}", "-d", str(WORK)], check=True)
    with tarfile.open(sdist) as tar:
        wanted = [m for m in tar.getmembers()
                  if m.name.startswith(f"redis-{VERSION}/tests/")
                  or m.name == f"redis-{VERSION}/pyproject.toml"]
        safe: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(WORK, members=wanted, **safe)


class Servers:
    """``slotshift servers up --json TOPOLOGY``, stopped (SIGTERM) on exit."""

    def __init__(self, binary: str, topology: list[str]) -> None:
        self.binary = binary
        self.topology = topology
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()

    def __enter__(self) -> dict[str, Any]:
        if not Path(self.binary).exists():
            raise SystemExit(f"compat: {self.binary} is missing: run `make cli` first")
        self.proc = subprocess.Popen([self.binary, "servers", "up", "--json", *self.topology],
                                     stdout=subprocess.PIPE, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(120)
        if not line or not line[0]:
            self.log.seek(0)
            why = self.log.read().decode(errors="replace")
            self.__exit__()
            raise SystemExit(f"compat: servers did not start: {why}")
        urls: dict[str, Any] = json.loads(line[0])
        return urls

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


class _Stop:
    """Stops ``servers`` when the block ends, also on failure."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        self.servers.__exit__()


def run_side(python: str, side: str, url: str, files: list[str],
             extra: list[str]) -> dict[str, dict[str, Any]]:
    """Runs the suite's ``files`` (or node ids) on one side (``extra``: more pytest
    arguments); each test's outcome and failure message."""
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        env = dict(os.environ, SLOTSHIFT_COMPAT_SIDE=side, SLOTSHIFT_COMPAT_RESULTS=str(results),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(HERE),
                                                            os.environ.get("PYTHONPATH")])))
        targets = [f if "::" in f else f"tests/{f}" for f in files]
        cmd = [python, "-m", "pytest", *targets,
               f"--redis-url={url}", "--protocol=2", "-p", "slotshift_compat",
               "-p", "no:cacheprovider", "-q", "--no-header", "-rN", "--tb=no",
               f"--timeout={PER_TEST_TIMEOUT}", "-W", "ignore::pytest.PytestConfigWarning",
               *extra]
        shown = " ".join(files) if len(files) <= 8 else (
            f"{len(files)} files" if not any("::" in f for f in files) else f"{len(files)} tests")
        log(f"compat: {side}: pytest {shown}")
        done = subprocess.run(cmd, cwd=SUITE, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        tail = done.stdout.decode(errors="replace").strip().splitlines()[-1:]
        log(f"compat: {side}: {' '.join(tail)}")
        if not results.exists():
            sys.stdout.write(done.stdout.decode(errors="replace"))
            raise SystemExit(f"compat: the {side} run crashed (no results; exit {done.returncode})")
        out: dict[str, dict[str, Any]] = json.loads(results.read_text())
        return out


def file_of(nodeid: str) -> str:
    """The file of a test, as ``FILES`` names it (below ``tests/``)."""
    return nodeid.split("::", 1)[0].removeprefix("tests/")


def category(message: str) -> str:
    for pattern, name in CATEGORIES:
        if re.search(pattern, message):
            return name
    return "other"


def reason(message: str) -> str:
    text = " ".join(message.split())
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"0x[0-9a-f]{6,}", "0x…", text)
    return f"{category(message)}: {text[:160]}"


def read_passes(path: Path) -> list[str]:
    if not path.exists():
        raise SystemExit(f"compat: {path} is missing: run `make compat-python`")
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def read_known(path: Path) -> dict[str, str]:
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                nodeid, _, why = line.partition("\t")
                known[nodeid] = why
    return known


def report(passes: list[str], ours: dict[str, dict[str, Any]], files: list[str]) -> None:
    """Per file: redis-py passes N, slotshift M of those, the ratio; failure categories."""
    by_file: dict[str, list[str]] = defaultdict(list)
    for t in passes:
        by_file[file_of(t)].append(t)
    log(f"{'file':<34} {'redis-py':>9} {'slotshift':>10} {'ratio':>7}")
    total_n = total_m = 0
    for f in files:
        tests = by_file.get(f, [])
        m = sum(1 for t in tests if ours.get(t, {}).get("outcome") == "passed")
        n = len(tests)
        total_n += n
        total_m += m
        log(f"{f:<34} {n:>9} {m:>10} {(m / n if n else 1):>7.1%}")
    log(f"{'all':<34} {total_n:>9} {total_m:>10} {(total_m / total_n if total_n else 1):>7.1%}")
    skipped = Counter(r["message"].split("out of scope: ", 1)[1].split(":")[0]
                      for r in ours.values()
                      if r["outcome"] == "skipped" and "out of scope: " in r["message"])
    others = sum(1 for r in ours.values()
                 if r["outcome"] == "skipped" and "out of scope: " not in r["message"])
    log(f"skipped: {others} by the suite itself (server version, RESP3, …); out of scope "
        f"(skips.py): " + ", ".join(f"{n} {why}" for why, n in skipped.most_common()))
    cats = Counter(category(ours.get(t, {}).get("message", "missing"))
                   for t in passes if ours.get(t, {}).get("outcome") != "passed")
    for name, n in cats.most_common():
        log(f"  slotshift fails {n:>4}: {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--update", action="store_true", help="run both sides, rewrite the lists")
    mode.add_argument("--check", action="store_true", help="run slotshift, compare with the lists")
    parser.add_argument("--cluster", action="store_true",
                        help="test_cluster.py on a 3x1 cluster, with the *-cluster.txt lists")
    parser.add_argument("--files", nargs="*")
    parser.add_argument("--binary", default=os.environ.get(
        "SLOTSHIFT_BIN", str(REPO / "target" / "debug" / "slotshift")))
    args = parser.parse_args()
    python = sys.executable
    fetch_suite(python)
    if args.cluster:
        topology, extra = ["--cluster", "3x1"], ["--redis-cluster-nodes=6"]
        files: list[str] = args.files or CLUSTER_FILES
        passes_path = HERE / "redis-py-passes-cluster.txt"
        known_path = HERE / "known-failures-cluster.txt"
        where = "3x1 cluster"
    else:
        topology, extra = ["--standalone"], []
        files = args.files or FILES
        passes_path, known_path, where = PASSES, KNOWN, "standalone Redis"
    try:
        servers = Servers(args.binary, topology)
        urls = servers.__enter__()
    except SystemExit as e:  # once more: a binary being rebuilt beside us, a port just taken
        log(f"{e}; trying once more")
        servers = Servers(args.binary, topology)
        urls = servers.__enter__()
    with _Stop(servers):
        if args.cluster:
            url = urls["cluster"][0]
        else:
            url = urls["standalone"] + "/0" if urls["standalone"].count("/") == 2 else urls["standalone"]
        if args.update:
            theirs = run_side(python, "redis-py", url, files, extra)
            ours = run_side(python, "slotshift", url, files, extra)
            baseline = [t for t, r in theirs.items() if r["outcome"] == "passed"]
            known: dict[str, str] = {}
        else:
            ours = run_side(python, "slotshift", url, files, extra)
            baseline = [t for t in read_passes(passes_path) if file_of(t) in files]
            known = read_known(known_path)
        # A test that fails once is run again by itself before it counts, in both modes (the
        # suite has timing-sensitive tests, and pub/sub tests that see an earlier test's
        # subscribers; the machine may be loaded).
        again = [t for t in baseline
                 if ours.get(t, {}).get("outcome") != "passed" and t not in known]
        if again:
            retry = run_side(python, "slotshift", url, again, extra)
            for t in again:
                if retry.get(t, {}).get("outcome") == "passed":
                    log(f"compat: passed when run again (flaky?): {t}")
                    ours[t] = retry[t]
    if args.update:
        passes = sorted(t for t, r in theirs.items() if r["outcome"] == "passed")
        if args.cluster:
            own = [t for t in passes if not ours.get(t, {}).get("slotshift_client")]
            log(f"compat: {len(own)} tests redis-py passes build a redis-py client of their own "
                f"(mocks, internals) on either side: not counted")
            passes = [t for t in passes if t not in own]
        for t, r in sorted(theirs.items()):
            if r["outcome"] == "failed":
                log(f"compat: redis-py itself fails (not counted): {t}: {' '.join(r['message'].split())[:200]}")
        old = ({t for t in read_passes(passes_path) if file_of(t) not in files}
               if passes_path.exists() else set())
        passes_all = sorted(old | set(passes))
        passes_path.write_text(f"# redis-py 8.1.0's tests that redis-py 8.1.0 passes on the "
                               f"runner's {where} (written by `make compat-python`)\n"
                               + "".join(t + "\n" for t in passes_all))
        known_old = {t: w for t, w in read_known(known_path).items() if file_of(t) not in files}
        known_new = {t: reason(ours.get(t, {}).get("message", "not run"))
                     for t in passes if ours.get(t, {}).get("outcome") != "passed"}
        # Tests whose outcome on slotshift's side depends on what ran before them stay known
        # failures whatever this run gave, so `--check` never calls them regressions.
        known_new.update({t: f"flaky: {why}" for t, why in FLAKY.items() if t in passes})
        known_all = dict(sorted({**known_old, **known_new}.items()))
        known_path.write_text("# tests redis-py passes and slotshift fails: node id<TAB>"
                              "category: reason (written by `make compat-python`)\n"
                              + "".join(f"{t}\t{w}\n" for t, w in known_all.items()))
        report(passes, ours, files)
        return 0
    passes = baseline
    report(passes, ours, files)
    regressions = [t for t in passes
                   if ours.get(t, {}).get("outcome") != "passed" and t not in known]
    fixed = [t for t in passes if t in known and ours.get(t, {}).get("outcome") == "passed"]
    for t in fixed:
        log(f"compat: known failure now passes (remove it: make compat-python): {t}")
    for t in regressions:
        log(f"compat: REGRESSION: {t}: {ours.get(t, {}).get('message', 'not run')[:300]}")
    if regressions:
        log(f"compat: {len(regressions)} regression(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
