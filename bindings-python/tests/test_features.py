"""MultiStore phases, threads and the GIL, fork and multiprocessing, bad arguments, the
Recorder, the allow scope, metrics and the analyzer — all on real servers."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import warnings
from typing import Any

import pytest
import redis

import slotshift


# ------------------------------------------------------------------ MultiStore


def test_multistore_phases_with_counters(r: slotshift.Client, rc: slotshift.Client) -> None:
    """Old = standalone (secondary), new = cluster (primary), walked through the four phases."""
    ms = slotshift.MultiStore("py_sessions", primary=rc, secondary=r)
    assert ms.phase == "secondary_only" and ms.flags == (False, False)
    assert ms.same_server is False

    assert ms.set("k:1", "a") is True
    assert (r.get("k:1"), rc.get("k:1")) == (b"a", None)

    ms.set_flags(dual_write=True)
    assert ms.phase == "dual_write_secondary_default"
    assert ms.set("k:2", "b") is True and ms.hset("h", "f", "v") == 1
    assert (r.get("k:2"), rc.get("k:2")) == (b"b", b"b")
    assert (r.hgetall("h"), rc.hgetall("h")) == ({b"f": b"v"}, {b"f": b"v"})
    assert ms.get("k:1") == b"a"  # reads: the secondary

    # A dual pipeline whose stores disagree is counted.
    before = ms.counter("pipelined_diff_error")
    with ms.pipeline(transaction=False) as p:
        assert p.set("k:3", "c").get("k:1").execute() == [True, b"a"]
    assert ms.counter("pipelined_diff_error") == before + 1
    assert "pipelined_diff_error" in ms.metrics_text()

    ms.set_flags(primary_default=True)
    assert ms.phase == "dual_write_primary_default"
    assert ms.get("k:1") is None and ms.get("k:2") == b"b"  # reads: the primary
    assert ms.mget(["k:2", "k:3"]) == [b"b", b"c"]

    ms.set_flags(dual_write=False)
    assert ms.phase == "primary_only"
    assert ms.set("k:4", "d") is True
    assert (r.get("k:4"), rc.get("k:4")) == (None, b"d")
    metrics = ms.metrics()
    assert metrics["hits"]["primary"] >= 2 and metrics["hits"]["secondary"] >= 1
    assert ms.primary.kind == "cluster" and ms.secondary.kind == "standalone"
    with pytest.raises(TypeError):
        ms.set_flags(dual_write="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no MultiStore counter"):
        ms.counter("nope")


def test_multistore_same_server_keeps_dual_write_off(r: slotshift.Client, standalone_url: str) -> None:
    ms = slotshift.MultiStore("py_same", primary=standalone_url, secondary=r, dual_write=True)
    assert ms.same_server is True


# ---------------------------------------------------------------- threads, GIL


def test_other_threads_run_while_one_waits_in_blpop(standalone_url: str) -> None:
    """The waiting thread holds no GIL: this thread can run Python, see the server report the
    blocked client, and push the value that wakes it. With the GIL held, nothing here could
    run and BLPOP would time out with None."""
    waiter = slotshift.Client.from_url(standalone_url, socket_timeout=30)
    pusher = slotshift.Client.from_url(standalone_url)
    pusher.delete("queue")
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(waiter.blpop("queue", timeout=20)))
    t.start()
    while b"cmd=blpop" not in pusher.execute_command("CLIENT", "LIST"):
        pass
    assert pusher.rpush("queue", "job") == 1
    t.join()
    assert got == [(b"queue", b"job")]
    waiter.close()
    pusher.close()


def test_threads_share_one_client(r: slotshift.Client) -> None:
    def work(n: int) -> None:
        for i in range(200):
            r.incr("counter")
            r.set(f"t:{n}:{i}", i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert r.get("counter") == b"1600"
    assert r.dbsize() == 1601


# ------------------------------------------------------- fork, multiprocessing


def _child_work(url: str) -> bytes:
    with slotshift.Client.from_url(url) as c:
        # INCR's own reply: a GET after it could see another process's INCR too.
        return str(c.incr("mp:spawn")).encode()


def _forked_work(n: int) -> int:
    return int(INHERITED["client"].incr("mp:fork"))


INHERITED: dict[str, Any] = {}


def test_fork_child_uses_its_own_connections(r: slotshift.Client, rc: slotshift.Client) -> None:
    r.set("f", "parent")
    rc.set("f", "parent")
    with warnings.catch_warnings():
        # Python 3.12+ warns that fork() in a process with threads (the I/O runtime) may
        # deadlock; slotshift's child never touches the parent's threads or connections.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            ok = r.get("f") == b"parent" and r.set("f", "child") and rc.set("f", "child") \
                and rc.mget(["f", "g"]) == [b"child", None]
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    # The parent's connections still work and see the child's writes.
    assert r.get("f") == b"child" and rc.get("f") == b"child"


def test_multiprocessing_fork_and_spawn(r: slotshift.Client, standalone_url: str) -> None:
    INHERITED["client"] = r
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with multiprocessing.get_context("fork").Pool(3) as pool:
            results = pool.map(_forked_work, range(30))
    assert sorted(results) == list(range(1, 31))
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        spawned = pool.map(_child_work, [standalone_url] * 4)
    assert sorted(spawned) == [b"1", b"2", b"3", b"4"]
    assert r.get("mp:fork") == b"30"


# ------------------------------------------------------------- bad arguments


def test_bad_arguments_raise_clear_errors(r: slotshift.Client, standalone_url: str) -> None:
    with pytest.raises(TypeError, match="Invalid input of type: 'NoneType'"):
        r.set("a", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Invalid input of type: 'bool'"):
        r.set("a", True)
    with pytest.raises(TypeError, match="Invalid input of type: 'list'"):
        r.get(["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Invalid input of type: 'dict'"):
        r.execute_command("SET", "a", {})
    with pytest.raises(TypeError, match="key must be bytes or str, not int"):
        slotshift.key_slot(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"keys\[1\] must be bytes or str, not NoneType"):
        slotshift.key_slots(["a", None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="keys must be a sequence"):
        slotshift.key_slots("abc")
    with pytest.raises(TypeError, match="url must be a str"):
        slotshift.Client.from_url(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="host must be a str, not NoneType"):
        slotshift.Client(host=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="is not a host name"):
        slotshift.Client(host="evil@127.0.0.1")
    with pytest.raises(TypeError, match="port must be an int, not str"):
        slotshift.Client(port="6379")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="db must be an int, not bool"):
        slotshift.Client(db=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        slotshift.Client.from_url(standalone_url, bogus=1)
    with pytest.raises(TypeError, match="urls must be a sequence"):
        slotshift.Client.from_urls(standalone_url)
    with pytest.raises(ValueError, match="socket_timeout|response_timeout"):
        slotshift.Client.from_url(standalone_url, socket_timeout=-1)
    with pytest.raises(ValueError, match="batch_limit must be a positive integer, got 0"):
        slotshift.Client.from_url(standalone_url, batch_limit=0)
    with pytest.raises(ValueError, match="cross_slot_validation"):
        slotshift.Client.from_url(standalone_url, cross_slot_validation="loud")
    with pytest.raises(LookupError, match="no-such-codec"):
        slotshift.Client.from_url(standalone_url, encoding="no-such-codec")
    with pytest.raises(ValueError, match="protocol=2 only"):
        slotshift.Client.from_url(standalone_url, protocol=3)
    with pytest.raises(TypeError, match="client_name="):
        slotshift.Client.from_url(standalone_url, client_name="app")
    with pytest.raises(TypeError, match="from_url takes db= in the URL"):
        slotshift.Client.from_url(standalone_url, db=1)
    # redis-py keywords slotshift does not implement are accepted at their default only.
    with slotshift.Client.from_url(standalone_url, retry_on_timeout=False, client_name=None) as c:
        assert c.ping() is True
    # Every argument error is also redis-py's DataError.
    with pytest.raises(redis.DataError):
        r.set("a", None)  # type: ignore[arg-type]
    # Argument checks are redis-py's own (its command methods): DataError, its messages.
    with pytest.raises(redis.DataError, match="mutually exclusive"):
        r.set("a", 1, ex=1, px=1)
    with pytest.raises(redis.DataError, match="mutually exclusive"):
        r.set("a", 1, nx=True, xx=True)
    with pytest.raises(redis.DataError, match="ZADD requires"):
        r.zadd("z", {})
    with pytest.raises(redis.DataError, match="hset"):
        r.hset("h")
    with pytest.raises(TypeError, match=r"commands\[0\] must be a sequence of arguments"):
        r.store.pipeline(["GET a"])
    with pytest.raises(ValueError, match="at least its name"):
        r.store.call()
    with pytest.raises(TypeError, match="primary must be a slotshift.Redis or RedisCluster"):
        slotshift.MultiStore("x", primary=1, secondary=r)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="primary_read_percentage must be 0 to 100"):
        slotshift.MultiStore("x", primary=r, secondary=r, primary_read_percentage=101)
    with pytest.raises(UnicodeDecodeError):
        r.set("bin", b"\xff")
        slotshift.Client(_store=r.store, decode_responses=True).get("bin")
    # The client still works after all of that.
    assert r.ping() is True


def test_closed_client_reconnects_as_redis_py(standalone_url: str) -> None:
    """As redis-py: close() releases the connections and the next command connects again;
    a client made from a store (not an address) cannot, and says so."""
    c = slotshift.Client.from_url(standalone_url)
    with c:
        assert c.ping() is True
    assert c.store.closed
    assert c.set("reopened", "yes") is True
    assert not c.store.closed
    assert c.pipeline().get("reopened").execute() == [b"yes"]
    c.close()
    assert c.pipeline().get("reopened").execute() == [b"yes"]
    c.close()
    shared = slotshift.Client(_store=slotshift.Client.from_url(standalone_url).store)
    shared.close()
    with pytest.raises(slotshift.ConnectionError, match="closed"):
        shared.get("a")


def test_redis_py_style_constructor(standalone_url: str) -> None:
    host, port = standalone_url.removeprefix("redis://").split(":")
    with slotshift.Client(host=host, port=int(port), db=0, decode_responses=True) as c:
        c.set("ctor", "é")
        assert c.get("ctor") == "é"
        assert c.decode_responses is True


# ------------------------------------------ Recorder, allow scope, metrics, analyzer


def test_recorder_captures_calls_and_pipelines(r: slotshift.Client) -> None:
    with slotshift.Recorder() as rec:
        r.set("user:1", "a")
        r.mget(["user:1", "user:2"])
        with r.pipeline(transaction=False) as p:
            p.get("user:1").incr("visits").execute()
    assert not rec.active
    assert rec.count == 4
    assert [c.name for c in rec.log()] == ["SET", "MGET", "GET", "INCRBY"]
    assert [c.via for c in rec.log()] == ["call", "call", "pipeline", "pipeline"]
    assert rec.log()[0].args == [b"SET", b"user:1", b"a"]
    assert len(rec.by_command("get")) == 1
    assert len(rec.by_key("user:*")) == 3
    r.get("after")
    assert rec.count == 4
    with slotshift.Recorder("visits") as only:
        r.incr("visits")
        r.get("user:1")
    assert [c.name for c in only.log()] == ["INCRBY"]


def test_allow_cross_slot_scope(standalone_url: str) -> None:
    with slotshift.Client.from_url(standalone_url, cross_slot_validation="raise",
                                   name="py_validated") as c:
        with pytest.raises(slotshift.CrossSlotError):
            c.mget(["a", "b"])
        with slotshift.allow_cross_slot():
            assert c.mget(["a", "b"]) == [None, None]
            with slotshift.allow_cross_slot():
                c.delete("a", "b")
            assert c.mget(["a", "b"]) == [None, None]
        with pytest.raises(slotshift.CrossSlotError):
            c.mget(["a", "b"])

        @slotshift.allow_cross_slot()
        def allowed() -> Any:
            return c.exists("a", "b")

        assert allowed() == 0
        assert c.mget(["{t}a", "{t}b"]) == [None, None]


def test_metrics_text_counts_calls(standalone_url: str) -> None:
    with slotshift.Client.from_url(standalone_url, name="py_metrics") as c:
        for _ in range(3):
            c.get("m")
        text = slotshift.metrics_text()
    lines = [line for line in text.splitlines() if "py_metrics" in line and not line.startswith("#")]
    assert lines, text[:500]
    assert any('command="get"' in line and line.endswith(" 3") for line in lines), lines


def test_analyze_report(r: slotshift.Client) -> None:
    for i in range(100):
        r.set(f"session:{i}", "x" * 10)
    for i in range(50):
        r.hset(f"user:{i}:profile", "name", "n")
    report = slotshift.analyze(r)
    assert report.complete and report.keys == 150 and report.memory > 0
    doc = json.loads(report.to_json())
    assert doc == slotshift.report_dict(report)
    assert doc["total"]["keys"] == 150
    assert len(report.patterns) == 2
    assert "keys" in report.to_text().lower() and report.to_html().startswith("<!")
    assert report.to_csv().count("\n") >= 3
    only = slotshift.analyze(r, match="user:*", count=10)
    assert only.keys == 50
    with pytest.raises(ValueError, match="count must be a positive integer"):
        slotshift.analyze(r, count=0)
    with pytest.raises(TypeError, match=r"needs a slotshift.Redis or RedisCluster \(slotshift.Client\)"):
        slotshift.analyze("redis://x")  # type: ignore[arg-type]
