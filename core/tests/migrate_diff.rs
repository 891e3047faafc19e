//! `migrate::diff` against real servers: every kind of planted difference in both directions
//! (standalone → cluster), nothing on identical stores, modes, big keys compared in chunks,
//! TTL tolerance, expiring keys, Sentinel, mismatch log, bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::collections::BTreeSet;
use std::time::Duration;

use slotshift::command::Cmd;
use slotshift::migrate::{
    diff, migrate, DiffKind, DiffMode, DiffOptions, DiffReport, MigrateError, MigrateOptions,
};
use slotshift::store::Store;
use slotshift::testing::{Cluster, SentinelSet, Standalone};
use slotshift::Error;

fn c(args: &[&str]) -> Cmd {
    Cmd::from_args(args.iter().copied())
}

fn run(store: &Store, cmds: &[Cmd]) {
    for r in store.pipeline(cmds).unwrap() {
        r.unwrap();
    }
}

/// The same keys of every type, written to a store.
fn base() -> Vec<Cmd> {
    let mut v = Vec::new();
    for i in 0..50 {
        v.push(c(&["SET", &format!("s:{i}"), &format!("v{i}")]));
        v.push(c(&["HSET", &format!("h:{i}"), "a", "1", "b", "2"]));
        v.push(c(&["RPUSH", &format!("l:{i}"), "x", "y", "x"]));
        v.push(c(&["SADD", &format!("set:{i}"), "m1", "m2", "m3"]));
        v.push(c(&["ZADD", &format!("z:{i}"), "1", "a", "2.5", "b"]));
        v.push(c(&["XADD", &format!("x:{i}"), "1-1", "f", "v"]));
        v.push(c(&["PFADD", &format!("hll:{i}"), "a", "b", "c"]));
        v.push(c(&["SET", &format!("t:{i}"), "v", "PX", "3600000"]));
    }
    v
}

/// A standalone source and a 3-master cluster destination holding the same [`base`] keys
/// (the servers, kept alive by the caller, and a store on each).
fn identical_pair() -> ((Standalone, Cluster), Store, Store) {
    let src_server = Standalone::start().unwrap();
    let cluster = Cluster::start(3, 0).unwrap();
    let src = Store::open(&src_server.url()).unwrap();
    let dst = Store::open(&cluster.url()).unwrap();
    run(&src, &base());
    run(&dst, &base());
    ((src_server, cluster), src, dst)
}

fn quick(mode: DiffMode) -> DiffOptions {
    let mut o = DiffOptions::default();
    o.mode = mode;
    o.round_interval = Duration::from_millis(50);
    o.rounds = 2;
    o.report_limit = 1000;
    o
}

fn found(store_a: &Store, store_b: &Store, o: &DiffOptions) -> BTreeSet<(String, DiffKind)> {
    let r = diff(store_a, store_b, o).unwrap();
    assert!(r.complete);
    assert_eq!(
        r.mismatches.len() as u64,
        r.total_differences(),
        "{}",
        r.to_text()
    );
    kinds(&r)
}

/// The keys a report lists, with what differs.
fn kinds(r: &DiffReport) -> BTreeSet<(String, DiffKind)> {
    r.mismatches
        .iter()
        .map(|m| (m.key.clone(), m.kind))
        .collect()
}

fn set(items: &[(&str, DiffKind)]) -> BTreeSet<(String, DiffKind)> {
    items.iter().map(|(k, d)| ((*k).to_owned(), *d)).collect()
}

#[test]
fn every_planted_difference_in_both_directions_and_none_on_identical_stores() {
    let (_servers, src, dst) = identical_pair();

    let r = diff(&src, &dst, &quick(DiffMode::Full)).unwrap();
    assert_eq!(r.total_differences(), 0, "{}", r.to_text());
    assert_eq!(r.source_keys, 400);
    assert_eq!(r.destination_keys, 400);
    assert_eq!(r.found, 0);

    use DiffKind::*;
    // Plant one difference of each kind; each on its own key.
    run(&dst, &[c(&["DEL", "s:1"])]); // missing on the destination
    run(&src, &[c(&["DEL", "h:2"])]); // extra on the destination
    run(&dst, &[c(&["SET", "only-dst", "x"])]); // extra, not on the source at all
    run(&src, &[c(&["SET", "only-src", "x"])]); // missing
    run(&dst, &[c(&["DEL", "s:3"]), c(&["RPUSH", "s:3", "v3"])]); // type
    run(&dst, &[c(&["SET", "s:4", "other"])]); // string value
    run(&dst, &[c(&["HSET", "h:5", "b", "3"])]); // hash field value, same length
    run(
        &dst,
        &[c(&["DEL", "l:6"]), c(&["RPUSH", "l:6", "y", "x", "x"])],
    ); // list order
    run(&dst, &[c(&["DEL", "l:7"]), c(&["RPUSH", "l:7", "x", "y"])]); // list duplicate lost
    run(
        &dst,
        &[c(&["DEL", "l:8"]), c(&["RPUSH", "l:8", "x", "y", "x", "x"])],
    ); // list duplicate added
    run(
        &dst,
        &[c(&["SREM", "set:9", "m3"]), c(&["SADD", "set:9", "m4"])],
    ); // set member
    run(&dst, &[c(&["ZADD", "z:10", "2.75", "b"])]); // zset score
    run(
        &dst,
        &[c(&["DEL", "x:11"]), c(&["XADD", "x:11", "1-1", "f", "w"])],
    ); // stream entry
    run(&dst, &[c(&["PFADD", "hll:12", "zzz"])]); // HyperLogLog as its string
    run(&dst, &[c(&["PERSIST", "t:13"])]); // TTL only on the source
    run(&src, &[c(&["EXPIRE", "s:14", "600"])]); // TTL only on the source (no TTL on dst)
    run(&dst, &[c(&["PEXPIRE", "t:15", "1800000"])]); // TTLs far apart

    // Within the 1 s tolerance: equal. Both TTLs are set now, one call apart: set when the
    // keys were written, they would drift apart by however long the first diff took.
    run(&src, &[c(&["PEXPIRE", "t:16", "3600000"])]);
    run(&dst, &[c(&["PEXPIRE", "t:16", "3599500"])]);

    let want = set(&[
        ("s:1", Missing),
        ("h:2", Extra),
        ("only-dst", Extra),
        ("only-src", Missing),
        ("s:3", Type),
        ("s:4", Value),
        ("h:5", Value),
        ("l:6", Value),
        ("l:7", Value),
        ("l:8", Value),
        ("set:9", Value),
        ("z:10", Value),
        ("x:11", Value),
        ("hll:12", Value),
        ("t:13", Ttl),
        ("s:14", Ttl),
        ("t:15", Ttl),
    ]);
    assert_eq!(found(&src, &dst, &quick(DiffMode::Full)), want);

    // Big keys compared in chunks give the same answer.
    let mut chunked = quick(DiffMode::Full);
    chunked.big_key_bytes = 1;
    chunked.chunk = 1;
    assert_eq!(found(&src, &dst, &chunked), want);

    // Length mode: only the value differences that change a length (a PFADD that adds a
    // register grows the sparse HyperLogLog string).
    let length: BTreeSet<_> = want
        .iter()
        .filter(|(k, d)| *d != Value || ["s:4", "l:7", "l:8", "hll:12"].contains(&k.as_str()))
        .cloned()
        .collect();
    assert_eq!(found(&src, &dst, &quick(DiffMode::Length)), length);

    // Outline: which keys exist where, types and TTLs.
    let outline: BTreeSet<_> = want.iter().filter(|(_, d)| *d != Value).cloned().collect();
    assert_eq!(found(&src, &dst, &quick(DiffMode::Outline)), outline);

    // Without the reverse pass, keys only on the destination are not looked for.
    let mut one_way = quick(DiffMode::Full);
    one_way.reverse = false;
    let fwd: BTreeSet<_> = want.iter().filter(|(_, d)| *d != Extra).cloned().collect();
    assert_eq!(found(&src, &dst, &one_way), fwd);

    // TTL comparison off.
    let mut no_ttl = quick(DiffMode::Full);
    no_ttl.compare_ttl = false;
    let without: BTreeSet<_> = want.iter().filter(|(_, d)| *d != Ttl).cloned().collect();
    assert_eq!(found(&src, &dst, &no_ttl), without);

    // The other direction: missing and extra swap.
    let swapped: BTreeSet<_> = want
        .iter()
        .map(|(k, d)| {
            let d = match d {
                Missing => Extra,
                Extra => Missing,
                other => *other,
            };
            (k.clone(), d)
        })
        .collect();
    assert_eq!(found(&dst, &src, &quick(DiffMode::Full)), swapped);
}

#[test]
fn the_reverse_pass_asks_the_source_only_in_slots_where_the_keys_differ() {
    let (servers, src, dst) = identical_pair();
    // Differences the forward pass sees (missing, value) leave the reverse pass nothing to
    // ask; so do keys that share a slot with one of them.
    run(&dst, &[c(&["DEL", "s:1"]), c(&["SET", "s:4", "other"])]);
    run(&src, &[c(&["SET", "only-src", "x"])]);
    run(&src, &[c(&["CONFIG", "RESETSTAT"])]);
    let r = diff(&src, &dst, &quick(DiffMode::Full)).unwrap();
    assert_eq!(r.destination_keys, 399, "{}", r.to_text());
    assert_eq!(r.reverse_exact_slots, 0, "{}", r.to_text());
    assert_eq!(servers.0.node().calls("exists").unwrap(), 0);
    assert_eq!(r.total_differences(), 3, "{}", r.to_text());

    // Extra keys on the destination: one the source lost, one it never had, and one beside a
    // key of the same slot that only the source has.
    run(&src, &[c(&["DEL", "h:2"]), c(&["SET", "{t}one", "x"])]);
    run(
        &dst,
        &[c(&["SET", "only-dst", "x"]), c(&["SET", "{t}two", "x"])],
    );
    run(&src, &[c(&["CONFIG", "RESETSTAT"])]);
    let r = diff(&src, &dst, &quick(DiffMode::Full)).unwrap();
    let slots: BTreeSet<u16> = ["h:2", "only-dst", "{t}two"]
        .iter()
        .map(|k| slotshift::slot::key_slot(k.as_bytes()).get())
        .collect();
    assert_eq!(r.reverse_exact_slots, slots.len() as u64, "{}", r.to_text());
    // Only the destination's keys in those slots were asked about on the source (plus the
    // re-check rounds' own look at each remaining difference, which is not an EXISTS).
    let in_slots: u64 = slots
        .iter()
        .map(|&s| {
            let n = dst
                .call(&c(&["CLUSTER", "COUNTKEYSINSLOT", &s.to_string()]))
                .unwrap();
            u64::try_from(n.as_int().unwrap()).unwrap()
        })
        .sum();
    assert_eq!(servers.0.node().calls("exists").unwrap(), in_slots);
    use DiffKind::*;
    assert_eq!(
        kinds(&r),
        set(&[
            ("s:1", Missing),
            ("s:4", Value),
            ("only-src", Missing),
            ("{t}one", Missing),
            ("h:2", Extra),
            ("only-dst", Extra),
            ("{t}two", Extra),
        ])
    );
}

#[test]
fn a_diff_stopped_in_its_reverse_pass_resumes_to_the_same_result() {
    let (_servers, src, dst) = identical_pair();
    run(&src, &[c(&["DEL", "h:2"])]);
    run(&dst, &[c(&["SET", "only-dst", "x"])]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("diff.checkpoint");
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut o = quick(DiffMode::Full);
    o.checkpoint = Some(path.clone());
    o.resume = true;
    o.batch = 10;
    o.workers = 1;
    o.cancel = Some(cancel.clone());
    // Slow enough that the reverse pass is under way at its first progress report.
    o.rate = Some(400);
    let stop = cancel.clone();
    o.progress = Some(std::sync::Arc::new(
        move |p: &slotshift::migrate::Progress| {
            if p.stage == "reverse" && p.keys > 0 {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
    ));
    let r = diff(&src, &dst, &o).unwrap();
    assert!(!r.complete, "{}", r.to_text());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["stage"], "reverse", "{saved}");
    assert_eq!(saved["census_key"].as_str().unwrap().len(), 64, "{saved}");
    assert!(!saved["census_forward"].as_array().unwrap().is_empty());

    // The resumed run picks up the reverse pass where it stopped, census included.
    cancel.store(false, std::sync::atomic::Ordering::Relaxed);
    o.rate = None;
    o.progress = None;
    let r = diff(&src, &dst, &o).unwrap();
    assert!(r.complete, "{}", r.to_text());
    assert_eq!(
        kinds(&r),
        set(&[("h:2", DiffKind::Extra), ("only-dst", DiffKind::Extra)])
    );
    assert!(r.reverse_exact_slots >= 2, "{}", r.to_text());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["stage"], "done");
}

/// For random key sets on both sides (few hash tags, so slots hold several keys; binary
/// names), the reverse pass by census reports exactly the keys only the destination has, and
/// asks the source only in slots that hold one of them.
#[test]
fn the_census_reports_exactly_the_destinations_own_keys() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let src_server = Standalone::start().unwrap();
    let cluster = Cluster::start(3, 0).unwrap();
    let src = Store::open(&src_server.url()).unwrap();
    let dst = Store::open(&cluster.url()).unwrap();
    let name = (0u8..6, prop::collection::vec(any::<u8>(), 0..4)).prop_map(|(tag, tail)| {
        let mut k = format!("{{t{tag}}}").into_bytes();
        k.extend(tail);
        k
    });
    let sets = (
        prop::collection::btree_set(name.clone(), 0..40),
        prop::collection::btree_set(name, 0..40),
    );
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&sets, |(on_src, on_dst)| {
            for store in [&src, &dst] {
                store.call(&c(&["FLUSHALL"])).unwrap();
            }
            let set = |keys: &BTreeSet<Vec<u8>>| -> Vec<Cmd> {
                keys.iter()
                    .map(|k| Cmd::new("SET").with_arg(k).with_arg("v"))
                    .collect()
            };
            run(&src, &set(&on_src));
            run(&dst, &set(&on_dst));
            let mut o = quick(DiffMode::Outline);
            o.rounds = 0;
            let r = diff(&src, &dst, &o).unwrap();
            let extra: BTreeSet<String> = r
                .mismatches
                .iter()
                .filter(|m| m.kind == DiffKind::Extra)
                .map(|m| m.key.clone())
                .collect();
            let want: BTreeSet<String> = on_dst
                .difference(&on_src)
                .map(|k| slotshift::keyspace::escape_key(k))
                .collect();
            prop_assert_eq!(&extra, &want);
            let slots: BTreeSet<u16> = on_dst
                .difference(&on_src)
                .map(|k| slotshift::key_slot(k).get())
                .collect();
            prop_assert_eq!(r.reverse_exact_slots, slots.len() as u64);
            Ok(())
        })
        .unwrap();
}

#[test]
fn big_keys_are_compared_in_chunks() {
    let a = Standalone::start().unwrap();
    let b = Standalone::start().unwrap();
    let (src, dst) = (
        Store::open(&a.url()).unwrap(),
        Store::open(&b.url()).unwrap(),
    );
    let mut cmds = Vec::new();
    for i in 0..5000 {
        cmds.push(c(&["HSET", "bigh", &format!("f{i}"), &format!("v{i}")]));
        cmds.push(c(&["RPUSH", "bigl", &format!("e{i}")]));
        cmds.push(c(&["SADD", "bigs", &format!("m{i}")]));
        cmds.push(c(&["ZADD", "bigz", &i.to_string(), &format!("m{i}")]));
        cmds.push(c(&[
            "XADD",
            "bigx",
            &format!("{}-0", i + 1),
            "f",
            &i.to_string(),
        ]));
    }
    cmds.push(c(&["SET", "bigstr", &"x".repeat(300_000)]));
    run(&src, &cmds);
    run(&dst, &cmds);
    let mut o = quick(DiffMode::Full);
    o.big_key_bytes = 10_000;
    o.chunk = 100;
    let r = diff(&src, &dst, &o).unwrap();
    assert_eq!(r.total_differences(), 0, "{}", r.to_text());
    // One element changed deep inside each big key.
    run(
        &dst,
        &[
            c(&["HSET", "bigh", "f4321", "changed"]),
            c(&["LSET", "bigl", "4999", "changed"]),
            c(&["SREM", "bigs", "m2500"]),
            c(&["SADD", "bigs", "other"]),
            c(&["ZADD", "bigz", "0.5", "m4000"]),
            c(&["SETRANGE", "bigstr", "299999", "y"]),
        ],
    );
    let got = found(&src, &dst, &o);
    let want = set(&[
        ("bigh", DiffKind::Value),
        ("bigl", DiffKind::Value),
        ("bigs", DiffKind::Value),
        ("bigz", DiffKind::Value),
        ("bigstr", DiffKind::Value),
    ]);
    assert_eq!(got, want);
}

#[test]
fn expiring_keys_are_not_differences() {
    let a = Standalone::start().unwrap();
    let b = Standalone::start().unwrap();
    let (src, dst) = (
        Store::open(&a.url()).unwrap(),
        Store::open(&b.url()).unwrap(),
    );
    // Expires within the tolerance: missing on the destination is not a difference.
    run(&src, &[c(&["SET", "soon", "v", "PX", "800"])]);
    // Expires during the diff: seen missing in the pass, gone by the re-check.
    run(&src, &[c(&["SET", "during", "v", "PX", "2500"])]);
    // A real difference that stays.
    run(&src, &[c(&["SET", "stays", "v"])]);
    let mut o = quick(DiffMode::Full);
    o.ttl_tolerance = Duration::from_millis(1000);
    o.rounds = 5;
    o.round_interval = Duration::from_millis(1000);
    let r = diff(&src, &dst, &o).unwrap();
    let keys: Vec<&str> = r.mismatches.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, vec!["stays"], "{}", r.to_text());
    assert_eq!(r.count(DiffKind::Missing), 1);
    // "during" was seen (found counts it) and converged away.
    assert!(r.found >= 2, "{}", r.to_text());
    assert_eq!(r.converged, r.found - 1);
}

#[test]
fn sentinel_source_mismatch_log_and_filters() {
    let set_ = SentinelSet::start().unwrap();
    let url = format!(
        "redis+sentinel://{}/{}",
        set_.sentinel_addrs().join(","),
        set_.master_name()
    );
    let src = Store::open(&url).unwrap();
    let b = Standalone::start().unwrap();
    let dst = Store::open(&b.url()).unwrap();
    run(&src, &base());
    run(&dst, &base());
    run(&dst, &[c(&["SET", "s:7", "changed"]), c(&["DEL", "h:8"])]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mismatches.jsonl");
    let mut o = quick(DiffMode::Full);
    o.mismatch_log = Some(log.clone());
    let r = diff(&src, &dst, &o).unwrap();
    assert_eq!(r.total_differences(), 2, "{}", r.to_text());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines
        .iter()
        .any(|l| l["key"] == "s:7" && l["kind"] == "value"));
    assert!(lines
        .iter()
        .any(|l| l["key"] == "h:8" && l["kind"] == "missing"));
    // No value ever appears in the log.
    assert!(!std::fs::read_to_string(&log).unwrap().contains("changed"));
    // MATCH and TYPE filters.
    let mut only_h = quick(DiffMode::Full);
    only_h.filter.pattern = Some("h:*".into());
    let r = diff(&src, &dst, &only_h).unwrap();
    assert_eq!(r.total_differences(), 1);
    assert_eq!(r.source_keys, 50);
    let mut only_strings = quick(DiffMode::Full);
    only_strings.filter.key_type = Some("string".into());
    let r = diff(&src, &dst, &only_strings).unwrap();
    assert_eq!(r.total_differences(), 1);
    assert_eq!(r.mismatches[0].key, "s:7");
    // JSON report parses and names the kinds.
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["differences"]["value"], 1);
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let a = Standalone::start().unwrap();
    let src = Store::open(&a.url()).unwrap();
    run(&src, &[c(&["SET", "k", "v"])]);
    // The same store twice (two handles on one server).
    let same = Store::open(&a.url()).unwrap();
    let e = diff(&src, &same, &DiffOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Migrate(MigrateError::SameStore)), "{e}");
    let e = migrate(&src, &same, &MigrateOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Migrate(MigrateError::SameStore)), "{e}");
    assert_eq!(e.family().name(), "migrate");

    // Rate zero.
    let b = Standalone::start().unwrap();
    let dst = Store::open(&b.url()).unwrap();
    let mut o = MigrateOptions::default();
    o.rate = Some(0);
    let e = migrate(&src, &dst, &o).unwrap_err();
    assert!(e.to_string().contains("rate"), "{e}");
    let mut d = DiffOptions::default();
    d.workers = 0;
    assert!(diff(&src, &dst, &d)
        .unwrap_err()
        .to_string()
        .contains("workers"));
    // A type no key has: refused, not a walk that silently matches nothing.
    let mut o = MigrateOptions::default();
    o.filter.key_type = Some("bogus".into());
    let e = migrate(&src, &dst, &o).unwrap_err().to_string();
    assert!(e.contains("bogus") && e.contains("zset"), "{e}");
    let mut d = DiffOptions::default();
    d.filter.key_type = Some("Strings".into());
    let e = diff(&src, &dst, &d).unwrap_err().to_string();
    assert!(e.contains("Strings"), "{e}");
    let dbsize = |s: &Store| s.call(&c(&["DBSIZE"])).unwrap().as_int().unwrap();
    assert_eq!(dbsize(&dst), 0);

    // A read-only replica as the destination.
    let sentinel = SentinelSet::builder().replicas(1).start().unwrap();
    let replica = sentinel.replicas()[0].url();
    let ro = Store::open(&replica).unwrap();
    let e = migrate(&src, &ro, &MigrateOptions::default()).unwrap_err();
    assert!(
        matches!(e, Error::Migrate(MigrateError::ReadOnlyDestination { .. })),
        "{e}"
    );
    let master = Store::open(&sentinel.master().url()).unwrap();
    assert_eq!(dbsize(&master), 0);

    // An unreachable destination: a clear connection error naming the node.
    let e = Store::open("redis://127.0.0.1:1").unwrap_err();
    assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
}
