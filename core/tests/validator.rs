//! The cross-slot validator: a corpus classified exactly, and the modes, the allow scope and
//! the counters on a real standalone server (the validator's point is to run before the
//! migration) and on a cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::instrument;
use slotshift::reply::Reply;
use slotshift::store::{Store, StoreOptions};
use slotshift::testing::{Cluster, Node, Standalone};
use slotshift::validator::{self, classify, Mode};
use slotshift::Error;

fn c(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

/// (command, violation name or "" for none)
const CORPUS: &[(&[&str], &str)] = &[
    // single key, keyless, unknown
    (&["GET", "a"], ""),
    (&["SET", "a", "1", "EX", "10"], ""),
    (&["PING"], ""),
    (&["FROBNICATE", "a", "b"], ""),
    (&["MGET", "a"], ""),
    // multi-key in one slot
    (&["MGET", "{u1}:a", "{u1}:b"], ""),
    (&["DEL", "a", "a"], ""),
    (&["MSET", "{x}1", "v", "{x}2", "v"], ""),
    (&["RENAME", "{x}old", "{x}new"], ""),
    // hash tags follow the spec: empty braces hash the whole key
    (&["MGET", "{}a", "{}b"], "MGET"),
    (&["MGET", "a{x}", "b{x}"], ""),
    (&["MGET", "{x}}a", "{x}b"], ""),
    // multi-key across slots
    (&["MGET", "a", "b"], "MGET"),
    (&["mget", "a", "b"], "MGET"),
    (&["DEL", "user:1", "user:2"], "DEL"),
    (&["UNLINK", "a", "b"], "UNLINK"),
    (&["EXISTS", "a", "b"], "EXISTS"),
    (&["TOUCH", "a", "b"], "TOUCH"),
    (&["MSET", "a", "1", "b", "2"], "MSET"),
    (&["MSETNX", "a", "1", "b", "2"], "MSETNX"),
    (&["RENAME", "a", "b"], "RENAME"),
    (&["SMOVE", "a", "b", "m"], "SMOVE"),
    (&["LMOVE", "a", "b", "LEFT", "RIGHT"], "LMOVE"),
    (&["SUNIONSTORE", "d", "a", "b"], "SUNIONSTORE"),
    (&["BLPOP", "a", "b", "0"], "BLPOP"),
    (&["BLPOP", "{q}a", "{q}b", "0"], ""),
    (&["PFCOUNT", "a", "b"], "PFCOUNT"),
    (&["WATCH", "a", "b"], "WATCH"),
    (&["COPY", "a", "b"], "COPY"),
    (&["OBJECT", "ENCODING", "a"], ""),
    // movable keys (GitLab's table could not see these)
    (&["EVAL", "return 1", "2", "a", "b"], "EVAL"),
    (&["EVAL", "return 1", "2", "{t}a", "{t}b"], ""),
    (&["EVAL", "return 1", "0", "a", "b"], ""),
    (&["EVALSHA", "abc", "2", "a", "b", "argv"], "EVALSHA"),
    (&["FCALL", "f", "2", "a", "b"], "FCALL"),
    (&["ZUNIONSTORE", "out", "2", "a", "b"], "ZUNIONSTORE"),
    (
        &[
            "ZUNIONSTORE",
            "{z}out",
            "2",
            "{z}a",
            "{z}b",
            "WEIGHTS",
            "1",
            "2",
        ],
        "",
    ),
    (&["ZINTERSTORE", "{z}out", "2", "{z}a", "b"], "ZINTERSTORE"),
    (&["ZDIFFSTORE", "out", "1", "out"], ""),
    (
        &["XREAD", "COUNT", "1", "STREAMS", "a", "b", "0", "0"],
        "XREAD",
    ),
    (&["XREAD", "STREAMS", "{s}a", "{s}b", "0", "0"], ""),
    (
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "STREAMS",
            "a",
            "b",
            ">",
            ">",
        ],
        "XREADGROUP",
    ),
    (&["SORT", "a", "STORE", "b"], "SORT"),
    (&["SORT", "{s}a", "STORE", "{s}b"], ""),
    (&["LMPOP", "2", "a", "b", "LEFT"], "LMPOP"),
    (&["SINTERCARD", "2", "a", "b"], "SINTERCARD"),
    (
        &["GEORADIUS", "a", "0", "0", "1", "km", "STORE", "b"],
        "GEORADIUS",
    ),
];

#[test]
fn corpus_is_classified_exactly() {
    for (args, want) in CORPUS {
        let v = classify(&[c(args)], false);
        let got = v.first().map(|v| v.command.as_str()).unwrap_or("");
        assert_eq!(got, *want, "{args:?}");
        assert!(v.len() <= 1);
        if let Some(v) = v.first() {
            assert!(v.slots.len() > 1 && v.slots.windows(2).all(|w| w[0] < w[1]));
        }
    }
    // A plain pipeline of single-key commands across slots: not a violation.
    let pipeline = [
        c(&["GET", "a"]),
        c(&["SET", "b", "1"]),
        c(&["INCR", "user:1"]),
    ];
    assert!(classify(&pipeline, false).is_empty());
    // The same commands as a transaction: one violation, named MULTI/EXEC.
    let v = classify(&pipeline, true);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].command, "MULTI/EXEC");
    assert_eq!(v[0].slots.len(), 3);
    // A transaction in one slot is fine.
    let tagged = [c(&["SET", "{t}a", "1"]), c(&["MGET", "{t}a", "{t}b"])];
    assert!(classify(&tagged, true).is_empty());
    // Several violations in one pipeline are each reported, with their index.
    let many = [
        c(&["MGET", "a", "b"]),
        c(&["GET", "a"]),
        c(&["DEL", "a", "b"]),
    ];
    let v = classify(&many, false);
    assert_eq!(
        v.iter()
            .map(|v| (v.command.as_str(), v.index))
            .collect::<Vec<_>>(),
        vec![("MGET", 0), ("DEL", 2)]
    );
}

fn store(url: &str, name: &str, mode: Option<Mode>) -> Store {
    let mut opts = StoreOptions::default();
    opts.name = name.to_owned();
    opts.cross_slot_validation = mode;
    Store::connect(&Deployment::parse(url).unwrap(), opts).unwrap()
}

fn calls(node: &Node, name: &str) -> u64 {
    node.info("commandstats")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |v| v.parse().unwrap())
}

#[test]
fn raise_refuses_before_sending_and_allow_lets_through() {
    let server = Standalone::start().unwrap();
    let node = server.node();
    let s = store(&server.url(), "validator_raise", Some(Mode::Raise));
    node.query::<()>(redis::cmd("CONFIG").arg("RESETSTAT"))
        .unwrap();

    let err = s.call(&c(&["MGET", "a", "b"])).unwrap_err();
    let Error::Validator(e) = &err else {
        panic!("{err}")
    };
    assert_eq!((e.command.as_str(), e.slots, e.key_count), ("MGET", 2, 2));
    assert!(err
        .to_string()
        .starts_with("validator_raise: MGET arguments hash to 2 different slots"));
    assert_eq!(calls(node, "mget"), 0, "refused before it was sent");

    // Movable keys, a cross-slot transaction and a pipeline holding a violation: refused.
    assert!(matches!(
        s.call(&c(&["EVAL", "return 1", "2", "a", "b"])),
        Err(Error::Validator(_))
    ));
    let tx = s
        .transaction(&[c(&["SET", "a", "1"]), c(&["SET", "b", "1"])])
        .unwrap_err();
    assert!(
        matches!(&tx, Error::Validator(e) if e.command == "MULTI/EXEC"),
        "{tx}"
    );
    let p = s
        .pipeline(&[c(&["GET", "a"]), c(&["DEL", "a", "b"])])
        .unwrap_err();
    assert!(
        matches!(&p, Error::Validator(e) if e.command == "DEL"),
        "{p}"
    );
    assert_eq!(
        calls(node, "eval") + calls(node, "set") + calls(node, "del") + calls(node, "exec"),
        0
    );

    // Fine: single slot, hash tags, a plain pipeline across slots.
    assert!(s.call(&c(&["MGET", "{u}a", "{u}b"])).is_ok());
    let replies = s
        .pipeline(&[c(&["SET", "a", "1"]), c(&["SET", "b", "2"])])
        .unwrap();
    assert!(replies.iter().all(Result::is_ok));

    // Allowed, nested: sent and counted as allowed.
    let got = validator::allow_cross_slot(|| {
        let _inner = validator::allow();
        s.call(&c(&["MGET", "a", "b"]))
    })
    .unwrap();
    assert_eq!(
        got,
        Reply::Array(vec![Reply::Bulk(b"1".to_vec()), Reply::Bulk(b"2".to_vec())])
    );
    {
        let _guard = validator::allow();
        assert!(s
            .transaction(&[c(&["SET", "a", "1"]), c(&["SET", "b", "1"])])
            .is_ok());
    }
    // The scope ended: refused again.
    assert!(s.call(&c(&["MGET", "a", "b"])).is_err());

    let counts = validator::counts("validator_raise");
    assert_eq!(counts.allowed, 2);
    assert_eq!(counts.refused, 5);
    assert_eq!(counts.cross_slot, 0);
    let text = instrument::render_prometheus_with_prefix("t");
    assert!(
        text.contains("t_cross_slot_total{instance_name=\"validator_raise\"} 5"),
        "{text}"
    );
    assert!(text.contains("t_allowed_cross_slot_total{instance_name=\"validator_raise\"} 2"));
    assert!(
        text.contains("t_errors_total{instance_name=\"validator_raise\",kind=\"cross_slot\"} 5")
    );
}

#[test]
fn count_sends_and_counts_off_does_nothing() {
    let server = Standalone::start().unwrap();
    let node = server.node();
    let counting = store(&server.url(), "validator_count", Some(Mode::Count));
    let off = store(&server.url(), "validator_off", Some(Mode::Off));
    node.query::<()>(redis::cmd("CONFIG").arg("RESETSTAT"))
        .unwrap();

    assert_eq!(
        counting.call(&c(&["DEL", "a", "b"])).unwrap(),
        Reply::Int(0)
    );
    counting
        .call(&c(&["ZUNIONSTORE", "out", "2", "a", "b"]))
        .unwrap();
    counting
        .transaction(&[c(&["SET", "a", "1"]), c(&["SET", "b", "1"])])
        .unwrap();
    counting
        .pipeline(&[c(&["GET", "a"]), c(&["GET", "b"])])
        .unwrap();
    validator::allow_cross_slot(|| counting.call(&c(&["EXISTS", "a", "b"]))).unwrap();
    assert_eq!(calls(node, "del"), 1);
    assert_eq!(calls(node, "zunionstore"), 1);
    assert_eq!(calls(node, "exec"), 1);
    let counts = validator::counts("validator_count");
    assert_eq!(
        (counts.cross_slot, counts.allowed, counts.refused),
        (3, 1, 0)
    );

    off.call(&c(&["DEL", "a", "b"])).unwrap();
    off.transaction(&[c(&["SET", "a", "1"]), c(&["SET", "b", "1"])])
        .unwrap();
    assert_eq!(
        validator::counts("validator_off"),
        validator::Counts::default()
    );

    let fields = instrument::snapshot().log_fields();
    assert_eq!(fields["redis_validator_count_cross_slot_calls"], 3);
    assert_eq!(fields["redis_validator_count_allowed_cross_slot_calls"], 1);
    assert!(
        !fields.contains_key("redis_validator_off_cross_slot_calls"),
        "zeros are left out"
    );
}

#[test]
fn global_mode_applies_to_stores_without_their_own() {
    let server = Standalone::start().unwrap();
    let s = store(&server.url(), "validator_global", None);
    validator::set_mode(Mode::Raise);
    let refused = s.call(&c(&["MGET", "a", "b"]));
    validator::set_mode(Mode::Count);
    let counted = s.call(&c(&["MGET", "a", "b"]));
    validator::set_mode(Mode::Off);
    let off = s.call(&c(&["MGET", "a", "b"]));
    assert!(matches!(refused, Err(Error::Validator(_))));
    assert!(counted.is_ok() && off.is_ok());
    let counts = validator::counts("validator_global");
    assert_eq!((counts.refused, counts.cross_slot), (1, 1));
}

#[test]
fn on_a_cluster_raise_refuses_what_the_batcher_would_split() {
    let cluster = Cluster::start(3, 0).unwrap();
    let s = store(&cluster.url(), "validator_cluster", Some(Mode::Raise));
    assert!(matches!(
        s.call(&c(&["MSET", "a", "1", "b", "2"])),
        Err(Error::Validator(_))
    ));
    // In an allow scope the batcher splits it and it succeeds.
    let ok = validator::allow_cross_slot(|| s.call(&c(&["MSET", "a", "1", "b", "2"]))).unwrap();
    assert_eq!(ok, Reply::Status("OK".into()));
    let got = validator::allow_cross_slot(|| s.call(&c(&["MGET", "a", "b"]))).unwrap();
    assert_eq!(
        got,
        Reply::Array(vec![Reply::Bulk(b"1".to_vec()), Reply::Bulk(b"2".to_vec())])
    );
    assert_eq!(validator::counts("validator_cluster").allowed, 2);
}
