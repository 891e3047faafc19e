//! Row 1 of docs/BENCHMARKS.md: hash slots of 15-, 16- and 64-byte keys, single and batch, against the
//! `redis` crate's own slot function and a bare table-driven CRC16 loop over the same bytes.
//!
//! Run: `cargo bench -p slotshift --bench slot`

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// The floor: a bare table-driven CRC16/XMODEM loop with no hash-tag handling at all.
fn bare_crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    for (i, entry) in table.iter_mut().enumerate() {
        let mut crc = (i as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
        *entry = crc;
    }
    table
}

fn bare_crc16(table: &[u16; 256], bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in bytes {
        crc = (crc << 8) ^ table[usize::from((crc >> 8) as u8 ^ b)];
    }
    crc
}

fn keys(len: usize, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut k = format!("user:{i:010}:").into_bytes();
            k.resize(len, b'x');
            k
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let table = bare_crc16_table();
    for len in [15usize, 16, 64] {
        let keys = keys(len, 10_000);
        let mut g = c.benchmark_group(format!("slot/{len}B"));
        g.throughput(Throughput::Elements(keys.len() as u64));
        g.bench_function(BenchmarkId::new("single", "slotshift"), |b| {
            b.iter(|| {
                let mut acc = 0u32;
                for k in &keys {
                    acc = acc.wrapping_add(u32::from(slotshift::key_slot(black_box(k)).get()));
                }
                acc
            })
        });
        g.bench_function(BenchmarkId::new("single", "redis-crate"), |b| {
            b.iter(|| {
                let mut acc = 0u32;
                for k in &keys {
                    let s = redis::cluster_routing::Slot::for_key(black_box(k));
                    acc = acc.wrapping_add(u32::from(black_box(s) == s));
                }
                acc
            })
        });
        let mut out = Vec::with_capacity(keys.len());
        g.bench_function(BenchmarkId::new("batch", "slotshift"), |b| {
            b.iter(|| {
                out.clear();
                slotshift::slot::key_slots_into(black_box(&keys), &mut out);
                out.len()
            })
        });
        g.bench_function(BenchmarkId::new("batch", "bare-crc16-loop"), |b| {
            b.iter(|| {
                let mut acc = 0u32;
                for k in &keys {
                    acc = acc.wrapping_add(u32::from(bare_crc16(&table, black_box(k)) & 16383));
                }
                acc
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
