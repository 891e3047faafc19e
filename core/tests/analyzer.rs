//! The keyspace analyzer against real servers: a generated keyspace of known shape on a
//! standalone server and on a 3-master cluster, auto-generalisation, resume, a slot that moves
//! during the scan, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slotshift::analyzer::{analyze, parse_rules, AnalyzeOptions, ProgressInfo, Report};
use slotshift::command::Cmd;
use slotshift::key_slot;
use slotshift::store::Store;
use slotshift::testing::{Cluster, Standalone};
use slotshift::Error;

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    String,
    Hash,
    List,
    Set,
    Zset,
    Stream,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::Zset => "zset",
            Kind::Stream => "stream",
        }
    }
}

/// One family of keys: how many, the pattern the analyzer must find, type, TTL in ms.
struct Family {
    pattern: &'static str,
    count: usize,
    kind: Kind,
    ttl: Option<u64>,
    /// Builds key `i` and returns it with the raw id(s) it contains.
    make: fn(&mut StdRng, usize) -> (String, Vec<String>),
}

fn hexs(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect()
}

fn alnum(rng: &mut StdRng, n: usize, alphabet: &[u8]) -> String {
    (0..n)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn uuid(rng: &mut StdRng) -> String {
    format!(
        "{}-{}-4{}-a{}-{}",
        hexs(rng, 8),
        hexs(rng, 4),
        hexs(rng, 3),
        hexs(rng, 3),
        hexs(rng, 12)
    )
}

/// A token with at least one digit and one letter (so it reads as an opaque id).
fn opaque(rng: &mut StdRng, n: usize) -> String {
    loop {
        let t = alnum(rng, n, B64URL);
        if t.bytes().any(|b| b.is_ascii_digit()) && t.bytes().any(|b| b.is_ascii_alphabetic()) {
            return t;
        }
    }
}

fn families() -> Vec<Family> {
    vec![
        Family {
            pattern: "user:<num>:profile",
            count: 30_000,
            kind: Kind::Hash,
            ttl: None,
            make: |_, i| {
                let id = (1_000_000_000 + i * 7).to_string();
                (format!("user:{id}:profile"), vec![id])
            },
        },
        Family {
            pattern: "session:<uuid>",
            count: 30_000,
            kind: Kind::String,
            ttl: Some(30 * MIN),
            make: |r, _| {
                let id = uuid(r);
                (format!("session:{id}"), vec![id])
            },
        },
        Family {
            pattern: "cache:avatar:<hex32>",
            count: 20_000,
            kind: Kind::String,
            ttl: Some(12 * HOUR),
            make: |r, _| {
                let id = hexs(r, 32);
                (format!("cache:avatar:{id}"), vec![id])
            },
        },
        Family {
            pattern: "blob:<hex40>",
            count: 10_000,
            kind: Kind::String,
            ttl: None,
            make: |r, _| {
                let id = hexs(r, 40);
                (format!("blob:{id}"), vec![id])
            },
        },
        Family {
            pattern: "artifact:<hex64>:meta",
            count: 10_000,
            kind: Kind::Hash,
            ttl: Some(3 * DAY),
            make: |r, _| {
                let id = hexs(r, 64);
                (format!("artifact:{id}:meta"), vec![id])
            },
        },
        Family {
            pattern: "login:<email>:attempts",
            count: 10_000,
            kind: Kind::String,
            ttl: Some(30 * DAY),
            make: |r, i| {
                let local = format!("{}{}", alnum(r, 8, b"abcdefghijklmnopqrstuvwxyz"), i);
                let id = format!("{local}@example-{}.org", i % 97);
                (format!("login:{id}:attempts"), vec![local])
            },
        },
        Family {
            pattern: "oauth:<jwt>",
            count: 5_000,
            kind: Kind::String,
            ttl: Some(3 * DAY),
            make: |r, _| {
                let body = opaque(r, 40);
                let sig = opaque(r, 43);
                let id = format!("eyJhbGciOiJIUzI1NiJ9.{body}.{sig}");
                (format!("oauth:{id}"), vec![body, sig])
            },
        },
        Family {
            pattern: "apikey:<token>",
            count: 5_000,
            kind: Kind::String,
            ttl: None,
            make: |r, _| {
                // 25 random bytes in standard base64: 36 characters ending in "==".
                let id = format!("{}{}==", alnum(r, 33, B64), alnum(r, 1, b"AQgw"));
                (format!("apikey:{id}"), vec![id])
            },
        },
        Family {
            pattern: "token:<token>",
            count: 10_000,
            kind: Kind::String,
            ttl: Some(12 * HOUR),
            make: |r, _| {
                let id = opaque(r, 32);
                (format!("token:{id}"), vec![id])
            },
        },
        Family {
            pattern: "upload:<*>:state",
            count: 10_000,
            kind: Kind::Hash,
            ttl: Some(3 * DAY),
            // 12 random lowercase letters: no rule names them; the generaliser must.
            make: |r, _| {
                let id = alnum(r, 12, b"abcdefghijklmnopqrstuvwxyz");
                (format!("upload:{id}:state"), vec![id])
            },
        },
        Family {
            pattern: "queue:jobs:<num>",
            count: 10_000,
            kind: Kind::List,
            ttl: None,
            make: |_, i| {
                (
                    format!("queue:jobs:{}", 5_000_000_000u64 + i as u64),
                    vec![],
                )
            },
        },
        Family {
            pattern: "tags:<num>",
            count: 5_000,
            kind: Kind::Set,
            ttl: Some(3 * DAY),
            make: |_, i| (format!("tags:{i}"), vec![]),
        },
        Family {
            pattern: "leaderboard:<num>",
            count: 10_000,
            kind: Kind::Zset,
            ttl: Some(30 * DAY),
            make: |_, i| (format!("leaderboard:{i}"), vec![]),
        },
        Family {
            pattern: "events:<num>",
            count: 5_000,
            kind: Kind::Stream,
            ttl: None,
            make: |_, i| (format!("events:{i}"), vec![]),
        },
        Family {
            pattern: "{tenant:<num>}:settings",
            count: 10_000,
            kind: Kind::Hash,
            ttl: None,
            make: |_, i| (format!("{{tenant:{i}}}:settings"), vec![]),
        },
        Family {
            pattern: "ratelimit:<ip>",
            count: 5_000,
            kind: Kind::String,
            ttl: Some(30 * MIN),
            make: |_, i| {
                (
                    format!("ratelimit:10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                    vec![],
                )
            },
        },
        Family {
            pattern: "ratelimit6:<ip>",
            count: 5_000,
            kind: Kind::String,
            ttl: Some(30 * MIN),
            make: |_, i| {
                (
                    format!("ratelimit6:2001:db8::{:x}:{:x}", i / 7 + 1, i + 1),
                    vec![],
                )
            },
        },
        Family {
            // Loaded last: its keys live under a minute.
            pattern: "otp:<num>",
            count: 10_000,
            kind: Kind::String,
            ttl: Some(59_000),
            make: |_, i| (format!("otp:{}", 7_000_000_000u64 + i as u64), vec![]),
        },
    ]
}

struct Spec {
    key: String,
    family: usize,
}

struct Keyspace {
    families: Vec<Family>,
    keys: Vec<Spec>,
    /// Every raw id, as text.
    ids: Vec<String>,
}

fn keyspace(scale: usize) -> Keyspace {
    let families = families();
    let mut rng = StdRng::seed_from_u64(9);
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for (f, fam) in families.iter().enumerate() {
        for i in 0..fam.count / scale {
            let (key, id) = (fam.make)(&mut rng, i);
            keys.push(Spec { key, family: f });
            ids.extend(id);
        }
    }
    Keyspace {
        families,
        keys,
        ids,
    }
}

fn write_cmds(spec: &Spec, fam: &Family, out: &mut Vec<Cmd>) {
    let k = spec.key.as_str();
    out.push(match fam.kind {
        Kind::String => Cmd::from_args(["SET", k, "some value of modest size"]),
        Kind::Hash => Cmd::from_args(["HSET", k, "name", "n", "state", "s", "size", "1234"]),
        Kind::List => Cmd::from_args(["RPUSH", k, "job-a", "job-b", "job-c"]),
        Kind::Set => Cmd::from_args(["SADD", k, "red", "green", "blue", "teal"]),
        Kind::Zset => Cmd::from_args(["ZADD", k, "1", "alice", "2", "bob"]),
        Kind::Stream => Cmd::from_args(["XADD", k, "*", "event", "login"]),
    });
    if let Some(ttl) = fam.ttl {
        out.push(Cmd::from_args(["PEXPIRE", k, &ttl.to_string()]));
    }
}

fn load(store: &Store, ks: &Keyspace) {
    let mut cmds = Vec::with_capacity(20_000);
    for spec in &ks.keys {
        write_cmds(spec, &ks.families[spec.family], &mut cmds);
        if cmds.len() >= 20_000 {
            for r in store.pipeline(&cmds).unwrap() {
                r.unwrap();
            }
            cmds.clear();
        }
    }
    for r in store.pipeline(&cmds).unwrap() {
        r.unwrap();
    }
}

/// Gives the keys that live under a minute their full TTL again, right before a scan: a slow
/// machine (CI under load) can take more than a minute from loading to the third scan, and an
/// expired key is rightly not counted.
fn refresh_short_ttls(store: &Store, ks: &Keyspace) {
    let cmds: Vec<Cmd> = ks
        .keys
        .iter()
        .filter_map(|spec| {
            let ttl = ks.families[spec.family].ttl.filter(|&t| t < 60_000)?;
            Some(Cmd::from_args([
                "PEXPIRE",
                spec.key.as_str(),
                &ttl.to_string(),
            ]))
        })
        .collect();
    for r in store.pipeline(&cmds).unwrap() {
        assert_eq!(
            r.unwrap().as_int(),
            Some(1),
            "a short-TTL key expired before its refresh"
        );
    }
}

/// What the report must say, from the server's own MEMORY USAGE of every key.
struct Expected {
    keys: BTreeMap<String, u64>,
    memory: BTreeMap<String, u64>,
    ttl: BTreeMap<String, [u64; 6]>,
    types: BTreeMap<String, String>,
}

fn ttl_bucket(ttl: Option<u64>) -> usize {
    match ttl {
        None => 0,
        Some(t) if t < MIN => 1,
        Some(t) if t < HOUR => 2,
        Some(t) if t < DAY => 3,
        Some(t) if t < 7 * DAY => 4,
        Some(_) => 5,
    }
}

fn expected(store: &Store, ks: &Keyspace, samples: Option<u32>) -> Expected {
    let mut e = Expected {
        keys: BTreeMap::new(),
        memory: BTreeMap::new(),
        ttl: BTreeMap::new(),
        types: BTreeMap::new(),
    };
    for chunk in ks.keys.chunks(10_000) {
        let cmds: Vec<Cmd> = chunk
            .iter()
            .map(|s| {
                let mut c = Cmd::from_args(["MEMORY", "USAGE", s.key.as_str()]);
                if let Some(n) = samples {
                    c.arg("SAMPLES").arg(n.to_string());
                }
                c
            })
            .collect();
        for (spec, r) in chunk.iter().zip(store.pipeline(&cmds).unwrap()) {
            let fam = &ks.families[spec.family];
            let p = fam.pattern.to_string();
            let mem = r.unwrap().as_int().expect("key missing: did it expire?") as u64;
            *e.keys.entry(p.clone()).or_default() += 1;
            *e.memory.entry(p.clone()).or_default() += mem;
            e.ttl.entry(p.clone()).or_default()[ttl_bucket(fam.ttl)] += 1;
            e.types.insert(p, fam.kind.name().to_owned());
        }
    }
    e
}

fn check_report(report: &Report, e: &Expected) {
    assert!(report.complete);
    let found: BTreeMap<String, u64> = report
        .patterns
        .iter()
        .map(|p| (p.pattern.clone(), p.keys))
        .collect();
    assert_eq!(found, e.keys, "patterns and key counts");
    for p in &report.patterns {
        assert_eq!(
            p.memory.total, e.memory[&p.pattern],
            "memory of {}",
            p.pattern
        );
        assert_eq!(p.ttl.as_array(), e.ttl[&p.pattern], "ttl of {}", p.pattern);
        assert_eq!(
            p.types,
            BTreeMap::from([(e.types[&p.pattern].clone(), p.keys)]),
            "types of {}",
            p.pattern
        );
        assert!(p.top_keys.len() <= 10 && !p.top_keys.is_empty());
        assert_eq!(p.top_keys[0].memory, p.memory.max);
    }
    assert_eq!(report.total.keys, e.keys.values().sum::<u64>());
    assert_eq!(report.total.memory.total, e.memory.values().sum::<u64>());
    assert_eq!(
        report.total.ttl.as_array().iter().sum::<u64>(),
        report.total.keys
    );
    let share: f64 = report.patterns.iter().map(|p| p.memory_share).sum();
    assert!((share - 1.0).abs() < 1e-9);
}

/// Not one raw id (or a fragment of 6+ characters of one) in any output.
fn check_masked(report: &Report, ks: &Keyspace) {
    let split = |s: &str| -> Vec<String> {
        s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|t| t.len() >= 6)
            .map(str::to_owned)
            .collect()
    };
    let mut secret: HashSet<String> = HashSet::new();
    for id in &ks.ids {
        for t in split(id) {
            // Short all-digit fragments can equal a count in the report; our numeric ids are
            // 10 digits.
            if t.bytes().all(|b| b.is_ascii_digit()) && t.len() < 10 {
                continue;
            }
            secret.insert(t);
        }
    }
    assert!(secret.len() > 100_000 / 20);
    let outputs = [
        ("json", report.to_json()),
        ("csv", report.to_csv().unwrap()),
        ("text", report.to_text()),
        ("html", report.to_html()),
    ];
    for (name, out) in outputs {
        for t in split(&out) {
            assert!(
                !secret.contains(&t),
                "{name} output holds a raw id fragment {t:?}"
            );
        }
        // Sample keys are digests.
        for p in &report.patterns {
            for k in &p.top_keys {
                assert!(k.key.starts_with('#') && k.key.len() == 17, "{}", k.key);
            }
        }
    }
}

fn options() -> AnalyzeOptions {
    let mut o = AnalyzeOptions::default();
    o.digest_key = Some("test-key".into());
    o
}

#[test]
fn standalone_keyspace_of_known_shape() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let ks = keyspace(1);
    assert_eq!(ks.keys.len(), 200_000);
    assert!(ks.families.len() >= 12);
    load(&store, &ks);
    let e = expected(&store, &ks, None);
    refresh_short_ttls(&store, &ks);
    let report = analyze(&store, &options()).unwrap();
    check_report(&report, &e);
    check_masked(&report, &ks);
    assert_eq!(report.scope.kind, "standalone");
    assert!(report.pattern("upload:<*>:state").is_some());

    // The same digest key gives the same digests; a different one does not.
    refresh_short_ttls(&store, &ks);
    let again = analyze(&store, &options()).unwrap();
    assert_eq!(again.patterns, report.patterns);
    let mut other = options();
    other.digest_key = Some("another".into());
    refresh_short_ttls(&store, &ks);
    let other = analyze(&store, &other).unwrap();
    assert_ne!(other.total.top_keys, report.total.top_keys);
    assert_eq!(other.total.keys, report.total.keys);
}

#[test]
fn cluster_keyspace_of_known_shape() {
    let cluster = Cluster::start(3, 0).unwrap();
    let store = Store::open(&cluster.url()).unwrap();
    let ks = keyspace(1);
    load(&store, &ks);
    let mut opts = options();
    opts.samples = Some(0);
    let e = expected(&store, &ks, Some(0));
    refresh_short_ttls(&store, &ks);
    let report = analyze(&store, &opts).unwrap();
    check_report(&report, &e);
    check_masked(&report, &ks);
    assert_eq!(report.scope.kind, "cluster");
    assert_eq!(report.scope.masters, 3);
}

#[test]
fn match_type_and_show_keys() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let ks = keyspace(100);
    load(&store, &ks);
    let mut o = options();
    o.match_pattern = Some(b"user:*".to_vec());
    o.show_keys = true;
    o.top = 3;
    let r = analyze(&store, &o).unwrap();
    assert_eq!(r.patterns.len(), 1);
    assert_eq!(r.patterns[0].pattern, "user:<num>:profile");
    assert_eq!(r.patterns[0].keys, 300);
    assert_eq!(r.patterns[0].top_keys.len(), 3);
    assert!(r.patterns[0].top_keys[0].key.starts_with("user:1"));

    let mut o = options();
    o.key_type = Some("zset".into());
    let r = analyze(&store, &o).unwrap();
    assert_eq!(r.patterns.len(), 1);
    assert_eq!(r.patterns[0].pattern, "leaderboard:<num>");

    // The same filters on a cluster (MATCH applied in the client, TYPE from the probe).
    let cluster = Cluster::start(3, 0).unwrap();
    let cstore = Store::open(&cluster.url()).unwrap();
    load(&cstore, &ks);
    let mut o = options();
    o.match_pattern = Some(b"{tenant:*".to_vec());
    let r = analyze(&cstore, &o).unwrap();
    assert_eq!(r.patterns.len(), 1);
    assert_eq!(r.patterns[0].keys, 100);
    let mut o = options();
    o.key_type = Some("stream".into());
    let r = analyze(&cstore, &o).unwrap();
    assert_eq!(r.patterns[0].pattern, "events:<num>");
    assert_eq!(r.total.keys, 50);
}

#[test]
fn user_rules_apply() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let mut cmds = Vec::new();
    for t in ["acme", "globex", "initech"] {
        cmds.push(Cmd::from_args([
            "SET",
            &format!("cfg:tenant-{t}:color"),
            "x",
        ]));
    }
    store.pipeline(&cmds).unwrap();
    let mut o = options();
    o.rules = parse_rules(
        "rules:\n  - match: 'tenant-[a-z]+'\n    replace: '<tenant>'\n",
        "inline",
    )
    .unwrap();
    let r = analyze(&store, &o).unwrap();
    assert_eq!(r.patterns.len(), 1);
    assert_eq!(r.patterns[0].pattern, "cfg:<tenant>:color");
    assert_eq!(r.patterns[0].keys, 3);
}

fn interrupted_then_resumed(store: &Store, count: usize, dir: &std::path::Path) {
    let full = analyze(store, &options()).unwrap();
    assert!(full.complete);

    let path = dir.join("cp.json");
    let cancel = Arc::new(AtomicBool::new(false));
    let half = full.total.keys / 2;
    let flag = cancel.clone();
    let mut o = options();
    o.count = count;
    // Slow enough (2 s for the 10,000 keys) that the cancel, set from a progress report at
    // half-way, lands well before the end even when the machine delays the reports (a busy
    // CI ran the whole walk at 40,000 keys/s before a report got through).
    o.rate = Some(5_000);
    o.checkpoint = Some(path.clone());
    o.checkpoint_every = 1_000;
    o.cancel = Some(cancel.clone());
    o.progress = Some(Arc::new(move |p: &ProgressInfo| {
        if p.keys >= half {
            flag.store(true, Ordering::Relaxed);
        }
    }));
    let partial = analyze(store, &o).unwrap();
    assert!(!partial.complete);
    assert!(
        partial.total.keys < full.total.keys,
        "{}",
        partial.total.keys
    );
    assert!(partial.total.keys > 0);
    // The checkpoint holds no raw key.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("1000000007"), "raw id in the checkpoint");

    let mut o = options();
    o.count = count;
    o.checkpoint = Some(path.clone());
    o.resume = true;
    let resumed = analyze(store, &o).unwrap();
    assert!(resumed.complete);
    assert_eq!(resumed.patterns, full.patterns);
    assert_eq!(resumed.total, full.total);
}

#[test]
fn resume_gives_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keyspace(20);
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    load(&store, &ks);
    interrupted_then_resumed(&store, 100, dir.path());

    let cluster = Cluster::start(3, 0).unwrap();
    let cstore = Store::open(&cluster.url()).unwrap();
    load(&cstore, &ks);
    interrupted_then_resumed(&cstore, 100, dir.path());

    // A resume with other settings is refused, naming the setting.
    let mut o = options();
    o.checkpoint = Some(dir.path().join("cp.json"));
    o.resume = true;
    o.match_pattern = Some(b"user:*".to_vec());
    let e = analyze(&cstore, &o).unwrap_err().to_string();
    assert!(e.contains("match") && e.contains("user:*"), "{e}");
}

#[test]
fn slot_moving_during_the_scan_is_counted_once() {
    let cluster = Cluster::start(3, 0).unwrap();
    let store = Store::open(&cluster.url()).unwrap();
    let masters = cluster.masters().unwrap();
    let (from, to) = (masters[0], masters[1]);
    let from_slots: HashSet<u16> = cluster
        .slots_of(from)
        .unwrap()
        .iter()
        .map(|s| s.get())
        .collect();
    // 40 hash tags owned by the first master, 250 keys each, plus 10,000 spread keys.
    let mut tags = Vec::new();
    let mut i = 0;
    while tags.len() < 40 {
        let tag = format!("team{i}");
        let slot = key_slot(tag.as_bytes()).get();
        if from_slots.contains(&slot) && !tags.iter().any(|(_, s)| *s == slot) {
            tags.push((tag, slot));
        }
        i += 1;
    }
    let mut cmds = Vec::new();
    for (tag, _) in &tags {
        for k in 0..250 {
            cmds.push(Cmd::from_args([
                "SET",
                &format!("{{{tag}}}:member:{k}"),
                "v",
            ]));
        }
    }
    for k in 0..10_000 {
        cmds.push(Cmd::from_args(["SET", &format!("spread:{k}"), "v"]));
    }
    for r in store.pipeline(&cmds).unwrap() {
        r.unwrap();
    }

    let progress = Arc::new(AtomicU64::new(0));
    let seen = progress.clone();
    let mut o = options();
    o.count = 50;
    o.rate = Some(3_000);
    o.progress = Some(Arc::new(move |p: &ProgressInfo| {
        seen.store(p.keys, Ordering::Relaxed)
    }));
    let at_start = Arc::new(AtomicU64::new(u64::MAX));
    let at_end = Arc::new(AtomicU64::new(0));
    let report = std::thread::scope(|s| {
        let mover = s.spawn(|| {
            // Wait until the scan is under way, then move every tag's slot, 25 keys at a
            // time, with pauses so the scan meets slots half moved.
            while progress.load(Ordering::Relaxed) == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            at_start.store(progress.load(Ordering::Relaxed), Ordering::Relaxed);
            for (_, slot) in &tags {
                let m = cluster
                    .slot_migration(slotshift::Slot::new(*slot).unwrap(), from, to)
                    .unwrap();
                m.set_importing().unwrap();
                m.set_migrating().unwrap();
                while m.migrate_key_batch(25).unwrap() > 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
                m.finish().unwrap();
            }
            at_end.store(progress.load(Ordering::Relaxed), Ordering::Relaxed);
        });
        let report = analyze(&store, &o).unwrap();
        mover.join().unwrap();
        report
    });
    // The moves happened while the scan ran (by the scan's own progress, not by time).
    assert!(at_start.load(Ordering::Relaxed) < 20_000);
    assert!(
        at_end.load(Ordering::Relaxed) < 20_000,
        "the scan ended before the moves did"
    );
    let counts: HashMap<String, u64> = report
        .patterns
        .iter()
        .map(|p| (p.pattern.clone(), p.keys))
        .collect();
    assert_eq!(counts.get("spread:<num>"), Some(&10_000));
    let tagged: u64 = report
        .patterns
        .iter()
        .filter(|p| p.pattern.starts_with('{'))
        .map(|p| p.keys)
        .sum();
    assert_eq!(tagged, 10_000, "{counts:?}");
    assert_eq!(report.total.keys, 20_000);
    // And the slots did move.
    for (_, slot) in &tags {
        let owner = cluster
            .master_for_slot(slotshift::Slot::new(*slot).unwrap())
            .unwrap();
        assert_eq!(owner.id(), to.id());
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    // Unreachable server.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = Store::open(&format!("redis://127.0.0.1:{port}"))
        .and_then(|s| analyze(&s, &options()))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");

    // Wrong password: the error says so and does not print the password.
    let server = Standalone::builder()
        .password("right-horse")
        .start()
        .unwrap();
    let e = Store::open(&format!(
        "redis://:wrong-battery@127.0.0.1:{}",
        server.port()
    ))
    .and_then(|s| analyze(&s, &options()))
    .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("authentication failed"), "{text}");
    assert!(!text.contains("wrong-battery") && !text.contains("right-horse"));

    // A type no key has: refused before the walk.
    let mut o = options();
    o.key_type = Some("bogus".into());
    let url = format!("redis://:right-horse@127.0.0.1:{}", server.port());
    let e = analyze(&Store::open(&url).unwrap(), &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus") && e.contains("stream"), "{e}");

    // Invalid rules.
    let e = parse_rules(
        "rules:\n  - match: '[z-a]'\n    replace: '<x>'\n",
        "rules.yml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("rules.yml") && e.contains("rule 1"), "{e}");
    let e = parse_rules("rules:\n  - match: 'a'\n    replace: 'x:y'\n", "rules.yml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("separator"), "{e}");
    let e = parse_rules("rulez: []\n", "rules.yml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("rules.yml") && e.contains("rulez"), "{e}");

    // --rate 0, COUNT 0, resume without a checkpoint.
    let store = Store::open(&format!("redis://:right-horse@127.0.0.1:{}", server.port())).unwrap();
    let mut o = options();
    o.rate = Some(0);
    let e = analyze(&store, &o).unwrap_err();
    assert!(matches!(e, Error::Analyzer(_)));
    assert!(e.to_string().contains("invalid rate 0"), "{e}");
    let mut o = options();
    o.count = 0;
    assert!(analyze(&store, &o)
        .unwrap_err()
        .to_string()
        .contains("count"));
    let mut o = options();
    o.resume = true;
    assert!(analyze(&store, &o)
        .unwrap_err()
        .to_string()
        .contains("checkpoint"));
    // A checkpoint that is not one.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let mut o = options();
    o.resume = true;
    o.checkpoint = Some(bad.clone());
    let e = analyze(&store, &o).unwrap_err().to_string();
    assert!(e.contains("bad.json"), "{e}");
}

#[test]
fn sentinel_master_is_analysed() {
    let set = slotshift::testing::SentinelSet::start().unwrap();
    let url = format!(
        "redis+sentinel://{}/{}",
        set.sentinel_addrs().join(","),
        set.master_name()
    );
    let store = Store::open(&url).unwrap();
    let ks = keyspace(200);
    load(&store, &ks);
    let e = expected(&store, &ks, None);
    let report = analyze(&store, &options()).unwrap();
    assert_eq!(report.scope.kind, "sentinel");
    assert_eq!(report.scope.masters, 1);
    check_report(&report, &e);
}
