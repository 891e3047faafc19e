//! Routing by the command tips on a real 3×1 cluster: all-shards commands reach every master
//! and their replies aggregate; a MOVED on the fast path is followed without asking the old
//! owner twice; the caller's timeouts are the ones used.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use slotshift::command::Cmd;
use slotshift::reply::Reply;
use slotshift::slot::key_slot;
use slotshift::store::{ConnectionErrorKind, Store, StoreOptions};
use slotshift::testing::Cluster;
use slotshift::Error;

fn cmd(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

fn keys_on_every_master(cluster: &Cluster, n: usize) -> Vec<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("route:{i}")).collect();
    let owners: BTreeSet<u16> = keys
        .iter()
        .map(|k| {
            cluster
                .master_for_slot(key_slot(k.as_bytes()))
                .unwrap()
                .port()
        })
        .collect();
    assert_eq!(
        owners.len(),
        3,
        "the keys must spread over the three masters"
    );
    keys
}

fn dbsize_of_each_master(cluster: &Cluster) -> Vec<i64> {
    cluster
        .masters()
        .unwrap()
        .iter()
        .map(|m| m.query::<i64>(&redis::cmd("DBSIZE")).unwrap())
        .collect()
}

#[test]
fn all_shards_commands_reach_every_master() {
    let cluster = Cluster::start(3, 1).unwrap();
    let store = Store::open(&cluster.url()).unwrap();
    let keys = keys_on_every_master(&cluster, 30);
    for k in &keys {
        store.call(&cmd(&["SET", k, k])).unwrap();
    }

    // DBSIZE sums the masters (one master alone holds about a third).
    let per_master = dbsize_of_each_master(&cluster);
    assert!(
        per_master.iter().all(|&n| n > 0 && n < 30),
        "{per_master:?}"
    );
    assert_eq!(store.call(&cmd(&["DBSIZE"])).unwrap(), Reply::Int(30));

    // KEYS returns every master's keys.
    let Reply::Array(found) = store.call(&cmd(&["KEYS", "route:*"])).unwrap() else {
        panic!("KEYS answered no array");
    };
    let found: BTreeSet<Vec<u8>> = found
        .into_iter()
        .map(|r| r.as_bytes().unwrap().to_vec())
        .collect();
    let expected: BTreeSet<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
    assert_eq!(found, expected);

    // SCRIPT LOAD reaches every node, so EVALSHA works for keys on every master.
    let sha = store
        .call(&cmd(&[
            "SCRIPT",
            "LOAD",
            "return redis.call('GET', KEYS[1])",
        ]))
        .unwrap();
    let sha = String::from_utf8(sha.as_bytes().unwrap().to_vec()).unwrap();
    for k in &keys {
        let got = store.call(&cmd(&["EVALSHA", &sha, "1", k])).unwrap();
        assert_eq!(got, Reply::Bulk(k.as_bytes().to_vec()), "{k}");
    }
    let exists = store
        .call(&cmd(&["SCRIPT", "EXISTS", &sha, "0000"]))
        .unwrap();
    assert_eq!(exists, Reply::Array(vec![Reply::Int(1), Reply::Int(0)]));

    // The same through a pipeline: a fan-out keeps its place among the other commands.
    let replies = store
        .pipeline(&[
            cmd(&["SET", "route:extra", "x"]),
            cmd(&["DBSIZE"]),
            cmd(&["DEL", "route:extra"]),
            cmd(&["DBSIZE"]),
        ])
        .unwrap();
    let replies: Vec<Reply> = replies.into_iter().map(Result::unwrap).collect();
    assert_eq!(replies[1], Reply::Int(31));
    assert_eq!(replies[3], Reply::Int(30));

    // RANDOMKEY finds a key when only one master holds any.
    store.call(&cmd(&["FLUSHALL"])).unwrap();
    assert_eq!(store.call(&cmd(&["RANDOMKEY"])).unwrap(), Reply::Nil);
    store.call(&cmd(&["SET", "route:lonely", "1"])).unwrap();
    for _ in 0..6 {
        assert_eq!(
            store.call(&cmd(&["RANDOMKEY"])).unwrap(),
            Reply::Bulk(b"route:lonely".to_vec())
        );
    }

    // FLUSHALL empties every master.
    for k in &keys {
        store.call(&cmd(&["SET", k, "again"])).unwrap();
    }
    assert_eq!(
        store.call(&cmd(&["FLUSHALL"])).unwrap(),
        Reply::Status("OK".into())
    );
    assert_eq!(dbsize_of_each_master(&cluster), vec![0, 0, 0]);
    assert_eq!(store.call(&cmd(&["DBSIZE"])).unwrap(), Reply::Int(0));
}

#[test]
fn node_for_names_the_master_of_the_first_keys_slot() {
    let cluster = Cluster::start(3, 1).unwrap();
    let store = Store::open(&cluster.url()).unwrap();
    for k in keys_on_every_master(&cluster, 30) {
        let owner = cluster.master_for_slot(key_slot(k.as_bytes())).unwrap();
        for args in [&["GET", &k][..], &["MGET", &k, "other"], &["SET", &k, "v"]] {
            let node = store.node_for(&cmd(args)).unwrap();
            assert_eq!(node.map(|n| n.port), Some(owner.port()), "{args:?}");
        }
    }
    for keyless in [&["PING"][..], &["DBSIZE"], &["INFO"]] {
        assert_eq!(store.node_for(&cmd(keyless)).unwrap(), None, "{keyless:?}");
    }
    assert_eq!(store.database(), 0);
}

#[test]
fn slot_addressed_cluster_commands_go_to_the_slots_master() {
    let cluster = Cluster::start(3, 0).unwrap();
    let store = Store::open(&cluster.url()).unwrap();
    let keys = keys_on_every_master(&cluster, 30);
    for k in &keys {
        store.call(&cmd(&["SET", k, "v"])).unwrap();
    }
    let one_by_one: Vec<Cmd> = keys
        .iter()
        .map(|k| {
            let slot = key_slot(k.as_bytes()).get().to_string();
            let owner = cluster.master_for_slot(key_slot(k.as_bytes())).unwrap();
            let count = cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot]);
            assert_eq!(
                store.node_for(&count).unwrap().map(|n| n.port),
                Some(owner.port())
            );
            // Alone: at least this key (another of the 30 may share its slot).
            assert!(store.call(&count).unwrap().as_int().unwrap() >= 1, "{k}");
            let listed = store
                .call(&cmd(&["CLUSTER", "GETKEYSINSLOT", &slot, "100"]))
                .unwrap();
            let Reply::Array(listed) = listed else {
                panic!("GETKEYSINSLOT answered {listed:?}")
            };
            assert!(
                listed.iter().any(|r| r.as_bytes() == Some(k.as_bytes())),
                "{k}: {listed:?}"
            );
            count
        })
        .collect();
    // In a pipeline too: each goes to its slot's master, none answers 0.
    let counts = store.pipeline(&one_by_one).unwrap();
    assert!(counts
        .iter()
        .all(|r| r.as_ref().unwrap().as_int().unwrap() >= 1));
}

#[test]
fn a_fan_out_that_fails_on_one_master_is_an_error() {
    let cluster = Cluster::start(3, 0).unwrap();
    let store = Store::open(&cluster.url()).unwrap();
    // A script that cannot compile fails on every master: the error reaches the caller.
    let err = store
        .call(&cmd(&["SCRIPT", "LOAD", "this is not lua"]))
        .unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err}");
}

/// Moves `slot` with its keys to another master; returns its old owner.
fn move_to_another_master(cluster: &Cluster, slot: slotshift::Slot) -> &slotshift::testing::Node {
    let old = cluster.master_for_slot(slot).unwrap();
    let new = cluster
        .masters()
        .unwrap()
        .into_iter()
        .find(|m| m.id() != old.id())
        .unwrap();
    cluster.move_slot(slot, old, new).unwrap();
    old
}

fn errorstat_moved(node: &slotshift::testing::Node) -> u64 {
    node.info_field("errorstats", "errorstat_MOVED")
        .unwrap()
        .and_then(|v| v.strip_prefix("count=").map(|n| n.parse::<u64>().unwrap()))
        .unwrap_or(0)
}

#[test]
fn one_get_after_its_slot_moved_meets_the_old_owner_once() {
    let cluster = Cluster::start(3, 0).unwrap();
    let mut opts = StoreOptions::default();
    opts.topology_refresh_interval = None; // only the MOVED may teach the store
    let store = Store::open_with_options(&cluster.url(), opts).unwrap();
    store.call(&cmd(&["SET", "moving", "value"])).unwrap();
    let slot = key_slot(b"moving");
    let old = move_to_another_master(&cluster, slot);
    cluster.reset_stats().unwrap();

    let got = store.call(&cmd(&["GET", "moving"])).unwrap();
    assert_eq!(got, Reply::Bulk(b"value".to_vec()));
    assert_eq!(
        errorstat_moved(old),
        1,
        "the old owner was asked more than once"
    );
    assert_eq!(store.stats().moved, 1);
    // The slot map learned the move: the next GET goes straight to the new owner.
    store.call(&cmd(&["GET", "moving"])).unwrap();
    assert_eq!(errorstat_moved(old), 1);
}

#[test]
fn the_callers_timeouts_are_the_ones_used() {
    let cluster = Cluster::start(3, 0).unwrap();
    let mut opts = StoreOptions::default();
    opts.response_timeout = Duration::from_millis(300);
    // A URL that states no timeout leaves the caller's as given.
    let store = Store::open_with_options(&cluster.url(), opts).unwrap();
    assert_eq!(store.options().response_timeout, Duration::from_millis(300));
    let slot = key_slot(b"stalled");
    let owner = cluster.master_for_slot(slot).unwrap();
    store.call(&cmd(&["SET", "stalled", "1"])).unwrap();
    cluster.pause(owner).unwrap();
    let t = Instant::now();
    let read = store.call(&cmd(&["GET", "stalled"]));
    let took = t.elapsed();
    cluster.resume(owner).unwrap();
    match read.unwrap_err() {
        Error::Connection(c) => assert_eq!(c.kind, ConnectionErrorKind::Timeout, "{c}"),
        other => panic!("expected a timeout, got {other}"),
    }
    assert!(took < Duration::from_secs(1), "{took:?}");

    // A URL that states a timeout wins over the options.
    let mut opts = StoreOptions::default();
    opts.response_timeout = Duration::from_millis(300);
    let url = format!("{}?command_timeout=1500ms", cluster.url());
    let store = Store::open_with_options(&url, opts).unwrap();
    assert_eq!(
        store.options().response_timeout,
        Duration::from_millis(1500)
    );
}

#[test]
fn the_slot_map_is_refreshed_without_a_moved() {
    let cluster = Cluster::start(3, 0).unwrap();
    let mut opts = StoreOptions::default();
    opts.topology_refresh_interval = Some(Duration::from_millis(200));
    let store = Store::open_with_options(&cluster.url(), opts).unwrap();
    store.call(&cmd(&["SET", "drifting", "value"])).unwrap();
    let slot = key_slot(b"drifting");
    let old = move_to_another_master(&cluster, slot);
    cluster.reset_stats().unwrap();
    let refreshes = store.stats().refreshes;
    // Wait (bounded) until the background refresh has run twice: the move is then known.
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.stats().refreshes < refreshes + 2 {
        assert!(Instant::now() < deadline, "no periodic refresh ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = store.call(&cmd(&["GET", "drifting"])).unwrap();
    assert_eq!(got, Reply::Bulk(b"value".to_vec()));
    assert_eq!(
        errorstat_moved(old),
        0,
        "the store still sent the GET to the old owner"
    );
    assert_eq!(store.stats().moved, 0);
}
