//! MultiStore defects, on real servers (a standalone old store, a 3-master cluster new store):
//!
//! - a dual transaction whose keys span slots reaches a non-default cluster store as per-slot
//!   transactions (it used to be refused there, silently losing every write), and is refused
//!   before anything is sent when the default store is the cluster;
//! - a 200-command cross-slot batch with default arguments (a pipeline) and as a transaction
//!   reaches both stores in dual-write;
//! - a write that fails on the default store but succeeds on the other is counted and logged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use slotshift::cluster::RoutingError;
use slotshift::command::Cmd;
use slotshift::multistore::{Counter, FlagSource, MultiStore, MultiStoreOptions, Phase};
use slotshift::reply::Reply;
use slotshift::store::Store;
use slotshift::testing::{Cluster, Standalone};
use slotshift::Error;

fn cmd(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// Every warning logged in this test binary.
fn warnings() -> &'static Mutex<Vec<String>> {
    static LOGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            warnings().lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static LOGGER: Capture = Capture;
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Warn);
}

fn multistore(name: &str, old: &Standalone, new: &Cluster, phase: Phase) -> MultiStore {
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::InProcess(phase.flags());
    opts.strict = true;
    let ms = MultiStore::new(
        name,
        Store::open(&new.url()).unwrap(),
        Store::open(&old.url()).unwrap(),
        opts,
    )
    .unwrap();
    assert!(!ms.same_server());
    ms
}

#[test]
fn cross_slot_transactions_reach_a_non_default_cluster_per_slot() {
    let old = Standalone::start().unwrap();
    let new = Cluster::start(3, 0).unwrap();
    let ms = multistore("txsplit", &old, &new, Phase::DualWriteSecondaryDefault);
    let tx = [
        cmd(&["SET", "tx:a", "1"]),
        cmd(&["SET", "tx:b", "2"]),
        cmd(&["PING"]),
        cmd(&["INCR", "tx:c"]),
        cmd(&["APPEND", "tx:a", "x"]),
    ];
    // The keys really span slots.
    let slots: std::collections::BTreeSet<_> = ["tx:a", "tx:b", "tx:c"]
        .iter()
        .map(|k| slotshift::key_slot(k.as_bytes()))
        .collect();
    assert!(slots.len() > 1);

    let replies = ms.transaction(&tx).unwrap().unwrap();
    assert_eq!(
        replies,
        vec![
            Reply::Status("OK".into()),
            Reply::Status("OK".into()),
            Reply::Status("PONG".into()),
            Reply::Int(1),
            Reply::Int(2),
        ]
    );
    // Every write reached the cluster, in the caller's order per key.
    let cluster = ms.primary();
    assert_eq!(cluster.call(&cmd(&["GET", "tx:a"])).unwrap(), bulk("1x"));
    assert_eq!(cluster.call(&cmd(&["GET", "tx:b"])).unwrap(), bulk("2"));
    assert_eq!(cluster.call(&cmd(&["GET", "tx:c"])).unwrap(), bulk("1"));
    let m = ms.metrics();
    assert_eq!(m.total(Counter::NonDefaultWriteFailure), 0, "{m:?}");
    assert_eq!(m.total(Counter::PipelineDiff), 0, "{m:?}");
    assert_eq!(
        m.get(Counter::PerSlotTransactions, "multi"),
        slots.len() as u64
    );
    assert!(ms.metrics_text().contains(&format!(
        "slotshift_multi_store_per_slot_transactions_total{{instance_name=\"txsplit\",command=\"multi\"}} {}",
        slots.len()
    )));
    // A single-slot transaction stays one transaction.
    let one = [cmd(&["SET", "{u}a", "1"]), cmd(&["SET", "{u}b", "2"])];
    ms.transaction(&one).unwrap().unwrap();
    assert_eq!(
        ms.metrics().get(Counter::PerSlotTransactions, "multi"),
        slots.len() as u64
    );
}

/// 100 SETs and 100 INCRs over as many slots, as an application's batch would be.
fn two_hundred_commands(prefix: &str) -> Vec<Cmd> {
    let mut batch: Vec<Cmd> = (0..100)
        .map(|i| cmd(&["SET", &format!("{prefix}:s:{i}"), &format!("v{i}")]))
        .collect();
    batch.extend((0..100).map(|i| cmd(&["INCR", &format!("{prefix}:n:{i}")])));
    batch
}

/// Both stores of `ms` hold every write of [`two_hundred_commands`] (`GET`s on each store).
fn assert_both_hold(ms: &MultiStore, prefix: &str) {
    for (name, store) in [("cluster", ms.primary()), ("standalone", ms.secondary())] {
        let reads: Vec<Cmd> = (0..100)
            .flat_map(|i| {
                [
                    cmd(&["GET", &format!("{prefix}:s:{i}")]),
                    cmd(&["GET", &format!("{prefix}:n:{i}")]),
                ]
            })
            .collect();
        let got = store.pipeline(&reads).unwrap();
        for (i, pair) in got.chunks(2).enumerate() {
            assert_eq!(pair[0].as_ref().unwrap(), &bulk(&format!("v{i}")), "{name}");
            assert_eq!(pair[1].as_ref().unwrap(), &bulk("1"), "{name}");
        }
    }
}

#[test]
fn two_hundred_command_cross_slot_batches_reach_both_stores() {
    let old = Standalone::start().unwrap();
    let new = Cluster::start(3, 0).unwrap();
    let ms = multistore("batch200", &old, &new, Phase::DualWriteSecondaryDefault);
    let slots: std::collections::BTreeSet<_> = two_hundred_commands("p")
        .iter()
        .filter_map(|c| c.args().nth(1).map(slotshift::key_slot))
        .collect();
    assert!(slots.len() > 150, "{} slots", slots.len());

    // A pipeline with default arguments: not a transaction, so no per-slot transactions.
    let replies = ms.pipeline(&two_hundred_commands("p")).unwrap();
    assert_eq!(replies.len(), 200);
    assert!(replies.iter().all(Result::is_ok), "{replies:?}");
    assert!(ms.drain(Duration::from_secs(10)));
    assert_both_hold(&ms, "p");

    // The same batch as a transaction: the standalone (default) runs one MULTI, the cluster
    // one per slot, each counted.
    let replies = ms.transaction(&two_hundred_commands("t")).unwrap().unwrap();
    assert_eq!(replies.len(), 200);
    assert!(ms.drain(Duration::from_secs(10)));
    assert_both_hold(&ms, "t");
    let m = ms.metrics();
    assert_eq!(m.total(Counter::NonDefaultWriteFailure), 0, "{m:?}");
    assert_eq!(
        m.get(Counter::PerSlotTransactions, "multi"),
        slots.len() as u64
    );
}

#[test]
fn cross_slot_transaction_on_a_default_cluster_is_refused_before_sending() {
    let old = Standalone::start().unwrap();
    let new = Cluster::start(3, 0).unwrap();
    let ms = multistore("txrefused", &old, &new, Phase::DualWritePrimaryDefault);
    let tx = [cmd(&["SET", "r:a", "1"]), cmd(&["SET", "r:b", "2"])];
    let err = ms.transaction(&tx).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Routing(RoutingError::CrossSlotTransaction { .. })
        ),
        "{err}"
    );
    // Nothing reached either store.
    assert_eq!(
        ms.secondary()
            .call(&cmd(&["EXISTS", "r:a", "r:b"]))
            .unwrap(),
        Reply::Int(0)
    );
    for k in ["r:a", "r:b"] {
        assert_eq!(
            ms.primary().call(&cmd(&["EXISTS", k])).unwrap(),
            Reply::Int(0)
        );
    }
    assert_eq!(ms.metrics().total(Counter::DefaultWriteFailure), 0);
}

#[test]
fn default_failure_with_other_success_is_counted_and_logged() {
    capture_logs();
    let old = Standalone::start().unwrap();
    let new = Cluster::start(3, 0).unwrap();
    let ms = multistore("deffail", &old, &new, Phase::DualWriteSecondaryDefault);
    // Only the default store holds a value INCR refuses.
    ms.secondary()
        .call(&cmd(&["SET", "counter:secret-name", "not-a-number"]))
        .unwrap();
    let err = ms.call(&cmd(&["INCR", "counter:secret-name"])).unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err}");
    // The other store took it.
    assert_eq!(
        ms.primary()
            .call(&cmd(&["GET", "counter:secret-name"]))
            .unwrap(),
        bulk("1")
    );
    let m = ms.metrics();
    assert_eq!(m.get(Counter::DefaultWriteFailure, "incr"), 1, "{m:?}");
    assert!(ms.metrics_text().contains(
        "slotshift_multi_store_default_write_failure_total{instance_name=\"deffail\",command=\"incr\"} 1"
    ));
    let logs = warnings().lock().unwrap().clone();
    let line = logs
        .iter()
        .find(|l| l.contains("name=deffail") && l.contains("failed on the default store"))
        .unwrap_or_else(|| panic!("not logged: {logs:?}"));
    assert!(line.contains("command=incr"), "{line}");
    assert!(
        !line.contains("secret-name") && !line.contains("not-a-number"),
        "{line}"
    );
    // Both failing the same way is the caller's error, not a divergence.
    ms.primary()
        .call(&cmd(&["SET", "counter:both", "x"]))
        .unwrap();
    ms.secondary()
        .call(&cmd(&["SET", "counter:both", "x"]))
        .unwrap();
    assert!(ms.call(&cmd(&["INCR", "counter:both"])).is_err());
    assert_eq!(ms.metrics().total(Counter::DefaultWriteFailure), 1);
}
