//! Instrumentation and the recorder on real servers:
//!
//! - per-command calls equal the server's own `INFO commandstats` for the same run (standalone,
//!   and a cluster with pipelines spread over every master);
//! - bytes written and read follow GitLab's definitions exactly;
//! - errors by kind, pipeline sizes, Prometheus text with a prefix, JSON log fields;
//! - instrumentation off counts nothing;
//! - the recorder captures single, pipelined and transaction commands, filters by command name
//!   (name only, any case) and by key pattern, nests, and sees only its own thread.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::collections::BTreeMap;

use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::instrument::{self, Recorder, Via};
use slotshift::store::{Store, StoreOptions};
use slotshift::testing::{Cluster, Node, Standalone};

fn c(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

fn store(url: &str, name: &str, on: bool) -> Store {
    let mut opts = StoreOptions::default();
    opts.name = name.to_owned();
    opts.instrument = on;
    Store::connect(&Deployment::parse(url).unwrap(), opts).unwrap()
}

/// Every `cmdstat_*` calls figure, summed over `nodes`.
fn commandstats(nodes: &[&Node]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for n in nodes {
        for line in n.info("commandstats").unwrap().lines() {
            let Some(rest) = line.strip_prefix("cmdstat_") else {
                continue;
            };
            let (name, fields) = rest.split_once(':').unwrap();
            let calls: u64 = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .unwrap()
                .parse()
                .unwrap();
            *out.entry(name.to_owned()).or_default() += calls;
        }
    }
    out
}

fn workload() -> Vec<Vec<Cmd>> {
    let mut batches = Vec::new();
    for round in 0..20 {
        let mut p = Vec::new();
        for i in 0..50 {
            let k = format!("w:{round}:{i}");
            p.push(c(&["SET", &k, "value"]));
            p.push(c(&["GET", &k]));
            p.push(c(&["INCR", &format!("n:{i}")]));
            p.push(c(&["HSET", &format!("h:{i}"), "f", "v"]));
        }
        batches.push(p);
    }
    batches
}

#[test]
fn figures_equal_the_servers_commandstats() {
    let server = Standalone::start().unwrap();
    let cluster = Cluster::start(3, 0).unwrap();
    let single = store(&server.url(), "instr_single", true);
    let clustered = store(&cluster.url(), "instr_cluster", true);
    server
        .node()
        .query::<()>(redis::cmd("CONFIG").arg("RESETSTAT"))
        .unwrap();
    cluster.reset_stats().unwrap();

    for s in [&single, &clustered] {
        for p in workload() {
            assert!(s.pipeline(&p).unwrap().iter().all(Result::is_ok));
        }
        s.call(&c(&["GET", "w:0:0"])).unwrap();
        s.transaction(&[c(&["SET", "{t}a", "1"]), c(&["INCR", "{t}b"])])
            .unwrap();
    }

    let servers = [
        ("instr_single", commandstats(&[server.node()])),
        ("instr_cluster", commandstats(&cluster.masters().unwrap())),
    ];
    for (name, server_side) in servers {
        let ours = instrument::stats(name).unwrap();
        for cmd in ["set", "get", "incr", "hset"] {
            assert_eq!(
                ours.command(cmd).map_or(0, |s| s.calls),
                server_side.get(cmd).copied().unwrap_or(0),
                "{name}: {cmd}"
            );
        }
        assert_eq!(ours.command("get").unwrap().calls, 20 * 50 + 1);
        assert_eq!(
            ours.pipelines.count(),
            20 + 1,
            "{name}: 20 pipelines and 1 transaction"
        );
        assert!(ours.errors.is_empty(), "{name}: {:?}", ours.errors);
        let d = &ours.command("set").unwrap().duration;
        assert_eq!(d.count(), 20 * 50 + 1);
        assert!(d.sum() > 0.0);
    }
}

#[test]
fn bytes_follow_gitlabs_definitions() {
    let server = Standalone::start().unwrap();
    let s = store(&server.url(), "instr_bytes", true);
    s.call(&c(&["SET", "foo", "bar"])).unwrap(); // writes 9, reads "OK" = 2
    s.call(&c(&["GET", "foo"])).unwrap(); // writes 6, reads 3
    s.call(&c(&["INCRBY", "n", "1001"])).unwrap(); // writes 11, reads 4 ("1001")
    s.call(&c(&["HSET", "h", "field", "value1"])).unwrap(); // writes 16, reads 1
    s.call(&c(&["HGETALL", "h"])).unwrap(); // writes 8, reads 5 + 6
    s.call(&c(&["LRANGE", "nothing", "0", "-1"])).unwrap(); // empty array: 0
    s.call(&c(&["GET", "missing"])).unwrap(); // nil: 0
    let st = instrument::stats("instr_bytes").unwrap();
    let b = |cmd: &str| {
        let x = st.command(cmd).unwrap();
        (x.write_bytes, x.read_bytes)
    };
    assert_eq!(b("set"), (9, 2));
    assert_eq!(b("get"), (6 + 10, 3));
    assert_eq!(b("incrby"), (11, 4));
    assert_eq!(b("hset"), (16, 1));
    assert_eq!(b("hgetall"), (8, 11));
    assert_eq!(b("lrange"), (16, 0));
    assert_eq!(st.write_bytes(), 9 + 16 + 11 + 16 + 8 + 16);
}

#[test]
fn errors_prometheus_and_log_fields() {
    let server = Standalone::start().unwrap();
    let s = store(&server.url(), "instr_text", true);
    s.call(&c(&["SET", "str", "x"])).unwrap();
    assert!(s.call(&c(&["LPUSH", "str", "y"])).is_err()); // WRONGTYPE
    let before = instrument::snapshot();
    let p: Vec<Cmd> = (0..100)
        .map(|i| c(&["SET", &format!("p:{i}"), "v"]))
        .collect();
    s.pipeline(&p).unwrap();

    let text = instrument::render_prometheus_with_prefix("gitlab_redis");
    for line in [
        "gitlab_redis_requests_total{instance_name=\"instr_text\",command=\"set\"} 101",
        "gitlab_redis_requests_total{instance_name=\"instr_text\",command=\"lpush\"} 1",
        "gitlab_redis_errors_total{instance_name=\"instr_text\",kind=\"server\"} 1",
        "gitlab_redis_pipeline_commands_bucket{instance_name=\"instr_text\",le=\"100\"} 1",
        "gitlab_redis_pipeline_commands_count{instance_name=\"instr_text\"} 1",
        "gitlab_redis_request_duration_seconds_count{instance_name=\"instr_text\",command=\"set\"} 101",
        "gitlab_redis_redirections_total{instance_name=\"instr_text\",kind=\"moved\"} 0",
        "# TYPE gitlab_redis_request_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    // Every sample line is `name{labels} number`.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = l.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{l}");
        assert!(l.starts_with("gitlab_redis_"), "{l}");
    }

    let delta = instrument::snapshot().since(&before);
    assert_eq!(delta["redis_instr_text_calls"], 100);
    assert_eq!(
        delta["redis_instr_text_write_bytes"],
        100 * 3
            + (0..100)
                .map(|i: usize| format!("p:{i}").len() as u64 + 1)
                .sum::<u64>()
    );
    assert_eq!(delta["redis_instr_text_read_bytes"], 200);
    assert!(delta["redis_instr_text_duration_s"].as_f64().unwrap() > 0.0);
    assert!(!delta.contains_key("redis_instr_text_cross_slot_calls"));
}

#[test]
fn off_counts_nothing() {
    let server = Standalone::start().unwrap();
    let s = store(&server.url(), "instr_off", false);
    s.call(&c(&["SET", "a", "1"])).unwrap();
    s.pipeline(&[c(&["GET", "a"]), c(&["GET", "b"])]).unwrap();
    assert!(instrument::stats("instr_off").is_none());
    assert!(!instrument::render_prometheus().contains("instr_off"));
    // The recorder still works with instrumentation off.
    let (r, _) = Recorder::record(|| s.call(&c(&["GET", "a"])).unwrap());
    assert_eq!(r.count(), 1);
}

#[test]
fn recorder_captures_pipelines_and_filters() {
    let cluster = Cluster::start(3, 0).unwrap();
    let s = store(&cluster.url(), "instr_recorder", true);
    let outer = Recorder::start();
    s.call(&c(&["SET", "user:1", "get"])).unwrap(); // "get" as a value must not match by_command
    let inner = Recorder::start_with_pattern("user:*");
    let p: Vec<Cmd> = (0..30)
        .map(|i| c(&["GET", &format!("user:{i}")]))
        .chain((0..10).map(|i| c(&["get", &format!("post:{i}")])))
        .collect();
    s.pipeline(&p).unwrap();
    s.transaction(&[c(&["INCR", "{u}n"]), c(&["INCR", "{u}n"])])
        .unwrap();
    // Another thread's commands are not this thread's recorders' business.
    std::thread::scope(|sc| {
        sc.spawn(|| s.call(&c(&["GET", "user:other-thread"])).unwrap());
    });
    inner.stop();
    s.call(&c(&["MGET", "user:1", "user:2"])).unwrap();
    outer.stop();
    s.call(&c(&["GET", "after"])).unwrap();

    assert_eq!(outer.count(), 1 + 40 + 2 + 1);
    assert_eq!(outer.by_command("GET").len(), 40);
    assert_eq!(outer.by_command("get").len(), 40);
    assert_eq!(outer.by_command("set").len(), 1);
    assert_eq!(outer.by_command("incr").len(), 2);
    assert_eq!(outer.by_key("post:*").len(), 10);
    assert_eq!(outer.by_key("user:[12]").len(), 4); // SET user:1, GET user:1, GET user:2, MGET
    let log = outer.log();
    assert_eq!(log[0].via, Via::Call);
    assert_eq!(log[1].via, Via::Pipeline);
    assert_eq!(log[41].via, Via::Transaction);
    assert_eq!(log[1].args, vec![b"GET".to_vec(), b"user:0".to_vec()]);
    assert_eq!(log[0].store, "instr_recorder");

    assert_eq!(
        inner.count(),
        30,
        "only the user:* keys, while it was active"
    );
    assert!(!inner.is_active());
    // count is live, not memoised.
    let live = Recorder::start();
    assert_eq!(live.count(), 0);
    s.call(&c(&["PING"])).unwrap();
    assert_eq!(live.count(), 1);
    s.call(&c(&["PING"])).unwrap();
    assert_eq!(live.count(), 2);
    drop(live);
}

/// Every `*_total` sample of a scrape, by series (name and labels).
fn counter_samples(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| series.split('{').next().unwrap().ends_with("_total"))
        .map(|(series, v)| (series.to_owned(), v.parse().unwrap()))
        .collect()
}

#[test]
fn counters_never_go_down_when_a_store_is_dropped() {
    let cluster = Cluster::start(3, 0).unwrap();
    let store = store(&cluster.url(), "instr_dropped", true);
    // A key in the highest slot of one master: `move_slots` moves exactly that slot.
    let masters = cluster.masters().unwrap();
    let (from, to) = (masters[0], masters[1]);
    let slot = *cluster.slots_of(from).unwrap().iter().max().unwrap();
    let key = (0..)
        .map(|i| format!("moving:{i}"))
        .find(|k| slotshift::key_slot(k.as_bytes()) == slot)
        .unwrap();
    store.call(&c(&["SET", &key, "v"])).unwrap();
    cluster.move_slots(1, from, to).unwrap();
    // The store's map is stale: this GET is redirected.
    assert_eq!(
        store.call(&c(&["GET", &key])).unwrap(),
        slotshift::reply::Reply::Bulk(b"v".to_vec())
    );
    let before = counter_samples(&instrument::render_prometheus_with_prefix("m"));
    let moved = r#"m_redirections_total{instance_name="instr_dropped",kind="moved"}"#;
    assert!(before[moved] >= 1, "{before:?}");

    drop(store);
    let after = counter_samples(&instrument::render_prometheus_with_prefix("m"));
    for (series, v) in &before {
        let now = after.get(series).copied();
        assert!(now >= Some(*v), "{series} went from {v} to {now:?}");
    }
    // A new store under the same name adds to the totals, it does not replace them.
    let again = store_named(&cluster.url(), "instr_dropped");
    again.call(&c(&["GET", &key])).unwrap();
    let later = counter_samples(&instrument::render_prometheus_with_prefix("m"));
    assert!(later[moved] >= before[moved]);
}

fn store_named(url: &str, name: &str) -> Store {
    store(url, name, true)
}

/// One request's log fields under a multi-threaded server: a scope counts only its thread's
/// calls (another thread hammers the same store meanwhile), cross-slot commands included.
#[test]
fn a_request_scope_counts_only_its_threads_calls() {
    let cluster = Cluster::start(3, 0).unwrap();
    let mut opts = StoreOptions::default();
    opts.name = "scoped".into();
    opts.cross_slot_validation = Some(slotshift::validator::Mode::Count);
    let store = Store::connect(&Deployment::parse(&cluster.url()).unwrap(), opts).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.call(&Cmd::from_args(["GET", "noise"])).unwrap();
            }
        });
        let scope = slotshift::request::RequestScope::begin();
        store.call(&Cmd::from_args(["SET", "a", "12345"])).unwrap();
        store.call(&Cmd::from_args(["GET", "a"])).unwrap();
        store
            .call(&Cmd::from_args(["MGET", "user:1", "user:2"]))
            .unwrap();
        let fields = scope.log_fields();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(fields["redis_scoped_calls"], 3, "{fields:?}");
        assert_eq!(fields["redis_calls"], 3, "{fields:?}");
        // SET a 12345 + GET a + MGET user:1 user:2 (argument bytes, names included).
        assert_eq!(
            fields["redis_scoped_write_bytes"],
            3 + 1 + 5 + 3 + 1 + 4 + 6 + 6
        );
        assert_eq!(fields["redis_scoped_cross_slot_calls"], 1, "{fields:?}");
        assert!(fields["redis_scoped_duration_s"].as_f64().unwrap() > 0.0);
    });
}
