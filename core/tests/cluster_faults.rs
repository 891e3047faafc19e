//! Cluster faults that must end in a clear error within their deadline, and the features
//! around them: auth on every node, cross-slot transactions, replica reads, scan, server id.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::time::{Duration, Instant};

use slotshift::cluster::RoutingError;
use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::keyspace::ScanOptions;
use slotshift::reply::Reply;
use slotshift::slot::key_slot;
use slotshift::store::{ConnectionErrorKind, Store, StoreKind, StoreOptions};
use slotshift::testing::Cluster;
use slotshift::Error;

fn cmd(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

fn open(url: &str, tweak: impl FnOnce(&mut StoreOptions)) -> slotshift::Result<Store> {
    let mut opts = StoreOptions::default();
    tweak(&mut opts);
    Store::connect(&Deployment::parse(url).unwrap(), opts)
}

#[test]
fn migrating_without_importing_ends_in_too_many_redirects() {
    let cluster = Cluster::start(3, 0).unwrap();
    let store = open(&cluster.url(), |_| {}).unwrap();
    let slot = key_slot(b"loop");
    let source = cluster.master_for_slot(slot).unwrap();
    let target = cluster
        .masters()
        .unwrap()
        .into_iter()
        .find(|m| m.id() != source.id())
        .unwrap();
    let migration = cluster.slot_migration(slot, source, target).unwrap();
    migration.set_migrating().unwrap(); // no IMPORTING on the target: ASK ↔ MOVED ping-pong
    let t = Instant::now();
    let err = store.call(&cmd(&["GET", "loop"])).unwrap_err();
    let took = t.elapsed();
    migration.abort().unwrap();
    match &err {
        Error::Routing(RoutingError::TooManyRedirects {
            slot: s,
            redirects,
            path,
        }) => {
            assert_eq!(*s, slot);
            assert_eq!(*redirects, 16);
            assert!(
                path.iter().any(|p| p.contains("ASK")) && path.iter().any(|p| p.contains("MOVED")),
                "{path:?}"
            );
        }
        other => panic!("unexpected {other}"),
    }
    assert!(took < Duration::from_secs(10), "{took:?}");
    // After the abort the slot is served again.
    assert_eq!(store.call(&cmd(&["GET", "loop"])).unwrap(), Reply::Nil);
}

#[test]
fn a_paused_master_ends_in_a_timeout_and_other_masters_keep_serving() {
    let cluster = Cluster::builder()
        .masters(3)
        .node_timeout_ms(30_000)
        .start()
        .unwrap();
    let store = open(&cluster.url(), |o| {
        o.response_timeout = Duration::from_millis(400);
        o.retry_deadline = Duration::from_secs(2);
    })
    .unwrap();
    let frozen_slot = key_slot(b"frozen");
    let frozen = cluster.master_for_slot(frozen_slot).unwrap();
    let other_key = (0..)
        .map(|i| format!("other:{i}"))
        .find(|k| {
            cluster
                .master_for_slot(key_slot(k.as_bytes()))
                .unwrap()
                .id()
                != frozen.id()
        })
        .unwrap();
    store.call(&cmd(&["SET", "frozen", "1"])).unwrap();
    cluster.pause(frozen).unwrap();
    let t = Instant::now();
    let write = store.call(&cmd(&["SET", "frozen", "2"]));
    let read = store.call(&cmd(&["GET", "frozen"]));
    let healthy = store.call(&cmd(&["SET", &other_key, "fine"]));
    let took = t.elapsed();
    cluster.resume(frozen).unwrap();
    match write.unwrap_err() {
        Error::Connection(c) => {
            assert_eq!(c.kind, ConnectionErrorKind::Timeout);
            assert!(c.outcome_unknown);
            assert!(c.node.ends_with(&frozen.port().to_string()), "{}", c.node);
        }
        other => panic!("unexpected {other}"),
    }
    // The read is not retried past the caller's timeout: a timeout error, not the deadline.
    match read.unwrap_err() {
        Error::Connection(c) => assert_eq!(c.kind, ConnectionErrorKind::Timeout, "{c}"),
        other => panic!("unexpected {other}"),
    }
    assert_eq!(healthy.unwrap(), Reply::Status("OK".into()));
    assert!(took < Duration::from_secs(8), "{took:?}");
    // The store recovers; the timed-out SET sat in the socket and may well have run after the
    // resume — which is exactly why it was reported as "outcome unknown" and not re-sent.
    let after = store.call(&cmd(&["GET", "frozen"])).unwrap();
    assert!(
        after == Reply::Bulk(b"1".to_vec()) || after == Reply::Bulk(b"2".to_vec()),
        "{after:?}"
    );
}

#[test]
fn auth_is_used_on_every_node_and_a_wrong_password_is_clear() {
    let cluster = Cluster::builder()
        .masters(3)
        .password("cluster-canary")
        .start()
        .unwrap();
    let port = cluster.masters().unwrap()[0].port();
    let good = format!("redis://:cluster-canary@127.0.0.1:{port}");
    let store = open(&good, |_| {}).unwrap();
    assert_eq!(store.kind(), StoreKind::Cluster);
    // Keys on every master: every node (and every redirect target) needs the password.
    let cmds: Vec<Cmd> = (0..300)
        .map(|i| cmd(&["SET", &format!("auth:{i}"), "v"]))
        .collect();
    assert!(store.pipeline(&cmds).unwrap().iter().all(|r| r.is_ok()));

    let t = Instant::now();
    let err = open(&format!("redis://:wrong-canary@127.0.0.1:{port}"), |_| {}).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(&err, Error::Connection(c) if c.kind == ConnectionErrorKind::Auth),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("canary"));
}

#[test]
fn acl_user_on_a_cluster() {
    let cluster = Cluster::builder()
        .masters(3)
        .acl_user("app", "app-pw")
        .start()
        .unwrap();
    let store = open(&cluster.url(), |_| {}).unwrap();
    let cmds: Vec<Cmd> = (0..100)
        .map(|i| cmd(&["INCR", &format!("acl:{i}")]))
        .collect();
    assert!(store
        .pipeline(&cmds)
        .unwrap()
        .iter()
        .all(|r| matches!(r, Ok(Reply::Int(1)))));
}

#[test]
fn unknown_host_seed_is_a_clear_error() {
    let t = Instant::now();
    let err = open(
        "redis://no-such-host.invalid:7000,also-missing.invalid:7001",
        |o| o.connect_timeout = Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    match &err {
        Error::Routing(RoutingError::NoTopology { tried, last }) => {
            assert_eq!(tried.len(), 2);
            assert!(last.contains("also-missing.invalid"), "{last}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn transactions_pipelines_scan_and_ids_on_a_cluster() {
    let cluster = Cluster::start(3, 1).unwrap();
    let store = open(&cluster.url(), |o| o.read_from_replicas = true).unwrap();
    assert_eq!(store.kind(), StoreKind::Cluster);
    assert_eq!(store.masters().unwrap().len(), 3);

    // One slot: runs.
    let tx = store
        .transaction(&[cmd(&["INCR", "{u1}.a"]), cmd(&["INCR", "{u1}.b"])])
        .unwrap()
        .unwrap();
    assert_eq!(tx, vec![Reply::Int(1), Reply::Int(1)]);
    // Two slots: refused before anything is sent.
    let err = store
        .transaction(&[cmd(&["INCR", "tx-a"]), cmd(&["INCR", "tx-b"])])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Routing(RoutingError::CrossSlotTransaction { .. })
        ),
        "{err}"
    );
    assert_eq!(
        store.call(&cmd(&["EXISTS", "tx-a"])).unwrap(),
        Reply::Int(0)
    );

    // A pipeline over every node, replies in the caller's order.
    let n = 3000;
    let sets: Vec<Cmd> = (0..n)
        .map(|i| cmd(&["SET", &format!("p:{i}"), &format!("p:{i}|v")]))
        .collect();
    assert!(store
        .pipeline(&sets)
        .unwrap()
        .into_iter()
        .all(|r| r.is_ok()));
    // Every replica has every write before replica reads (WAIT cannot tell: see
    // `Node::wait_replicated`).
    for master in cluster.masters().unwrap() {
        let replicas = cluster.replicas_of(master).unwrap();
        master
            .wait_replicated(&replicas, Duration::from_secs(10))
            .unwrap();
    }
    let gets: Vec<Cmd> = (0..n).map(|i| cmd(&["GET", &format!("p:{i}")])).collect();
    for (i, r) in store.pipeline(&gets).unwrap().into_iter().enumerate() {
        assert_eq!(r.unwrap(), Reply::Bulk(format!("p:{i}|v").into_bytes()));
    }

    // Single reads go to replicas (READONLY connections), and return the written values.
    for i in 0..60 {
        let r = store.call(&cmd(&["GET", &format!("p:{i}")])).unwrap();
        assert_eq!(r, Reply::Bulk(format!("p:{i}|v").into_bytes()));
    }
    let master_ids: Vec<String> = cluster
        .masters()
        .unwrap()
        .iter()
        .map(|m| m.id().to_string())
        .collect();
    let replica_gets: u64 = cluster
        .nodes()
        .iter()
        .filter(|n| !master_ids.iter().any(|id| id == n.id()))
        .map(|n| {
            let stats = n.info("commandstats").unwrap();
            stats
                .lines()
                .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
                .and_then(|rest| rest.split(',').next())
                .and_then(|c| c.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    assert!(replica_gets >= 60, "replicas served {replica_gets} GETs");
    // A dead replica: its reads fall back to the master.
    let replica = cluster
        .nodes()
        .iter()
        .find(|n| !master_ids.iter().any(|id| id == n.id()))
        .unwrap();
    cluster.kill(replica).unwrap();
    for i in 0..60 {
        let r = store.call(&cmd(&["GET", &format!("p:{i}")])).unwrap();
        assert_eq!(r, Reply::Bulk(format!("p:{i}|v").into_bytes()));
    }

    let mut seen = Vec::new();
    for batch in store.scan(ScanOptions::matching("p:*")).unwrap() {
        seen.extend(batch.unwrap());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n);

    let id = store.server_id().unwrap();
    assert_eq!(id.run_ids.len(), 3);
    let again = open(&cluster.seed_urls()[2], |_| {})
        .unwrap()
        .server_id()
        .unwrap();
    assert_eq!(id, again);
    assert!(store.publish("news", "hi").unwrap() >= 0);
}
