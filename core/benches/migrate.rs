//! Migrate and diff, side by side in one run (docs/BENCHMARKS.md, "Migrate and diff"):
//!
//! 1. `slotshift::migrate::migrate` of N small string keys (default 1,000,000, made with
//!    `DEBUG POPULATE`) from a standalone server into a 3-master cluster: once into an empty
//!    cluster without comparing first (`compare = false`, the bulk first pass), once more with
//!    the default compare-then-copy (everything is equal by then: the cost of a re-run);
//! 2. the peer, `redis-cli --cluster import … --cluster-copy --cluster-replace`, on the same
//!    kind of keys (a smaller count, `SLOTSHIFT_BENCH_PEER_KEYS`, default 100,000: it moves
//!    one key per MIGRATE), into an emptied cluster;
//! 3. `slotshift::migrate::diff` of the N identical keys, both ways;
//! 4. peak RSS (VmHWM, reset before each step) of the copy with 100,000 and with N keys.
//!
//! Run with `cargo bench -p slotshift --bench migrate`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary, not library code

use std::process::Command;
use std::time::Instant;

use slotshift::command::Cmd;
use slotshift::migrate::{diff, migrate, DiffOptions, MigrateOptions};
use slotshift::store::Store;
use slotshift::testing::{Cluster, Standalone};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn status_kib(field: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn reset_hwm() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
}

fn populate(server: &Standalone, n: usize) {
    let _: () = server.node().query(&redis::cmd("FLUSHALL")).unwrap();
    let _: () = server
        .node()
        .query(
            redis::cmd("DEBUG")
                .arg("POPULATE")
                .arg(n)
                .arg("key")
                .arg(16),
        )
        .unwrap();
}

fn dbsize(store: &Store) -> i64 {
    store
        .masters()
        .unwrap()
        .iter()
        .map(|m| {
            store
                .call_on(m, &Cmd::new("DBSIZE"))
                .unwrap()
                .as_int()
                .unwrap()
        })
        .sum()
}

fn main() {
    let n = env("SLOTSHIFT_BENCH_KEYS", 1_000_000);
    let peer_n = env("SLOTSHIFT_BENCH_PEER_KEYS", 100_000);
    let source = Standalone::builder().debug_command(true).start().unwrap();
    let cluster = Cluster::start(3, 0).unwrap();
    let src = Store::open(&source.url()).unwrap();
    let dst = Store::open(&cluster.url()).unwrap();

    // Peak RSS with 100,000 keys.
    populate(&source, 100_000);
    let mut bulk = MigrateOptions::default();
    bulk.compare = false;
    bulk.verify = false;
    bulk.final_diff = false;
    bulk.batch = 1000;
    bulk.workers = 4;
    reset_hwm();
    migrate(&src, &dst, &bulk).unwrap();
    let rss_small = status_kib("VmHWM:") / 1024.0;
    cluster.flushall().unwrap();

    // 1. slotshift migrate of N keys.
    populate(&source, n);
    reset_hwm();
    let t = Instant::now();
    let r = migrate(&src, &dst, &bulk).unwrap();
    let copy_s = t.elapsed().as_secs_f64();
    let rss_big = status_kib("VmHWM:") / 1024.0;
    assert_eq!(r.copied() as usize, n);
    assert_eq!(dbsize(&dst) as usize, n);
    let mut rerun = MigrateOptions::default();
    rerun.final_diff = false;
    rerun.batch = 1000;
    let t = Instant::now();
    let again = migrate(&src, &dst, &rerun).unwrap();
    let rerun_s = t.elapsed().as_secs_f64();
    assert_eq!(again.copied(), 0);

    // 3. diff of N identical keys, both ways.
    let mut d = DiffOptions::default();
    d.batch = 1000;
    d.workers = env("SLOTSHIFT_BENCH_DIFF_WORKERS", d.workers);
    reset_hwm();
    let t = Instant::now();
    let report = diff(&src, &dst, &d).unwrap();
    let diff_s = t.elapsed().as_secs_f64();
    let rss_diff = status_kib("VmHWM:") / 1024.0;
    assert_eq!(report.total_differences(), 0);
    let mut one_way = d.clone();
    one_way.reverse = false;
    let t = Instant::now();
    diff(&src, &dst, &one_way).unwrap();
    let diff1_s = t.elapsed().as_secs_f64();

    // 2. The peer on peer_n keys.
    cluster.flushall().unwrap();
    populate(&source, peer_n);
    let node = cluster.masters().unwrap()[0].addr();
    let t = Instant::now();
    let out = Command::new("redis-cli")
        .args([
            "--cluster",
            "import",
            &node,
            "--cluster-from",
            &source.addr(),
        ])
        .args(["--cluster-copy", "--cluster-replace"])
        .output()
        .expect("redis-cli");
    let peer_s = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dbsize(&dst) as usize, peer_n);

    let ours = n as f64 / copy_s;
    let peer = peer_n as f64 / peer_s;
    println!("| step | result |");
    println!("|---|---|");
    println!("| slotshift migrate, {n} keys standalone -> 3-master cluster (bulk: compare off) | {ours:.0} keys/s ({copy_s:.2} s) |");
    println!("| redis-cli --cluster import --cluster-copy --cluster-replace, {peer_n} keys | {peer:.0} keys/s ({peer_s:.2} s) |");
    println!("| ratio slotshift / redis-cli | {:.1}x |", ours / peer);
    println!(
        "| ratio slotshift / 150,000 keys/s (best commercial, published) | {:.2}x |",
        ours / 150_000.0
    );
    println!("| slotshift migrate re-run, {n} keys all equal (compare on) | {:.0} keys/s ({rerun_s:.2} s) |", n as f64 / rerun_s);
    println!("| slotshift diff, {n} identical keys, both ways ({} keys looked at) | {:.0} keys/s of source ({diff_s:.2} s) |", report.source_keys + report.destination_keys, n as f64 / diff_s);
    println!("| slotshift diff, {n} identical keys, source -> destination only | {:.0} keys/s ({diff1_s:.2} s) |", n as f64 / diff1_s);
    println!("| peak RSS (VmHWM) of migrate: 100,000 keys / {n} keys | {rss_small:.1} MiB / {rss_big:.1} MiB |");
    println!("| peak RSS (VmHWM) of diff, {n} keys | {rss_diff:.1} MiB |");
}
