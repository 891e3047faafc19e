"""The native Session and Subscriber (connections of the caller's own) on real servers."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
import redis

import slotshift
from slotshift import _slotshift


def test_session_watch_exec_nil_when_key_changed(r: slotshift.Client, peer: redis.Redis) -> None:
    s = _slotshift.Session(r.store, key="balance")
    assert s.is_open
    assert s.call("WATCH", "balance") == b"OK"
    peer.set("balance", 1)
    out = s.pipeline([("MULTI",), ("SET", "balance", 2), ("EXEC",)])
    assert out == [b"OK", b"QUEUED", None]
    assert peer.get("balance") == b"1"
    # Unwatched, the transaction runs.
    out = s.pipeline([("MULTI",), ("SET", "balance", 3), ("EXEC",)])
    assert out[-1] == [b"OK"]
    s.close()
    assert not s.is_open
    with pytest.raises(slotshift.ConnectionError, match="closed"):
        s.call("PING")


def test_session_state_stays_on_its_connection(r: slotshift.Client) -> None:
    s = _slotshift.Session(r.store)
    s.call("SELECT", 1)
    s.call("SET", "only-in-db1", "x")
    assert r.get("only-in-db1") is None
    assert s.call("GET", "only-in-db1") == b"x"
    s.call("FLUSHDB")
    with pytest.raises(slotshift.ResponseError):
        s.call("NOSUCHCOMMAND")
    assert s.is_open


def test_session_targets(rc: slotshift.Client) -> None:
    s = _slotshift.Session(rc.store, key="k{a}")
    assert s.call("SET", "k{a}", 1) == b"OK"
    by_slot = _slotshift.Session(rc.store, slot=slotshift.key_slot("k{a}"))
    assert by_slot.node == s.node
    assert _slotshift.Session(rc.store, node=s.node).call("GET", "k{a}") == b"1"
    with pytest.raises(ValueError, match="at most one"):
        _slotshift.Session(rc.store, key="a", slot=1)


def test_subscriber_messages_in_order(r: slotshift.Client, peer: redis.Redis) -> None:
    sub = _slotshift.Subscriber(r.store)
    sub.subscribe("ch1", "ch2")
    sub.psubscribe("p*")
    assert sub.next_message(5) == [b"subscribe", b"ch1", 1]
    assert sub.next_message(5) == [b"subscribe", b"ch2", 2]
    assert sub.next_message(5) == [b"psubscribe", b"p*", 3]
    peer.publish("ch1", "hello")
    assert sub.next_message(5) == [b"message", b"ch1", b"hello"]
    peer.publish("px", "there")
    assert sub.next_message(5) == [b"pmessage", b"p*", b"px", b"there"]
    assert sub.next_message(0) is None
    sub.unsubscribe()
    got = [sub.next_message(5) or [] for _ in range(2)]
    # In the server's order; the counts include the pattern still subscribed.
    assert sorted(m[1] for m in got) == [b"ch1", b"ch2"]
    assert [(m[0], m[2]) for m in got] == [(b"unsubscribe", 2), (b"unsubscribe", 1)]
    assert sub.call("PING") in (b"PONG", "PONG")
    sub.close()
    assert not sub.is_open


def test_subscriber_decodes(standalone_url: str, peer: redis.Redis) -> None:
    store = _slotshift.Target(standalone_url).open(decode=True)
    sub = _slotshift.Subscriber(store)
    sub.subscribe("ch")
    assert sub.next_message(5) == ["subscribe", "ch", 1]
    peer.publish("ch", "é")
    assert sub.next_message(5) == ["message", "ch", "é"]


@pytest.mark.skipif(sys.platform == "win32", reason="os.fork() is POSIX only")
def test_session_refuses_after_fork(r: slotshift.Client) -> None:
    s = _slotshift.Session(r.store)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            try:
                s.call("PING")
            except slotshift.ConnectionError as e:
                code = 0 if "fork" in str(e) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert s.call("PING") == b"PONG"


def wait_message(p: slotshift.PubSub) -> Any:
    """The next message of ``p`` (ignored confirmations skipped), waiting up to 5 s."""
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        msg = p.get_message(timeout=0.2)
        if msg is not None:
            return msg
    return None


def test_pubsub_as_redis_py(r: slotshift.Client) -> None:
    p = r.pubsub()
    p.subscribe("news")
    p.psubscribe("n*")
    assert wait_message(p) == {"type": "subscribe", "pattern": None, "channel": b"news",
                               "data": 1}
    assert wait_message(p) == {"type": "psubscribe", "pattern": None, "channel": b"n*",
                               "data": 2}
    assert r.publish("news", "hi") == 2
    assert wait_message(p) == {"type": "message", "pattern": None, "channel": b"news",
                               "data": b"hi"}
    assert wait_message(p) == {"type": "pmessage", "pattern": b"n*", "channel": b"news",
                               "data": b"hi"}
    assert p.channels == {b"news": None} and p.patterns == {b"n*": None}
    p.ping()
    assert wait_message(p) == {"type": "pong", "pattern": None, "channel": None, "data": b""}
    p.unsubscribe()
    p.punsubscribe()
    assert wait_message(p)["type"] == "unsubscribe"
    assert wait_message(p)["type"] == "punsubscribe"
    assert not p.subscribed
    p.close()
    assert p.connection is None


def test_pubsub_handlers_and_thread(standalone_url: str) -> None:
    r = slotshift.Redis.from_url(standalone_url, decode_responses=True)
    got: list[dict[str, Any]] = []
    p = r.pubsub(ignore_subscribe_messages=True)
    p.subscribe(**{"jobs": got.append})
    thread = p.run_in_thread(sleep_time=0.05)
    try:
        import time

        deadline = time.monotonic() + 5
        while r.publish("jobs", "é") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        thread.stop()
        thread.join(5)
    assert got and got[0] == {"type": "message", "pattern": None, "channel": "jobs",
                              "data": "é"}
    r.close()


def _until(check: Any, seconds: float = 10) -> bool:
    """Whether ``check()`` came true within ``seconds``."""
    import time

    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _kill_subscribers(peer: redis.Redis) -> int:
    """Kills (CLIENT KILL, from the server's side) every connection subscribed to something;
    how many."""
    killed = 0
    for c in peer.client_list():
        if int(c["sub"]) or int(c["psub"]):
            killed += peer.client_kill_filter(_id=c["id"])
    return killed


def test_pubsub_reconnects_after_disconnect_and_close(standalone_url: str,
                                                       peer: redis.Redis) -> None:
    r = slotshift.Redis.from_url(standalone_url)
    p = r.pubsub()
    p.subscribe("a", "b")
    p.psubscribe("c*")
    assert [wait_message(p)["type"] for _ in range(3)] == ["subscribe"] * 2 + ["psubscribe"]
    p.connection.disconnect()  # redis-py's way to drop it: no error, subscribed again
    assert not p.connection.is_connected
    again = [wait_message(p) for _ in range(3)]
    assert sorted((m["type"], m["channel"]) for m in again) == [
        ("psubscribe", b"c*"), ("subscribe", b"a"), ("subscribe", b"b")]
    assert p.connection.is_connected
    assert r.publish("a", "1") == 1 and wait_message(p)["data"] == b"1"
    r.close()  # closing the client drops its pub/sub connections too, as redis-py's
    assert _until(lambda: peer.publish("a", "2") == 0)
    assert sorted(wait_message(p)["channel"] for _ in range(3)) == [b"a", b"b", b"c*"]
    assert peer.publish("c1", "3") == 1
    assert wait_message(p) == {"type": "pmessage", "pattern": b"c*", "channel": b"c1",
                               "data": b"3"}
    p.close()


def test_pubsub_lost_connection_as_redis_py(standalone_url: str, peer: redis.Redis) -> None:
    # from_url: no retry (redis-py's connection default): the loss is told once, and the
    # next read goes on, subscribed again on a new connection.
    r = slotshift.Redis.from_url(standalone_url)
    p = r.pubsub()
    p.subscribe("jobs")
    assert wait_message(p)["type"] == "subscribe"
    assert _kill_subscribers(peer) == 1
    with pytest.raises(redis.ConnectionError):
        wait_message(p)
    assert wait_message(p) == {"type": "subscribe", "pattern": None, "channel": b"jobs",
                               "data": 1}
    assert peer.publish("jobs", "x") == 1 and wait_message(p)["data"] == b"x"
    p.close()
    # Redis(host=...): redis-py's constructor default, three retries: the caller sees nothing.
    address = slotshift.Redis(host=peer.connection_pool.connection_kwargs["host"],
                              port=peer.connection_pool.connection_kwargs["port"])
    q = address.pubsub(ignore_subscribe_messages=True)
    q.subscribe("jobs")
    assert q.get_message(timeout=1) is None  # the confirmation, ignored
    assert _kill_subscribers(peer) == 1
    # Reads go on without an error while it connects and subscribes again.
    assert _until(lambda: q.get_message(timeout=0.1) is None and peer.publish("jobs", "y"))
    assert wait_message(q)["data"] == b"y"
    q.close()
    with pytest.raises(TypeError, match="retry= must be a redis.retry.Retry"):
        slotshift.Redis.from_url(standalone_url, retry=3)


def test_no_retry_turns_the_core_retries_off_except_redirects(standalone_url: str,
                                                              cluster_urls: list[str]) -> None:
    """retry= with 0 retries: a standalone client's core deadline is 0; a cluster client keeps
    its deadline, which also bounds following MOVED/ASK (redis-py's cluster client follows
    redirects whatever its retry= says)."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    none = Retry(NoBackoff(), 0)
    r = slotshift.Redis.from_url(standalone_url, retry=none)
    assert r._settings.store["retry_deadline"] == 0 and r.ping() is True
    rc = slotshift.RedisCluster.from_urls(cluster_urls, retry=none)
    assert "retry_deadline" not in rc._settings.store
    assert rc.set("{r}:a", 1) is True and rc.get("{r}:a") == b"1"
    for c in (r, rc):
        c.close()


def test_pubsub_cluster_sharded(rc: slotshift.Client) -> None:
    p = rc.pubsub()
    p.ssubscribe("orders{7}")
    assert wait_message(p)["type"] == "ssubscribe"
    assert rc.spublish("orders{7}", "x") == 1
    assert wait_message(p) == {"type": "smessage", "pattern": None, "channel": b"orders{7}",
                               "data": b"x"}
    p.close()


def test_pipeline_watch_multi(r: slotshift.Client, peer: redis.Redis) -> None:
    r.set("stock", 5)
    with r.pipeline() as pipe:
        pipe.watch("stock")
        assert pipe.watching
        assert pipe.get("stock") == b"5"          # immediate, on the watching connection
        pipe.multi()
        pipe.decr("stock")
        assert pipe.execute() == [4]
        assert not pipe.watching
    with r.pipeline() as pipe:
        pipe.watch("stock")
        peer.set("stock", 100)
        pipe.multi()
        pipe.decr("stock")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("stock") == b"100"


def test_transaction_retries_after_watch_error(r: slotshift.Client, peer: redis.Redis) -> None:
    r.set("n", 0)
    attempts = []

    def bump(pipe: Any) -> None:
        value = int(pipe.get("n"))
        if not attempts:
            peer.incr("n")                        # another client's write: first try fails
        attempts.append(value)
        pipe.multi()
        pipe.set("n", value + 10)

    assert r.transaction(bump, "n") == [True]
    assert attempts == [0, 1]
    assert r.get("n") == b"11"


def test_pubsub_unsubscribe_all_while_confirmations_unread(r: slotshift.Client) -> None:
    p = r.pubsub()
    p.subscribe("foo")
    assert wait_message(p)["type"] == "subscribe"
    p.unsubscribe()
    p.subscribe("bar")                            # before the unsubscribe is confirmed
    assert wait_message(p) == {"type": "unsubscribe", "pattern": None, "channel": b"foo",
                               "data": 0}
    assert wait_message(p)["channel"] == b"bar"
    p.unsubscribe()                               # all: bar, confirmed once
    assert wait_message(p) == {"type": "unsubscribe", "pattern": None, "channel": b"bar",
                               "data": 0}
    assert not p.subscribed
    p.close()


def _next_command_named(m: Any, name: str) -> dict[str, Any]:
    """The next command the monitor shows whose first word is ``name`` (others are skipped:
    the server also logs the clients' own handshakes)."""
    for _ in range(50):
        command = m.next_command()
        if command["command"].split(" ")[0].upper() == name:
            return command  # type: ignore[no-any-return]
    raise AssertionError(f"no {name} among the monitor's next 50 commands")


def test_monitor_as_redis_py(r: slotshift.Client, peer: redis.Redis) -> None:
    with r.monitor() as m:
        peer.set('quoted"key', b"\x00binary")
        got = _next_command_named(m, "SET")
        assert got["command"] == 'SET quoted"key \\x00binary'
        assert got["db"] == 0 and got["client_type"] == "tcp" and isinstance(got["time"], float)
    # The with block closed the MONITOR connection.
    with pytest.raises(redis.exceptions.ConnectionError):
        m.next_command()


def test_monitor_on_a_cluster_node(rc: slotshift.RedisCluster) -> None:
    node = rc.get_node_from_key("monitored")
    other = next(n for n in rc.get_primaries() if n != node)
    with rc.monitor(target_node=node) as m, rc.monitor(target_node=other) as elsewhere:
        rc.set("monitored", 1)
        assert _next_command_named(m, "SET")["command"] == "SET monitored 1"
        # The node that does not serve the key never saw it.
        elsewhere_line = elsewhere.connection._native.next_line(timeout=0.3)
        assert elsewhere_line is None or "monitored" not in elsewhere_line
    with pytest.raises(ValueError, match="host:port"):
        _slotshift.Monitor(rc._core(), node="nonsense")
