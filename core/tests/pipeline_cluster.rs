//! The CrossSlot batcher on a real 3-master cluster, against one real standalone server given
//! the same commands:
//!
//! - MSET/MGET/EXISTS/DEL/UNLINK/TOUCH of 100,000 keys with batch limits 1000, 7 and 1 give the
//!   standalone's replies; no batch exceeds the limit (the store's own batch histogram), and the
//!   masters' `INFO commandstats` count exactly one sub-command per slot;
//! - a mixed pipeline gives the standalone's replies;
//! - the same while slots are resharded under it;
//! - one master killed: the live masters' keys come back, the dead master's keys say they
//!   failed, the call returns;
//! - a standalone store never splits (one MGET reaches the server).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::instrument::{self, Recorder};
use slotshift::pipeline::PipelineError;
use slotshift::reply::Reply;
use slotshift::slot::{key_slot, Slot};
use slotshift::store::{Store, StoreKind, StoreOptions};
use slotshift::testing::{Cluster, Node, Standalone};
use slotshift::Error;

fn open(url: &str, name: &str, limit: usize) -> Store {
    let mut opts = StoreOptions::default();
    opts.name = name.to_owned();
    opts.batch_limit = Some(limit);
    opts.retry_deadline = Duration::from_secs(30);
    opts.response_timeout = Duration::from_secs(5);
    Store::connect(&Deployment::parse(url).unwrap(), opts).unwrap()
}

fn keys(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

fn cmd_with(name: &str, keys: &[String]) -> Cmd {
    let mut c = Cmd::new(name);
    for k in keys {
        c.arg(k);
    }
    c
}

fn mset(keys: &[String], version: &str) -> Cmd {
    let mut c = Cmd::new("MSET");
    for k in keys {
        c.arg(k).arg(format!("{k}={version}"));
    }
    c
}

/// `cmdstat_<name>` calls summed over `nodes`.
fn calls(nodes: &[&Node], name: &str) -> u64 {
    nodes
        .iter()
        .map(|n| {
            n.info("commandstats")
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
                .and_then(|rest| rest.split(',').next())
                .map_or(0, |v| v.parse::<u64>().unwrap())
        })
        .sum()
}

fn distinct_slots(keys: &[String]) -> u64 {
    let mut s: Vec<Slot> = keys.iter().map(|k| key_slot(k.as_bytes())).collect();
    s.sort_unstable();
    s.dedup();
    s.len() as u64
}

/// The same sequence on both stores gives the same replies.
fn same_replies(cluster: &Store, standalone: &Store, cmds: &[Cmd]) {
    for (i, c) in cmds.iter().enumerate() {
        let a = cluster.call(c).unwrap();
        let b = standalone.call(c).unwrap();
        assert!(a == b, "command {i} ({c:?}): cluster and standalone differ");
    }
}

#[test]
fn hundred_thousand_keys_at_three_batch_limits() {
    let cluster = Cluster::start(3, 0).unwrap();
    let single = Standalone::start().unwrap();
    let all = keys(100_000, "big");
    let missing = keys(50, "absent");
    let third: Vec<String> = all.iter().step_by(3).cloned().collect();
    let mut mget_keys = all.clone();
    mget_keys.extend(missing.iter().cloned());
    mget_keys.push(all[5].clone()); // a duplicate keeps its position

    for limit in [1000usize, 7, 1] {
        cluster.flushall().unwrap();
        cluster.reset_stats().unwrap();
        let name = format!("pipeline_big_{limit}");
        let store = open(&cluster.url(), &name, limit);
        assert_eq!(store.kind(), StoreKind::Cluster);
        let reference = open(&single.url(), &format!("{name}_ref"), limit);
        reference.call(&Cmd::from_args(["FLUSHALL"])).unwrap();

        let recorder = Recorder::start();
        let cmds = vec![
            mset(&all, "v1"),
            cmd_with("MGET", &mget_keys),
            cmd_with("EXISTS", &mget_keys),
            cmd_with("TOUCH", &third),
            cmd_with("DEL", &third),
            cmd_with("EXISTS", &all),
            cmd_with("MGET", &all),
            cmd_with("UNLINK", &all),
            cmd_with("MGET", &all[..1000]),
        ];
        same_replies(&store, &reference, &cmds);
        recorder.stop();

        // The recorder saw the caller's commands (cluster and standalone), not the parts.
        assert_eq!(recorder.by_command("mget").len(), 6);
        assert_eq!(recorder.count(), 18);

        // Server side: each multi-key command reached the masters once per slot.
        let masters = cluster.masters().unwrap();
        assert_eq!(calls(&masters, "mset"), distinct_slots(&all));
        assert_eq!(
            calls(&masters, "mget"),
            distinct_slots(&mget_keys) + distinct_slots(&all) + distinct_slots(&all[..1000])
        );
        assert_eq!(calls(&masters, "del"), distinct_slots(&third));

        // No batch exceeded the limit, and the batches add up to the parts.
        let stats = instrument::stats(&name).unwrap();
        assert!(
            stats.max_batch <= limit as u64,
            "limit {limit}: batch of {}",
            stats.max_batch
        );
        assert!(stats.max_batch >= 1);
        let parts_sent: u64 = ["mset", "mget", "exists", "touch", "del", "unlink"]
            .iter()
            .map(|c| calls(&masters, c))
            .sum();
        assert!(stats.batches.count() >= parts_sent.div_ceil(limit as u64));
        assert!(
            stats.batches.sum() as u64 == parts_sent,
            "every part in exactly one batch"
        );
    }
}

#[test]
fn mixed_pipelines_match_a_standalone_server() {
    let cluster = Cluster::start(3, 0).unwrap();
    let single = Standalone::start().unwrap();
    for limit in [1000usize, 3] {
        cluster.flushall().unwrap();
        let store = open(&cluster.url(), &format!("pipeline_mixed_{limit}"), limit);
        let reference = open(&single.url(), &format!("pipeline_mixed_ref_{limit}"), limit);
        reference.call(&Cmd::from_args(["FLUSHALL"])).unwrap();
        let mut cmds = Vec::new();
        for i in 0..400 {
            let k = format!("mix:{i}");
            let ks: Vec<String> = (0..5)
                .map(|j| format!("mix:{}", (i * 7 + j) % 400))
                .collect();
            cmds.push(Cmd::from_args(["SET", &k, &format!("{i}")]));
            cmds.push(Cmd::from_args(["INCR", &format!("ctr:{}", i % 13)]));
            cmds.push(cmd_with("MGET", &ks));
            if i % 5 == 0 {
                cmds.push(cmd_with("DEL", &ks[..2]));
                cmds.push(cmd_with("EXISTS", &ks));
                cmds.push(Cmd::from_args(["GET", &k]));
                cmds.push(Cmd::from_args(["MSET", &ks[0], "a", &ks[3], "b"]));
            }
        }
        cmds.push(Cmd::from_args(["MSETNX", "mix:1", "x", "mix:2", "y"]));
        cmds.push(Cmd::from_args(["PING"]));
        let a = store.pipeline(&cmds).unwrap();
        let b = reference.pipeline(&cmds).unwrap();
        assert_eq!(a.len(), b.len());
        let n = cmds.len();
        for (i, (x, y)) in a.iter().zip(&b).enumerate().take(n - 2) {
            assert_eq!(
                x.as_ref().unwrap(),
                y.as_ref().unwrap(),
                "limit {limit}, command {i}"
            );
        }
        // MSETNX across slots is refused on the cluster, and nothing of it was written.
        let err = a[n - 2].as_ref().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Pipeline(PipelineError::CannotSplit { slots: 2, .. })
            ),
            "{err}"
        );
        assert!(err
            .to_string()
            .starts_with("MSETNX: its keys hash to 2 different slots"));
        assert_eq!(a[n - 1].as_ref().unwrap(), &Reply::Status("PONG".into()));
        let after = store
            .call(&Cmd::from_args(["MGET", "mix:1", "mix:2"]))
            .unwrap();
        let after_ref = reference
            .call(&Cmd::from_args(["MGET", "mix:1", "mix:2"]))
            .unwrap();
        // The standalone ran MSETNX (0: keys exist), the cluster refused it: same values.
        assert_eq!(after, after_ref);
    }
}

#[test]
fn resharding_under_the_batcher() {
    let cluster = Arc::new(Cluster::start(3, 0).unwrap());
    let all = keys(20_000, "rs");
    let store = open(&cluster.url(), "pipeline_reshard", 7);
    let stop = Arc::new(AtomicBool::new(false));
    let mover = {
        let cluster = cluster.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut moved = 0;
            let mut i = 0usize;
            // Every slot moves once: the highest slots of the first and the last master go to
            // the middle one, in turn (moving one slot back and forth at once races the
            // cluster's own epoch handling, which is not what this test is about).
            let masters = cluster.masters().unwrap();
            let ports: Vec<u16> = masters.iter().map(|m| m.port()).collect();
            while !stop.load(Ordering::SeqCst) && moved < 60 {
                let node = |p: u16| cluster.node_by_port(p).unwrap();
                let from = node(if i.is_multiple_of(2) {
                    ports[0]
                } else {
                    ports[2]
                });
                let to = node(ports[1]);
                moved += cluster.move_slots(3, from, to).unwrap().len();
                i += 1;
            }
            moved
        })
    };
    let mut rounds = 0;
    for version in 0..12 {
        let v = format!("v{version}");
        assert_eq!(
            store.call(&mset(&all, &v)).unwrap(),
            Reply::Status("OK".into())
        );
        let got = store.call(&cmd_with("MGET", &all)).unwrap();
        let Reply::Array(values) = got else {
            panic!("MGET gave {got:?}")
        };
        assert_eq!(values.len(), all.len());
        for (k, value) in all.iter().zip(&values) {
            assert_eq!(
                value,
                &Reply::Bulk(format!("{k}={v}").into_bytes()),
                "{k} at {v}"
            );
        }
        let half: Vec<String> = all.iter().step_by(2).cloned().collect();
        let deleted = store.call(&cmd_with("DEL", &half)).unwrap();
        assert_eq!(deleted, Reply::Int(half.len() as i64));
        let exists = store.call(&cmd_with("EXISTS", &all)).unwrap();
        assert_eq!(exists, Reply::Int((all.len() - half.len()) as i64));
        rounds += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let moved = mover.join().unwrap();
    assert_eq!(rounds, 12);
    assert!(moved > 0, "no slot moved during the run");
    let router = store.stats();
    assert!(
        router.moved + router.ask + router.tryagain > 0,
        "no redirect seen: {router:?}"
    );
}

#[test]
fn a_dead_master_fails_only_its_parts() {
    let cluster = Cluster::builder()
        .masters(3)
        .replicas(0)
        .config("cluster-require-full-coverage", "no")
        .start()
        .unwrap();
    let mut opts = StoreOptions::default();
    opts.name = "pipeline_dead".to_owned();
    opts.batch_limit = Some(50);
    opts.retry_deadline = Duration::from_secs(2);
    opts.response_timeout = Duration::from_secs(1);
    opts.connect_timeout = Duration::from_millis(500);
    let store = Store::connect(&Deployment::parse(&cluster.url()).unwrap(), opts).unwrap();
    let all = keys(30_000, "dead");
    assert_eq!(
        store.call(&mset(&all, "v")).unwrap(),
        Reply::Status("OK".into())
    );

    let victim = cluster.masters().unwrap()[1];
    let dead_slots = cluster.slots_of(victim).unwrap();
    let on_dead = |k: &str| dead_slots.contains(&key_slot(k.as_bytes()));

    // Kill it while MGETs run (limit 50: hundreds of rounds per call).
    let killer = {
        let port = victim.port();
        let cluster_ref = &cluster;
        std::thread::scope(|s| {
            let h = s.spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                let node = cluster_ref.node_by_port(port).unwrap();
                cluster_ref.kill(node).unwrap();
            });
            let mut outcomes = Vec::new();
            for _ in 0..3 {
                outcomes.push(store.call(&cmd_with("MGET", &all)));
            }
            h.join().unwrap();
            outcomes
        })
    };
    // Whatever each call saw, every key is either its value or a failure on the dead master.
    for outcome in killer {
        match outcome {
            Ok(Reply::Array(values)) => {
                for (k, v) in all.iter().zip(values) {
                    assert_eq!(v, Reply::Bulk(format!("{k}=v").into_bytes()));
                }
            }
            Err(Error::Pipeline(PipelineError::PartialFailure(p))) => {
                for k in p.failed_keys() {
                    assert!(on_dead(std::str::from_utf8(k).unwrap()));
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // Now it is dead for sure: exactly its keys fail, the others come back.
    let err = store.call(&cmd_with("MGET", &all)).unwrap_err();
    let Error::Pipeline(PipelineError::PartialFailure(p)) = err else {
        panic!("{err}")
    };
    let want_failed: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|k| on_dead(k))
        .collect();
    let failed: Vec<&str> = p
        .failed_keys()
        .iter()
        .map(|k| std::str::from_utf8(k).unwrap())
        .collect();
    assert_eq!(failed, want_failed);
    assert!(!failed.is_empty() && failed.len() < all.len());
    for (k, r) in all.iter().zip(p.per_key()) {
        match r {
            Ok(v) => {
                assert!(!on_dead(k));
                assert_eq!(v, &Reply::Bulk(format!("{k}=v").into_bytes()));
            }
            Err(_) => assert!(on_dead(k)),
        }
    }
    // DEL across all masters: the live part's count is kept, the dead part is reported.
    let live: Vec<String> = all
        .iter()
        .filter(|k| !on_dead(k))
        .take(100)
        .cloned()
        .collect();
    let dead: Vec<String> = all
        .iter()
        .filter(|k| on_dead(k))
        .take(100)
        .cloned()
        .collect();
    let mut both = live.clone();
    both.extend(dead.iter().cloned());
    let err = store.call(&cmd_with("DEL", &both)).unwrap_err();
    let Error::Pipeline(PipelineError::PartialFailure(p)) = err else {
        panic!("{err}")
    };
    assert_eq!(p.partial_sum(), live.len() as i64);
    assert_eq!(p.failed_keys().len(), dead.len());
}

#[test]
fn standalone_never_splits() {
    let single = Standalone::start().unwrap();
    let store = open(&single.url(), "pipeline_standalone", 1);
    assert_eq!(store.kind(), StoreKind::Standalone);
    single
        .node()
        .query::<()>(redis::cmd("CONFIG").arg("RESETSTAT"))
        .unwrap();
    let all = keys(5_000, "solo");
    store.call(&mset(&all, "v")).unwrap();
    let got = store.call(&cmd_with("MGET", &all)).unwrap();
    assert!(matches!(got, Reply::Array(ref v) if v.len() == 5_000));
    // MSETNX is not refused on a standalone: a server takes it whole.
    let r = store
        .call(&Cmd::from_args([
            "MSETNX",
            "solo:new1",
            "1",
            "solo:new2",
            "2",
        ]))
        .unwrap();
    assert_eq!(r, Reply::Int(1));
    let node = [single.node()];
    assert_eq!(calls(&node, "mset"), 1);
    assert_eq!(calls(&node, "mget"), 1);
    assert_eq!(calls(&node, "msetnx"), 1);
}

/// Compile-time check: the async API's futures can be spawned on a multi-thread runtime.
#[allow(dead_code)]
fn futures_are_send(store: &Store, cmds: &[Cmd]) {
    fn is_send<T: Send>(_: &T) {}
    is_send(&store.pipeline_async(cmds));
    is_send(&store.call_async(&cmds[0]));
    is_send(&store.transaction_async(cmds));
}
