//! Cross-slot commands served in rounds (`pipeline::compose`) on a real 3-master cluster,
//! against one real standalone server given the same commands: every reply (and every error
//! code) is the standalone's, called one by one and in one pipeline, with the keys of each
//! command in different slots; sets' replies compared as sets (their order is the server's
//! choice); the data each write left behind read back and compared too. Commands that stay
//! refused across slots are refused before anything is sent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::time::Duration;

use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::pipeline::PipelineError;
use slotshift::reply::Reply;
use slotshift::slot::key_slot;
use slotshift::store::{Store, StoreOptions};
use slotshift::testing::{Cluster, Standalone};
use slotshift::Error;

fn open(url: &str) -> Store {
    let mut opts = StoreOptions::default();
    opts.retry_deadline = Duration::from_secs(30);
    opts.response_timeout = Duration::from_secs(5);
    Store::connect(&Deployment::parse(url).unwrap(), opts).unwrap()
}

fn c(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

/// Data in keys of many slots (`a`, `b`, `c` … hash to different slots).
fn setup() -> Vec<Cmd> {
    vec![
        c(&["SADD", "sa", "x", "y", "z", "w"]),
        c(&["SADD", "sb", "y", "z", "q"]),
        c(&["SADD", "sc", "z", "r"]),
        c(&["ZADD", "za", "1", "x", "2.5", "y", "0.1", "z", "-inf", "n"]),
        c(&["ZADD", "zb", "3", "y", "4", "z", "inf", "p"]),
        c(&["RPUSH", "la", "1", "2", "3"]),
        c(&["SET", "str", "value"]),
        c(&["SET", "ttl", "v", "PX", "500000"]),
        c(&["PFADD", "ha", "a", "b", "c"]),
        c(&["PFADD", "hb", "c", "d"]),
        c(&["XADD", "s1", "1-1", "f", "a"]),
        c(&["XADD", "s1", "1-2", "f", "b"]),
        c(&["XADD", "s2", "2-1", "f", "c"]),
    ]
}

/// The commands under test, each with keys in at least two slots, and reads of what the
/// writes left.
fn script() -> Vec<Cmd> {
    vec![
        c(&["SUNION", "sa", "sb", "sc", "missing"]),
        c(&["SINTER", "sa", "sb"]),
        c(&["SINTER", "sa", "missing"]),
        c(&["SDIFF", "sa", "sb", "sc"]),
        c(&["SINTERCARD", "2", "sa", "sb"]),
        c(&["SINTERCARD", "2", "sa", "sb", "LIMIT", "1"]),
        c(&["SUNIONSTORE", "dest", "sa", "sc"]),
        c(&["SMEMBERS", "dest"]),
        c(&["SINTERSTORE", "dest", "sa", "missing"]),
        c(&["EXISTS", "dest"]),
        c(&["SDIFFSTORE", "dest2", "sa", "sb"]),
        c(&["SMEMBERS", "dest2"]),
        c(&["SUNION", "sa", "str"]),
        c(&["ZUNION", "2", "za", "zb", "WITHSCORES"]),
        c(&[
            "ZUNION",
            "2",
            "za",
            "zb",
            "WEIGHTS",
            "2",
            "0.5",
            "AGGREGATE",
            "MAX",
            "WITHSCORES",
        ]),
        c(&["ZUNION", "3", "za", "zb", "sc", "WITHSCORES"]),
        c(&["ZINTER", "2", "za", "zb", "WITHSCORES"]),
        c(&["ZINTER", "2", "za", "zb", "AGGREGATE", "MIN"]),
        c(&["ZDIFF", "2", "za", "zb", "WITHSCORES"]),
        c(&["ZINTERCARD", "2", "za", "zb"]),
        c(&["ZUNIONSTORE", "zd", "2", "za", "zb", "WEIGHTS", "3", "1"]),
        c(&["ZRANGE", "zd", "0", "-1", "WITHSCORES"]),
        c(&["ZINTERSTORE", "zd", "2", "za", "zb"]),
        c(&["ZRANGE", "zd", "0", "-1", "WITHSCORES"]),
        c(&["ZDIFFSTORE", "zd2", "2", "za", "zb"]),
        c(&["ZRANGE", "zd2", "0", "-1", "WITHSCORES"]),
        c(&["ZRANGESTORE", "zr", "za", "0", "1"]),
        c(&["ZRANGE", "zr", "0", "-1", "WITHSCORES"]),
        c(&[
            "ZRANGESTORE",
            "zr",
            "za",
            "(0",
            "+inf",
            "BYSCORE",
            "LIMIT",
            "0",
            "1",
        ]),
        c(&["ZRANGE", "zr", "0", "-1", "WITHSCORES"]),
        c(&["ZRANGESTORE", "zr", "za", "[a", "[y", "BYLEX"]),
        c(&["ZRANGE", "zr", "0", "-1", "WITHSCORES"]),
        c(&["ZUNION", "2", "za", "str"]),
        c(&["SMOVE", "sa", "sb", "x"]),
        c(&["SMOVE", "sa", "sb", "absent"]),
        c(&["SMOVE", "sa", "str", "y"]),
        c(&["SISMEMBER", "sa", "y"]),
        c(&["SMEMBERS", "sb"]),
        c(&["LMOVE", "la", "lb", "LEFT", "RIGHT"]),
        c(&["RPOPLPUSH", "la", "lb"]),
        c(&["LMOVE", "missing", "lb", "LEFT", "LEFT"]),
        c(&["LMOVE", "la", "str", "LEFT", "LEFT"]),
        c(&["LRANGE", "la", "0", "-1"]),
        c(&["LRANGE", "lb", "0", "-1"]),
        c(&["COPY", "str", "copy"]),
        c(&["COPY", "str", "copy"]),
        c(&["COPY", "ttl", "copy", "REPLACE"]),
        c(&["GET", "copy"]),
        c(&["COPY", "missing", "copy"]),
        c(&["RENAME", "copy", "renamed"]),
        c(&["GET", "renamed"]),
        c(&["EXISTS", "copy"]),
        c(&["RENAME", "missing", "renamed"]),
        c(&["RENAMENX", "renamed", "str"]),
        c(&["RENAMENX", "renamed", "fresh"]),
        c(&["GET", "fresh"]),
        c(&["PFMERGE", "hm", "ha", "hb"]),
        c(&["PFCOUNT", "hm"]),
        c(&["PFMERGE", "hm", "ha", "missing"]),
        c(&["PFCOUNT", "hm"]),
        c(&["PFMERGE", "hm", "str"]),
        c(&["XREAD", "STREAMS", "s1", "s2", "0", "0"]),
        c(&["XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "1-1", "0"]),
        c(&["XREAD", "STREAMS", "s1", "s2", "$", "$"]),
        c(&["XGROUP", "CREATE", "s1", "g", "0"]),
        c(&["XGROUP", "CREATE", "s2", "g", "0"]),
        c(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "STREAMS",
            "s1",
            "s2",
            ">",
            ">",
        ]),
        c(&["XPENDING", "s1", "g"]),
    ]
}

/// Whether the reply of `cmd` is a set whose order is the server's choice.
fn unordered(cmd: &Cmd) -> bool {
    ["SUNION", "SINTER", "SDIFF", "SMEMBERS"]
        .iter()
        .any(|n| cmd.name().eq_ignore_ascii_case(n.as_bytes()))
}

fn comparable(cmd: &Cmd, r: Result<Reply, Error>) -> Result<Reply, String> {
    match r {
        Ok(Reply::Array(mut items)) if unordered(cmd) => {
            items.sort_by_key(|i| format!("{i:?}"));
            Ok(Reply::Array(items))
        }
        Ok(reply) => Ok(reply),
        Err(Error::Server(e)) => Err(e.code().to_owned()),
        Err(e) => Err(format!("not a server error: {e}")),
    }
}

fn run_both(cluster: &Store, standalone: &Store, pipelined: bool) {
    for s in [cluster, standalone] {
        s.call(&c(&["FLUSHALL"])).unwrap();
        for cmd in setup() {
            s.call(&cmd).unwrap();
        }
    }
    let script = script();
    let (a, b) = if pipelined {
        (
            cluster.pipeline(&script).unwrap(),
            standalone.pipeline(&script).unwrap(),
        )
    } else {
        let one = |s: &Store| script.iter().map(|cmd| s.call(cmd)).collect::<Vec<_>>();
        (one(cluster), one(standalone))
    };
    for (i, ((cmd, x), y)) in script.iter().zip(a).zip(b).enumerate() {
        let (x, y) = (comparable(cmd, x), comparable(cmd, y));
        assert_eq!(x, y, "command {i} ({cmd:?}), pipelined: {pipelined}");
    }
}

#[test]
fn cross_slot_commands_answer_as_a_standalone_server_does() {
    // The script's commands do span slots: otherwise the test would prove nothing.
    for cmd in script() {
        let keys = slotshift::command::KeyTable::builtin().keys(&cmd).unwrap();
        if keys.len() > 1 {
            let first = key_slot(keys[0]);
            assert!(
                keys.iter().any(|k| key_slot(k) != first),
                "{cmd:?} keeps to one slot"
            );
        }
    }
    let cluster = Cluster::start(3, 0).unwrap();
    let single = Standalone::start().unwrap();
    let store = open(&cluster.url());
    let reference = open(&single.url());
    cluster.flushall().unwrap();
    run_both(&store, &reference, false);
    cluster.flushall().unwrap();
    run_both(&store, &reference, true);
    // The TTL travelled with COPY (RESTORE … ABSTTL): the copy expires when the source does.
    let pttl = store
        .call(&c(&["PTTL", "fresh"]))
        .unwrap()
        .as_int()
        .unwrap();
    assert!(pttl > 400_000 && pttl <= 500_000, "{pttl}");
    // No temporary key of PFMERGE is left anywhere.
    let keys = store.call(&c(&["KEYS", "*slotshift:pfmerge*"])).unwrap();
    assert_eq!(keys, Reply::Array(Vec::new()));
}

#[test]
fn what_a_round_cannot_serve_stays_refused_and_nothing_is_sent() {
    let cluster = Cluster::start(3, 0).unwrap();
    let store = open(&cluster.url());
    for cmd in [
        c(&["MSETNX", "a", "1", "b", "2"]),
        c(&["BLMOVE", "a", "b", "LEFT", "LEFT", "0"]),
        c(&["XREAD", "BLOCK", "10", "STREAMS", "a", "b", "0", "0"]),
        c(&["EVAL", "return 1", "2", "a", "b"]),
        c(&["COPY", "a", "b", "DB", "1"]),
    ] {
        let err = store.call(&cmd).unwrap_err();
        assert!(
            matches!(err, Error::Pipeline(PipelineError::CannotSplit { .. })),
            "{cmd:?}: {err}"
        );
    }
    assert_eq!(store.call(&c(&["DBSIZE"])).unwrap(), Reply::Int(0));
}
