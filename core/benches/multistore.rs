//! MultiStore latency against one store alone, on a standalone old store and a 3-master
//! cluster new store, in the same run.
//!
//! 1. SET latency (p50, p99) with 1 and 64 callers (threads on the blocking API):
//!    - the default store alone (`Store::call`);
//!    - the MultiStore in dual-write (both stores concurrently, the default's reply);
//!    - the two stores one after the other, as GitLab's MultiStore writes (`Store::call` on the
//!      default, then on the other).
//! 2. GET latency through the MultiStore (phase 2: reads on the default) against the default
//!    store alone.
//!
//! Run with `cargo bench -p slotshift --bench multistore`; it prints the table that goes into
//! docs/BENCHMARKS.md. A plain `main`: latencies of every op are collected, rounds alternate
//! between the ways, and the median round of each way is reported.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary, not library code

use std::sync::Arc;
use std::time::Instant;

use slotshift::command::Cmd;
use slotshift::multistore::{FlagSource, MultiStore, MultiStoreOptions, Phase};
use slotshift::store::Store;
use slotshift::testing::{Cluster, Standalone};

const ROUNDS: usize = 5;

/// One timed operation: (caller, index).
type Op = Arc<dyn Fn(usize, usize) + Send + Sync>;

#[derive(Clone, Copy)]
struct Lat {
    p50: f64,
    p99: f64,
}

/// Runs `op` `per_caller` times on each of `callers` threads; latencies in microseconds.
fn measure(callers: usize, per_caller: usize, op: Op) -> Lat {
    let handles: Vec<_> = (0..callers)
        .map(|t| {
            let op = op.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per_caller);
                for i in 0..per_caller {
                    let start = Instant::now();
                    op(t, i);
                    lat.push(start.elapsed().as_secs_f64() * 1e6);
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<f64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Lat {
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// Alternates the ways `ROUNDS` times; the median round (by p50) of each.
fn compare(ways: &[(&str, Op)], callers: usize, per: usize) -> Vec<Lat> {
    let mut rounds: Vec<Vec<Lat>> = vec![Vec::new(); ways.len()];
    for _ in 0..ROUNDS {
        for (w, (_, op)) in ways.iter().enumerate() {
            rounds[w].push(measure(callers, per, op.clone()));
        }
    }
    rounds
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.p50.total_cmp(&b.p50));
            r[r.len() / 2]
        })
        .collect()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test"); // `cargo test --benches` runs us too
    let old = Standalone::start().expect("start the old store");
    let new = Cluster::start(3, 0).expect("start the new store");
    let old_store = Store::open(&old.url()).unwrap();
    let new_store = Store::open(&new.url()).unwrap();
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::InProcess(Phase::DualWriteSecondaryDefault.flags());
    let ms = MultiStore::new("bench", new_store.clone(), old_store.clone(), opts).unwrap();
    assert_eq!(ms.phase(), Phase::DualWriteSecondaryDefault);
    let (per_1, per_64) = if quick { (10, 2) } else { (5_000, 300) };

    let set = |t: usize, i: usize| {
        Cmd::from_args(["SET", &format!("b:{t}:{}", i % 500), "value-0123456789"])
    };
    let get = |t: usize, i: usize| Cmd::from_args(["GET", &format!("b:{t}:{}", i % 500)]);

    let (o, n, m) = (old_store.clone(), new_store.clone(), ms.clone());
    let alone: Op = Arc::new(move |t, i| {
        o.call(&set(t, i)).unwrap();
    });
    let o2 = old_store.clone();
    let serial: Op = Arc::new(move |t, i| {
        let c = set(t, i);
        o2.call(&c).unwrap();
        n.call(&c).unwrap();
    });
    let dual: Op = Arc::new(move |t, i| {
        m.call(&set(t, i)).unwrap();
    });
    let n2 = new_store.clone();
    let new_alone: Op = Arc::new(move |t, i| {
        n2.call(&set(t, i)).unwrap();
    });
    let ways = [
        ("old store alone (default)", alone),
        ("new store alone", new_alone),
        ("MultiStore dual-write (concurrent)", dual),
        ("both stores one after the other (GitLab)", serial),
    ];
    println!(
        "| SET latency | callers | p50 µs | p99 µs | p50 vs default alone | p99 vs default alone |"
    );
    println!("|---|---|---|---|---|---|");
    for (callers, per) in [(1, per_1), (64, per_64)] {
        let lats = compare(&ways, callers, per);
        for ((name, _), l) in ways.iter().zip(&lats) {
            println!(
                "| {name} | {callers} | {:.0} | {:.0} | {:.2}× | {:.2}× |",
                l.p50,
                l.p99,
                l.p50 / lats[0].p50,
                l.p99 / lats[0].p99
            );
        }
    }

    let o3 = old_store.clone();
    let read_alone: Op = Arc::new(move |t, i| {
        o3.call(&get(t, i)).unwrap();
    });
    let m2 = ms.clone();
    let read_ms: Op = Arc::new(move |t, i| {
        m2.call(&get(t, i)).unwrap();
    });
    let reads = [
        ("default store alone", read_alone),
        ("MultiStore (reads on the default)", read_ms),
    ];
    println!();
    println!("| GET latency | callers | p50 µs | p99 µs | p50 vs alone | p99 vs alone |");
    println!("|---|---|---|---|---|---|");
    for (callers, per) in [(1, per_1), (64, per_64)] {
        let lats = compare(&reads, callers, per);
        for ((name, _), l) in reads.iter().zip(&lats) {
            println!(
                "| {name} | {callers} | {:.0} | {:.0} | {:.2}× | {:.2}× |",
                l.p50,
                l.p99,
                l.p50 / lats[0].p50,
                l.p99 / lats[0].p99
            );
        }
    }
}
