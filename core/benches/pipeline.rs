//! The CrossSlot batcher against the `redis` crate, and instrumentation on vs off, on one
//! 3-master cluster in the same run.
//!
//! 1. Cross-slot MGET of 10,000 keys: slotshift `Store::call` (split per slot, grouped per
//!    node, one pipeline per node, all nodes at once) vs the `redis` crate's async cluster
//!    connection (`cluster-async`), which splits per slot and sends each slot's MGET as its own
//!    request; and vs 10,000 single GETs pipelined per node (`Store::pipeline`).
//! 2. Instrumentation on vs off: the same workloads on two stores that differ only in
//!    `StoreOptions::instrument`.
//!
//! `cargo bench -p slotshift --bench pipeline`. Plain `main`: every scenario alternates the two
//! sides round by round, best round of each kept (the machine is shared with the servers).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary, not library code
#![allow(missing_docs)]

use std::time::Instant;

use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::reply::Reply;
use slotshift::store::{Store, StoreOptions};
use slotshift::testing::Cluster;

const KEYS: usize = 10_000;
const ROUNDS: usize = 7;
const PAIRED_ROUNDS: usize = 31;

fn key(i: usize) -> String {
    format!("mget:{i}")
}

fn best(mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> (f64, f64) {
    let (mut x, mut y) = (0.0f64, 0.0f64);
    for _ in 0..ROUNDS {
        x = x.max(a());
        y = y.max(b());
    }
    (x, y)
}

fn store(url: &str, name: &str, instrument: bool) -> Store {
    let mut opts = StoreOptions::default();
    opts.name = name.to_owned();
    opts.instrument = instrument;
    Store::connect(&Deployment::parse(url).unwrap(), opts).unwrap()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let cluster = Cluster::start(3, 0).expect("start a 3-master cluster");
    let ours = store(&cluster.url(), "bench_on", true);
    let off = store(&cluster.url(), "bench_off", false);
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    let mut mset = Cmd::new("MSET");
    for k in &keys {
        mset.arg(k).arg(k);
    }
    ours.call(&mset).unwrap();
    let mut mget = Cmd::new("MGET");
    for k in &keys {
        mget.arg(k);
    }
    let gets: Vec<Cmd> = keys.iter().map(|k| Cmd::from_args(["GET", k])).collect();
    let check = |r: Reply| match r {
        Reply::Array(v) => assert_eq!(v.len(), KEYS),
        other => panic!("{other:?}"),
    };
    check(ours.call(&mget).unwrap());
    if quick {
        return;
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut peer = rt.block_on(async {
        let client = redis::cluster::ClusterClient::new(cluster.seed_urls()).unwrap();
        client.get_async_connection().await.unwrap()
    });
    let peer_mget = |peer: &mut redis::cluster_async::ClusterConnection| {
        rt.block_on(async {
            let v: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(peer)
                .await
                .unwrap();
            assert_eq!(v.len(), KEYS);
        })
    };
    peer_mget(&mut peer); // warm every node's connection
    let peer = std::cell::RefCell::new(peer);

    // 1. MGET of 10,000 keys over 3 masters (keys/s).
    let (ours_mget, peer_mget_rate) = best(
        || {
            let t = Instant::now();
            check(ours.call(&mget).unwrap());
            KEYS as f64 / t.elapsed().as_secs_f64()
        },
        || {
            let t = Instant::now();
            peer_mget(&mut peer.borrow_mut());
            KEYS as f64 / t.elapsed().as_secs_f64()
        },
    );
    let (ours_mget2, ours_gets) = best(
        || {
            let t = Instant::now();
            check(ours.call(&mget).unwrap());
            KEYS as f64 / t.elapsed().as_secs_f64()
        },
        || {
            let t = Instant::now();
            let r = ours.pipeline(&gets).unwrap();
            assert_eq!(r.len(), KEYS);
            KEYS as f64 / t.elapsed().as_secs_f64()
        },
    );

    // 2. Instrumentation on vs off: MGET 10k, a 10k-GET pipeline, 5,000 single GETs.
    let workload = |s: &Store| {
        let t = Instant::now();
        check(s.call(&mget).unwrap());
        s.pipeline(&gets).unwrap();
        for g in gets.iter().take(5_000) {
            s.call(g).unwrap();
        }
        (2 * KEYS + 5_000) as f64 / t.elapsed().as_secs_f64()
    };
    // Paired rounds, the order flipped every round; the median of the per-round ratios is
    // what is reported (robust to other processes taking the CPU for a while).
    let mut ratios = Vec::new();
    let (mut on_rate, mut off_rate) = (0.0f64, 0.0f64);
    for round in 0..PAIRED_ROUNDS {
        let (on, offr) = if round.is_multiple_of(2) {
            let on = workload(&ours);
            (on, workload(&off))
        } else {
            let offr = workload(&off);
            (workload(&ours), offr)
        };
        on_rate = on_rate.max(on);
        off_rate = off_rate.max(offr);
        ratios.push(on / offr);
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];

    println!();
    println!("| scenario (3-master cluster, loopback) | slotshift | peer | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| cross-slot MGET of {KEYS} keys (keys/s) | {ours_mget:.0} | {peer_mget_rate:.0} (redis cluster-async MGET) | {:.2} |",
        ours_mget / peer_mget_rate
    );
    println!(
        "| same MGET vs {KEYS} single GETs pipelined per node (keys/s) | {ours_mget2:.0} | {ours_gets:.0} (Store::pipeline of GETs) | {:.2} |",
        ours_mget2 / ours_gets
    );
    println!(
        "| instrumentation on vs off, mixed workload (commands/s, best of {PAIRED_ROUNDS}) | {on_rate:.0} (on) | {off_rate:.0} (off) | {:.3} (median of paired rounds: {median:.3}) |",
        on_rate / off_rate
    );
}
