//! Router speed against the `redis` crate on the same 3-master cluster, in the same run.
//!
//! 1. Routed GET/SET, 64 concurrent callers (spawned tasks, and futures joined in one task):
//!    slotshift `Store::call_async` vs the crate's async cluster connection (`cluster-async`).
//! 2. One pipeline of 10,000 GETs spread over the 3 masters: slotshift `Store::pipeline` vs
//!    the crate's (sync) cluster pipeline, and `redis-benchmark --cluster -P` (the server side).
//!
//! 3. The same pipeline's CPU per GET, split between the client process and the three servers,
//!    for both sides: where client and servers share the machine's cores, the servers' CPU per
//!    GET alone bounds what any client can reach (the bound is printed).
//!
//! Run with `cargo bench -p slotshift --bench router`; it prints a table and the ratios that go
//! into docs/BENCHMARKS.md. A plain `main` (not criterion): each scenario is a throughput run
//! over a live cluster, repeated, best-of-N reported.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary, not library code

use std::process::Command;
use std::time::Instant;

use redis::AsyncCommands;
use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::store::{Store, StoreOptions};
use slotshift::testing::{client_and_servers_cpu, Cluster};

const CALLERS: usize = 64;
const OPS_PER_CALLER: usize = 2_000;
const PIPELINE: usize = 10_000;
const KEYSPACE: usize = 10_000;
const ROUNDS: usize = 5;
/// Pipelines run back to back per side for the CPU split (≈ 2 s each here: the CPU clock
/// ticks in 10 ms).
const CPU_LOOPS: usize = 300;

fn key(i: usize) -> String {
    format!("bench:{i}")
}

/// Runs `ours` and `peer` in alternation, `ROUNDS` times each; the best round of each.
fn alternate(mut ours: impl FnMut() -> f64, mut peer: impl FnMut() -> f64) -> (f64, f64) {
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for _ in 0..ROUNDS {
        a = a.max(ours());
        b = b.max(peer());
    }
    (a, b)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test"); // `cargo test --benches` runs us too
    let cluster = Cluster::start(3, 0).expect("start a 3-master cluster");
    let seeds = cluster.seed_urls();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Fill the keyspace once.
    let store = Store::open(&cluster.url()).unwrap();
    let sets: Vec<Cmd> = (0..KEYSPACE)
        .map(|i| Cmd::from_args(["SET", &key(i), &key(i)]))
        .collect();
    assert!(store.pipeline(&sets).unwrap().iter().all(|r| r.is_ok()));
    if quick {
        return;
    }
    // ROUTER_BENCH_PROFILE=pipeline: only slotshift's pipeline, in a loop (for perf;
    // ROUTER_BENCH_LOOPS sets how many, 300 by default).
    if std::env::var("ROUTER_BENCH_PROFILE").as_deref() == Ok("pipeline") {
        let gets: Vec<Cmd> = (0..PIPELINE)
            .map(|i| Cmd::from_args(["GET", &key(i)]))
            .collect();
        let start = Instant::now();
        let loops: usize = std::env::var("ROUTER_BENCH_LOOPS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(300);
        for _ in 0..loops {
            store.pipeline(&gets).unwrap();
        }
        let rate = (loops * PIPELINE) as f64 / start.elapsed().as_secs_f64();
        println!("pipeline loop: {rate:.0} GET/s");
        return;
    }

    // 1. Routed GET/SET with 64 concurrent callers. Rounds alternate slotshift / peer so
    //    background noise on the machine hits both alike; the best round of each is kept.
    let ours_store = rt.block_on(async {
        Store::connect_async(
            &Deployment::parse(&cluster.url()).unwrap(),
            StoreOptions::default(),
        )
        .await
        .unwrap()
    });
    let peer_conn = rt.block_on(async {
        let client = redis::cluster::ClusterClient::new(seeds.clone()).unwrap();
        client.get_async_connection().await.unwrap()
    });
    let run_ours = || {
        rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..CALLERS)
                .map(|c| {
                    let store = ours_store.clone();
                    async move {
                        for n in 0..OPS_PER_CALLER {
                            let k = key((c * 7919 + n * 104_729) % KEYSPACE);
                            let cmd = if n % 2 == 0 {
                                Cmd::from_args(["GET", &k])
                            } else {
                                Cmd::from_args(["SET", &k, &k])
                            };
                            store.call_async(&cmd).await.unwrap();
                        }
                    }
                })
                .collect();
            futures_util::future::join_all(tasks).await;
            (CALLERS * OPS_PER_CALLER) as f64 / start.elapsed().as_secs_f64()
        })
    };
    let run_peer = || {
        rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..CALLERS)
                .map(|c| {
                    let mut conn = peer_conn.clone();
                    async move {
                        for n in 0..OPS_PER_CALLER {
                            let k = key((c * 7919 + n * 104_729) % KEYSPACE);
                            if n % 2 == 0 {
                                let _: Option<Vec<u8>> = conn.get(&k).await.unwrap();
                            } else {
                                let _: () = conn.set(&k, &k).await.unwrap();
                            }
                        }
                    }
                })
                .collect();
            futures_util::future::join_all(tasks).await;
            (CALLERS * OPS_PER_CALLER) as f64 / start.elapsed().as_secs_f64()
        })
    };
    let spawn_ours = || {
        rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..CALLERS)
                .map(|c| {
                    let store = ours_store.clone();
                    tokio::spawn(async move {
                        for n in 0..OPS_PER_CALLER {
                            let k = key((c * 7919 + n * 104_729) % KEYSPACE);
                            let cmd = if n % 2 == 0 {
                                Cmd::from_args(["GET", &k])
                            } else {
                                Cmd::from_args(["SET", &k, &k])
                            };
                            store.call_async(&cmd).await.unwrap();
                        }
                    })
                })
                .collect();
            for t in futures_util::future::join_all(tasks).await {
                t.unwrap();
            }
            (CALLERS * OPS_PER_CALLER) as f64 / start.elapsed().as_secs_f64()
        })
    };
    let spawn_peer = || {
        rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..CALLERS)
                .map(|c| {
                    let mut conn = peer_conn.clone();
                    tokio::spawn(async move {
                        for n in 0..OPS_PER_CALLER {
                            let k = key((c * 7919 + n * 104_729) % KEYSPACE);
                            if n % 2 == 0 {
                                let _: Option<Vec<u8>> = conn.get(&k).await.unwrap();
                            } else {
                                let _: () = conn.set(&k, &k).await.unwrap();
                            }
                        }
                    })
                })
                .collect();
            for t in futures_util::future::join_all(tasks).await {
                t.unwrap();
            }
            (CALLERS * OPS_PER_CALLER) as f64 / start.elapsed().as_secs_f64()
        })
    };
    if std::env::var("ROUTER_BENCH_PROFILE").as_deref() == Ok("calls") {
        for _ in 0..10 {
            run_ours();
        }
        return;
    }
    let (ours_ops, peer_ops) = alternate(run_ours, run_peer);
    let (ours_spawned, peer_spawned) = alternate(spawn_ours, spawn_peer);

    // 2. One pipeline of 10,000 GETs over the 3 masters.
    let gets: Vec<Cmd> = (0..PIPELINE)
        .map(|i| Cmd::from_args(["GET", &key(i)]))
        .collect();
    let peer_client = redis::cluster::ClusterClient::new(seeds.clone()).unwrap();
    let mut peer_sync = peer_client.get_connection().unwrap();
    let mut pipe = redis::cluster::cluster_pipe();
    for i in 0..PIPELINE {
        pipe.cmd("GET").arg(key(i));
    }
    // Warm the peer's connections to every node, as slotshift's store already is.
    let _: Vec<Option<Vec<u8>>> = pipe.query(&mut peer_sync).unwrap();
    let peer_sync = std::cell::RefCell::new(peer_sync);
    let (ours_pipe, peer_pipe) = alternate(
        || {
            let start = Instant::now();
            let replies = store.pipeline(&gets).unwrap();
            let rate = PIPELINE as f64 / start.elapsed().as_secs_f64();
            assert!(replies.iter().all(|r| r.is_ok()));
            rate
        },
        || {
            let start = Instant::now();
            let replies: Vec<Option<Vec<u8>>> = pipe.query(&mut peer_sync.borrow_mut()).unwrap();
            let rate = PIPELINE as f64 / start.elapsed().as_secs_f64();
            assert_eq!(replies.len(), PIPELINE);
            rate
        },
    );
    // 3. CPU per GET, client process and servers, each side's pipeline in a loop.
    let masters = cluster.masters().unwrap();
    let pids: Vec<u32> = masters.iter().map(|n| n.pid()).collect();
    let urls: Vec<String> = masters.iter().map(|n| n.url()).collect();
    let ours_cpu = cpu_per_get(&pids, &urls, || {
        store.pipeline(&gets).unwrap();
    });
    let peer_cpu = cpu_per_get(&pids, &urls, || {
        let _: Vec<Option<Vec<u8>>> = pipe.query(&mut peer_sync.borrow_mut()).unwrap();
    });
    let port = masters[0].port();
    // The issue's comparator (-P 100) and a deeper one (-P 1000), nearer the servers' limit.
    let servers = [100, 1000].map(|depth| (depth, redis_benchmark(port, depth)));

    println!();
    println!("| scenario (3-master cluster, loopback) | slotshift | peer | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| routed GET/SET, {CALLERS} callers as joined futures (ops/s) | {ours_ops:.0} | {peer_ops:.0} (redis cluster-async) | {:.2} |",
        ours_ops / peer_ops
    );
    println!(
        "| routed GET/SET, {CALLERS} callers as spawned tasks (ops/s) | {ours_spawned:.0} | {peer_spawned:.0} (redis cluster-async) | {:.2} |",
        ours_spawned / peer_spawned
    );
    println!(
        "| one pipeline of {PIPELINE} GETs over 3 masters (GET/s) | {ours_pipe:.0} | {peer_pipe:.0} (redis ClusterPipeline) | {:.2} |",
        ours_pipe / peer_pipe
    );
    for (depth, server) in servers {
        match server {
            Some(server) => println!(
                "| same, vs redis-benchmark (GET/s) | {ours_pipe:.0} | {server:.0} (redis-benchmark --cluster -P {depth} -c 3) | {:.2} |",
                ours_pipe / server
            ),
            None => println!(
                "| same, vs redis-benchmark -P {depth} | {ours_pipe:.0} | redis-benchmark unavailable | — |"
            ),
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!();
    println!("| CPU per GET, {PIPELINE}-GET pipelines x {CPU_LOOPS} | client process | 3 servers | GET/s | bound by the servers' CPU on {cores} cores | servers' reads / writes per pipeline |");
    println!("|---|---|---|---|---|---|");
    for (name, c) in [("slotshift", ours_cpu), ("redis ClusterPipeline", peer_cpu)] {
        println!(
            "| {name} | {:.3} us | {:.3} us | {:.0} | {:.0} GET/s | {:.1} / {:.1} |",
            c.client_us,
            c.servers_us,
            c.rate,
            cores * 1e6 / c.servers_us,
            c.reads,
            c.writes
        );
    }
}

/// One side's CPU per GET over [`CPU_LOOPS`] pipelines, its rate meanwhile, and how many
/// reads and writes the servers made for one pipeline (a server's CPU per command grows with
/// the number of event-loop turns a pipeline takes).
#[derive(Clone, Copy)]
struct CpuSplit {
    client_us: f64,
    servers_us: f64,
    rate: f64,
    reads: f64,
    writes: f64,
}

/// The servers' `total_reads_processed` and `total_writes_processed` (`INFO stats`), summed.
fn io_events(servers: &[String]) -> (u64, u64) {
    let (mut reads, mut writes) = (0, 0);
    for url in servers {
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let info: String = redis::cmd("INFO").arg("stats").query(&mut conn).unwrap();
        let field = |name: &str| -> u64 {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
                .unwrap()
        };
        reads += field("total_reads_processed");
        writes += field("total_writes_processed");
    }
    (reads, writes)
}

/// Runs `pipeline` [`CPU_LOOPS`] times; the CPU per GET of this process and of the servers
/// (`pids`, reachable at `urls`).
fn cpu_per_get(pids: &[u32], urls: &[String], mut pipeline: impl FnMut()) -> CpuSplit {
    let now = || client_and_servers_cpu(pids).unwrap();
    let (reads0, writes0) = io_events(urls);
    let (client0, servers0) = now();
    let start = Instant::now();
    for _ in 0..CPU_LOOPS {
        pipeline();
    }
    let elapsed = start.elapsed();
    let (client1, servers1) = now();
    let (reads1, writes1) = io_events(urls);
    let gets = (CPU_LOOPS * PIPELINE) as f64;
    CpuSplit {
        client_us: (client1 - client0).as_secs_f64() * 1e6 / gets,
        servers_us: (servers1 - servers0).as_secs_f64() * 1e6 / gets,
        rate: gets / elapsed.as_secs_f64(),
        reads: (reads1 - reads0) as f64 / CPU_LOOPS as f64,
        writes: (writes1 - writes0) as f64 / CPU_LOOPS as f64,
    }
}

/// `redis-benchmark --cluster` GET throughput, `depth` commands per pipeline on each of its
/// three connections: a C client that does nothing but send and count, near the servers' limit.
fn redis_benchmark(port: u16, depth: usize) -> Option<f64> {
    let out = Command::new("redis-benchmark")
        .args([
            "--cluster",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "get",
            "-n",
            // ≈ 1 s at either depth: the tool's clock counts milliseconds.
            if depth >= 1000 { "4000000" } else { "2000000" },
            "-P",
            &depth.to_string(),
            "-c",
            "3",
            "-r",
            &KEYSPACE.to_string(),
            "-q",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "GET: 1234567.89 requests per second, p50=…" (the last line is the summary)
    text.split(['\r', '\n'])
        .filter_map(|l| l.trim().strip_prefix("GET: "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .next_back()
}
