//! The Rust side of `make bench-c`: the same loops as `tests/c/bench.c`, calling the core
//! directly, so the ratio shows what the C boundary costs.
//!
//! `cargo run --release -p slotshift-ffi --example boundary_bench -- URL SLOT_ROUNDS CALLS`
//! prints `slot_ns_per_key <f64>` and `get_us_per_call <f64>` (best of 5 rounds each).

use std::time::Instant;

use slotshift_core::command::Cmd;
use slotshift_core::slot::key_slot;
use slotshift_core::store::Store;

/// The keys both programs hash: `bench:user:<i>:profile`, i in 0..1024.
fn keys() -> Vec<Vec<u8>> {
    (0..1024)
        .map(|i| format!("bench:user:{i}:profile").into_bytes())
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .ok_or("usage: boundary_bench URL SLOT_ROUNDS CALLS")?;
    let rounds: usize = args.get(2).map_or(Ok(2000), |s| s.parse())?;
    let calls: usize = args.get(3).map_or(Ok(20_000), |s| s.parse())?;
    let keys = keys();

    let mut best_slot = f64::MAX;
    let mut sink = 0u64;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..rounds {
            for k in &keys {
                sink = sink.wrapping_add(u64::from(key_slot(std::hint::black_box(k)).get()));
            }
        }
        let ns = t.elapsed().as_nanos() as f64 / (rounds * keys.len()) as f64;
        best_slot = best_slot.min(ns);
    }

    let store = Store::open(url)?;
    store.call(&Cmd::from_args(["SET", "bench:get", "value"]))?;
    let get = Cmd::from_args(["GET", "bench:get"]);
    let mut best_get = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..calls {
            let reply = store.call(std::hint::black_box(&get))?;
            sink = sink.wrapping_add(reply.as_bytes().map_or(0, |b| b.len() as u64));
        }
        let us = t.elapsed().as_nanos() as f64 / 1000.0 / calls as f64;
        best_get = best_get.min(us);
    }
    println!("slot_ns_per_key {best_slot:.3}");
    println!("get_us_per_call {best_get:.3}");
    eprintln!("(checksum {sink})");
    Ok(())
}
