"""The one list of redis-py tests the compat runner skips, on both sides, each with its reason.

Only what is out of scope for a drop-in on a standalone Redis 7.0 over RESP2: redis-stack
modules, cluster-only tests (they belong to the cluster run), replica set-ups, TLS, RESP3-only
behaviour, client-side caching, server versions above the one under test (redis-py's own
``skip_if_server_version_lt`` does those), and redis-py's own internals: its connection pool,
and its classes a test patches or replaces with mocks (the canned replies reach only
redis-py's client, so on slotshift's side such a test checks nothing of slotshift's). A test
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
    # The cluster run: tests that take the suite's client but patch redis-py's classes, so
    # the canned replies reach only redis-py's client (slotshift's redirect handling is tested
    # against a scripted fake server: core/tests/store_fake_node.rs, cluster_faults.rs).
    (r"test_cluster\.py::TestRedisClusterObj::test_(ask_redirection|moved_redirection"
     r"|moved_redirection_after_failover|moved_redirection_circular_moved"
     r"|refresh_using_specific_nodes)$",
     "redis-py internals: patches redis.Redis.parse_response (and NodesManager.initialize, "
     "Connection.send_command) to fake MOVED/ASK/CLUSTERDOWN replies inside redis-py's client"),
    (r"test_cluster\.py::TestRedisClusterObj::test_himport_set_moved_after_ask_uses_moved_target$",
     "redis-py internals: patches RedisCluster.determine_slot and redis-py's per-node "
     "command sender to fake an ASK then a MOVED"),
    (r"test_cluster\.py::TestRedisClusterObj::test_timeout_error_topology_refresh_reuse_connections$",
     "redis-py internals: patches the parse_response of r.get_redis_connection(node), "
     "redis-py's per-node client, to fake timeouts, and compares its connection objects"),
    (r"test_cluster\.py::TestClusterPipeline::test_(connection_leak_on_non_timeout_error_during_connect"
     r"|return_previously_acquired_connections)$",
     "redis-py's connection-pool internals: patches redis.cluster.get_connection and counts "
     "each node's connection_pool._available_connections"),
    (r"test_cluster\.py::TestRedisClusterObj::test_cluster_get_set_retry_object$",
     "redis-py's connection-pool internals: takes connections from each node's "
     "redis_connection.connection_pool and reads their Retry objects"),
    (r"test_cluster\.py::TestClusterPipeline::test_dirty_connection_not_reused$",
     "redis-py internals: patches redis.cluster.NodeCommands.write and Connection.disconnect "
     "of redis-py's cluster pipeline"),
    (r"test_cluster\.py::TestNodesManager::test_(initialize_uses_shuffled_startup_nodes"
     r"|load_balancer)$",
     "redis-py internals: NodesManager's startup_nodes, initialize() and read_load_balancer "
     "(slotshift's nodes_manager is a read-only view of the core's slot map)"),
    (r"test_cluster\.py::TestClusterPubSubObject::test_disconnect_(with_none_connections"
     r"|calls_disconnect_on_existing_connections)$",
     "redis-py internals: sets mocks as redis-py's ClusterPubSub.connection and "
     "node_pubsub_mapping entries and checks their disconnect() calls"),
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
