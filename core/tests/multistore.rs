//! The MultiStore on real servers: a standalone old store (secondary) and a 3-master cluster
//! new store (primary). Counters that must move, the same-server guard, a killed secondary,
//! a killed default store, a flag shared by another process, blocking pops, PUBLISH, the
//! async queue.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::multistore::{
    Counter, FlagSource, FlagState, MultiStore, MultiStoreError, MultiStoreOptions, Phase, Side,
};
use slotshift::reply::Reply;
use slotshift::store::{Store, StoreOptions};
use slotshift::testing::{Cluster, Standalone};
use slotshift::Error;

fn cmd(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// A store whose connection failures come back fast (a killed server is refused at once;
/// the default 10 s retry deadline would make each call wait).
fn quick_store(url: &str) -> Store {
    let mut opts = StoreOptions::default();
    opts.retry_deadline = Duration::from_millis(300);
    opts.connect_timeout = Duration::from_millis(500);
    opts.response_timeout = Duration::from_millis(1000);
    Store::connect(&Deployment::parse(url).unwrap(), opts).unwrap()
}

struct Pair {
    old: Standalone,
    new: Cluster,
}

impl Pair {
    fn start() -> Pair {
        Pair {
            old: Standalone::start().unwrap(),
            new: Cluster::start(3, 0).unwrap(),
        }
    }

    fn old_store(&self) -> Store {
        quick_store(&self.old.url())
    }

    fn new_store(&self) -> Store {
        Store::open(&self.new.url()).unwrap()
    }

    fn multistore(
        &self,
        name: &str,
        phase: Phase,
        tweak: impl FnOnce(&mut MultiStoreOptions),
    ) -> MultiStore {
        let mut opts = MultiStoreOptions::default();
        opts.flags = FlagSource::InProcess(phase.flags());
        opts.strict = true;
        tweak(&mut opts);
        MultiStore::new(name, self.new_store(), self.old_store(), opts).unwrap()
    }
}

fn get(store: &Store, key: &str) -> Reply {
    store.call(&cmd(&["GET", key])).unwrap()
}

#[test]
fn writes_follow_the_phase_and_reads_the_default() {
    let p = Pair::start();
    let ms = p.multistore("routing", Phase::SecondaryOnly, |_| {});
    let (old, new) = (p.old_store(), p.new_store());
    let expected = [
        (Phase::SecondaryOnly, true, false),
        (Phase::DualWriteSecondaryDefault, true, true),
        (Phase::DualWritePrimaryDefault, true, true),
        (Phase::PrimaryOnly, false, true),
    ];
    for (i, (phase, on_old, on_new)) in expected.into_iter().enumerate() {
        ms.set_flags(phase.flags()).unwrap();
        assert_eq!(ms.phase(), phase);
        let key = format!("k{i}");
        assert_eq!(
            ms.call(&cmd(&["SET", &key, "v"])).unwrap(),
            Reply::Status("OK".into())
        );
        assert_eq!(get(&old, &key) == bulk("v"), on_old, "{phase}: old");
        assert_eq!(get(&new, &key) == bulk("v"), on_new, "{phase}: new");
        // Reads come from the default store: mark each side differently.
        old.call(&cmd(&["SET", "which", "old"])).unwrap();
        new.call(&cmd(&["SET", "which", "new"])).unwrap();
        let want = if phase.default_side() == Side::Primary {
            "new"
        } else {
            "old"
        };
        assert_eq!(
            ms.call(&cmd(&["GET", "which"])).unwrap(),
            bulk(want),
            "{phase}"
        );
        assert_eq!(
            ms.default_store().kind(),
            if want == "new" {
                slotshift::store::StoreKind::Cluster
            } else {
                slotshift::store::StoreKind::Standalone
            }
        );
    }
    // Scripts are writes: EVAL goes to both while dual-write is on.
    ms.set_flags(FlagState::new(true, true)).unwrap();
    ms.call(&cmd(&[
        "EVAL",
        "return redis.call('SET', KEYS[1], 'e')",
        "1",
        "script-key",
    ]))
    .unwrap();
    assert_eq!(get(&old, "script-key"), bulk("e"));
    assert_eq!(get(&new, "script-key"), bulk("e"));
    assert_eq!(ms.metrics().total(Counter::NonDefaultWriteFailure), 0);
}

#[test]
fn pipeline_diff_counter_moves_and_readonly_pipelines_stay_on_the_default() {
    let p = Pair::start();
    let ms = p.multistore("pipes", Phase::DualWriteSecondaryDefault, |_| {});
    let (old, new) = (p.old_store(), p.new_store());
    old.call(&cmd(&["SET", "same", "1"])).unwrap();
    new.call(&cmd(&["SET", "same", "1"])).unwrap();
    old.call(&cmd(&["SET", "differs", "old-value"])).unwrap();

    // Equal results: no diff.
    let r = ms
        .pipeline(&[cmd(&["GET", "same"]), cmd(&["SET", "w1", "x"])])
        .unwrap();
    assert_eq!(r[0].as_ref().unwrap(), &bulk("1"));
    assert_eq!(ms.metrics().total(Counter::PipelineDiff), 0);

    // Read-only pipeline: default store only, so no comparison even though the stores differ.
    let r = ms
        .pipeline(&[cmd(&["GET", "differs"]), cmd(&["GET", "same"])])
        .unwrap();
    assert_eq!(r[0].as_ref().unwrap(), &bulk("old-value"));
    assert_eq!(ms.metrics().total(Counter::PipelineDiff), 0);

    // A writing pipeline runs on both; the GET differs: one diff, the default's result.
    let r = ms
        .pipeline(&[cmd(&["GET", "differs"]), cmd(&["SET", "w2", "x"])])
        .unwrap();
    assert_eq!(r[0].as_ref().unwrap(), &bulk("old-value"));
    assert_eq!(get(&new, "w2"), bulk("x"));
    let m = ms.metrics();
    assert_eq!(m.get(Counter::PipelineDiff, "pipelined"), 1);

    // Transactions too (one slot: hash tag), labelled "multi".
    old.call(&cmd(&["SET", "{t}a", "1"])).unwrap();
    let tx = ms
        .transaction(&[cmd(&["INCR", "{t}a"]), cmd(&["SET", "{t}b", "x"])])
        .unwrap()
        .unwrap();
    assert_eq!(tx[0], Reply::Int(2));
    assert_eq!(get(&new, "{t}a"), bulk("1"));
    assert_eq!(ms.metrics().get(Counter::PipelineDiff, "multi"), 1);
    assert!(ms
        .metrics_text()
        .contains("slotshift_multi_store_pipelined_diff_error_total{instance_name=\"pipes\",command=\"multi\"} 1"));
}

#[test]
fn read_fallback_counter_moves() {
    let p = Pair::start();
    let ms = p.multistore("fallback", Phase::DualWritePrimaryDefault, |o| {
        o.fallback_reads = true
    });
    let old = p.old_store();
    old.call(&cmd(&["SET", "only-old", "v"])).unwrap();
    assert_eq!(ms.call(&cmd(&["GET", "only-old"])).unwrap(), bulk("v"));
    assert_eq!(ms.metrics().get(Counter::ReadFallback, "get"), 1);
    // A miss on both: nil, no fallback counted.
    assert_eq!(ms.call(&cmd(&["GET", "nowhere"])).unwrap(), Reply::Nil);
    let m = ms.metrics();
    assert_eq!(m.total(Counter::ReadFallback), 1);
    assert_eq!(m.misses(Side::Primary), 2);
    assert_eq!(m.hits(Side::Secondary), 1);
    // Without the option: the primary's nil.
    let plain = p.multistore("nofallback", Phase::DualWritePrimaryDefault, |_| {});
    assert_eq!(plain.call(&cmd(&["GET", "only-old"])).unwrap(), Reply::Nil);
    assert_eq!(plain.metrics().total(Counter::ReadFallback), 0);
}

#[test]
fn shadow_mismatch_counter_moves() {
    let p = Pair::start();
    let ms = p.multistore("shadow", Phase::DualWriteSecondaryDefault, |o| {
        o.shadow_read_ratio = 1.0
    });
    let (old, new) = (p.old_store(), p.new_store());
    ms.call(&cmd(&["SADD", "set", "a", "b", "c"])).unwrap();
    // Same members (order may differ between stores): no mismatch.
    ms.call(&cmd(&["SMEMBERS", "set"])).unwrap();
    assert_eq!(ms.metrics().total(Counter::ShadowMismatch), 0);
    old.call(&cmd(&["SET", "drift", "1"])).unwrap();
    new.call(&cmd(&["SET", "drift", "2"])).unwrap();
    assert_eq!(ms.call(&cmd(&["GET", "drift"])).unwrap(), bulk("1"));
    let m = ms.metrics();
    assert_eq!(m.get(Counter::ShadowMismatch, "get"), 1);
    assert_eq!(m.shadow_reads, 2);
}

#[test]
fn unknown_commands_raise_in_strict_mode_and_are_counted_otherwise() {
    let p = Pair::start();
    let strict = p.multistore("strict", Phase::DualWritePrimaryDefault, |_| {});
    match strict.call(&cmd(&["FROBNICATE", "k"])).unwrap_err() {
        Error::MultiStore(MultiStoreError::UnknownCommand { command, instance }) => {
            assert_eq!(command, "FROBNICATE");
            assert_eq!(instance, "strict");
        }
        other => panic!("expected UnknownCommand, got {other:?}"),
    }
    assert!(strict
        .pipeline(&[cmd(&["SET", "a", "1"]), cmd(&["FROBNICATE"])])
        .is_err());
    assert_eq!(
        get(&p.new_store(), "a"),
        Reply::Nil,
        "nothing of a refused pipeline is sent"
    );

    let lax = p.multistore("lax", Phase::DualWritePrimaryDefault, |o| o.strict = false);
    // Sent to the default store, which refuses it: the server's error, and the count.
    match lax.call(&cmd(&["FROBNICATE", "k"])).unwrap_err() {
        Error::Server(e) => assert_eq!(e.code(), "ERR"),
        other => panic!("expected the server's error, got {other:?}"),
    }
    assert_eq!(lax.metrics().get(Counter::UnknownCommand, "frobnicate"), 1);
    // The process-wide registry of core::instrument has it too.
    assert!(slotshift::instrument::render_prometheus_with_prefix("gitlab_redis").contains(
        "gitlab_redis_multi_store_method_missing_total{instance_name=\"lax\",command=\"frobnicate\"} 1"
    ));
    assert!(lax.metrics().prometheus_text("gitlab_redis").contains(
        "gitlab_redis_multi_store_method_missing_total{instance_name=\"lax\",command=\"frobnicate\"} 1"
    ));
}

#[test]
fn same_server_twice_turns_dual_write_off() {
    let server = Standalone::start().unwrap();
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::InProcess(FlagState::new(true, false));
    // Two distinct Store objects (and URLs spelled differently) for one server.
    let a = Store::open(&server.url()).unwrap();
    let b = Store::open(&format!("redis://localhost:{}/0", server.port())).unwrap();
    let ms = MultiStore::new("same", a, b, opts).unwrap();
    assert!(ms.same_server());
    assert_eq!(ms.flags(), FlagState::new(true, false));
    assert_eq!(ms.phase(), Phase::SecondaryOnly);
    ms.call(&cmd(&["INCR", "counter"])).unwrap();
    assert_eq!(
        Store::open(&server.url())
            .unwrap()
            .call(&cmd(&["GET", "counter"]))
            .unwrap(),
        bulk("1"),
        "one INCR, not two"
    );

    // A different db of the same server is a different store.
    let c = Store::open(&server.url()).unwrap();
    let d = Store::open(&format!("{}/1", server.url())).unwrap();
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::InProcess(FlagState::new(true, false));
    let ms = MultiStore::new("dbs", c, d, opts).unwrap();
    assert!(!ms.same_server());
    assert_eq!(ms.phase(), Phase::DualWriteSecondaryDefault);
}

#[test]
fn secondary_killed_during_dual_write_is_invisible_to_the_caller() {
    let p = Pair::start();
    let ms = p.multistore("killsec", Phase::DualWritePrimaryDefault, |_| {});
    let new = p.new_store();
    for i in 0..20 {
        ms.call(&cmd(&["SET", &format!("before:{i}"), "v"]))
            .unwrap();
    }
    p.old.kill().unwrap();
    for i in 0..50 {
        let key = format!("during:{i}");
        // No error for the application: the default (primary) answers.
        assert_eq!(
            ms.call(&cmd(&["SET", &key, "v"])).unwrap(),
            Reply::Status("OK".into())
        );
        assert_eq!(ms.call(&cmd(&["GET", &key])).unwrap(), bulk("v"));
        let r = ms
            .pipeline(&[cmd(&["INCR", "n"]), cmd(&["GET", &key])])
            .unwrap();
        assert_eq!(r[1].as_ref().unwrap(), &bulk("v"));
    }
    let failures = ms.metrics().total(Counter::NonDefaultWriteFailure);
    assert_eq!(failures, 100, "every write and writing pipeline counted");
    assert_eq!(get(&new, "during:49"), bulk("v"));

    // It comes back: dual-write resumes (once the breaker lets a probe through).
    p.old.node().restart().unwrap();
    let old = p.old_store();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    loop {
        let key = format!("after:{i}");
        ms.call(&cmd(&["SET", &key, "v"])).unwrap();
        if get(&old, &key) == bulk("v") {
            break;
        }
        assert!(Instant::now() < deadline, "dual-write did not resume");
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    // From then on every write lands on both.
    let before = ms.metrics().total(Counter::NonDefaultWriteFailure);
    for j in 0..20 {
        ms.call(&cmd(&["SET", &format!("resumed:{j}"), "v"]))
            .unwrap();
        assert_eq!(get(&old, &format!("resumed:{j}")), bulk("v"));
    }
    assert_eq!(ms.metrics().total(Counter::NonDefaultWriteFailure), before);
}

#[test]
fn default_store_killed_gives_errors_and_writes_nothing_elsewhere() {
    let p = Pair::start();
    let ms = p.multistore("killdef", Phase::DualWriteSecondaryDefault, |_| {});
    let new = p.new_store();
    ms.call(&cmd(&["SET", "alive", "v"])).unwrap();
    p.old.kill().unwrap();
    // The first write after the kill finds out the default is gone.
    assert!(ms.call(&cmd(&["SET", "probe", "v"])).is_err());
    for i in 0..10 {
        let key = format!("lost:{i}");
        let err = ms.call(&cmd(&["SET", &key, "v"])).unwrap_err();
        assert!(
            matches!(err, Error::Connection(_) | Error::Routing(_)),
            "{err:?}"
        );
        assert!(ms.call(&cmd(&["GET", &key])).is_err(), "reads fail too");
        // A pipeline fails as a whole or command by command.
        match ms.pipeline(&[cmd(&["SET", &key, "p"])]) {
            Err(_) => {}
            Ok(r) => assert!(r[0].is_err(), "{r:?}"),
        }
    }
    for i in 0..10 {
        assert_eq!(
            get(&new, &format!("lost:{i}")),
            Reply::Nil,
            "lost:{i} reached the other store"
        );
    }
    assert_eq!(get(&new, "alive"), bulk("v"));
}

/// The child half of `shared_flag_reaches_other_process` (same test, re-run with env vars).
fn flag_child(old_url: &str, new_url: &str) {
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::SharedKey {
        store: Store::open(old_url).unwrap(),
        key: "slotshift:test:flags".into(),
        cache_ttl: Duration::from_millis(200),
    };
    let ms = MultiStore::new(
        "shared",
        Store::open(new_url).unwrap(),
        Store::open(old_url).unwrap(),
        opts,
    )
    .unwrap();
    // libtest may have started a line ("test … ... "): print on a line of our own.
    println!("\nREADY {}", ms.phase());
    let start = Instant::now();
    while ms.phase() != Phase::DualWriteSecondaryDefault {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the flip never arrived: flags {:?}",
            ms.flags(),
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    ms.call(&cmd(&["SET", "from-child", "v"])).unwrap();
    println!("\nSEEN after {} ms", start.elapsed().as_millis());
}

#[test]
fn shared_flag_reaches_other_process() {
    if let (Ok(old), Ok(new)) = (std::env::var("MS_CHILD_OLD"), std::env::var("MS_CHILD_NEW")) {
        flag_child(&old, &new);
        return;
    }
    let p = Pair::start();
    let key = "slotshift:test:flags";
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::SharedKey {
        store: p.old_store(),
        key: key.into(),
        cache_ttl: Duration::from_millis(200),
    };
    let ms = MultiStore::new("shared", p.new_store(), p.old_store(), opts).unwrap();
    assert_eq!(ms.phase(), Phase::SecondaryOnly);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "shared_flag_reaches_other_process",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("MS_CHILD_OLD", p.old.url())
        .env("MS_CHILD_NEW", p.new.url())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("READY"))
        .unwrap();
    assert_eq!(ready, "READY secondary_only");
    ms.set_flags(FlagState::new(true, false)).unwrap();
    // The key holds GitLab's flag names.
    let field = p
        .old_store()
        .call(&cmd(&[
            "HGET",
            key,
            "use_primary_and_secondary_stores_for_shared",
        ]))
        .unwrap();
    assert_eq!(field, bulk("1"));
    let seen = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("SEEN"));
    assert!(child.wait().unwrap().success());
    let seen = seen.expect("the child never saw the flip");
    eprintln!("child: {seen} (cache interval 200 ms)");
    // The child dual-wrote after the flip.
    assert_eq!(get(&p.new_store(), "from-child"), bulk("v"));
    assert_eq!(get(&p.old_store(), "from-child"), bulk("v"));
}

#[test]
fn env_flags_are_read_and_bad_values_named() {
    std::env::set_var("USE_PRIMARY_AND_SECONDARY_STORES_FOR_ENV_TEST", "true");
    std::env::set_var("USE_PRIMARY_STORE_AS_DEFAULT_FOR_ENV_TEST", "0");
    let p = Pair::start();
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::Env;
    let ms = MultiStore::new("EnvTest", p.new_store(), p.old_store(), opts.clone()).unwrap();
    assert_eq!(ms.phase(), Phase::DualWriteSecondaryDefault);

    std::env::set_var("USE_PRIMARY_STORE_AS_DEFAULT_FOR_ENV_TEST", "sometimes");
    let err = MultiStore::new("EnvTest", p.new_store(), p.old_store(), opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable USE_PRIMARY_STORE_AS_DEFAULT_FOR_ENV_TEST=\"sometimes\" is not a \
         boolean (use true/false, 1/0, yes/no, on/off)"
    );
}

#[test]
fn blocking_pops_block_on_the_default_and_are_mirrored() {
    let p = Pair::start();
    let ms = p.multistore("pops", Phase::DualWriteSecondaryDefault, |_| {});
    let (old, new) = (p.old_store(), p.new_store());
    ms.call(&cmd(&["RPUSH", "q", "a", "b", "c"])).unwrap();
    ms.call(&cmd(&["ZADD", "z", "1", "m1", "2", "m2"])).unwrap();
    assert_eq!(
        ms.call(&cmd(&["BLPOP", "q", "1"])).unwrap(),
        Reply::Array(vec![bulk("q"), bulk("a")])
    );
    assert_eq!(
        ms.call(&cmd(&["BRPOP", "q", "1"])).unwrap(),
        Reply::Array(vec![bulk("q"), bulk("c")])
    );
    ms.call(&cmd(&["BZPOPMIN", "z", "1"])).unwrap();
    for s in [&old, &new] {
        assert_eq!(
            s.call(&cmd(&["LRANGE", "q", "0", "-1"])).unwrap(),
            Reply::Array(vec![bulk("b")])
        );
        assert_eq!(
            s.call(&cmd(&["ZRANGE", "z", "0", "-1"])).unwrap(),
            Reply::Array(vec![bulk("m2")])
        );
    }
    // Only the default blocks: an element present only on the other store is not taken.
    new.call(&cmd(&["RPUSH", "only-new", "x"])).unwrap();
    assert_eq!(
        ms.call(&cmd(&["BLPOP", "only-new", "0.2"])).unwrap(),
        Reply::Nil
    );
    assert_eq!(
        new.call(&cmd(&["LLEN", "only-new"])).unwrap(),
        Reply::Int(1)
    );
}

#[test]
fn publish_goes_to_both_stores() {
    let p = Pair::start();
    let ms = p.multistore("pubsub", Phase::DualWritePrimaryDefault, |_| {});
    let mut old_conn = p.old.client().get_connection().unwrap();
    let mut new_conn = p.new.nodes()[0].client().get_connection().unwrap();
    let mut old_sub = old_conn.as_pubsub();
    let mut new_sub = new_conn.as_pubsub();
    old_sub.subscribe("news").unwrap();
    new_sub.subscribe("news").unwrap();
    old_sub
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    new_sub
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    ms.publish("news", "hello").unwrap();
    for sub in [&mut old_sub, &mut new_sub] {
        let msg = sub.get_message().unwrap();
        assert_eq!(msg.get_payload::<String>().unwrap(), "hello");
    }
}

#[test]
fn async_queue_keeps_per_key_order_and_counts_overflow() {
    let p = Pair::start();
    let ms = p.multistore("queued", Phase::DualWritePrimaryDefault, |o| {
        o.async_non_default_writes = true;
    });
    let (old, new) = (p.old_store(), p.new_store());
    for i in 0..500 {
        ms.call(&cmd(&["RPUSH", &format!("list:{}", i % 5), &i.to_string()]))
            .unwrap();
    }
    assert!(ms.drain(Duration::from_secs(30)));
    for k in 0..5 {
        let key = format!("list:{k}");
        let a = old.call(&cmd(&["LRANGE", &key, "0", "-1"])).unwrap();
        let b = new.call(&cmd(&["LRANGE", &key, "0", "-1"])).unwrap();
        assert_eq!(a, b, "{key}: same elements in the same order");
    }
    assert_eq!(ms.metrics().total(Counter::QueueOverflow), 0);

    // A paused non-default store and a tiny queue: the caller never waits, overflow counted.
    let tiny = p.multistore("tiny", Phase::DualWritePrimaryDefault, |o| {
        o.async_non_default_writes = true;
        o.queue_capacity = 2;
        o.queue_workers = 1;
    });
    p.old.pause().unwrap();
    for i in 0..50 {
        tiny.call(&cmd(&["SET", &format!("t:{i}"), "v"])).unwrap();
    }
    p.old.resume().unwrap();
    let m = tiny.metrics();
    assert!(m.total(Counter::QueueOverflow) >= 40, "{m:?}");
    assert!(tiny.drain(Duration::from_secs(30)));
}

#[test]
fn read_ramp_sends_a_share_of_reads_to_the_primary() {
    let p = Pair::start();
    let ms = p.multistore("ramp", Phase::DualWriteSecondaryDefault, |o| {
        o.primary_read_percentage = 30
    });
    let keys: Vec<String> = (0..300).map(|i| format!("r:{i}")).collect();
    for k in &keys {
        ms.call(&cmd(&["SET", k, "v"])).unwrap();
    }
    for k in &keys {
        assert_eq!(ms.call(&cmd(&["GET", k])).unwrap(), bulk("v"));
    }
    let m = ms.metrics();
    assert_eq!(m.hits(Side::Primary) + m.hits(Side::Secondary), 300);
    assert!(
        m.hits(Side::Primary) > 30 && m.hits(Side::Primary) < 150,
        "{m:?}"
    );
    // The same key reads from the same store every time.
    let before = ms.metrics().hits(Side::Primary);
    for _ in 0..10 {
        ms.call(&cmd(&["GET", "r:1"])).unwrap();
    }
    let moved = ms.metrics().hits(Side::Primary) - before;
    assert!(moved == 0 || moved == 10);
}

#[test]
fn dual_write_waits_for_the_same_server_check() {
    let (old, new) = (Standalone::start().unwrap(), Standalone::start().unwrap());
    let (old_store, new_store) = (quick_store(&old.url()), quick_store(&new.url()));
    new.kill().unwrap();
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::InProcess(FlagState::new(true, false));
    let ms = MultiStore::new("pending", new_store, old_store.clone(), opts).unwrap();
    // The new store cannot be asked for its run id: dual-write is held off, and the writes
    // it would have sent there are counted.
    assert!(!ms.same_server());
    assert_eq!(ms.phase(), Phase::SecondaryOnly);
    ms.call(&cmd(&["SET", "k", "v"])).unwrap();
    assert_eq!(get(&old_store, "k"), bulk("v"));
    assert_eq!(ms.metrics().get(Counter::NonDefaultWriteFailure, "set"), 1);
    // Once it answers, the check (retried every second) lets dual-write start.
    new.node().restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ms.phase() != Phase::DualWriteSecondaryDefault {
        assert!(
            Instant::now() < deadline,
            "the same-server check never completed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ms.call(&cmd(&["SET", "k2", "v"])).unwrap();
    assert_eq!(get(&quick_store(&new.url()), "k2"), bulk("v"));
}

/// GitLab asks its own feature flags (`Feature.enabled?(name)`): the callback source asks the
/// application for both flag names, follows its answers, keeps the last ones when it fails,
/// and refuses `set_flags` (the flags are the application's).
#[test]
fn flags_from_the_application_callback() {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    let old = Standalone::start().unwrap();
    let new = Standalone::start().unwrap();
    let answers: Arc<Mutex<BTreeMap<String, Result<bool, String>>>> = Arc::default();
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let ask: slotshift::multistore::FlagCallback = {
        let (answers, asked) = (answers.clone(), asked.clone());
        Arc::new(move |name: &str| {
            asked.lock().unwrap().push(name.to_owned());
            answers
                .lock()
                .unwrap()
                .get(name)
                .cloned()
                .unwrap_or(Ok(false))
        })
    };
    let open = |ask: slotshift::multistore::FlagCallback| {
        let mut opts = MultiStoreOptions::default();
        opts.flags = FlagSource::Callback {
            ask,
            cache_ttl: Duration::ZERO,
        };
        MultiStore::new(
            "Sessions",
            Store::open(&new.url()).unwrap(),
            Store::open(&old.url()).unwrap(),
            opts,
        )
    };
    let ms = open(ask.clone()).unwrap();
    assert_eq!(ms.flags().phase(), Phase::SecondaryOnly);
    assert!(asked
        .lock()
        .unwrap()
        .contains(&"use_primary_and_secondary_stores_for_sessions".to_owned()));

    ms.call(&cmd(&["SET", "a", "1"])).unwrap();
    assert_eq!(get(&Store::open(&new.url()).unwrap(), "a"), Reply::Nil);

    // The application turns dual-write on: the next write goes to both stores.
    answers.lock().unwrap().insert(
        "use_primary_and_secondary_stores_for_sessions".into(),
        Ok(true),
    );
    ms.call(&cmd(&["SET", "b", "2"])).unwrap();
    assert_eq!(get(&Store::open(&new.url()).unwrap(), "b"), bulk("2"));
    assert_eq!(ms.flags().phase(), Phase::DualWriteSecondaryDefault);

    // The flag system fails: the last answers stay in force.
    answers.lock().unwrap().insert(
        "use_primary_and_secondary_stores_for_sessions".into(),
        Err("feature store unreachable".into()),
    );
    ms.call(&cmd(&["SET", "c", "3"])).unwrap();
    assert_eq!(get(&Store::open(&new.url()).unwrap(), "c"), bulk("3"));

    // The flags are the application's.
    match ms.set_flags(Phase::PrimaryOnly.flags()) {
        Err(Error::MultiStore(MultiStoreError::FlagCallback { reason, .. })) => {
            assert!(reason.contains("application"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // A callback that fails or panics while the MultiStore is built is the constructor's error.
    let failing: slotshift::multistore::FlagCallback = Arc::new(|_| Err("no flags yet".into()));
    match open(failing) {
        Err(Error::MultiStore(MultiStoreError::FlagCallback { flag, reason })) => {
            assert_eq!(flag, "use_primary_and_secondary_stores_for_sessions");
            assert!(reason.contains("no flags yet"), "{reason}");
        }
        other => panic!("expected the callback's error, got {other:?}"),
    }
    let panicking: slotshift::multistore::FlagCallback = Arc::new(|_| panic!("boom"));
    assert!(matches!(
        open(panicking),
        Err(Error::MultiStore(MultiStoreError::FlagCallback { .. }))
    ));
}
