//! `migrate_shared` / `diff_shared` against real servers: four processes (threads with their
//! own connections, as separate machines would have) share one migration from a 4-master
//! cluster to a 3-master cluster through the destination as coordinator, and each returns the
//! same merged report, equal to what one process gets; a range leased by a process that died
//! goes to another once its lease runs out; a process with other settings is refused; a
//! cancelled process leaves the job to be continued; a finished job answers with its report
//! and writes nothing; three processes sharing an analysis report the rows one process does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slotshift::analyzer::{analyze, AnalyzeOptions};
use slotshift::command::Cmd;
use slotshift::migrate::{
    analyze_shared, diff, diff_shared, migrate, migrate_shared, DiffKind, DiffOptions,
    MigrateError, MigrateOptions, Progress, SharedOptions,
};
use slotshift::store::Store;
use slotshift::testing::{Cluster, Standalone};
use slotshift::Error;

fn c(args: &[&str]) -> Cmd {
    Cmd::from_args(args.iter().copied())
}

fn dbsize(store: &Store) -> i64 {
    store
        .masters()
        .unwrap()
        .iter()
        .map(|m| store.call_on(m, &c(&["DBSIZE"])).unwrap().as_int().unwrap())
        .sum()
}

/// `n` keys: strings, hashes and lists, a third of them with a TTL of an hour.
fn fill(store: &Store, n: usize) {
    let mut cmds = Vec::with_capacity(n * 2);
    for i in 0..n {
        let key = format!("k:{i}");
        cmds.push(match i % 3 {
            0 => c(&["SET", &key, &format!("v{i}")]),
            1 => c(&["HSET", &key, "f", &i.to_string()]),
            _ => c(&["RPUSH", &key, "a", "b", &i.to_string()]),
        });
        if i % 3 == 0 {
            cmds.push(c(&["EXPIRE", &key, "3600"]));
        }
    }
    for chunk in cmds.chunks(5000) {
        for r in store.pipeline(chunk).unwrap() {
            r.unwrap();
        }
    }
}

/// A progress line: stage, keys, total.
type Seen = (&'static str, u64, u64);

fn quick() -> MigrateOptions {
    let mut o = MigrateOptions::default();
    o.round_interval = Duration::from_millis(100);
    o
}

fn shared(job: &str, worker: &str) -> SharedOptions {
    let mut s = SharedOptions::new(job);
    s.worker = Some(worker.to_owned());
    s.lease = Duration::from_secs(1);
    s.poll = Duration::from_millis(50);
    s
}

#[test]
fn four_processes_share_one_migration_and_print_one_report() {
    const N: usize = 30_000;
    let a = Cluster::start(4, 0).unwrap();
    let b = Cluster::start(3, 0).unwrap();
    let src = Store::open(&a.url()).unwrap();
    fill(&src, N);

    let reports: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|w| {
                let (src_url, dst_url) = (a.url(), b.url());
                s.spawn(move || {
                    // Each "process" has connections of its own.
                    let src = Store::open(&src_url).unwrap();
                    let dst = Store::open(&dst_url).unwrap();
                    let mut opts = shared("move", &format!("w{w}"));
                    opts.ranges = Some(16);
                    // The job's progress: keys of every process's ranges, in one stage.
                    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
                    let mut m = quick();
                    let record = seen.clone();
                    m.progress = Some(Arc::new(move |p: &Progress| {
                        record.lock().unwrap().push((p.stage, p.keys, p.total));
                    }));
                    let report = migrate_shared(&src, &dst, &dst, &m, &opts).unwrap();
                    let seen = seen.lock().unwrap();
                    assert!(seen.iter().all(|s| s.0 == "copy"), "one stage: {seen:?}");
                    assert_eq!(seen.last().map(|s| (s.1, s.2)), Some((N as u64, N as u64)));
                    report
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let dst = Store::open(&b.url()).unwrap();
    let first = &reports[0];
    for r in &reports {
        assert_eq!(r, first, "every process prints the same merged report");
    }
    assert!(first.complete, "{}", first.to_text());
    assert_eq!(first.keys_scanned, N as u64);
    assert_eq!(first.restored, N as u64);
    assert_eq!(
        first.copied_by_type.values().map(|t| t.keys).sum::<u64>(),
        N as u64
    );
    let d = first.final_diff.as_ref().expect("final diff");
    assert!(d.complete);
    assert_eq!(d.source_keys, N as u64);
    assert_eq!(d.total_differences(), 0, "{}", first.to_text());
    // The job's record stays on its coordinator, the destination: its hash and the reports.
    assert_eq!(dbsize(&dst), N as i64 + 2);
    dst.call(&c(&[
        "DEL",
        "slotshift:job:{move}:job",
        "slotshift:job:{move}:done",
    ]))
    .unwrap();
    assert_eq!(dbsize(&dst), N as i64);

    // One process, into an empty destination, gets the same counts.
    let c2 = Cluster::start(3, 0).unwrap();
    let alone = Store::open(&c2.url()).unwrap();
    let one = migrate(&src, &alone, &quick()).unwrap();
    assert_eq!(
        (one.keys_scanned, one.restored, &one.copied_by_type),
        (first.keys_scanned, first.restored, &first.copied_by_type)
    );

    // A shared diff of the result (two processes, a coordinator of its own) agrees with a
    // plain one.
    fill(&dst, 1); // k:0 written again, its hour's TTL restarted: one TTL difference
    let coord_server = Standalone::start().unwrap();
    let coord = Store::open(&coord_server.url()).unwrap();
    let diffs: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|w| {
                let (src, dst, coord) = (src.clone(), dst.clone(), coord.clone());
                s.spawn(move || {
                    let opts = shared("check", &format!("d{w}"));
                    diff_shared(&src, &dst, &coord, &DiffOptions::default(), &opts).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let plain = diff(&src, &dst, &DiffOptions::default()).unwrap();
    for d in &diffs {
        assert!(d.complete);
        assert_eq!(d.source_keys, plain.source_keys);
        assert_eq!(d.destination_keys, plain.destination_keys);
        assert_eq!(d.differences, plain.differences);
        let keys = |r: &slotshift::migrate::DiffReport| -> Vec<(String, DiffKind)> {
            r.mismatches
                .iter()
                .map(|m| (m.key.clone(), m.kind))
                .collect()
        };
        assert_eq!(keys(d), keys(&plain));
    }
    assert_eq!(plain.total_differences(), 1, "{}", plain.to_text());
}

#[test]
fn a_dead_process_range_moves_on_and_a_job_is_checked_continued_and_kept() {
    const N: usize = 5_000;
    let a = Standalone::start().unwrap();
    let b = Cluster::start(3, 0).unwrap();
    let coord_server = Standalone::start().unwrap();
    let src = Store::open(&a.url()).unwrap();
    let dst = Store::open(&b.url()).unwrap();
    let coord = Store::open(&coord_server.url()).unwrap();
    fill(&src, N);

    // A name that could not be a hash tag is refused before anything is written.
    let e = migrate_shared(&src, &dst, &coord, &quick(), &shared("a}b", "w")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Migrate(MigrateError::InvalidOption { name: "job", .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("a}b"), "{e}");

    // A process that stops at once (a cancel before it starts) records nothing.
    let mut stopped = quick();
    stopped.cancel = Some(Arc::new(AtomicBool::new(true)));
    let r = migrate_shared(&src, &dst, &coord, &stopped, &shared("job1", "w1")).unwrap();
    assert!(!r.complete);
    assert_eq!(r.keys_scanned, 0);
    assert_eq!(dbsize(&dst), 0);

    // Another process with other settings (a dry run) may not join.
    let mut dry = quick();
    dry.dry_run = true;
    let e = migrate_shared(&src, &dst, &coord, &dry, &shared("job1", "w2")).unwrap_err();
    match &e {
        Error::Migrate(MigrateError::SharedMismatch {
            setting,
            saved,
            now,
            ..
        }) => {
            assert_eq!(
                (setting.as_str(), saved.as_str(), now.as_str()),
                ("dry_run", "false", "true")
            );
        }
        other => panic!("{other}"),
    }
    // Nor a diff under a migration's name.
    let e = diff_shared(
        &src,
        &dst,
        &coord,
        &DiffOptions::default(),
        &shared("job1", "w2"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("kind"), "{e}");

    // Range 0 is leased by a process that died: its lease runs out in 1.5 s, then the live
    // process takes it over and the job completes.
    let t = coord.call(&c(&["TIME"])).unwrap();
    let slotshift::reply::Reply::Array(t) = t else {
        panic!()
    };
    let now_ms = t[0].as_int().unwrap() * 1000 + t[1].as_int().unwrap() / 1000;
    let lease = format!("{}|dead-worker", now_ms + 1500);
    coord
        .call(&c(&["HSET", "slotshift:job:{job1}:leases", "0", &lease]))
        .unwrap();
    let started = std::time::Instant::now();
    let r = migrate_shared(&src, &dst, &coord, &quick(), &shared("job1", "w3")).unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "waited for the lease"
    );
    assert!(r.complete, "{}", r.to_text());
    assert_eq!(r.restored, N as u64);
    assert_eq!(r.final_diff.as_ref().unwrap().total_differences(), 0);
    assert_eq!(dbsize(&dst), N as i64);
    let done = coord
        .call(&c(&["HLEN", "slotshift:job:{job1}:done"]))
        .unwrap();
    assert_eq!(
        done.as_int(),
        Some(8),
        "a standalone source's job has 8 ranges"
    );
    let ttl = coord
        .call(&c(&["TTL", "slotshift:job:{job1}:done"]))
        .unwrap();
    assert!(ttl.as_int().unwrap() > 6 * 24 * 3600, "kept for a week");

    // A process joining the finished job gets its report and writes nothing.
    for m in dst.masters().unwrap() {
        dst.call_on(&m, &c(&["FLUSHALL"])).unwrap();
    }
    let again = migrate_shared(&src, &dst, &coord, &quick(), &shared("job1", "w4")).unwrap();
    assert_eq!(again, r);
    assert_eq!(dbsize(&dst), 0);

    // A checkpoint belongs to one process's run.
    let mut cp = quick();
    cp.checkpoint = Some(std::env::temp_dir().join("slotshift-shared-cp.json"));
    let e = migrate_shared(&src, &dst, &coord, &cp, &shared("job2", "w")).unwrap_err();
    assert!(e.to_string().contains("checkpoint"), "{e}");
    // So does a mismatch log (the merged report lists the differences).
    let mut log = DiffOptions::default();
    log.mismatch_log = Some(std::env::temp_dir().join("slotshift-shared-mismatches.jsonl"));
    let e = diff_shared(&src, &dst, &coord, &log, &shared("job2", "w")).unwrap_err();
    assert!(e.to_string().contains("mismatch_log"), "{e}");

    // Bounds of the sharing itself, each refused by name before the job is created.
    let mut bad = shared("job3", "w");
    bad.lease = Duration::from_millis(500);
    let e = migrate_shared(&src, &dst, &coord, &quick(), &bad).unwrap_err();
    assert!(e.to_string().contains("invalid lease"), "{e}");
    let mut bad = shared("job3", "w");
    bad.ranges = Some(0);
    let e = migrate_shared(&src, &dst, &coord, &quick(), &bad).unwrap_err();
    assert!(e.to_string().contains("invalid ranges"), "{e}");
    let mut bad = shared("job3", "w");
    bad.at_once = Some(0);
    let e = migrate_shared(&src, &dst, &coord, &quick(), &bad).unwrap_err();
    assert!(e.to_string().contains("invalid at_once"), "{e}");
    let job3 = coord
        .call(&c(&["EXISTS", "slotshift:job:{job3}:job"]))
        .unwrap();
    assert_eq!(job3.as_int(), Some(0));
}

#[test]
fn three_processes_share_one_analysis_and_report_what_one_does() {
    let a = Cluster::start(3, 0).unwrap();
    let store = Store::open(&a.url()).unwrap();
    let mut cmds = Vec::new();
    for i in 0..6000 {
        cmds.push(match i % 3 {
            0 => c(&["SET", &format!("user:{i}:name"), "somebody"]),
            1 => c(&["HSET", &format!("session:{i}"), "t", "x"]),
            _ => c(&["RPUSH", &format!("queue:{}", i % 50), "job"]),
        });
    }
    for chunk in cmds.chunks(5000) {
        for r in store.pipeline(chunk).unwrap() {
            r.unwrap();
        }
    }
    let mut opts = AnalyzeOptions::default();
    opts.digest_key = Some("the same key for every process".into());
    let alone = analyze(&store, &opts).unwrap();
    let coord_server = Standalone::start().unwrap();
    let coord = Store::open(&coord_server.url()).unwrap();
    let shared_reports: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|w| {
                let (store, coord, opts) = (store.clone(), coord.clone(), opts.clone());
                s.spawn(move || {
                    analyze_shared(&store, &coord, &opts, &shared("keys", &format!("a{w}")))
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let rows = |r: &slotshift::analyzer::Report| -> Vec<(String, u64, u64)> {
        let mut v: Vec<_> = r
            .patterns
            .iter()
            .map(|p| (p.pattern.clone(), p.keys, p.memory.total))
            .collect();
        v.sort();
        v
    };
    for r in &shared_reports {
        assert!(r.complete);
        assert_eq!(r.total.keys, alone.total.keys);
        assert_eq!(r.total.memory.total, alone.total.memory.total);
        assert_eq!(r.total.types, alone.total.types);
        assert_eq!(r.total.top_keys, alone.total.top_keys);
        assert_eq!(rows(r), rows(&alone), "the same rows as one process's");
    }
    assert_eq!(alone.total.keys, 4050);
}
