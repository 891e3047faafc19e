"""The seam with redis-py: slotshift.Redis / RedisCluster are redis-py's command layer over the
core, slotshift's exceptions are redis-py's, and what needs a dedicated connection is refused
before anything is sent (compared with redis-py itself on the same servers where it applies)."""

from __future__ import annotations

import inspect

import pytest
import redis
import redis.cluster
from redis.client import NEVER_DECODE

import slotshift
import slotshift.exceptions


def test_clients_are_redis_py_command_layers(r: slotshift.Redis, rc: slotshift.RedisCluster) -> None:
    assert isinstance(r, redis.commands.CoreCommands)
    assert isinstance(rc, redis.commands.RedisClusterCommands)
    assert slotshift.Client is slotshift.Redis
    # The command methods are redis-py's own functions, not copies.
    assert slotshift.Redis.hset is redis.commands.CoreCommands.hset
    assert slotshift.RedisCluster.xadd is redis.commands.RedisClusterCommands.xadd


def test_every_slotshift_exception_is_a_redis_error() -> None:
    classes = [c for _, c in inspect.getmembers(slotshift.exceptions, inspect.isclass)
               if c.__module__ == "slotshift.exceptions"]
    assert len(classes) >= 20
    for cls in classes:
        assert issubclass(cls, slotshift.SlotshiftError), cls
        assert issubclass(cls, redis.RedisError), cls
    assert issubclass(slotshift.ResponseError, redis.ResponseError)
    assert issubclass(slotshift.ConnectionError, redis.ConnectionError)
    assert issubclass(slotshift.TimeoutError, redis.TimeoutError)
    assert issubclass(slotshift.AuthenticationError, redis.AuthenticationError)
    assert issubclass(slotshift.ClusterDownError, redis.exceptions.ClusterDownError)
    assert issubclass(slotshift.MovedError, redis.exceptions.MovedError)
    assert issubclass(slotshift.CrossSlotTransactionError, redis.exceptions.CrossSlotTransactionError)


def test_except_redis_error_catches_what_slotshift_raises(r: slotshift.Redis, rc: slotshift.RedisCluster) -> None:
    r.set("text", "x")
    failures = [
        lambda: r.hget("text", "f"),                                        # server
        lambda: r.evalsha("0" * 40, 0),                                     # NOSCRIPT
        lambda: slotshift.Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.5).ping(),
        lambda: slotshift.Redis.from_url("bogus://x"),                      # config
        lambda: r.set("a", None),                                           # argument
        lambda: r.execute_command("SELECT", 1),                             # dedicated connection
        lambda: rc.pipeline(transaction=True).set("a", 1).set("b", 2).execute(),
    ]
    for fail in failures:
        with pytest.raises(redis.RedisError) as info:
            fail()  # type: ignore[no-untyped-call]
        assert isinstance(info.value, slotshift.SlotshiftError), info.value
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha("0" * 40, 0)


def test_error_replies_match_redis_py(r: slotshift.Redis, peer: redis.Redis) -> None:
    """Class and message of an error reply are what redis-py's own parser gives."""
    peer.set("text", "x")
    for call in (lambda c: c.hget("text", "f"), lambda c: c.evalsha("0" * 40, 0),
                 lambda c: c.execute_command("NOSUCHCOMMAND"), lambda c: c.incr("text")):
        with pytest.raises(redis.ResponseError) as theirs:
            call(peer)
        with pytest.raises(redis.ResponseError) as ours:
            call(r)
        assert str(ours.value) == str(theirs.value)
        assert isinstance(ours.value, type(theirs.value))


def test_dedicated_connection_commands_are_refused_before_sending(r: slotshift.Redis) -> None:
    for call in (lambda: r.select(1), lambda: r.execute_command("MULTI"),
                 lambda: r.execute_command("SUBSCRIBE", "ch"), lambda: r.client_setname("x"),
                 lambda: r.execute_command("CLIENT", "REPLY", "OFF"),
                 lambda: r.execute_command("MONITOR"), lambda: r.pipeline().execute_command("WATCH", "k")):
        with pytest.raises(slotshift.DedicatedConnectionError, match="dedicated connection"):
            call()  # type: ignore[no-untyped-call]
    with pytest.raises(NotImplementedError):
        r.execute_command("select", 2)
    # Nothing reached the shared connection: no MULTI is open, db 0 is still selected.
    assert r.set("after", "1") is True
    assert r.get("after") == b"1"
    assert r.client_info()["db"] == 0


def test_redis_py_keywords(standalone_url: str) -> None:
    with pytest.raises(TypeError, match=r"does not support client_name= .*CLIENT SETNAME"):
        slotshift.Redis.from_url(standalone_url, client_name="app")
    with pytest.raises(TypeError, match="does not support max_connections="):
        slotshift.Redis.from_url(standalone_url, max_connections=5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'sockettimeout'"):
        slotshift.Redis.from_url(standalone_url, sockettimeout=1)
    with pytest.raises(ValueError, match="protocol=2 only"):
        slotshift.Redis.from_url(standalone_url, protocol=3)
    with slotshift.Redis.from_url(standalone_url, protocol="2", health_check_interval=0,
                                  socket_keepalive=True, max_connections=None) as c:
        assert c.ping() is True


def test_no_password_in_errors_or_repr() -> None:
    secret = "s3cr3t-Pa55"
    down = slotshift.Redis(host="127.0.0.1", port=1, password=secret, socket_connect_timeout=0.5)
    assert secret not in repr(down)
    with pytest.raises(redis.ConnectionError) as info:
        down.ping()
    assert secret not in str(info.value) and secret not in repr(info.value)
    with pytest.raises(redis.RedisError) as info2:
        slotshift.Redis.from_url(f"redis://:{secret}@127.0.0.1:1/0?bogus=1")
    assert secret not in str(info2.value)


def test_encoding_and_decoding_as_redis_py(standalone_url: str, peer: redis.Redis) -> None:
    ours = slotshift.Redis.from_url(standalone_url, decode_responses=True, encoding="latin-1")
    theirs = redis.Redis.from_url(standalone_url, decode_responses=True, encoding="latin-1")
    try:
        assert ours.set("latin", "é à ÿ") is True
        assert peer.get("latin") == "é à ÿ".encode("latin-1")
        assert ours.get("latin") == theirs.get("latin") == "é à ÿ"
        assert ours.hset("hl", mapping={"k": "ü"}) == 1
        assert ours.hgetall("hl") == theirs.hgetall("hl") == {"k": "ü"}
        peer.set("bad", b"\xff\xfe")
        strict = slotshift.Redis.from_url(standalone_url, decode_responses=True)
        with pytest.raises(UnicodeDecodeError):
            strict.get("bad")
        lenient = slotshift.Redis.from_url(standalone_url, decode_responses=True,
                                           encoding_errors="replace")
        assert lenient.get("bad") == "\ufffd\ufffd"
        # DUMP is never decoded (redis-py's NEVER_DECODE option).
        assert isinstance(strict.dump("bad"), bytes)
    finally:
        ours.close()
        theirs.close()


def test_cluster_pipeline_is_split_per_slot_as_redis_py(rc: slotshift.RedisCluster,
                                                        peer_cluster: redis.cluster.RedisCluster) -> None:
    keys = [f"pipe:{i}" for i in range(1000)]
    assert len({slotshift.key_slot(k) for k in keys}) > 100
    with rc.pipeline() as pipe:
        for i, k in enumerate(keys):
            pipe.set(k, i)
        assert pipe.execute() == [True] * 1000
    ours = rc.pipeline()
    for k in keys:
        ours.get(k)
    assert ours.execute() == [str(i).encode() for i in range(1000)]
    assert [peer_cluster.get(k) for k in keys[:50]] == [str(i).encode() for i in range(50)]

    rc.set("pipe:text", "x")
    bad = rc.pipeline()
    bad.get("pipe:1").hget("pipe:text", "f").get("pipe:2")
    results = bad.execute(raise_on_error=False)
    assert results[0] == b"1" and results[2] == b"2"
    assert isinstance(results[1], redis.ResponseError)
    bad.get("pipe:1").hget("pipe:text", "f")
    with pytest.raises(redis.ResponseError, match=r"^Command # 2 \(HGET pipe:text f\) of pipeline"):
        bad.execute()


def test_cluster_pipeline_refuses_what_redis_py_refuses_unless_cross_slot(
        rc: slotshift.RedisCluster, peer_cluster: redis.cluster.RedisCluster) -> None:
    keys = [f"xs:{i}" for i in range(20)]
    assert len({slotshift.key_slot(k) for k in keys}) > 1
    rc.mset_nonatomic({k: i for i, k in enumerate(keys)})
    for client in (rc, peer_cluster):  # the default pipeline: refused by both, before queueing
        with client.pipeline() as pipe:
            for call in (lambda: pipe.mget(keys), lambda: pipe.rename("xs:0", "xs:1"),
                         lambda: pipe.sunion("xs:0", "xs:1"), lambda: pipe.delete("xs:0", "xs:1"),
                         lambda: pipe.evalsha("0" * 40, 0)):
                with pytest.raises(redis.exceptions.RedisClusterException):
                    call()
            assert len(pipe) == 0
            pipe.delete("xs:19")  # one key: served (redis-py's returns None, not the pipeline)
            assert pipe.execute() == [1 if client is rc else 0]
    with rc.pipeline(transaction=True) as tx:  # several keys of one slot, in a transaction
        assert tx.set("{t}:a", 1).delete("{t}:a", "{t}:b").execute() == [True, 1]

    with pytest.raises(slotshift.ClusterPipelineError, match=r"cross_slot=True"):
        rc.pipeline().mget(keys)
    for cross_slot in (False, True):  # redis-py never implemented it; execute() loads scripts
        with pytest.raises(slotshift.ClusterPipelineError, match="not implemented"):
            rc.pipeline(cross_slot=cross_slot).script_load_for_pipeline(None)
    with rc.pipeline(cross_slot=True) as pipe:  # slotshift's own: split per slot by the core
        pipe.mget(keys[:19]).delete(*keys[:10]).exists(*keys).eval("return 7", 0)
        assert pipe.execute() == [[str(i).encode() for i in range(19)], 10, 9, 7]


def test_cluster_pipeline_discard_only_in_a_transaction(rc: slotshift.RedisCluster) -> None:
    with rc.pipeline() as pipe:
        pipe.set("{d}:a", 1)
        with pytest.raises(slotshift.ClusterPipelineError, match="outside of transactional"):
            pipe.discard()
        assert pipe.execute() == [True]
    with rc.pipeline(transaction=True) as pipe:
        pipe.set("{d}:a", 2).discard()
        with pytest.raises(redis.ResponseError):
            pipe.execute()  # EXEC without MULTI: the DISCARD ended the transaction
    assert rc.get("{d}:a") == b"1"


def test_cross_slot_transaction_is_refused_before_sending(rc: slotshift.RedisCluster) -> None:
    with pytest.raises(slotshift.CrossSlotTransactionError, match="use a hash tag"):
        rc.pipeline(transaction=True).set("tx:a", 1).set("tx:b", 2).execute()
    assert rc.exists("tx:a", "tx:b") == 0
    assert rc.pipeline(transaction=True).set("{tx}:a", 1).incr("{tx}:a").execute() == [True, 2]


def test_refused_command_of_a_transaction_as_redis_py(r: slotshift.Client,
                                                       peer: redis.Redis) -> None:
    """A command the server refuses when queued: redis-py raises its error, annotated with
    its number, not EXEC's EXECABORT; nothing ran. Both clients, the same message."""
    messages = []
    for client in (r, peer):
        with client.pipeline() as pipe:
            pipe.set("tx:a", 1).zrem("tx:b").set("tx:b", 2)
            with pytest.raises(redis.ResponseError) as e:
                pipe.execute()
            messages.append(str(e.value))
            assert pipe.set("tx:z", "z").execute() == [True]  # the pipeline works again
    assert messages[0] == messages[1]
    assert messages[0].startswith("Command # 2 (ZREM tx:b) of pipeline caused error: ")
    assert r.exists("tx:a", "tx:b") == 0
    with pytest.raises(redis.ResponseError) as e:
        r.pipeline().incr("tx:n").execute_command("ZREM", "tx:b").execute()
    assert getattr(e.value, "command_index") == 1


def test_single_connection_client_keeps_its_connection_state(standalone_url: str) -> None:
    """single_connection_client=True and client(): every command on one connection of the
    client's own, so what a command leaves there holds for the next (SELECT, CLIENT SETNAME);
    the shared client refuses both; QUIT ends it and the next command opens another."""
    shared = slotshift.Redis.from_url(standalone_url, decode_responses=True)
    with pytest.raises(slotshift.DedicatedConnectionError, match="SELECT"):
        shared.select(3)
    one = shared.client()
    assert one.select(3) is True and one.set("single:k", "v") is True
    assert one.client_setname("single-one") is True and one.client_getname() == "single-one"
    assert one.get("single:k") == "v" and shared.get("single:k") is None  # db 3, not 0
    assert one.execute_command("GET", "single:k", **{NEVER_DECODE: True}) == b"v"
    assert one.pipeline().get("single:k").execute() == [None]  # pipelines: the shared store
    with pytest.raises(slotshift.DedicatedConnectionError, match="SUBSCRIBE takes"):
        one.execute_command("SUBSCRIBE", "x")
    assert one.quit() is True
    assert one.get("single:k") is None and one.client_getname() is None  # a new connection
    one.close()
    assert shared.ping() is True  # closing client() closes only its connection
    made = slotshift.Redis.from_url(standalone_url, single_connection_client=True)
    assert made.select(3) is True and made.get("single:k") == b"v"
    assert made.flushdb() is True
    made.close()
    shared.close()
    with pytest.raises(TypeError, match="single_connection_client must be a bool"):
        slotshift.Redis.from_url(standalone_url, single_connection_client="yes")


def test_single_connection_is_refused_on_a_cluster(cluster_urls: list[str]) -> None:
    with pytest.raises(TypeError, match="single_connection_client"):
        slotshift.RedisCluster.from_urls(cluster_urls, single_connection_client=True)
    rc = slotshift.RedisCluster.from_urls(cluster_urls)
    with pytest.raises(TypeError, match="single-connection"):
        rc.client()
    rc.close()


def test_cluster_pubsub_nodes_and_node_clients_as_redis_py(rc: slotshift.RedisCluster) -> None:
    """A cluster pub/sub object listens on the master of its first channel's slot (as
    redis-py's) and says which (get_pubsub_node); a node the cluster lacks is refused; each
    ClusterNode has a client of its own (redis_connection); a node-group flag runs on every
    node of the group and the replies merge as redis-py merges them."""
    p = rc.pubsub()
    assert p.get_pubsub_node() is None
    p.subscribe("news")
    assert p.get_pubsub_node() == rc.get_node_from_key("news")
    assert p.get_message(timeout=5)["type"] == "subscribe"
    node = p.get_pubsub_node()
    assert node.redis_connection.pubsub_numsub("news") == [(b"news", 1)]
    others = [n for n in rc.get_nodes() if n != node]
    assert all(n.redis_connection.pubsub_numsub("news") == [(b"news", 0)] for n in others)
    assert rc.pubsub_numsub("news", target_nodes="all") == [(b"news", 1)]
    assert rc.pubsub_numsub("news") in ([(b"news", 0)], [(b"news", 1)])  # one node, by the core
    p.close()
    with pytest.raises(slotshift.UnknownNodeError, match="doesn't exist") as e:
        rc.pubsub(host="192.0.2.1", port=1)
    assert isinstance(e.value, redis.exceptions.RedisClusterException)
    primary = rc.get_primaries()[0]
    q = rc.pubsub(node=primary)
    assert q.get_pubsub_node() == primary and q.get_redis_connection() == primary.redis_connection
    assert primary.redis_connection.ping() is True
    # The default node: where target_nodes=DEFAULT_NODE runs.
    other = rc.get_primaries()[1]
    assert rc.set_default_node(other) is True and rc.get_default_node() == other
    assert rc.execute_command("CLUSTER MYID", target_nodes=rc.DEFAULT_NODE) == (
        other.redis_connection.execute_command("CLUSTER MYID"))
    assert rc.set_default_node(None) is False and rc.get_default_node() == other
    rc.replace_default_node()
    assert rc.get_default_node() != other


def test_cluster_multi_key_helpers_as_redis_py(rc: slotshift.RedisCluster,
                                               peer_cluster: redis.cluster.RedisCluster) -> None:
    # (redis-py's own results, written out: its *_nonatomic helpers leave a ClusterPipeline
    # connection for the garbage collector, which -W error turns into a failure.)
    mapping = {f"nonatomic:{i}": i for i in range(50)}
    slots = {peer_cluster.keyslot(k) for k in mapping}
    assert rc.mset_nonatomic(mapping) == [True] * len(slots)
    keys = list(mapping) + ["nonatomic:missing"]
    assert rc.mget_nonatomic(keys) == [peer_cluster.get(k) for k in keys]
    assert rc.mget_nonatomic(keys)[-1] is None and rc.mget_nonatomic(keys)[7] == b"7"
    assert rc.exists(*keys) == sum(peer_cluster.get(k) is not None for k in keys) == 50
    assert rc.keyslot("nonatomic:1") == peer_cluster.keyslot("nonatomic:1")
    assert rc.delete(*keys) == 50


def test_cluster_nodes_and_target_nodes_as_redis_py(rc: slotshift.RedisCluster,
                                                     peer_cluster: redis.cluster.RedisCluster) -> None:
    names = sorted(n.name for n in peer_cluster.get_nodes())
    assert sorted(n.name for n in rc.get_nodes()) == names
    assert sorted(n.name for n in rc.get_primaries()) == sorted(
        n.name for n in peer_cluster.get_primaries())
    assert rc.get_replicas() == []  # a cluster without replicas
    for key in ("bar", "{user1}:a", "zzz"):
        assert rc.get_node_from_key(key) == peer_cluster.get_node_from_key(key)
        assert rc.get_node_from_key(key, replica=True) is None
    node = rc.get_random_node()
    assert rc.get_node(node_name=node.name) == node
    assert rc.get_node(host=node.host, port=node.port) == node
    assert rc.get_node(node_name="127.0.0.1:1") is None
    # A command on one node, on several (redis-py's result callbacks combine the replies).
    assert rc.cluster_myid(node) == peer_cluster.cluster_myid(peer_cluster.get_node(node_name=node.name))
    rc.mset_nonatomic({f"tn:{i}": i for i in range(30)})
    assert rc.dbsize(target_nodes=rc.get_primaries()) == peer_cluster.dbsize(
        target_nodes=peer_cluster.get_primaries()) == 30
    per_node = rc.execute_command("DBSIZE", target_nodes={n.name: n for n in rc.get_primaries()})
    assert per_node == 30  # DBSIZE's callback sums, as redis-py's
    assert rc.ping(target_nodes=node) is True
    with pytest.raises(TypeError, match="target_nodes="):
        rc.ping(target_nodes=42)
    # A node's own connection keeps what a command leaves on it, as redis-py's per-node
    # client does; the shared connections never see it.
    assert rc.client_setname("seam-node", target_nodes=node) is True
    assert rc.client_getname(target_nodes=node) == "seam-node"
    peer_node = peer_cluster.get_node(node_name=node.name)
    assert peer_cluster.client_setname("seam-node", target_nodes=peer_node) is True
    rc.client_setname("seam-default")       # no nodes named: redis-py's default node
    assert rc.client_getname(target_nodes=rc.get_default_node()) == "seam-default"
    assert rc.readonly(target_nodes="all") == peer_cluster.readonly(target_nodes="all")
    names_seen = {c["name"] for c in rc.client_list(target_nodes=node)}
    assert "seam-node" in names_seen
    # The server's own answer where a cluster refuses the command.
    with pytest.raises(redis.ResponseError, match="SELECT is not allowed in cluster mode"):
        rc.execute_command("SELECT", 1, target_nodes=node)
    with pytest.raises(slotshift.DedicatedConnectionError, match="takes a connection over"):
        rc.execute_command("SUBSCRIBE", "ch", target_nodes=node)
