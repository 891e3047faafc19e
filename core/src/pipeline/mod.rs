//! The CrossSlot batcher: multi-key commands and pipelines whose keys span slots, served on a
//! cluster.
//!
//! 1. **Split** ([`plan`]): a multi-key command whose keys span slots becomes one sub-command
//!    per slot (`MGET a b c` → `MGET a c` + `MGET b`), keys in the caller's order within each.
//!    MGET, MSET, DEL, UNLINK, EXISTS and TOUCH can be split ([`Merge`] says how their replies
//!    come back together). Set algebra, moves, copies and stream reads across slots
//!    (`SUNION`, `ZINTERSTORE`, `SMOVE`, `COPY`, `XREAD` …) are served in rounds instead
//!    ([`compose`]); any other command whose keys span slots (MSETNX, EVAL with keys in two
//!    slots, blocking commands …) is refused with [`PipelineError::CannotSplit`] and nothing
//!    of it is sent. Keys are found with the [key table](crate::command::KeyTable),
//!    so names are case-insensitive and arity is checked.
//! 2. **Group and batch**: the parts of one node form one pipeline, cut into batches of at most
//!    `limit` commands ([`resolve_batch_limit`]). No node ever has more than `limit` of them in
//!    flight: as it answers, more are written (a window of `limit` commands, so the node does
//!    not wait between batches); the nodes run at the same time, each at its own pace.
//! 3. **Send** through the cluster router, which re-sends only the parts that were redirected
//!    (MOVED, ASK) — nothing runs twice.
//! 4. **Merge** ([`merge`]): MGET values in key order, DEL/UNLINK/EXISTS/TOUCH summed, MSET `OK`
//!    only if every part said `OK`. When some parts fail (a node down), the command's result
//!    is [`PipelineError::PartialFailure`], which tells which keys failed and keeps what the
//!    other parts answered.
//!
//! [`Store::call`](crate::store::Store::call) and [`Store::pipeline`](crate::store::Store::pipeline)
//! use the batcher on a cluster; on a standalone or Sentinel store nothing is split.
//!
//! The plan and the merge are pure functions, tested against the shared vectors in
//! `tests/fixtures/split_plans.json`:
//!
//! ```
//! use slotshift::command::Cmd;
//! use slotshift::pipeline::{plan, CommandPlan};
//! use slotshift::slot::key_slot;
//!
//! // Two "nodes": slots below 8192 on node 0, the rest on node 1.
//! let locate = |slot: slotshift::Slot| Some(usize::from(slot.get() >= 8192));
//! let cmds = [Cmd::from_args(["MGET", "a", "b", "c"]), Cmd::from_args(["GET", "a"])];
//! let p = plan(&cmds, locate, 1000);
//! assert!(matches!(p.commands[0], CommandPlan::Split { .. }));
//! assert_eq!(p.parts.len(), 4); // a, b, c are in three slots; GET a is one part
//! assert!(p.groups.iter().all(|g| g.batches.iter().all(|b| b.len() <= 1000)));
//! # assert_ne!(key_slot(b"a"), key_slot(b"b"));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use crate::command::{Cmd, KeyTable};
use crate::reply::Reply;
use crate::slot::{key_slot, Slot};
use crate::Error;

pub mod compose;
pub(crate) mod exec;
mod limit;

pub use limit::{
    resolve_batch_limit, resolve_batch_limit_with, DEFAULT_BATCH_LIMIT, ENV_BATCH_LIMIT,
    GITLAB_ENV_BATCH_LIMIT, MAX_BATCH_LIMIT,
};

/// The user guide page, compiled so that its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/pipeline.md")]
pub struct UserGuide;

/// Errors of the batcher.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The batch limit is not a positive integer of sensible size.
    #[error("{source_name}: batch limit '{value}' {reason}")]
    InvalidBatchLimit {
        /// Where the value came from: the environment variable's name, or `batch_limit option`.
        source_name: String,
        /// The value as given (shortened).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A command whose keys span slots and whose meaning a split would change, and which is
    /// not served in rounds ([`compose`]): MSETNX, EVAL, blocking commands …. Nothing of it
    /// was sent.
    #[error("{command}: its keys hash to {slots} different slots and it cannot be split without changing its meaning; nothing was sent (use a hash tag such as {{user:1}} to keep the keys in one slot)")]
    CannotSplit {
        /// The command (`MSETNX`).
        command: String,
        /// How many slots its keys hash to.
        slots: usize,
    },
    /// Some parts of a split command failed; the others were applied. The value tells which.
    #[error(transparent)]
    PartialFailure(Box<PartialFailure>),
    /// A part came back without a reply (the transport lost it); what it did is unknown.
    #[error("a part of the pipeline came back without a reply; its outcome is unknown")]
    NoReply,
}

/// How the parts of a split command are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Merge {
    /// MGET: one value per key, in the caller's key order.
    Values,
    /// DEL, UNLINK, EXISTS, TOUCH: the integer replies summed.
    Sum,
    /// MSET: `OK` if every part said `OK`.
    AllOk,
}

impl Merge {
    /// How `cmd` is merged if split, and how many arguments one key item takes (MSET: key and
    /// value); `None` for a command that cannot be split.
    pub fn of(canonical_name: &str) -> Option<(Merge, usize)> {
        Some(match canonical_name {
            "mget" => (Merge::Values, 1),
            "del" | "unlink" | "exists" | "touch" => (Merge::Sum, 1),
            "mset" => (Merge::AllOk, 2),
            _ => return None,
        })
    }
}

/// One sub-command of a plan.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Part<N> {
    /// The caller's command this part belongs to (its index).
    pub command: usize,
    /// The slot of the part's keys (`None` for a keyless command or one whose keys could not
    /// be told, which any master may serve).
    pub slot: Option<Slot>,
    /// The node the slot belongs to, as the locator said (`None`: the router decides).
    pub node: Option<N>,
    /// The sub-command; `None` when the part is the caller's command unchanged.
    pub cmd: Option<Cmd>,
    /// For a split command: the positions of this part's keys among the command's keys.
    pub key_positions: Vec<usize>,
    /// Whether the command only reads (the command table's `readonly` flag; false for a
    /// command the table does not know): it may go to a replica, and be sent again.
    pub readonly: bool,
}

impl<N> Part<N> {
    /// The command this part sends.
    pub fn cmd<'a>(&'a self, cmds: &'a [Cmd]) -> &'a Cmd {
        match &self.cmd {
            Some(c) => c,
            None => &cmds[self.command],
        }
    }
}

/// What happens to one of the caller's commands.
#[derive(Debug)]
#[non_exhaustive]
pub enum CommandPlan {
    /// Sent as it is, as one part.
    Whole {
        /// The part.
        part: usize,
    },
    /// Split into one part per slot.
    Split {
        /// How the replies are merged.
        merge: Merge,
        /// The parts, in order of their first key.
        parts: Vec<usize>,
        /// Number of keys of the command.
        keys: usize,
        /// The command's name as the user types it (`MGET`).
        name: String,
    },
    /// Not sent.
    Refused(PipelineError),
}

/// The parts one node serves, cut into batches.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeBatches<N> {
    /// The node (`None`: parts the router places, keyless commands).
    pub node: Option<N>,
    /// Part indices, in batches of at most the limit, in the caller's order.
    pub batches: Vec<Vec<usize>>,
}

/// A split plan: the parts, what each caller's command became, and each node's batches.
#[derive(Debug)]
#[non_exhaustive]
pub struct Plan<N> {
    /// Every sub-command, in order of the caller's commands and, within a split command, of
    /// the first key of each slot.
    pub parts: Vec<Part<N>>,
    /// One entry per caller's command.
    pub commands: Vec<CommandPlan>,
    /// One entry per node, in order of first appearance.
    pub groups: Vec<NodeBatches<N>>,
}

impl<N> Plan<N> {
    /// The number of rounds: the most batches any node has.
    pub fn rounds(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.batches.len())
            .max()
            .unwrap_or(0)
    }

    /// Whether any command was split or refused (otherwise every command is one part).
    pub fn is_trivial(&self) -> bool {
        self.commands
            .iter()
            .all(|c| matches!(c, CommandPlan::Whole { .. }))
    }
}

/// Does `cmd` need the batcher on a cluster: are its keys in more than one slot (to be split,
/// or refused when it cannot be)? Cheap for commands with fewer than two arguments.
pub fn needs_split(cmd: &Cmd) -> bool {
    cmd.len() >= 3
        && KeyTable::builtin()
            .lookup(cmd)
            .is_ok_and(|info| needs_split_of(info, cmd))
}

/// [`needs_split`] of a command already looked up in the key table (`info` is its entry).
pub fn needs_split_of(info: &crate::command::CommandInfo, cmd: &Cmd) -> bool {
    if cmd.len() < 3 {
        return false;
    }
    let Ok(keys) = crate::command::key_indices_for(info, cmd) else {
        return false;
    };
    if keys.len() < 2 {
        return false;
    }
    let mut it = keys.iter().filter_map(|&i| cmd.get(i)).map(key_slot);
    match it.next() {
        Some(first) => it.any(|s| s != first),
        None => false,
    }
}

/// An empty entry of `plan`'s slot table.
const ABSENT: u32 = u32::MAX;

/// Up to this many nodes, `plan` finds a part's node group by comparison rather than hashing.
const FEW_NODES: usize = 8;

/// Plans `cmds`: splits what spans slots, groups the parts per node (`locate` gives a slot's
/// node), and cuts each node's parts into batches of at most `limit` (a `limit` of 0 is taken
/// as 1).
pub fn plan<N, F>(cmds: &[Cmd], mut locate: F, limit: usize) -> Plan<N>
where
    N: Clone + Eq + Hash,
    F: FnMut(Slot) -> Option<N>,
{
    let limit = limit.max(1);
    let table = KeyTable::builtin();
    let mut parts: Vec<Part<N>> = Vec::with_capacity(cmds.len());
    let mut commands = Vec::with_capacity(cmds.len());
    // Slot → position in `slots`, for commands of more than one slot: one dense table for the
    // whole plan (made at the first such command), each command's entries cleared after it.
    let mut index: Vec<u32> = Vec::new();
    for (ci, cmd) in cmds.iter().enumerate() {
        let (info, keys) = match table.lookup(cmd) {
            Ok(info) => match crate::command::slot_indices_for(info, cmd) {
                Ok(idx) => (Some(info), idx),
                Err(_) => (Some(info), Default::default()),
            },
            Err(_) => (None, Default::default()),
        };
        let readonly = info.is_some_and(|i| i.flags().is_readonly());
        // Most commands name one slot (or none): told without allocating.
        let mut single: Option<Slot> = None;
        let mut one_slot = true;
        for key in keys.iter().filter_map(|&arg| cmd.get(arg)) {
            let slot = key_slot(key);
            match single {
                None => single = Some(slot),
                Some(first) if first == slot => {}
                Some(_) => {
                    one_slot = false;
                    break;
                }
            }
        }
        if one_slot {
            let slot = single.or_else(|| crate::route::slot_argument(cmd));
            commands.push(CommandPlan::Whole { part: parts.len() });
            parts.push(Part {
                command: ci,
                slot,
                node: slot.and_then(&mut locate),
                cmd: None,
                key_positions: Vec::new(),
                readonly,
            });
            continue;
        }
        // Slots in order of first appearance, each with the positions of its keys.
        let mut slots: Vec<(Slot, Vec<usize>)> = Vec::new();
        for (pos, &arg) in keys.iter().enumerate() {
            let Some(key) = cmd.get(arg) else { continue };
            let slot = key_slot(key);
            if let Some(last) = slots.last_mut() {
                if last.0 == slot {
                    last.1.push(pos);
                    continue;
                }
            }
            if slots.is_empty() {
                slots.push((slot, vec![pos]));
                continue;
            }
            // A second slot: from here on, the table finds each slot's entry.
            if index.is_empty() {
                index = vec![ABSENT; usize::from(crate::slot::SLOT_COUNT)];
            }
            if slots.len() == 1 {
                index[usize::from(slots[0].0.get())] = 0;
            }
            match index[usize::from(slot.get())] {
                ABSENT => {
                    index[usize::from(slot.get())] = slots.len() as u32;
                    slots.push((slot, vec![pos]));
                }
                at => slots[at as usize].1.push(pos),
            }
        }
        for (slot, _) in &slots {
            index[usize::from(slot.get())] = ABSENT;
        }
        let display = info
            .map(|i| i.display_name())
            .unwrap_or_else(|| String::from_utf8_lossy(cmd.name()).to_ascii_uppercase());
        let Some((merge, width)) = info.and_then(|i| Merge::of(i.name())) else {
            commands.push(CommandPlan::Refused(PipelineError::CannotSplit {
                command: display,
                slots: slots.len(),
            }));
            continue;
        };
        let mut part_ids = Vec::with_capacity(slots.len());
        for (slot, positions) in slots {
            let mut sub = Cmd::new(cmd.name());
            for &pos in &positions {
                let first = keys[pos];
                for a in first..first + width {
                    if let Some(arg) = cmd.get(a) {
                        sub.arg(arg);
                    }
                }
            }
            part_ids.push(parts.len());
            parts.push(Part {
                command: ci,
                slot: Some(slot),
                node: locate(slot),
                cmd: Some(sub),
                key_positions: positions,
                readonly,
            });
        }
        commands.push(CommandPlan::Split {
            merge,
            parts: part_ids,
            keys: keys.len(),
            name: display,
        });
    }

    let mut groups: Vec<NodeBatches<N>> = Vec::new();
    // Few nodes: found by comparison; a map only once there are many.
    let mut group_of: HashMap<Option<N>, usize> = HashMap::new();
    for (pi, part) in parts.iter().enumerate() {
        let found = if groups.len() <= FEW_NODES {
            groups.iter().position(|g| g.node == part.node)
        } else {
            if group_of.is_empty() {
                group_of.extend(groups.iter().enumerate().map(|(i, g)| (g.node.clone(), i)));
            }
            group_of.get(&part.node).copied()
        };
        let g = match found {
            Some(g) => g,
            None => {
                if !group_of.is_empty() {
                    group_of.insert(part.node.clone(), groups.len());
                }
                groups.push(NodeBatches {
                    node: part.node.clone(),
                    batches: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let batches = &mut groups[g].batches;
        match batches.last_mut() {
            Some(b) if b.len() < limit => b.push(pi),
            _ => batches.push(vec![pi]),
        }
    }
    Plan {
        parts,
        commands,
        groups,
    }
}

/// One part of a split command that partly failed, with its result.
#[derive(Debug)]
#[non_exhaustive]
pub struct PartOutcome {
    /// The part's slot.
    pub slot: Slot,
    /// The part's keys.
    pub keys: Vec<Vec<u8>>,
    /// Their positions among the command's keys.
    pub key_positions: Vec<usize>,
    /// What the part got.
    pub result: Result<Reply, Error>,
}

/// A split command of which some parts failed: which keys, and what the rest answered.
///
/// MSET is not atomic across slots: the keys of the parts that succeeded **were** written.
///
/// `Debug` is short (counts and the first failed parts, no keys): a split MGET can have
/// thousands of parts.
#[non_exhaustive]
pub struct PartialFailure {
    /// The command (`MGET`).
    pub command: String,
    /// How the parts would have been merged.
    pub merge: Merge,
    /// Number of keys of the command.
    pub key_count: usize,
    /// Every part, failed or not, in plan order.
    pub parts: Vec<PartOutcome>,
}

impl PartialFailure {
    /// The parts that failed.
    pub fn failed_parts(&self) -> impl Iterator<Item = &PartOutcome> {
        self.parts.iter().filter(|p| p.result.is_err())
    }

    /// The keys whose part failed, in the caller's key order.
    pub fn failed_keys(&self) -> Vec<&[u8]> {
        let mut keys: Vec<(usize, &[u8])> = self
            .failed_parts()
            .flat_map(|p| {
                p.key_positions
                    .iter()
                    .copied()
                    .zip(p.keys.iter().map(|k| &k[..]))
            })
            .collect();
        keys.sort_by_key(|(pos, _)| *pos);
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// One result per key, in the caller's key order: for MGET the key's value, for the other
    /// commands the whole part's reply; `Err` with the part's error where it failed.
    pub fn per_key(&self) -> Vec<Result<&Reply, &Error>> {
        let mut out: Vec<Option<Result<&Reply, &Error>>> = vec![None; self.key_count];
        for p in &self.parts {
            for (j, &pos) in p.key_positions.iter().enumerate() {
                let r = match &p.result {
                    Ok(Reply::Array(items)) if self.merge == Merge::Values => {
                        items.get(j).map_or(Ok(&Reply::Nil), Ok)
                    }
                    Ok(r) => Ok(r),
                    Err(e) => Err(e),
                };
                if let Some(slot) = out.get_mut(pos) {
                    *slot = Some(r);
                }
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or(Ok(&Reply::Nil)))
            .collect()
    }

    /// The sum of the integer replies of the parts that succeeded (DEL, UNLINK, EXISTS, TOUCH:
    /// how many keys were removed / exist / were touched among the keys that were reached).
    pub fn partial_sum(&self) -> i64 {
        self.parts
            .iter()
            .filter_map(|p| p.result.as_ref().ok().and_then(Reply::as_int))
            .sum()
    }
}

impl fmt::Display for PartialFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed: Vec<&PartOutcome> = self.failed_parts().collect();
        let failed_keys: usize = failed.iter().map(|p| p.keys.len()).sum();
        write!(
            f,
            "{}: {} of {} parts failed ({} of {} keys); the other parts were applied",
            self.command,
            failed.len(),
            self.parts.len(),
            failed_keys,
            self.key_count
        )?;
        if let Some(Err(e)) = failed.first().map(|p| &p.result) {
            write!(f, "; first failure (slot {}): {e}", failed[0].slot)?;
        }
        Ok(())
    }
}

impl std::error::Error for PartialFailure {}

impl fmt::Debug for PartialFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed: Vec<(Slot, usize, String)> = self
            .failed_parts()
            .take(5)
            .map(|p| {
                let e = p
                    .result
                    .as_ref()
                    .err()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                (p.slot, p.keys.len(), e)
            })
            .collect();
        f.debug_struct("PartialFailure")
            .field("command", &self.command)
            .field("merge", &self.merge)
            .field("key_count", &self.key_count)
            .field("parts", &self.parts.len())
            .field("failed_parts", &self.failed_parts().count())
            .field("first_failed (slot, keys, error)", &failed)
            .finish()
    }
}

/// Merges the parts' results (one per part of `plan`, in plan order) into one result per
/// caller's command.
pub fn merge<N>(
    plan: Plan<N>,
    cmds: &[Cmd],
    results: Vec<Result<Reply, Error>>,
) -> Vec<Result<Reply, Error>> {
    let mut results: Vec<Option<Result<Reply, Error>>> = results.into_iter().map(Some).collect();
    let parts = plan.parts;
    let mut take = |i: usize| {
        results
            .get_mut(i)
            .and_then(Option::take)
            .unwrap_or_else(|| Err(Error::Pipeline(PipelineError::NoReply)))
    };
    plan.commands
        .into_iter()
        .map(|c| match c {
            CommandPlan::Whole { part } => take(part),
            CommandPlan::Refused(e) => Err(Error::Pipeline(e)),
            CommandPlan::Split {
                merge,
                parts: ids,
                keys,
                name,
            } => {
                let got: Vec<(usize, Result<Reply, Error>)> = ids
                    .iter()
                    .map(|&i| (i, check(merge, &parts[i], take(i))))
                    .collect();
                if got.iter().all(|(_, r)| r.is_ok()) {
                    return Ok(combine(merge, &parts, keys, got));
                }
                let width = if merge == Merge::AllOk { 2 } else { 1 };
                let outcomes = got
                    .into_iter()
                    .map(|(i, result)| {
                        let p = &parts[i];
                        PartOutcome {
                            slot: p.slot.unwrap_or(Slot::MIN),
                            keys: p
                                .cmd(cmds)
                                .args()
                                .skip(1)
                                .step_by(width)
                                .map(<[u8]>::to_vec)
                                .collect(),
                            key_positions: p.key_positions.clone(),
                            result,
                        }
                    })
                    .collect();
                Err(Error::Pipeline(PipelineError::PartialFailure(Box::new(
                    PartialFailure {
                        command: name,
                        merge,
                        key_count: keys,
                        parts: outcomes,
                    },
                ))))
            }
        })
        .collect()
}

/// A part's reply in the shape its merge expects, or an error saying what came instead.
fn check<N>(merge: Merge, part: &Part<N>, r: Result<Reply, Error>) -> Result<Reply, Error> {
    let reply = r?;
    let ok = match (merge, &reply) {
        (Merge::Values, Reply::Array(items)) => items.len() == part.key_positions.len(),
        (Merge::Sum, Reply::Int(_)) => true,
        (Merge::AllOk, Reply::Status(s)) => s == "OK",
        _ => false,
    };
    if ok {
        Ok(reply)
    } else {
        Err(Error::Server(crate::reply::ServerError::new(
            "ERR",
            format!("slotshift: unexpected reply to a split part: {reply:?}"),
        )))
    }
}

fn combine<N>(
    merge: Merge,
    parts: &[Part<N>],
    keys: usize,
    got: Vec<(usize, Result<Reply, Error>)>,
) -> Reply {
    match merge {
        Merge::Values => {
            let mut values = vec![Reply::Nil; keys];
            for (i, r) in got {
                if let Ok(Reply::Array(items)) = r {
                    for (pos, v) in parts[i].key_positions.iter().zip(items) {
                        if let Some(slot) = values.get_mut(*pos) {
                            *slot = v;
                        }
                    }
                }
            }
            Reply::Array(values)
        }
        Merge::Sum => Reply::Int(
            got.iter()
                .filter_map(|(_, r)| r.as_ref().ok().and_then(Reply::as_int))
                .sum(),
        ),
        Merge::AllOk => Reply::Status("OK".to_owned()),
    }
}
