//! A Sentinel-managed store: finds the master through the sentinels and follows a failover.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::time::Duration;

use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::reply::Reply;
use slotshift::store::{Store, StoreKind, StoreOptions};
use slotshift::testing::SentinelSet;

fn cmd(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

#[test]
fn follows_the_promoted_replica_after_the_master_dies() {
    let set = SentinelSet::builder()
        .password("sentinel-canary")
        .start()
        .unwrap();
    let url = format!(
        "redis+sentinel://:sentinel-canary@{}/{}",
        set.sentinel_addrs().join(","),
        set.master_name()
    );
    let mut opts = StoreOptions::default();
    opts.retry_deadline = Duration::from_secs(40);
    opts.idempotent_writes = true;
    let store = Store::connect(&Deployment::parse(&url).unwrap(), opts).unwrap();
    assert_eq!(store.kind(), StoreKind::Sentinel);
    let old = set.master().port();
    assert_eq!(store.masters().unwrap()[0].port, old);

    store.call(&cmd(&["SET", "before", "1"])).unwrap();
    set.master()
        .wait_replicated(&set.replicas(), Duration::from_secs(10))
        .unwrap();
    set.kill_master().unwrap();

    // The store retries (connection refused, then the sentinels name the new master).
    assert_eq!(
        store.call(&cmd(&["SET", "after", "2"])).unwrap(),
        Reply::Status("OK".into())
    );
    let new = set
        .wait_for_new_master(Duration::from_secs(30))
        .unwrap()
        .port();
    assert_ne!(new, old);
    assert_eq!(store.masters().unwrap()[0].port, new);
    assert_eq!(
        store.call(&cmd(&["GET", "before"])).unwrap(),
        Reply::Bulk(b"1".to_vec())
    );
    assert_eq!(
        store.call(&cmd(&["GET", "after"])).unwrap(),
        Reply::Bulk(b"2".to_vec())
    );
    assert!(store.stats().retries > 0);
}

#[test]
fn unknown_master_name_is_a_clear_error() {
    let set = SentinelSet::start().unwrap();
    let url = format!(
        "redis+sentinel://{}/no-such-master",
        set.sentinel_addrs().join(",")
    );
    let err = Store::open(&url).unwrap_err();
    assert!(
        err.to_string().contains("no master named 'no-such-master'"),
        "{err}"
    );
}
