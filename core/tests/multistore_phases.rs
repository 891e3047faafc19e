//! Every phase of a migration, in order, under a live multi-threaded workload of every data
//! type: old only → dual-write → (every key written again, standing in for the backfill) →
//! new as default → new only. At each phase boundary the threads stop and every key is
//! checked on each store against what the workload wrote: nothing is lost.
//!
//! Old store: a standalone server. New store: a 3-master cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use slotshift::command::Cmd;
use slotshift::keyspace::ScanOptions;
use slotshift::multistore::{Counter, FlagSource, MultiStore, MultiStoreOptions, Phase};
use slotshift::reply::Reply;
use slotshift::store::Store;
use slotshift::testing::{Cluster, Standalone};

const THREADS: usize = 4;
const KEYS: usize = 6;
const TYPES: [&str; 7] = ["str", "hash", "list", "set", "zset", "stream", "counter"];

fn key(t: usize, i: usize, ty: &str) -> String {
    format!("wl:{t}:{i}:{ty}")
}

fn c(args: Vec<String>) -> Cmd {
    Cmd::from_args(args)
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// The commands of round `r` on key `i` of thread `t` (one per data type; lists and streams
/// are capped so keys stay small).
fn round_cmds(t: usize, i: usize, r: u64) -> Vec<Cmd> {
    vec![
        c(vec![s("SET"), key(t, i, "str"), s(r)]),
        c(vec![
            s("HSET"),
            key(t, i, "hash"),
            format!("f{}", r % 5),
            s(r),
        ]),
        c(vec![s("RPUSH"), key(t, i, "list"), s(r)]),
        c(vec![s("LTRIM"), key(t, i, "list"), s(-10), s(-1)]),
        c(vec![s("SADD"), key(t, i, "set"), s(r % 20)]),
        c(vec![
            s("ZADD"),
            key(t, i, "zset"),
            s(r),
            format!("m{}", r % 20),
        ]),
        c(vec![
            s("XADD"),
            key(t, i, "stream"),
            s("MAXLEN"),
            s(10),
            format!("{}-1", r + 1),
            s("f"),
            s(r),
        ]),
        c(vec![s("INCR"), key(t, i, "counter")]),
    ]
}

/// The commands that rebuild key `i` of thread `t` as it is after `rounds` rounds (the
/// "write every key again" step that stands in for the migrate issue's backfill).
fn rebuild_cmds(t: usize, i: usize, rounds: u64) -> Vec<Cmd> {
    let mut out: Vec<Cmd> = TYPES
        .iter()
        .map(|ty| c(vec![s("DEL"), key(t, i, ty)]))
        .collect();
    if rounds == 0 {
        return out;
    }
    let last = rounds - 1;
    out.push(c(vec![s("SET"), key(t, i, "str"), s(last)]));
    for r in rounds.saturating_sub(5)..rounds {
        out.push(c(vec![
            s("HSET"),
            key(t, i, "hash"),
            format!("f{}", r % 5),
            s(r),
        ]));
    }
    for r in rounds.saturating_sub(10)..rounds {
        out.push(c(vec![s("RPUSH"), key(t, i, "list"), s(r)]));
    }
    for r in rounds.saturating_sub(20)..rounds {
        out.push(c(vec![s("SADD"), key(t, i, "set"), s(r % 20)]));
        out.push(c(vec![
            s("ZADD"),
            key(t, i, "zset"),
            s(r),
            format!("m{}", r % 20),
        ]));
    }
    for r in rounds.saturating_sub(10)..rounds {
        out.push(c(vec![
            s("XADD"),
            key(t, i, "stream"),
            format!("{}-1", r + 1),
            s("f"),
            s(r),
        ]));
    }
    out.push(c(vec![s("SET"), key(t, i, "counter"), s(rounds)]));
    out
}

/// What one key holds, read in a form that compares across stores.
fn snapshot(store: &Store, k: &str, ty: &str) -> Reply {
    let q = |args: &[&str]| store.call(&Cmd::from_args(args)).unwrap();
    let sorted = |r: Reply| match r {
        Reply::Array(mut v) => {
            v.sort_by_key(|x| format!("{x:?}"));
            Reply::Array(v)
        }
        other => other,
    };
    match ty {
        "str" | "counter" => q(&["GET", k]),
        "hash" => sorted(q(&["HGETALL", k])),
        "list" => q(&["LRANGE", k, "0", "-1"]),
        "set" => sorted(q(&["SMEMBERS", k])),
        "zset" => q(&["ZRANGE", k, "0", "-1", "WITHSCORES"]),
        "stream" => q(&["XRANGE", k, "-", "+"]),
        _ => unreachable!(),
    }
}

/// What one key must hold after `rounds` rounds, computed on a scratch server by replaying
/// the rebuild (so the oracle does not share code paths with the MultiStore).
fn expected(scratch: &Store, t: usize, i: usize, rounds: u64) -> Vec<Reply> {
    for cmd in rebuild_cmds(t, i, rounds) {
        scratch.call(&cmd).unwrap();
    }
    TYPES
        .iter()
        .map(|ty| snapshot(scratch, &key(t, i, ty), ty))
        .collect()
}

struct Workload {
    stop: Arc<AtomicBool>,
    rebuild: Arc<AtomicBool>,
    rounds: Vec<Arc<AtomicU64>>,
    rebuilt: Vec<Arc<AtomicBool>>,
    handles: Vec<std::thread::JoinHandle<(u64, u64)>>,
}

impl Workload {
    /// Starts the threads, each continuing from `start[t]` rounds.
    fn start(ms: &MultiStore, start: &[u64]) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let rebuild = Arc::new(AtomicBool::new(false));
        let mut w = Workload {
            stop: stop.clone(),
            rebuild: rebuild.clone(),
            rounds: Vec::new(),
            rebuilt: Vec::new(),
            handles: Vec::new(),
        };
        for (t, &from) in start.iter().enumerate() {
            let rounds = Arc::new(AtomicU64::new(from));
            let rebuilt = Arc::new(AtomicBool::new(false));
            w.rounds.push(rounds.clone());
            w.rebuilt.push(rebuilt.clone());
            let (ms, stop, rebuild) = (ms.clone(), stop.clone(), rebuild.clone());
            w.handles.push(std::thread::spawn(move || {
                let mut r = from;
                let mut stale_reads = 0;
                while !stop.load(Ordering::Acquire) {
                    if rebuild.load(Ordering::Acquire) && !rebuilt.load(Ordering::Acquire) {
                        for i in 0..KEYS {
                            let replies = ms.pipeline(&rebuild_cmds(t, i, r)).unwrap();
                            assert!(replies.iter().all(Result::is_ok), "{replies:?}");
                        }
                        rebuilt.store(true, Ordering::Release);
                    }
                    for i in 0..KEYS {
                        for cmd in round_cmds(t, i, r) {
                            ms.call(&cmd).unwrap();
                        }
                        // Read your write, from whichever store is the default now.
                        let got = ms
                            .call(&Cmd::from_args(["GET", &key(t, i, "str")]))
                            .unwrap();
                        if got != Reply::Bulk(r.to_string().into_bytes()) {
                            stale_reads += 1;
                        }
                        let n = ms
                            .call(&Cmd::from_args(["GET", &key(t, i, "counter")]))
                            .unwrap();
                        assert!(n.as_int().is_some(), "counter {n:?}");
                    }
                    r += 1;
                    rounds.store(r, Ordering::Release);
                }
                (r, stale_reads)
            }));
        }
        w
    }

    /// Waits until every thread has done `more` rounds past what it had done when called.
    fn wait_rounds(&self, more: u64) {
        let targets: Vec<u64> = self
            .rounds
            .iter()
            .map(|r| r.load(Ordering::Acquire) + more)
            .collect();
        while self
            .rounds
            .iter()
            .zip(&targets)
            .any(|(r, t)| r.load(Ordering::Acquire) < *t)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn request_rebuild_and_wait(&self) {
        self.rebuild.store(true, Ordering::Release);
        while !self.rebuilt.iter().all(|b| b.load(Ordering::Acquire)) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops the threads; returns each one's rounds done.
    fn stop(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Release);
        self.handles
            .into_iter()
            .map(|h| {
                let (rounds, stale) = h.join().unwrap();
                assert_eq!(stale, 0, "a read did not see the caller's own write");
                rounds
            })
            .collect()
    }
}

#[test]
fn every_phase_in_order_under_a_live_workload() {
    let old = Standalone::start().unwrap();
    let new = Cluster::start(3, 0).unwrap();
    let scratch_server = Standalone::start().unwrap();
    let scratch = Store::open(&scratch_server.url()).unwrap();
    let old_store = Store::open(&old.url()).unwrap();
    let new_store = Store::open(&new.url()).unwrap();

    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::InProcess(Phase::SecondaryOnly.flags());
    opts.strict = true;
    let ms = MultiStore::new("workload", new_store.clone(), old_store.clone(), opts).unwrap();
    let check = |rounds: &[u64], on_old: bool, on_new: bool| {
        for (t, &r) in rounds.iter().enumerate() {
            for i in 0..KEYS {
                let want = expected(&scratch, t, i, r);
                for (j, ty) in TYPES.iter().enumerate() {
                    let k = key(t, i, ty);
                    let o = snapshot(&old_store, &k, ty);
                    let n = snapshot(&new_store, &k, ty);
                    if on_old {
                        assert_eq!(o, want[j], "old store, {k} after {r} rounds");
                    }
                    if on_new {
                        assert_eq!(n, want[j], "new store, {k} after {r} rounds");
                    }
                }
            }
        }
    };

    // 1. Old only: everything on the old store, nothing on the new one.
    let w = Workload::start(&ms, &[0; THREADS]);
    w.wait_rounds(3);
    let rounds = w.stop();
    check(&rounds, true, false);
    let new_keys: usize = new_store
        .scan(ScanOptions::matching("*"))
        .unwrap()
        .map(|batch| batch.unwrap().len())
        .sum();
    assert_eq!(new_keys, 0, "the new store got writes in phase old-only");

    // 2. Dual-write, flipped under load; then every key written again (the backfill's place).
    let w = Workload::start(&ms, &rounds);
    w.wait_rounds(1);
    ms.set_flags(Phase::DualWriteSecondaryDefault.flags())
        .unwrap();
    w.wait_rounds(1);
    w.request_rebuild_and_wait();
    w.wait_rounds(2);
    let rounds = w.stop();
    check(&rounds, true, true);

    // 3. New as default, flipped under load: both stores still complete.
    let w = Workload::start(&ms, &rounds);
    w.wait_rounds(1);
    ms.set_flags(Phase::DualWritePrimaryDefault.flags())
        .unwrap();
    w.wait_rounds(2);
    let rounds = w.stop();
    check(&rounds, true, true);

    // 4. New only, flipped under load: the new store complete; the old one stopped receiving.
    let w = Workload::start(&ms, &rounds);
    w.wait_rounds(1);
    ms.set_flags(Phase::PrimaryOnly.flags()).unwrap();
    w.wait_rounds(2);
    let rounds = w.stop();
    check(&rounds, false, true);
    for (t, &r) in rounds.iter().enumerate() {
        for i in 0..KEYS {
            let k = key(t, i, "counter");
            let o = snapshot(&old_store, &k, "counter").as_int().unwrap();
            assert!(o < r as i64, "{k}: old store still written ({o} of {r})");
        }
    }
    let m = ms.metrics();
    assert_eq!(m.total(Counter::NonDefaultWriteFailure), 0, "{m:?}");
    assert_eq!(m.total(Counter::UnknownCommand), 0);
    eprintln!("rounds per thread: {rounds:?}; {m:?}");
}
