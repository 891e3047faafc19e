"""The one list of redis-py tests the compat runner skips, on both sides, each with its reason.

Only what is out of scope for a drop-in on a standalone Redis 7.0 over RESP2: redis-stack
modules, cluster-only tests (they belong to the cluster run), replica set-ups, TLS, RESP3-only
behaviour, client-side caching, server versions above the one under test (redis-py's own
``skip_if_server_version_lt`` does those), and redis-py's own connection-pool internals. A test
slotshift fails for any other reason is not skipped: it is a known failure with a category
(``known-failures.txt``).
"""

from __future__ import annotations

#: pytest marker → reason.
SKIP_MARKERS: dict[str, str] = {
    "redismod": "redis-stack modules (RedisJSON, RediSearch, …) are not served by redis-server 7.0",
    "onlycluster": "cluster-only test; the cluster run (test_cluster.py on a 3x1 cluster) is separate",
    "replica": "needs a replica set-up the runner does not start",
    "ssl": "needs a TLS server the runner does not start",
}

#: fixture → reason (a test using the fixture is skipped).
SKIP_FIXTURES: dict[str, str] = {
    f"mock_cluster_resp_{kind}": "redis-py internals: replaces the client's connection object "
    "(r.connection) with a mock and checks redis-py's parsing of the canned reply; no server "
    "is involved"
    for kind in ("ok", "int", "info", "nodes", "slaves")
}

#: redis-py test helper → reason (a test whose body calls the helper is skipped).
SKIP_CALLS: dict[str, str] = {
    helper: "redis-py internals: replaces a cluster node's connection object "
    "(node.redis_connection.connection) with a mock and checks redis-py's handling of the "
    "canned reply; no server is involved"
    for helper in ("mock_node_resp", "mock_node_resp_func", "mock_all_nodes_resp")
}

#: (regular expression searched in the test's node id, reason).
SKIPS: list[tuple[str, str]] = [
    (r"test_commands\.py::TestRedisCommands::test_interrupted_command$",
     "redis-py internals: patches r.connection._parser to interrupt a read"),
    (r"test_commands\.py::TestResponseCallbacks::test_response_callbacks(\[\w+\])?$",
     "redis-py's connection-pool internals: reads r.connection_pool.connection_kwargs"),
    (r"test_encoding\.py::TestMemoryviewsAreNotPacked::test_memoryviews_are_not_packed",
     "redis-py internals: packs a command with redis-py's connection object "
     "(r.connection or r.connection_pool.get_connection())"),
    (r"test_pipeline\.py::TestPipeline::test_pipeline_reset_releases_connection_when_cancelled",
     "redis-py's connection-pool internals: counts r.connection_pool's connections in use"),
    (r"test_pubsub\.py::TestPubSubRESP3Handler::",
     "RESP3-only (push_handler_func): over RESP2 each test returns at once; redis-py's helper "
     "reads the protocol from a redis.Redis's connection_pool, which slotshift's clients do "
     "not have, and so takes them for RESP3"),
    (r"test_pubsub\.py::TestBaseException::test_base_exception",
     "redis-py internals: patches redis-py's parser classes (read_response) or reads "
     "p.connection._sock, redis-py's socket object"),
    (r"test_pubsub\.py::TestPubSubAutoReconnect::test_reconnect_socket_error",
     "redis-py internals: patches p.connection._parser to raise a socket error"),
    (r"tests/test_pubsub\.py::TestPubSubAutoReconnect::test_reconnect_disconnect",
     "redis-py internals: waits for p.connection._sock, redis-py's socket object, to come "
     "back (the asyncio counterpart, which asks is_connected, runs)"),
    (r"test_commands\.py::TestRedisCommands::test_slowlog_get$",
     "redis-py internals: monkey-patches r.parse_response(connection, …) to read the reply "
     "from redis-py's connection object"),
]

#: Tests of the cluster run whose outcome on slotshift's side depends on what ran before them
#: (node id → why): listed as known failures whatever one run gives, never as passes.
FLAKY: dict[str, str] = {
    "tests/test_cluster.py::TestClusterRedisCommands::test_bgsave":
        "BGSAVE answers 'Background save already in progress' while a save an earlier test "
        "started (or the server's own) is still running",
    "tests/test_cluster.py::TestClusterRedisCommands::test_cluster_pubsub_channels":
        "lists channels on every node; subscribers of earlier tests still subscribed make "
        "the lists differ",
    "tests/test_cluster.py::TestClusterRedisCommands::test_cluster_pubsub_numsub":
        "counts subscribers on every node; subscribers of earlier tests still subscribed make "
        "the counts differ",
}
