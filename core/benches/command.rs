//! `core::command`: building commands, looking them up and finding their keys.
//!
//! Peer for building: the `redis` crate's own `redis::Cmd` with the same arguments.
//! Run: `cargo bench -p slotshift --bench command`
#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use slotshift::command::{Cmd, KeyTable};

fn lines() -> Vec<(&'static str, Cmd)> {
    let mut mset = Cmd::new("MSET");
    for i in 0..10 {
        mset.arg(format!("user:{i:06}:name")).arg("value");
    }
    vec![
        ("GET", Cmd::from_args(["GET", "user:000001:name"])),
        (
            "object encoding",
            Cmd::from_args(["object", "encoding", "k"]),
        ),
        ("MSET 10 pairs", mset),
        (
            "EVAL 2 keys",
            Cmd::from_args(["EVAL", "return 1", "2", "a", "b", "x"]),
        ),
        (
            "XREAD 3 streams",
            Cmd::from_args([
                "XREAD", "COUNT", "10", "STREAMS", "a", "b", "c", "0", "0", "0",
            ]),
        ),
        (
            "ZUNIONSTORE",
            Cmd::from_args(["ZUNIONSTORE", "out", "2", "a", "b", "WEIGHTS", "1", "2"]),
        ),
        (
            "SORT … STORE",
            Cmd::from_args(["SORT", "l", "BY", "w_*", "STORE", "d"]),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let table = KeyTable::builtin();
    let lines = lines();

    let mut g = c.benchmark_group("command/lookup");
    for (name, cmd) in &lines {
        g.bench_function(*name, |b| {
            b.iter(|| table.lookup(black_box(cmd)).map(|i| i.arity()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("command/key_indices");
    for (name, cmd) in &lines {
        g.bench_function(*name, |b| {
            b.iter(|| table.key_indices(black_box(cmd)).map(|k| k.len()))
        });
    }
    g.finish();

    let args: Vec<String> = (0..20).map(|i| format!("user:{i:06}:name")).collect();
    let mut g = c.benchmark_group("command/build MSET 10 pairs");
    g.bench_function("slotshift Cmd", |b| {
        b.iter(|| {
            let mut cmd = Cmd::new("MSET");
            for a in black_box(&args) {
                cmd.arg(a);
            }
            cmd
        })
    });
    g.bench_function("redis::Cmd (peer)", |b| {
        b.iter(|| {
            let mut cmd = redis::cmd("MSET");
            for a in black_box(&args) {
                cmd.arg(a.as_str());
            }
            cmd
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
