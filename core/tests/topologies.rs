//! Start every embedded topology for real, check it is healthy, drop it, check nothing is left;
//! check that the fault helpers do what they say.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use slotshift::testing::{EmbeddedError, Standalone};

/// Whether a process with this pid exists (zombies included: /proc lists them too).
fn pid_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn ping(client: &redis::Client) -> redis::RedisResult<String> {
    let mut con = client.get_connection_with_timeout(Duration::from_secs(2))?;
    redis::cmd("PING").query(&mut con)
}

#[test]
fn standalone_starts_answers_and_leaves_nothing_behind() {
    let server = Standalone::start().unwrap();
    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    assert!(pid_exists(pid));
    assert_eq!(server.addr(), format!("127.0.0.1:{}", server.port()));
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert_eq!(ping(&server.client()).unwrap(), "PONG");
    let mut con = server.client().get_connection().unwrap();
    let save: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query(&mut con)
        .unwrap();
    assert_eq!(save, vec!["save".to_string(), String::new()]);
    drop(con);
    drop(server);
    assert!(
        !pid_exists(pid),
        "redis-server pid {pid} survived its Standalone"
    );
    assert!(
        !dir.exists(),
        "temporary directory {} survived",
        dir.display()
    );
}

#[test]
fn standalone_with_password_and_acl_user() {
    let server = Standalone::builder()
        .password("canary-pass word")
        .acl_user("app", "app:secret")
        .debug_command(true)
        .config("maxmemory", "64mb")
        .start()
        .unwrap();
    assert_eq!(
        server.url(),
        format!("redis://app:app%3Asecret@127.0.0.1:{}", server.port())
    );
    let mut con = server.client().get_connection().unwrap();
    let who: String = redis::cmd("ACL").arg("WHOAMI").query(&mut con).unwrap();
    assert_eq!(who, "app");
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg(0)
        .query(&mut con)
        .unwrap();
    let maxmemory: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query(&mut con)
        .unwrap();
    assert_eq!(maxmemory[1], (64 * 1024 * 1024).to_string());

    // Without credentials the default user is refused.
    let anonymous = redis::Client::open(format!("redis://127.0.0.1:{}", server.port())).unwrap();
    let err = ping(&anonymous).unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
    // The default user's password works too.
    let default = redis::Client::open(format!(
        "redis://:canary-pass%20word@127.0.0.1:{}",
        server.port()
    ))
    .unwrap();
    assert_eq!(ping(&default).unwrap(), "PONG");
    // The password never shows in Debug output.
    assert!(!format!("{server:?}").contains("canary"));
}

#[test]
fn standalone_kill_pause_resume() {
    let server = Standalone::start().unwrap();
    let client = server.client();

    let mut con = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .unwrap();
    server.pause().unwrap();
    assert!(server.node().is_paused());
    con.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let err = redis::cmd("PING").query::<String>(&mut con).unwrap_err();
    assert!(err.is_timeout(), "a paused server answered: {err}");

    server.resume().unwrap();
    assert_eq!(ping(&client).unwrap(), "PONG");

    let pid = server.pid();
    server.kill().unwrap();
    assert!(!server.node().is_alive());
    assert!(!pid_exists(pid));
    assert!(ping(&client).is_err());
    // Killing twice is harmless.
    server.kill().unwrap();
}

#[test]
fn standalone_parallel_starts_get_distinct_ports() {
    let servers: Vec<Standalone> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(Standalone::start)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    let mut ports: Vec<u16> = servers.iter().map(Standalone::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    for server in &servers {
        assert_eq!(ping(&server.client()).unwrap(), "PONG");
    }
}

#[test]
fn servers_outlive_the_thread_that_started_them() {
    // PDEATHSIG fires when the forking thread exits: a server started from a short-lived thread
    // must still be running after that thread ended.
    let server = std::thread::spawn(|| Standalone::start().unwrap())
        .join()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(ping(&server.client()).unwrap(), "PONG");
}

#[test]
fn missing_server_error_says_how_to_install() {
    let message = EmbeddedError::NotInstalled.to_string();
    assert!(
        message.contains("apt-get install redis-server redis-tools"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Cluster

use slotshift::key_slot;
use slotshift::testing::{Cluster, FailoverKind, Node};
use slotshift::Slot;

fn cluster_info_field(node: &Node, field: &str) -> String {
    let info: String = node.query(redis::cmd("CLUSTER").arg("INFO")).unwrap();
    info.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn role(node: &Node) -> String {
    let reply: Vec<redis::Value> = node.query(&redis::cmd("ROLE")).unwrap();
    redis::from_redis_value(reply[0].clone()).unwrap()
}

/// A key (with the given prefix) that hashes to `slot`.
fn key_in_slot(slot: Slot, prefix: &str) -> String {
    (0u64..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| key_slot(k.as_bytes()) == slot)
        .unwrap()
}

fn server_keyslot(node: &Node, key: &str) -> u16 {
    node.query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
        .unwrap()
}

#[test]
fn cluster_3x1_starts_healthy_and_leaves_nothing_behind() {
    let cluster = Cluster::start(3, 1).unwrap();
    assert_eq!(cluster.nodes().len(), 6);
    let pids: Vec<u32> = cluster.nodes().iter().map(Node::pid).collect();
    for node in cluster.nodes() {
        assert_eq!(cluster_info_field(node, "cluster_state"), "ok");
        assert_eq!(cluster_info_field(node, "cluster_known_nodes"), "6");
        assert_eq!(cluster_info_field(node, "cluster_slots_assigned"), "16384");
        assert_eq!(node.id().len(), 40);
    }
    let masters = cluster.masters().unwrap();
    assert_eq!(masters.len(), 3);
    for master in &masters {
        assert_eq!(role(master), "master");
        let replicas = cluster.replicas_of(master).unwrap();
        assert_eq!(replicas.len(), 1);
        assert_eq!(role(replicas[0]), "slave");
    }
    assert_eq!(cluster.seed_urls().len(), 6);

    // A key written on the owner of its slot is accepted there (no MOVED).
    let slot = key_slot(b"hello");
    let owner = cluster.master_for_slot(slot).unwrap();
    assert_eq!(server_keyslot(owner, "hello"), slot.get());
    let mut con = owner.client().get_connection().unwrap();
    let _: () = redis::cmd("SET")
        .arg("hello")
        .arg("world")
        .query(&mut con)
        .unwrap();
    drop(con);

    let dir = cluster.dir().to_path_buf();
    drop(cluster);
    for pid in pids {
        assert!(!pid_exists(pid), "cluster node pid {pid} survived");
    }
    assert!(!dir.exists());
}

#[test]
fn step_by_step_slot_move_opens_the_ask_window_then_moves_the_owner() {
    let cluster = Cluster::start(3, 0).unwrap();
    let slot = key_slot(b"{move}");
    let from = cluster.master_for_slot(slot).unwrap();
    let to = cluster
        .masters()
        .unwrap()
        .into_iter()
        .find(|m| m.id() != from.id())
        .unwrap();
    let keys: Vec<String> = (0..5).map(|i| format!("{{move}}k{i}")).collect();
    let mut src = from.client().get_connection().unwrap();
    for key in &keys {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(format!("{key}|v1"))
            .query(&mut src)
            .unwrap();
    }

    let migration = cluster.slot_migration(slot, from, to).unwrap();
    migration.set_importing().unwrap();
    migration.set_migrating().unwrap();
    // A key the source does not have: ASK to the target.
    let err = redis::cmd("GET")
        .arg("{move}absent")
        .query::<Option<String>>(&mut src)
        .unwrap_err();
    assert_eq!(err.code(), Some("ASK"), "{err}");
    // Move one key only: it now gets ASK, the others are still served by the source.
    assert_eq!(
        migration.migrate_these_keys(&[keys[0].as_str()]).unwrap(),
        1
    );
    let err = redis::cmd("GET")
        .arg(&keys[0])
        .query::<Option<String>>(&mut src)
        .unwrap_err();
    assert_eq!(err.code(), Some("ASK"), "{err}");
    let still: Option<String> = redis::cmd("GET").arg(&keys[1]).query(&mut src).unwrap();
    assert_eq!(still.as_deref(), Some("{move}k1|v1"));
    // A multi-key command over a half-moved slot: TRYAGAIN.
    let err = redis::cmd("MGET")
        .arg(&keys[0])
        .arg(&keys[1])
        .query::<Vec<Option<String>>>(&mut src)
        .unwrap_err();
    assert_eq!(err.code(), Some("TRYAGAIN"), "{err}");
    // The owner has not changed yet.
    assert_eq!(cluster.master_for_slot(slot).unwrap().id(), from.id());

    assert_eq!(migration.migrate_keys(2).unwrap(), 4);
    migration.finish().unwrap();
    assert_eq!(server_keyslot(to, &keys[0]), slot.get());
    assert_eq!(cluster.master_for_slot(slot).unwrap().id(), to.id());
    let err = redis::cmd("GET")
        .arg(&keys[1])
        .query::<Option<String>>(&mut src)
        .unwrap_err();
    assert_eq!(err.code(), Some("MOVED"), "{err}");
    let mut dst = to.client().get_connection().unwrap();
    for key in &keys {
        let value: Option<String> = redis::cmd("GET").arg(key).query(&mut dst).unwrap();
        assert_eq!(value, Some(format!("{key}|v1")));
    }
    let left: usize = from
        .query(redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot.get()))
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn move_slots_moves_n_slots_with_their_keys_on_a_password_cluster() {
    let cluster = Cluster::builder()
        .masters(2)
        .replicas(1)
        .password("cluster-canary")
        .start()
        .unwrap();
    let masters = cluster.masters().unwrap();
    let (from, to) = (masters[0], masters[1]);
    let before_from = cluster.slots_of(from).unwrap();
    let before_to = cluster.slots_of(to).unwrap().len();
    // The highest slot of `from` is among those moved; put a key in it.
    let highest = *before_from.last().unwrap();
    let key = key_in_slot(highest, "moved:");
    let mut con = from.client().get_connection().unwrap();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("payload")
        .query(&mut con)
        .unwrap();

    let moved = cluster.move_slots(10, from, to).unwrap();
    assert_eq!(moved.len(), 10);
    assert!(moved.contains(&highest));
    for slot in &moved {
        assert_eq!(cluster.master_for_slot(*slot).unwrap().id(), to.id());
    }
    assert_eq!(
        cluster.slots_of(from).unwrap().len(),
        before_from.len() - 10
    );
    assert_eq!(cluster.slots_of(to).unwrap().len(), before_to + 10);
    let mut dst = to.client().get_connection().unwrap();
    let value: Option<String> = redis::cmd("GET").arg(&key).query(&mut dst).unwrap();
    assert_eq!(value.as_deref(), Some("payload"));
    assert!(!format!("{cluster:?}").contains("cluster-canary"));
}

#[test]
fn kill_then_forced_failover_makes_the_replica_master() {
    let cluster = Cluster::builder()
        .masters(3)
        .replicas(1)
        .node_timeout_ms(1000)
        .start()
        .unwrap();
    let master = &cluster.nodes()[0];
    let replica = cluster.replicas_of(master).unwrap()[0];
    let slot = Slot::new(0).unwrap();
    assert_eq!(cluster.master_for_slot(slot).unwrap().id(), master.id());

    cluster.kill(master).unwrap();
    assert!(!pid_exists(master.pid()));
    cluster.failover(replica, FailoverKind::Force).unwrap();
    assert_eq!(role(replica), "master");
    cluster.wait_state_ok(Duration::from_secs(30)).unwrap();
    assert_eq!(cluster.master_for_slot(slot).unwrap().id(), replica.id());
    assert!(!cluster
        .masters()
        .unwrap()
        .iter()
        .any(|m| m.id() == master.id()));
    assert_eq!(cluster.seed_urls().len(), 5);
}

#[test]
fn graceful_failover_swaps_master_and_replica() {
    let cluster = Cluster::start(3, 1).unwrap();
    let master = &cluster.nodes()[1];
    let replica = cluster.replicas_of(master).unwrap()[0];
    cluster.failover(replica, FailoverKind::Default).unwrap();
    assert_eq!(role(replica), "master");
    let demoted = cluster.replicas_of(replica).unwrap();
    assert_eq!(demoted.len(), 1);
    assert_eq!(demoted[0].id(), master.id());
}

// ---------------------------------------------------------------------------------------------
// Sentinel

use slotshift::testing::SentinelSet;

fn sentinel_master_port(sentinel: &Node, name: &str) -> u16 {
    let (_, port): (String, String) = sentinel
        .query(
            redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(name),
        )
        .unwrap();
    port.parse().unwrap()
}

#[test]
fn sentinel_set_starts_healthy_and_leaves_nothing_behind() {
    let set = SentinelSet::builder()
        .password("sentinel-canary")
        .start()
        .unwrap();
    assert_eq!(set.master_name(), "mymaster");
    assert_eq!(set.sentinel_addrs().len(), 3);
    assert_eq!(set.replicas().len(), 1);
    for sentinel in set.sentinels() {
        assert_eq!(
            sentinel_master_port(sentinel, "mymaster"),
            set.master().port()
        );
    }
    assert_eq!(role(set.master()), "master");
    assert_eq!(role(set.replicas()[0]), "slave");
    // Data servers need the password; the URL carries it.
    assert!(set.master().url().contains(":sentinel-canary@"));
    assert_eq!(ping(&set.master().client()).unwrap(), "PONG");
    assert!(!format!("{set:?}").contains("sentinel-canary"));

    let pids: Vec<u32> = set
        .sentinels()
        .iter()
        .chain(set.data_nodes())
        .map(Node::pid)
        .collect();
    drop(set);
    for pid in pids {
        assert!(!pid_exists(pid), "pid {pid} survived its SentinelSet");
    }
}

#[test]
fn sentinel_promotes_the_replica_after_the_master_is_killed() {
    let set = SentinelSet::start().unwrap();
    let old = set.master().port();
    let replica = set.replicas()[0].port();
    set.kill_master().unwrap();
    let new = set.wait_for_new_master(Duration::from_secs(60)).unwrap();
    assert_eq!(new.port(), replica);
    assert_eq!(role(new), "master");
    assert_eq!(set.master().port(), replica);
    assert!(set.replicas().is_empty());
    for sentinel in set.sentinels() {
        let port = sentinel_master_port(sentinel, "mymaster");
        assert_ne!(port, old);
        assert_eq!(port, replica);
    }
}

#[test]
fn paused_master_is_failed_over_and_rejoins_as_replica_when_resumed() {
    let cluster = Cluster::builder()
        .masters(3)
        .replicas(1)
        .node_timeout_ms(1000)
        .start()
        .unwrap();
    let master = &cluster.nodes()[2];
    let replica = cluster.replicas_of(master).unwrap()[0];
    cluster.pause(master).unwrap();
    assert!(master.is_alive() && master.is_paused());
    // No manual failover: the replica is elected once the paused master is marked failed.
    cluster
        .wait_until_master(replica, Duration::from_secs(60))
        .unwrap();
    assert_eq!(role(replica), "master");
    cluster.resume(master).unwrap();
    cluster
        .wait_until_replica_of(master, replica, Duration::from_secs(60))
        .unwrap();
    assert_eq!(role(master), "slave");
    cluster.wait_state_ok(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_panicking_owner_leaves_no_server_behind() {
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let server = Standalone::start().unwrap();
        let cluster = Cluster::start(1, 0).unwrap();
        let mut pids = vec![server.pid()];
        pids.extend(cluster.nodes().iter().map(Node::pid));
        tx.send(pids).unwrap();
        panic!("test failure while servers run");
    })
    .join();
    assert!(outcome.is_err());
    let pids = rx.recv().unwrap();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(!pid_exists(pid), "pid {pid} survived a panic of its owner");
    }
}

#[test]
fn killed_nodes_restart_on_the_same_port() {
    let server = Standalone::start().unwrap();
    let (port, old_pid) = (server.port(), server.pid());
    assert!(
        server.node().restart().is_err(),
        "restarting a live server must fail"
    );
    server.kill().unwrap();
    server.node().restart().unwrap();
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), old_pid);
    assert!(server.node().is_alive());
    assert_eq!(ping(&server.client()).unwrap(), "PONG");

    let cluster = Cluster::start(1, 1).unwrap();
    let master = &cluster.nodes()[0];
    let replica = &cluster.nodes()[1];
    let id = replica.id().to_string();
    cluster.kill(replica).unwrap();
    cluster.restart(replica).unwrap();
    cluster
        .wait_until_replica_of(replica, master, Duration::from_secs(30))
        .unwrap();
    let myid: String = replica.query(redis::cmd("CLUSTER").arg("MYID")).unwrap();
    assert_eq!(myid, id);
    let mut con = master.client().get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    cluster.flushall().unwrap();
    let size: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 0);
    cluster.reset_stats().unwrap();
    cluster.wait_state_ok(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_server_that_cannot_start_reports_its_log_without_secrets() {
    // The bad directive carries the password, so redis-server echoes it in its error message.
    let err = Standalone::builder()
        .password("canary-secret")
        .config("no-such-directive", "canary-secret")
        .start()
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, EmbeddedError::Exited { .. }), "{message}");
    assert!(message.contains("no-such-directive"), "{message}");
    assert!(message.contains("***"), "{message}");
    assert!(!message.contains("canary-secret"), "{message}");
    assert!(!format!("{err:?}").contains("canary-secret"));
}
