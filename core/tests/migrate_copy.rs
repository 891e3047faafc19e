//! `migrate::migrate` against real servers: 200,000 keys of every type with mixed TTLs from a
//! standalone to a 3-master cluster while a writer keeps changing the source; TTLs kept;
//! second runs neither duplicate nor reorder lists; interrupted and resumed (a compared
//! re-run then copies nothing); type-by-type
//! rewrite; dry run; the runbook's dry run / real run / leftovers sequence with one checkpoint
//! file; slot ranges split across runs; cluster → standalone; extra keys deleted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slotshift::command::Cmd;
use slotshift::key_slot;
use slotshift::migrate::{
    diff, migrate, CopyMethod, DiffOptions, KeyFilter, MigrateError, MigrateOptions, MigrateReport,
    Progress,
};
use slotshift::store::Store;
use slotshift::testing::{Cluster, Standalone};
use slotshift::Error;

fn c(args: &[&str]) -> Cmd {
    Cmd::from_args(args.iter().copied())
}

fn run(store: &Store, cmds: &[Cmd]) {
    for chunk in cmds.chunks(5000) {
        for r in store.pipeline(chunk).unwrap() {
            r.unwrap();
        }
    }
}

fn dbsize(store: &Store) -> i64 {
    let mut n = 0;
    for m in store.masters().unwrap() {
        n += store
            .call_on(&m, &c(&["DBSIZE"]))
            .unwrap()
            .as_int()
            .unwrap();
    }
    n
}

/// `n` keys of every type with mixed TTLs (none, minutes, an hour, and with `short` a few
/// seconds, so that some expire while the copy runs).
fn keyspace(n: usize, seed: u64, short: bool) -> Vec<Cmd> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = Vec::with_capacity(n * 2);
    for i in 0..n {
        let key;
        match i % 20 {
            0 => {
                key = format!("hash:{i}");
                v.push(c(&[
                    "HSET",
                    &key,
                    "name",
                    &format!("n{i}"),
                    "n",
                    &i.to_string(),
                ]));
            }
            1 => {
                key = format!("list:{i}");
                // Duplicates on purpose: a second run must not duplicate or reorder them.
                v.push(c(&["RPUSH", &key, "a", "b", "a", &i.to_string(), "a"]));
            }
            2 => {
                key = format!("set:{i}");
                v.push(c(&["SADD", &key, "x", "y", &i.to_string()]));
            }
            3 => {
                key = format!("zset:{i}");
                v.push(c(&[
                    "ZADD",
                    &key,
                    "1.5",
                    "a",
                    &i.to_string(),
                    "b",
                    "-inf",
                    "c",
                ]));
            }
            4 => {
                key = format!("stream:{i}");
                v.push(c(&["XADD", &key, "1-1", "f", &i.to_string()]));
                v.push(c(&["XADD", &key, "2-1", "g", "h"]));
            }
            5 => {
                key = format!("hll:{i}");
                v.push(c(&["PFADD", &key, "a", "b", &i.to_string()]));
            }
            _ => {
                key = format!("str:{{u{}}}:{i}", i % 977);
                v.push(c(&["SET", &key, &format!("value-{i}")]));
            }
        }
        match rng.gen_range(0..10) {
            0..=4 => {}
            5..=7 => v.push(c(&[
                "PEXPIRE",
                &key,
                &rng.gen_range(600_000..3_600_000).to_string(),
            ])),
            8 => v.push(c(&["PEXPIRE", &key, "3600000"])),
            _ if short => v.push(c(&[
                "PEXPIRE",
                &key,
                &rng.gen_range(3_000..9_000).to_string(),
            ])),
            _ => {}
        }
    }
    v
}

fn quick() -> MigrateOptions {
    let mut o = MigrateOptions::default();
    o.round_interval = Duration::from_millis(100);
    o
}

fn assert_clean(r: &MigrateReport) {
    assert!(r.complete, "{}", r.to_text());
    let d = r.final_diff.as_ref().expect("final diff");
    assert!(d.complete);
    assert_eq!(d.total_differences(), 0, "{}", r.to_text());
}

/// `delete_extra` deletes the destination's own keys, asking the source about destination
/// keys only in the slots that hold one: the copy pass counts what it leaves on the
/// destination, compared first or not.
#[test]
fn delete_extra_asks_the_source_only_where_the_destination_has_its_own_keys() {
    const N: usize = 600;
    let source = Standalone::start().unwrap();
    let cluster = Cluster::start(3, 0).unwrap();
    let src = Store::open(&source.url()).unwrap();
    let dst = Store::open(&cluster.url()).unwrap();
    let names: Vec<String> = (0..N).map(|i| format!("k:{{{}}}:{i}", i % 50)).collect();
    let extras = ["extra:1", "{k}extra", "k:{7}:extra"];
    for compare in [true, false] {
        for store in [&src, &dst] {
            store.call(&c(&["FLUSHALL"])).unwrap();
        }
        let set = |keys: &[String], value: &str| -> Vec<Cmd> {
            keys.iter().map(|k| c(&["SET", k, value])).collect()
        };
        run(&src, &set(&names, "v"));
        // The destination: a third of the keys equal, a third different, the rest missing,
        // and its own keys (one beside source keys of its slot).
        run(&dst, &set(&names[..N / 3], "v"));
        run(&dst, &set(&names[N / 3..2 * N / 3], "old"));
        run(
            &dst,
            &extras
                .iter()
                .map(|k| c(&["SET", k, "x"]))
                .collect::<Vec<_>>(),
        );
        source
            .node()
            .query::<()>(redis::cmd("CONFIG").arg("RESETSTAT"))
            .unwrap();
        let mut o = quick();
        o.delete_extra = true;
        o.compare = compare;
        o.final_diff = false;
        let r = migrate(&src, &dst, &o).unwrap();
        assert!(r.complete, "{}", r.to_text());
        assert_eq!(
            r.deleted,
            extras.len() as u64,
            "compare {compare}: {}",
            r.to_text()
        );
        assert_eq!(dbsize(&dst), N as i64);
        let slots: std::collections::BTreeSet<u16> = extras
            .iter()
            .map(|k| key_slot(k.as_bytes()).get())
            .collect();
        // In those slots the destination held the source's keys (all copied by then) and
        // its own.
        let sources_there = names
            .iter()
            .filter(|k| slots.contains(&key_slot(k.as_bytes()).get()))
            .count();
        assert_eq!(
            source.node().calls("exists").unwrap(),
            (sources_there + extras.len()) as u64,
            "compare {compare}"
        );
        let d = diff(&src, &dst, &DiffOptions::default()).unwrap();
        assert_eq!(d.total_differences(), 0, "{}", d.to_text());
    }
}

#[test]
fn two_hundred_thousand_keys_with_a_live_writer() {
    const N: usize = 200_000;
    let source = Standalone::start().unwrap();
    let cluster = Cluster::start(3, 0).unwrap();
    let src = Store::open(&source.url()).unwrap();
    let dst = Store::open(&cluster.url()).unwrap();
    run(&src, &keyspace(N, 7, true));
    let before = dbsize(&src);
    assert!(before > (N as i64) * 9 / 10);

    // A writer that keeps changing the source while the copy runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, writes) = (stop.clone(), writes.clone());
        let w = Store::open(&source.url()).unwrap();
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(99);
            // Bounded in count as well as by the flag.
            while !stop.load(Ordering::Relaxed) && writes.load(Ordering::Relaxed) < 2_000_000 {
                let mut batch = Vec::new();
                for _ in 0..50 {
                    let i = rng.gen_range(0..N);
                    let cmd = match i % 20 {
                        0 => c(&[
                            "HSET",
                            &format!("hash:{i}"),
                            "n",
                            &rng.gen::<u32>().to_string(),
                        ]),
                        1 => c(&["RPUSH", &format!("list:{i}"), "a"]),
                        2 => c(&["SADD", &format!("set:{i}"), &rng.gen::<u16>().to_string()]),
                        3 => c(&["ZINCRBY", &format!("zset:{i}"), "1", "a"]),
                        4 => c(&["XADD", &format!("stream:{i}"), "*", "w", "1"]),
                        5 => c(&["PFADD", &format!("hll:{i}"), &rng.gen::<u32>().to_string()]),
                        6 => c(&["DEL", &format!("str:{{u{}}}:{i}", i % 977)]),
                        7 => c(&["PEXPIRE", &format!("str:{{u{}}}:{i}", i % 977), "1800000"]),
                        _ => c(&[
                            "SET",
                            &format!("str:{{u{}}}:{i}", i % 977),
                            &format!("new-{}", rng.gen::<u32>()),
                        ]),
                    };
                    batch.push(cmd);
                }
                for r in w.pipeline(&batch).unwrap() {
                    r.unwrap();
                }
                writes.fetch_add(50, Ordering::Relaxed);
            }
        })
    };
    // Into an empty cluster: copy without comparing first; each copied batch is verified, and
    // keys the writer changed meanwhile are copied again.
    let mut o = quick();
    o.final_diff = false;
    o.compare = false;
    o.workers = 4;
    let first = migrate(&src, &dst, &o).unwrap();
    assert!(first.complete, "{}", first.to_text());
    assert!(first.copied() > (N as u64) * 8 / 10, "{}", first.to_text());
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(writes.load(Ordering::Relaxed) > 0);

    // The last round after the writer stopped: a final diff of 0.
    let mut last = quick();
    last.delete_extra = true;
    let second = migrate(&src, &dst, &last).unwrap();
    assert_clean(&second);

    // TTLs within 1 s.
    let mut checked = 0;
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..3000 {
        let i = rng.gen_range(0..N);
        if i % 20 < 6 {
            continue;
        }
        let k = format!("str:{{u{}}}:{i}", i % 977);
        let (a, b) = (
            src.call(&c(&["PTTL", &k])).unwrap().as_int().unwrap(),
            dst.call(&c(&["PTTL", &k])).unwrap().as_int().unwrap(),
        );
        if a > 10_000 {
            checked += 1;
            assert!(
                (a - b).abs() <= 1000,
                "{k}: source {a} ms, destination {b} ms"
            );
        } else if a == -1 {
            assert_eq!(b, -1, "{k}");
        }
    }
    assert!(checked > 100);

    // A second full copy (no compare: every key RESTOREd with REPLACE) neither duplicates
    // nor reorders lists.
    let lists: Vec<String> = (0..N)
        .filter(|i| i % 20 == 1)
        .step_by(25)
        .map(|i| format!("list:{i}"))
        .collect();
    let lrange = |s: &Store| -> Vec<slotshift::reply::Reply> {
        let cmds: Vec<Cmd> = lists.iter().map(|k| c(&["LRANGE", k, "0", "-1"])).collect();
        s.pipeline(&cmds)
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap())
            .collect()
    };
    let before = lrange(&dst);
    assert_eq!(before, lrange(&src));
    let mut again = quick();
    again.compare = false;
    again.verify = false;
    again.final_diff = false;
    let third = migrate(&src, &dst, &again).unwrap();
    assert!(third.complete);
    assert!(third.copied() > (N as u64) * 8 / 10);
    assert_eq!(lrange(&dst), before);
}

#[test]
fn interrupted_and_resumed_reaches_the_same_end_state() {
    let source = Standalone::start().unwrap();
    let cluster = Cluster::start(3, 0).unwrap();
    let src = Store::open(&source.url()).unwrap();
    let dst = Store::open(&cluster.url()).unwrap();
    run(&src, &keyspace(40_000, 11, false));
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("migrate.checkpoint");
    let cancel = Arc::new(AtomicBool::new(false));
    let mut o = quick();
    o.checkpoint = Some(cp.clone());
    o.resume = true;
    o.batch = 200;
    o.workers = 1;
    o.rate = Some(20_000);
    o.cancel = Some(cancel.clone());
    let flag = cancel.clone();
    o.progress = Some(Arc::new(move |p: &Progress| {
        if p.stage == "copy" && p.keys >= 5_000 {
            flag.store(true, Ordering::Relaxed);
        }
    }));
    let first = migrate(&src, &dst, &o).unwrap();
    assert!(!first.complete, "{}", first.to_text());
    assert!(first.final_diff.is_none());
    assert!(cp.exists());
    let partial = dbsize(&dst);
    assert!(partial > 0 && partial < dbsize(&src), "{partial}");

    cancel.store(false, Ordering::Relaxed);
    o.progress = None;
    o.rate = None;
    o.workers = 4;
    let second = migrate(&src, &dst, &o).unwrap();
    assert_clean(&second);
    // The resumed run started from the saved cursor, not from zero.
    assert!(second.keys_scanned >= first.keys_scanned);
    assert_eq!(dbsize(&dst), dbsize(&src));
    // A compared re-run finds every key equal and copies nothing.
    let mut compared = quick();
    compared.final_diff = false;
    let again = migrate(&src, &dst, &compared).unwrap();
    assert!(again.complete);
    assert_eq!(again.copied(), 0, "{}", again.to_text());
    assert_eq!(again.equal, again.keys_scanned);

    // A checkpoint of another filter is refused, naming the setting.
    let mut other = o.clone();
    other.filter.pattern = Some("str:*".into());
    let e = migrate(&src, &dst, &other).unwrap_err();
    assert!(e.to_string().contains("match"), "{e}");
}

/// The runbook's backfill, as written: a dry run, then the same command for real, then the same
/// command again for keys left over. A dry run's checkpoint is never taken for a real run's,
/// and a finished checkpoint is never resumed as if nothing were left to do.
#[test]
fn the_runbook_sequence_copies_everything() {
    let source = Standalone::start().unwrap();
    let destination = Standalone::start().unwrap();
    let src = Store::open(&source.url()).unwrap();
    let dst = Store::open(&destination.url()).unwrap();
    run(&src, &keyspace(2_000, 21, false));
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("backfill.cp");
    let mut o = quick();
    o.checkpoint = Some(cp.clone());
    o.resume = true;
    o.missing_only = true; // the runbook's --missing-only (a backfill under dual-write)

    let mut dry = o.clone();
    dry.dry_run = true;
    let report = migrate(&src, &dst, &dry).unwrap();
    assert!(report.complete && report.dry_run, "{}", report.to_text());
    assert_eq!(dbsize(&dst), 0);

    // The real run refuses the dry run's checkpoint, and says what to do.
    let e = migrate(&src, &dst, &o).unwrap_err();
    assert!(
        matches!(&e, Error::Migrate(MigrateError::ResumeMismatch { setting, .. }) if setting == "dry_run"),
        "{e}"
    );
    assert!(e.to_string().contains("without --resume"), "{e}");
    assert_eq!(dbsize(&dst), 0);

    // Without --resume it starts anew (replacing the checkpoint) and copies everything.
    let mut fresh = o.clone();
    fresh.resume = false;
    assert_clean(&migrate(&src, &dst, &fresh).unwrap());
    assert_eq!(dbsize(&dst), dbsize(&src));

    // The same command again once it finished: refused, naming what to do, not a silent no-op.
    let e = migrate(&src, &dst, &o).unwrap_err();
    assert!(
        matches!(&e, Error::Migrate(MigrateError::CheckpointFinished { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("without --resume"), "{e}");

    // Keys left over (written outside the MultiStore): a new run copies them.
    run(
        &src,
        &[c(&["SET", "late:1", "x"]), c(&["SET", "late:2", "y"])],
    );
    let report = migrate(&src, &dst, &fresh).unwrap();
    assert_clean(&report);
    assert_eq!(report.copied(), 2, "{}", report.to_text());
    assert_eq!(dbsize(&dst), dbsize(&src));
}

#[test]
fn rewrite_type_by_type_copies_every_type_and_ttls() {
    let a = Standalone::start().unwrap();
    let b = Cluster::start(3, 0).unwrap();
    let src = Store::open(&a.url()).unwrap();
    let dst = Store::open(&b.url()).unwrap();
    run(&src, &keyspace(3000, 5, false));
    // Big keys: written in chunks.
    let mut big = Vec::new();
    for i in 0..2500 {
        big.push(c(&["RPUSH", "big:list", &format!("e{}", i % 7)]));
        big.push(c(&["HSET", "big:hash", &format!("f{i}"), "v"]));
        big.push(c(&[
            "ZADD",
            "big:zset",
            &format!("{i}.25"),
            &format!("m{i}"),
        ]));
        big.push(c(&[
            "XADD",
            "big:stream",
            &format!("{}-0", i + 1),
            "f",
            "v",
        ]));
    }
    big.push(c(&["PEXPIRE", "big:list", "7200000"]));
    run(&src, &big);
    let mut o = quick();
    o.method = CopyMethod::Rewrite;
    let r = migrate(&src, &dst, &o).unwrap();
    assert_clean(&r);
    assert_eq!(r.method, "rewrite");
    assert_eq!(r.restored, 0);
    assert!(r.rewritten >= 3000, "{}", r.to_text());
    // TTLs kept within 1 s of the source's (read one right after the other; the copy may
    // have taken a while on a loaded machine, so compare with the source, not a constant).
    let pttl = |store: &Store| {
        store
            .call(&c(&["PTTL", "big:list"]))
            .unwrap()
            .as_int()
            .unwrap()
    };
    let (src_ttl, dst_ttl) = (pttl(&src), pttl(&dst));
    assert!(
        src_ttl > 0 && (src_ttl - dst_ttl).abs() <= 1_000,
        "source {src_ttl} ms, destination {dst_ttl} ms"
    );

    // By type: TYPE names each rewritten key; the DUMP payload's first byte names each
    // restored one. Both must give the same count per type, whatever the encoding (the big
    // keys are listpacks/quicklists of another encoding than the small ones).
    let sum = |r: &slotshift::migrate::MigrateReport| -> u64 {
        r.copied_by_type.values().map(|t| t.keys).sum()
    };
    assert_eq!(sum(&r), r.rewritten, "{}", r.to_text());
    for ty in ["list", "hash", "zset", "stream"] {
        assert!(r.copied_by_type[ty].keys >= 1, "{ty}: {}", r.to_text());
    }
    assert!(r.copied_by_type.values().all(|t| t.bytes == 0));
    for master in dst.masters().unwrap() {
        dst.call_on(&master, &c(&["FLUSHALL"])).unwrap();
    }
    let dumped = migrate(&src, &dst, &quick()).unwrap();
    assert_eq!(dumped.method, "dump");
    assert_eq!(sum(&dumped), dumped.restored);
    let keys_by_type = |r: &slotshift::migrate::MigrateReport| -> Vec<(String, u64)> {
        r.copied_by_type
            .iter()
            .map(|(ty, t)| (ty.clone(), t.keys))
            .collect()
    };
    assert_eq!(
        keys_by_type(&dumped),
        keys_by_type(&r),
        "{}",
        dumped.to_text()
    );
    assert!(
        dumped.copied_by_type.values().all(|t| t.bytes > 0),
        "{}",
        dumped.to_text()
    );
    assert!(
        dumped.to_text().contains("by type: "),
        "{}",
        dumped.to_text()
    );
}

#[test]
fn dry_run_slot_ranges_cluster_to_standalone_and_extra_keys() {
    let a = Standalone::start().unwrap();
    let b = Cluster::start(3, 0).unwrap();
    let src = Store::open(&a.url()).unwrap();
    let dst = Store::open(&b.url()).unwrap();
    run(&src, &keyspace(5000, 9, false));
    let n = dbsize(&src);

    // Dry run: counts, writes nothing.
    let mut dry = quick();
    dry.dry_run = true;
    let r = migrate(&src, &dst, &dry).unwrap();
    assert!(r.dry_run && r.complete);
    assert_eq!(r.restored as i64, n);
    assert_eq!(dbsize(&dst), 0);

    // One migration split in two slot ranges (two machines).
    let mut low = quick();
    low.filter.slots = Some(KeyFilter::parse_slots("0-8191").unwrap());
    low.final_diff = false;
    migrate(&src, &dst, &low).unwrap();
    let copied_low = dbsize(&dst);
    assert!(copied_low > 0 && copied_low < n);
    for m in dst.masters().unwrap() {
        let keys = dst
            .call_on(&m, &c(&["SCAN", "0", "COUNT", "100000"]))
            .unwrap();
        let slotshift::reply::Reply::Array(parts) = keys else {
            panic!()
        };
        if let slotshift::reply::Reply::Array(ks) = &parts[1] {
            for k in ks {
                assert!(key_slot(k.as_bytes().unwrap()).get() <= 8191);
            }
        }
    }
    let mut high = quick();
    high.filter.slots = Some(KeyFilter::parse_slots("8192-16383").unwrap());
    let r = migrate(&src, &dst, &high).unwrap();
    assert_clean(&r);
    assert_eq!(dbsize(&dst), n);
    assert!(KeyFilter::parse_slots("9-3").is_err());
    assert!(KeyFilter::parse_slots("0-16384").is_err());

    // Cluster -> standalone, with an extra key deleted on the way.
    let back = Standalone::start().unwrap();
    let back_store = Store::open(&back.url()).unwrap();
    run(&back_store, &[c(&["SET", "stale", "x"])]);
    let mut o = quick();
    o.delete_extra = true;
    let r = migrate(&dst, &back_store, &o).unwrap();
    assert_clean(&r);
    assert_eq!(dbsize(&back_store), n, "{}", r.to_text());
    let d = diff(&back_store, &src, &DiffOptions::default()).unwrap();
    assert_eq!(d.total_differences(), 0, "{}", d.to_text());
}

/// The backfill under dual-write, as the runbook runs it: the application writes and deletes
/// on both deployments while `migrate` copies. A DEL that lands between a key's DUMP and its
/// RESTORE would be undone by the copy (the key comes back on the destination); the copy's
/// re-check deletes what it brought back, whatever `delete_extra` says. Once the writer stops,
/// the final diff finds nothing.
#[test]
fn deletes_during_a_dual_write_backfill_stay_deleted() {
    const N: usize = 20_000;
    let source = Standalone::start().unwrap();
    let cluster = Cluster::start(3, 0).unwrap();
    let src = Store::open(&source.url()).unwrap();
    let dst = Store::open(&cluster.url()).unwrap();
    let keys: Vec<Cmd> = (0..N)
        .map(|i| c(&["SET", &format!("dw:{i}"), "v0"]))
        .collect();
    run(&src, &keys);

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let (a, b) = (
            Store::open(&source.url()).unwrap(),
            Store::open(&cluster.url()).unwrap(),
        );
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(7);
            let mut ops = 0u64;
            while !stop.load(Ordering::Relaxed) && ops < 2_000_000 {
                let batch: Vec<Cmd> = (0..50)
                    .map(|_| {
                        let k = format!("dw:{}", rng.gen_range(0..N));
                        if rng.gen_bool(0.6) {
                            c(&["DEL", &k])
                        } else {
                            c(&["SET", &k, &format!("v{}", rng.gen::<u32>())])
                        }
                    })
                    .collect();
                // Dual-write: the old store (the default) first, then the new one.
                for store in [&a, &b] {
                    for r in store.pipeline(&batch).unwrap() {
                        r.unwrap();
                    }
                }
                ops += 50;
            }
        })
    };
    let mut o = quick();
    o.compare = false;
    o.workers = 4;
    o.batch = 200;
    // The writer stops when the copy is over: the re-check rounds and the final diff then see
    // a still source.
    let stopper = stop.clone();
    o.progress = Some(Arc::new(move |p: &Progress| {
        if p.stage == "recheck" {
            stopper.store(true, Ordering::Relaxed);
        }
    }));
    let report = migrate(&src, &dst, &o);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let report = report.unwrap();
    assert_clean(&report);
}

/// `missing_only` under dual-write: the application keeps writing both sides while the
/// backfill runs; what the destination already has is never overwritten with an older copy,
/// what it lacks is copied, and a value written to both stays the one written.
#[test]
fn a_missing_only_backfill_never_writes_over_the_destinations_newer_keys() {
    let source = Standalone::start().unwrap();
    let cluster = Cluster::start(3, 0).unwrap();
    let src = Store::open(&source.url()).unwrap();
    let dst = Store::open(&cluster.url()).unwrap();
    run(
        &src,
        &(0..2000)
            .map(|i| c(&["SET", &format!("mo:{i}"), "old"]))
            .collect::<Vec<_>>(),
    );
    // Written by dual-write since it began: on both sides, and what the destination has for
    // mo:0..100 (one of them differs on purpose: the destination's is the newer).
    let newer: Vec<Cmd> = (0..100)
        .map(|i| c(&["SET", &format!("mo:{i}"), "new"]))
        .collect();
    run(&src, &newer);
    run(&dst, &newer);
    run(&dst, &[c(&["SET", "mo:0", "newest"])]);
    let mut o = quick();
    o.missing_only = true;
    o.final_diff = false;
    let report = migrate(&src, &dst, &o).unwrap();
    assert!(report.complete, "{}", report.to_text());
    assert_eq!(report.copied(), 1900, "{}", report.to_text());
    assert_eq!(report.equal + report.kept, 100, "{}", report.to_text());
    assert_eq!(report.kept, 1, "{}", report.to_text());
    let got = |k: &str| dst.call(&c(&["GET", k])).unwrap();
    assert_eq!(
        got("mo:0"),
        slotshift::reply::Reply::Bulk(b"newest".to_vec())
    );
    assert_eq!(got("mo:1"), slotshift::reply::Reply::Bulk(b"new".to_vec()));
    assert_eq!(
        got("mo:1999"),
        slotshift::reply::Reply::Bulk(b"old".to_vec())
    );
    // Without comparing first, RESTORE itself refuses to replace: the same outcome.
    run(&dst, &[c(&["SET", "mo:5", "newest"])]);
    let mut o = quick();
    o.missing_only = true;
    o.compare = false;
    o.final_diff = false;
    let report = migrate(&src, &dst, &o).unwrap();
    assert_eq!(report.copied(), 0, "{}", report.to_text());
    assert_eq!(report.kept, 2000, "{}", report.to_text());
    assert_eq!(
        got("mo:5"),
        slotshift::reply::Reply::Bulk(b"newest".to_vec())
    );
}
