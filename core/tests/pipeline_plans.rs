//! The split plan and the merge, without a server:
//!
//! - every case of `tests/fixtures/split_plans.json` (shared with the C, Ruby and Python suites):
//!   parts, what each command became, each node's batches, and the merged replies;
//! - a property: for random key sets, splitting, running each part on a model keyspace and
//!   merging gives what the whole command gives on one server; batches never exceed the limit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::Value;
use slotshift::command::Cmd;
use slotshift::pipeline::{merge, plan, CommandPlan, Merge, PipelineError, Plan};
use slotshift::reply::{Reply, ServerError};
use slotshift::slot::Slot;
use slotshift::Error;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/split_plans.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn locator(topology: &Value) -> impl Fn(Slot) -> Option<String> + '_ {
    move |slot: Slot| {
        topology
            .as_object()
            .unwrap()
            .iter()
            .find_map(|(node, ranges)| {
                ranges
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| {
                        let (a, b) = (r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
                        (a..=b).contains(&u64::from(slot.get()))
                    })
                    .then(|| node.clone())
            })
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn reply_of(v: &Value) -> Result<Reply, Error> {
    Ok(match v {
        Value::Null => Reply::Nil,
        Value::Number(n) => Reply::Int(n.as_i64().unwrap()),
        Value::String(s) => Reply::Bulk(s.clone().into_bytes()),
        Value::Array(items) => Reply::Array(items.iter().map(|i| reply_of(i).unwrap()).collect()),
        Value::Object(o) if o.contains_key("status") => {
            Reply::Status(o["status"].as_str().unwrap().to_owned())
        }
        Value::Object(o) if o.contains_key("error") => {
            return Err(Error::Server(ServerError::parse(
                o["error"].as_str().unwrap(),
            )))
        }
        other => panic!("bad reply encoding {other}"),
    })
}

fn encode(r: &Reply) -> Value {
    match r {
        Reply::Nil => Value::Null,
        Reply::Int(i) => Value::from(*i),
        Reply::Bulk(b) => Value::from(String::from_utf8(b.clone()).unwrap()),
        Reply::Status(s) => serde_json::json!({ "status": s }),
        Reply::Array(items) => Value::Array(items.iter().map(encode).collect()),
        other => panic!("unexpected reply {other:?}"),
    }
}

fn encode_result(r: &Result<Reply, Error>) -> Value {
    match r {
        Ok(r) => encode(r),
        Err(Error::Pipeline(PipelineError::CannotSplit { slots, .. })) => {
            serde_json::json!({ "refused": "cannot_split", "slots": slots })
        }
        Err(Error::Pipeline(PipelineError::PartialFailure(p))) => {
            let per_key: Vec<Value> = p
                .per_key()
                .into_iter()
                .map(|r| match r {
                    Ok(r) => encode(r),
                    Err(Error::Server(e)) => serde_json::json!({ "error": e.to_string() }),
                    Err(e) => panic!("{e}"),
                })
                .collect();
            let failed: Vec<Value> = p
                .failed_keys()
                .iter()
                .map(|k| Value::from(String::from_utf8(k.to_vec()).unwrap()))
                .collect();
            serde_json::json!({ "partial_failure": {
                "failed_keys": failed, "partial_sum": p.partial_sum(), "per_key": per_key } })
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn fixture_cases() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 16);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let topology = &f["topologies"][case["topology"].as_str().unwrap()];
        let limit = case["limit"].as_u64().unwrap() as usize;
        let cmds: Vec<Cmd> = case["commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Cmd::from_args(strs(c)))
            .collect();
        let p: Plan<String> = plan(&cmds, locator(topology), limit);

        let want_parts = case["parts"].as_array().unwrap();
        assert_eq!(p.parts.len(), want_parts.len(), "{name}: part count");
        for (i, (got, want)) in p.parts.iter().zip(want_parts).enumerate() {
            assert_eq!(
                got.command as u64,
                want["command"].as_u64().unwrap(),
                "{name} part {i}"
            );
            assert_eq!(
                got.slot.map(|s| u64::from(s.get())),
                want["slot"].as_u64(),
                "{name} part {i}"
            );
            assert_eq!(
                got.node.as_deref(),
                want["node"].as_str(),
                "{name} part {i}"
            );
            match &want["args"] {
                Value::Null => assert!(got.cmd.is_none(), "{name} part {i}: should be whole"),
                args => {
                    let sub: Vec<String> = got
                        .cmd
                        .as_ref()
                        .unwrap()
                        .args()
                        .map(|a| String::from_utf8(a.to_vec()).unwrap())
                        .collect();
                    assert_eq!(sub, strs(args), "{name} part {i}");
                }
            }
            let pos: Vec<u64> = got.key_positions.iter().map(|&p| p as u64).collect();
            let want_pos: Vec<u64> = want["key_positions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            assert_eq!(pos, want_pos, "{name} part {i}");
        }

        let want_plan = case["plan"].as_array().unwrap();
        assert_eq!(p.commands.len(), want_plan.len(), "{name}");
        for (i, (got, want)) in p.commands.iter().zip(want_plan).enumerate() {
            match got {
                CommandPlan::Whole { part } => {
                    assert_eq!(
                        *part as u64,
                        want["whole"].as_u64().unwrap(),
                        "{name} cmd {i}"
                    )
                }
                CommandPlan::Split {
                    merge, parts, keys, ..
                } => {
                    let m = match merge {
                        Merge::Values => "values",
                        Merge::Sum => "sum",
                        Merge::AllOk => "all_ok",
                        _ => "?",
                    };
                    assert_eq!(want["split"].as_str(), Some(m), "{name} cmd {i}");
                    let ids: Vec<u64> = parts.iter().map(|&p| p as u64).collect();
                    let want_ids: Vec<u64> = want["parts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_u64().unwrap())
                        .collect();
                    assert_eq!(ids, want_ids, "{name} cmd {i}");
                    assert_eq!(
                        *keys as u64,
                        want["keys"].as_u64().unwrap(),
                        "{name} cmd {i}"
                    );
                }
                CommandPlan::Refused(PipelineError::CannotSplit { slots, .. }) => {
                    assert_eq!(
                        want["refused"].as_str(),
                        Some("cannot_split"),
                        "{name} cmd {i}"
                    );
                    assert_eq!(
                        *slots as u64,
                        want["slots"].as_u64().unwrap(),
                        "{name} cmd {i}"
                    );
                }
                other => panic!("{name} cmd {i}: {other:?}"),
            }
        }

        let want_groups = case["groups"].as_array().unwrap();
        assert_eq!(p.groups.len(), want_groups.len(), "{name}: groups");
        for (got, want) in p.groups.iter().zip(want_groups) {
            assert_eq!(got.node.as_deref(), want["node"].as_str(), "{name}");
            let batches: Vec<Vec<u64>> = got
                .batches
                .iter()
                .map(|b| b.iter().map(|&i| i as u64).collect())
                .collect();
            let want_b: Vec<Vec<u64>> = serde_json::from_value(want["batches"].clone()).unwrap();
            assert_eq!(batches, want_b, "{name}: batches of {:?}", got.node);
            assert!(got
                .batches
                .iter()
                .all(|b| !b.is_empty() && b.len() <= limit));
        }

        if let Some(replies) = case.get("part_replies") {
            let results: Vec<Result<Reply, Error>> =
                replies.as_array().unwrap().iter().map(reply_of).collect();
            let merged = merge(p, &cmds, results);
            let got: Vec<Value> = merged.iter().map(encode_result).collect();
            let want = case["merged"].as_array().unwrap();
            assert_eq!(&got, want, "{name}: merged");
        }
    }
}

#[test]
fn partial_failure_message_counts_parts_and_keys() {
    let cmds = [Cmd::from_args(["MSET", "a", "1", "b", "2", "c", "3"])];
    let p = plan(&cmds, |s: Slot| Some(s.get() / 8192), 1000);
    let n = p.parts.len();
    let mut results: Vec<Result<Reply, Error>> =
        (0..n).map(|_| Ok(Reply::Status("OK".into()))).collect();
    results[1] = Err(Error::Server(ServerError::parse(
        "CLUSTERDOWN The cluster is down",
    )));
    let merged = merge(p, &cmds, results);
    let msg = merged[0].as_ref().unwrap_err().to_string();
    assert!(
        msg.starts_with("MSET: 1 of 3 parts failed (1 of 3 keys)"),
        "{msg}"
    );
    assert!(msg.contains("CLUSTERDOWN"), "{msg}");
    // Values are never in the message.
    assert!(!msg.contains("\"2\""), "{msg}");
}

/// The model server: a map, and each command's effect and reply on it.
fn apply(db: &mut HashMap<Vec<u8>, Vec<u8>>, cmd: &Cmd) -> Reply {
    let name = String::from_utf8_lossy(cmd.name()).to_ascii_uppercase();
    let args: Vec<Vec<u8>> = cmd.args().skip(1).map(<[u8]>::to_vec).collect();
    match name.as_str() {
        "MGET" => Reply::Array(
            args.iter()
                .map(|k| db.get(k).map_or(Reply::Nil, |v| Reply::Bulk(v.clone())))
                .collect(),
        ),
        "DEL" | "UNLINK" => {
            Reply::Int(args.iter().filter(|k| db.remove(*k).is_some()).count() as i64)
        }
        "EXISTS" | "TOUCH" => {
            Reply::Int(args.iter().filter(|k| db.contains_key(*k)).count() as i64)
        }
        "MSET" => {
            for kv in args.chunks(2) {
                db.insert(kv[0].clone(), kv[1].clone());
            }
            Reply::Status("OK".into())
        }
        other => panic!("model has no {other}"),
    }
}

fn command_strategy() -> impl Strategy<Value = Cmd> {
    // Few distinct keys (some hash-tagged together), so duplicates and shared slots happen.
    let key = prop_oneof![
        (0u8..40).prop_map(|i| format!("k{i}")),
        (0u8..4).prop_map(|i| format!("{{t}}{i}")),
    ];
    let keys = prop::collection::vec(key, 1..30);
    (0u8..6, keys).prop_map(|(kind, keys)| {
        let name = ["MGET", "DEL", "UNLINK", "EXISTS", "TOUCH", "MSET"][kind as usize];
        let mut cmd = Cmd::new(name);
        for (i, k) in keys.iter().enumerate() {
            cmd.arg(k);
            if name == "MSET" {
                cmd.arg(format!("v{i}"));
            }
        }
        cmd
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn split_then_merge_equals_whole(
        cmds in prop::collection::vec(command_strategy(), 1..8),
        limit in 1usize..5,
        nodes in prop_oneof![1u16..5, 9u16..24],
        seed in prop::collection::vec((0u8..12, 0u8..3), 0..12),
    ) {
        let mut whole_db: HashMap<Vec<u8>, Vec<u8>> = seed
            .iter()
            .map(|(k, v)| (format!("k{k}").into_bytes(), format!("s{v}").into_bytes()))
            .collect();
        let mut split_db = whole_db.clone();
        let want: Vec<Reply> = cmds.iter().map(|c| apply(&mut whole_db, c)).collect();

        let span = 16384 / nodes + 1;
        let p = plan(&cmds, |s: Slot| Some(s.get() / span), limit);
        for g in &p.groups {
            prop_assert!(g.batches.iter().all(|b| !b.is_empty() && b.len() <= limit));
        }
        // One group per node (past a few nodes the plan finds groups by hashing).
        let mut seen: Vec<Option<u16>> = p.groups.iter().map(|g| g.node).collect();
        seen.sort_unstable();
        seen.dedup();
        prop_assert_eq!(seen.len(), p.groups.len());
        // Run round by round like the batcher; parts of one node keep their order, and parts
        // touching one key are always on one node (one slot), so the model sees the same order.
        let mut results: Vec<Option<Result<Reply, Error>>> = (0..p.parts.len()).map(|_| None).collect();
        for round in 0..p.rounds() {
            for g in &p.groups {
                for &i in g.batches.get(round).map(Vec::as_slice).unwrap_or(&[]) {
                    results[i] = Some(Ok(apply(&mut split_db, p.parts[i].cmd(&cmds))));
                }
            }
        }
        let merged = merge(p, &cmds, results.into_iter().map(Option::unwrap).collect());
        let got: Vec<Reply> = merged.into_iter().map(Result::unwrap).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(split_db, whole_db);
    }
}
