//! MultiStore latency against one store alone, on a standalone old store and a 3-master
//! cluster new store, in the same run.
//!
//! 1. SET latency (p50, p99) with 1, 8 and 64 callers (threads on the blocking API):
//!    - the default store alone (`Store::call`);
//!    - the MultiStore in dual-write (both stores concurrently, the default's reply);
//!    - the two stores one after the other, as GitLab's MultiStore writes (`Store::call` on the
//!      default, then on the other).
//! 2. GET latency through the MultiStore (phase 2: reads on the default) against the default
//!    store alone.
//!
//! Each way's CPU per op is reported beside its latency: the client's (this process, every
//! thread) and the servers' (`/proc/PID/stat`), summed over its rounds. On a machine whose cores
//! the client and the servers share, a closed loop of C callers that saturates K cores waits
//! about C × (CPU per op) ÷ K per op, so the CPU ratio is the floor of the latency ratio there.
//!
//! Run with `cargo bench -p slotshift --bench multistore`; it prints the table that goes into
//! docs/BENCHMARKS.md. A plain `main`: latencies of every op are collected, rounds alternate
//! between the ways, and the median round of each way is reported.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary, not library code

use std::sync::Arc;
use std::time::{Duration, Instant};

use slotshift::command::Cmd;
use slotshift::multistore::{FlagSource, MultiStore, MultiStoreOptions, Phase};
use slotshift::store::Store;
use slotshift::testing::{client_and_servers_cpu, Cluster, Standalone};

const ROUNDS: usize = 5;

/// One timed operation: (caller, index).
type Op = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// One way's latency (µs) and CPU per op (µs: this process's, and the servers').
#[derive(Clone, Copy, Default)]
struct Lat {
    p50: f64,
    p99: f64,
    mean: f64,
    client_cpu: f64,
    server_cpu: f64,
}

/// The CPU time used so far by this process and by the servers `pids`.
fn cpu_now(pids: &[u32]) -> (Duration, Duration) {
    client_and_servers_cpu(pids).unwrap()
}

/// Runs `op` `per_caller` times on each of `callers` threads; latencies in microseconds.
/// The CPU fields are left to [`compare`], which sums them over rounds.
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
        mean: all.iter().sum::<f64>() / all.len() as f64,
        ..Lat::default()
    }
}

/// Alternates the ways `ROUNDS` times; the median round (by p50) of each, with the way's CPU
/// per op over all its rounds (the servers' are `pids`).
fn compare(ways: &[(&str, Op)], callers: usize, per: usize, pids: &[u32]) -> Vec<Lat> {
    let mut rounds: Vec<Vec<Lat>> = vec![Vec::new(); ways.len()];
    let mut cpu = vec![(Duration::ZERO, Duration::ZERO); ways.len()];
    for _ in 0..ROUNDS {
        for (w, (_, op)) in ways.iter().enumerate() {
            let (c0, s0) = cpu_now(pids);
            rounds[w].push(measure(callers, per, op.clone()));
            let (c1, s1) = cpu_now(pids);
            cpu[w].0 += c1 - c0;
            cpu[w].1 += s1 - s0;
        }
    }
    let ops = (ROUNDS * callers * per) as f64;
    rounds
        .into_iter()
        .zip(cpu)
        .map(|(mut r, (client, server))| {
            r.sort_by(|a, b| a.p50.total_cmp(&b.p50));
            Lat {
                client_cpu: client.as_secs_f64() * 1e6 / ops,
                server_cpu: server.as_secs_f64() * 1e6 / ops,
                ..r[r.len() / 2]
            }
        })
        .collect()
}

/// Prints one table: each way's latency and CPU per op, and their ratios to the first way's.
fn table(what: &str, ways: &[(&str, Op)], runs: &[(usize, usize)], pids: &[u32]) {
    println!(
        "| {what} | callers | p50 µs | p99 µs | mean µs | CPU µs/op client + servers | \
         p50 / mean / CPU vs the first |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &(callers, per) in runs {
        let lats = compare(ways, callers, per, pids);
        let cpu = |l: &Lat| l.client_cpu + l.server_cpu;
        for ((name, _), l) in ways.iter().zip(&lats) {
            println!(
                "| {name} | {callers} | {:.0} | {:.0} | {:.0} | {:.1} + {:.1} | \
                 {:.2}× / {:.2}× / {:.2}× |",
                l.p50,
                l.p99,
                l.mean,
                l.client_cpu,
                l.server_cpu,
                l.p50 / lats[0].p50,
                l.mean / lats[0].mean,
                cpu(l) / cpu(&lats[0]),
            );
        }
    }
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
    let (per_1, per_8, per_64) = if quick {
        (10, 5, 2)
    } else {
        (5_000, 1_000, 300)
    };
    let mut pids = vec![old.pid()];
    pids.extend(new.nodes().iter().map(|n| n.pid()));

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
    // MULTISTORE_BENCH_PROFILE=N: only way N (0-3, in the order above) with 64 callers,
    // 3,000 SETs each, for perf; prints its rate.
    if let Ok(way) = std::env::var("MULTISTORE_BENCH_PROFILE") {
        let (name, op) = ways[way.parse::<usize>().expect("a way's index")].clone();
        let start = Instant::now();
        let lat = measure(64, 3_000, op);
        let rate = (64 * 3_000) as f64 / start.elapsed().as_secs_f64();
        println!("{name}, 64 callers: {rate:.0} SET/s, p50 {:.0} µs", lat.p50);
        return;
    }
    // 8 callers: a process with a handful of request threads (Puma's default is 5).
    let runs = [(1, per_1), (8, per_8), (64, per_64)];
    table("SET", &ways, &runs, &pids);

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
    table("GET", &reads, &runs, &pids);
}
