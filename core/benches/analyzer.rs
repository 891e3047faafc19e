//! The keyspace analyzer on 1,000,000 keys, side by side in one run with:
//!
//! 1. `redis-cli --memkeys` on the same server (the peer);
//! 2. a bare pipelined loop — `SCAN … COUNT 1000`, then one pipeline of `TYPE`, `MEMORY USAGE`
//!    and `PTTL` per key, replies read and dropped — the server's ceiling for the same
//!    commands from one client;
//! 3. `slotshift::analyzer::analyze` with default options, and its peak RSS (the process's
//!    high-water mark is reset just before, through `/proc/self/clear_refs`);
//! 4. the server's CPU share while `analyze` runs at a set rate (50,000 keys/s for 4 s).
//!
//! The keyspace has 10,000 patterns (three literal levels, 50 × 50 × 4) of 100 keys each:
//! strings, hashes and sets, a third with TTLs.
//!
//! Run with `cargo bench -p slotshift --bench analyzer` (prints the rows for
//! docs/BENCHMARKS.md). `SLOTSHIFT_BENCH_KEYS` changes the key count.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary, not library code

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slotshift::analyzer::{analyze, AnalyzeOptions};
use slotshift::store::Store;
use slotshift::testing::{client_and_servers_cpu, cpu_time, Standalone};

fn word(i: usize) -> String {
    let a = b"abcdefghijklmnopqrstuvwxyz";
    format!("{}{}", char::from(a[i % 26]), char::from(a[(i / 26) % 26]))
}

fn load(server: &Standalone, n: usize) {
    let mut con = server.client().get_connection().unwrap();
    let mut pipe = redis::pipe();
    for i in 0..n {
        let p = i % 10_000;
        let key = format!(
            "svc{}:kind{}:op{}:{}",
            word(p / 200),
            word((p / 4) % 50),
            word(p % 4),
            i
        );
        match i % 10 {
            0..=6 => pipe.cmd("SET").arg(&key).arg("value-of-some-size").ignore(),
            7 | 8 => pipe
                .cmd("HSET")
                .arg(&key)
                .arg("a")
                .arg("1")
                .arg("b")
                .arg("2")
                .ignore(),
            _ => pipe
                .cmd("SADD")
                .arg(&key)
                .arg("x")
                .arg("y")
                .arg("z")
                .ignore(),
        };
        if i % 3 == 0 {
            pipe.cmd("EXPIRE")
                .arg(&key)
                .arg(3600 + i % 100_000)
                .ignore();
        }
        if (i + 1) % 20_000 == 0 {
            pipe.query::<()>(&mut con).unwrap();
            pipe = redis::pipe();
        }
    }
    if !n.is_multiple_of(20_000) {
        pipe.query::<()>(&mut con).unwrap();
    }
}

/// The bare loop: SCAN, then TYPE + MEMORY USAGE + PTTL per key in one pipeline.
fn bare_loop(server: &Standalone) -> (u64, Duration) {
    let mut con = server.client().get_connection().unwrap();
    let start = Instant::now();
    let mut cursor: u64 = 0;
    let mut keys_seen = 0u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query(&mut con)
            .unwrap();
        let mut pipe = redis::pipe();
        for k in &keys {
            pipe.cmd("TYPE").arg(k);
            pipe.cmd("MEMORY").arg("USAGE").arg(k);
            pipe.cmd("PTTL").arg(k);
        }
        let _: Vec<redis::Value> = pipe.query(&mut con).unwrap();
        keys_seen += keys.len() as u64;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    (keys_seen, start.elapsed())
}

fn memkeys(server: &Standalone) -> Duration {
    let start = Instant::now();
    let out = Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port().to_string(),
            "--memkeys",
        ])
        .output()
        .expect("redis-cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Sampled"), "{text}");
    start.elapsed()
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test"); // `cargo test --benches`
    let n: usize = std::env::var("SLOTSHIFT_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20_000 } else { 1_000_000 });
    let server = Standalone::start().expect("start redis-server");
    load(&server, n);
    let store = Store::open(&server.url()).unwrap();

    // Warm-up (connections, page cache), then the three side by side.
    let _ = bare_loop(&server);
    let (bare_keys, bare_time) = bare_loop(&server);
    let mem_time = memkeys(&server);

    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let rss_before = status_kib("VmRSS:");
    let (c0, s0) = client_and_servers_cpu(&[server.pid()]).unwrap();
    let start = Instant::now();
    let report = analyze(&store, &AnalyzeOptions::default()).unwrap();
    let ours_time = start.elapsed();
    let (c1, s1) = client_and_servers_cpu(&[server.pid()]).unwrap();
    let (client_cpu, server_cpu) = ((c1 - c0).as_secs_f64(), (s1 - s0).as_secs_f64());
    let peak = status_kib("VmHWM:");
    assert_eq!(report.total.keys, n as u64);
    let patterns = report.patterns.len();

    // Server CPU at a set rate, for 4 seconds.
    let rate = 50_000u64;
    let cancel = Arc::new(AtomicBool::new(false));
    let mut opts = AnalyzeOptions::default();
    opts.rate = Some(rate);
    opts.cancel = Some(cancel.clone());
    let t0 = cpu_time(server.pid()).unwrap();
    let w0 = Instant::now();
    let stopper = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(if quick { 1 } else { 4 }));
            cancel.store(true, Ordering::Relaxed);
        })
    };
    let paced = analyze(&store, &opts).unwrap();
    stopper.join().unwrap();
    let wall = w0.elapsed().as_secs_f64();
    let cpu = (cpu_time(server.pid()).unwrap() - t0).as_secs_f64() / wall;

    let kps = |k: u64, d: Duration| k as f64 / d.as_secs_f64();
    let ours = kps(n as u64, ours_time);
    let peer = kps(n as u64, mem_time);
    let bare = kps(bare_keys, bare_time);
    println!("keys: {n}, patterns found: {patterns}");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| slotshift analyze | {ours:.0} keys/s ({:.2} s) |",
        ours_time.as_secs_f64()
    );
    println!(
        "| redis-cli --memkeys | {peer:.0} keys/s ({:.2} s) |",
        mem_time.as_secs_f64()
    );
    println!(
        "| bare pipelined SCAN + TYPE + MEMORY USAGE + PTTL loop | {bare:.0} keys/s ({:.2} s) |",
        bare_time.as_secs_f64()
    );
    println!("| analyze / memkeys | {:.2}x |", ours / peer);
    println!(
        "| analyze CPU (client, server) | {client_cpu:.2} s, {server_cpu:.2} s ({:.1} µs and {:.1} µs per key) |",
        client_cpu * 1e6 / n as f64,
        server_cpu * 1e6 / n as f64
    );
    println!("| analyze / bare loop | {:.0}% |", ours / bare * 100.0);
    println!(
        "| analyze peak RSS (VmHWM, reset before) | {:.1} MiB (RSS before {:.1} MiB) |",
        peak as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    println!(
        "| server CPU at --rate {rate} | {:.0}% of one core ({} keys in {wall:.1} s, {:.0} keys/s) |",
        cpu * 100.0,
        paced.total.keys,
        paced.total.keys as f64 / wall
    );
}
