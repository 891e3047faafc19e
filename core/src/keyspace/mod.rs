//! The one keyspace walk that the analyzer, diff and migrate share.
//!
//! # Standalone and Sentinel
//!
//! `SCAN` on the master with a bounded `COUNT`, `MATCH` and `TYPE` passed to the server, the
//! cursor saved per master. `SCAN` returns every key present for the whole walk at least once;
//! a key may come back twice only if the server's table shrinks meanwhile (keys are
//! de-duplicated within a batch).
//!
//! # Cluster: slot by slot
//!
//! A per-master `SCAN` cannot tell a key that moved to another master from one it has not
//! reached, so a cluster is walked **per hash slot**. Each master's producer takes the slots the
//! master owned when the walk started (`CLUSTER SHARDS` view of the store) and, for a chunk of
//! slots at a time:
//!
//! 1. asks `CLUSTER COUNTKEYSINSLOT` for each slot;
//! 2. lists each slot holding at most [`SLOT_BOUND`] keys with `CLUSTER GETKEYSINSLOT slot
//!    SLOT_BOUND+1` (a bounded reply: never the whole slot of an unknown size; a listing longer
//!    than the bound — keys written since the count — makes the slot *hot*);
//! 3. asks the same node `CLUSTER NODES` before and after the listings, and decides per slot:
//!    - **stable** on that node both times: keys leave a slot only through a migration, so
//!      the listing was the whole slot;
//!    - **back**: not the node's before, stable after (the slot left and came back, or was
//!      being assigned): listed again with the next chunk;
//!    - **migrating to T**: keys only move source → target while a slot migrates, so a key not
//!      in the source's listing was already on T; T is listed too and the two listings are
//!      de-duplicated (a set of that one slot's keys);
//!    - **owned elsewhere** (the migration finished): the owner is listed, de-duplicated
//!      against what was already listed, and asked again;
//!    - **unowned**: listed and asked again after 100 ms (a bounded number of times, then
//!      [`WalkError::SlotUnstable`]); a chain of nodes that points back to a node already
//!      listed (views that disagree while a move completes) is followed after the same pause.
//!
//! **Hot slots** (more keys than [`SLOT_BOUND`], e.g. one hash tag holding 200,000 keys):
//! `GETKEYSINSLOT` cannot page, so after the master's ordinary slots the producer runs **one**
//! `SCAN` pass over that master (bounded `COUNT`, so every command stays short) keeping only
//! keys of its hot slots. Each hot slot keeps a set of 128-bit digests of the keys already
//! walked (16 bytes per key of that slot only). When the pass ends, the node is asked about each
//! hot slot as above: stable — done; migrating to T or moved to T — a `SCAN` pass over T for that
//! slot, skipping digests already seen (so a key that moved meanwhile is walked once: it was
//! either seen on the first node, or it had moved to T before the pass reached it and is found
//! on T).
//!
//! **Guarantee** for a cluster that reshards during the walk: every key present for the whole
//! walk is walked **exactly once** (in the hot-slot path, up to a 2⁻¹²⁸ digest collision),
//! whatever slots move between whichever masters, as long as a slot does not move more than
//! [`SLOT_ATTEMPTS`] times while it is being walked. Keys written or deleted during the walk
//! may or may not be walked (any online walk is so; re-check rounds and dual writes cover
//! them).
//!
//! A slot that leaves its master and comes back to it entirely within one chunk's listing
//! (two complete migrations between the two `CLUSTER NODES`) looks stable both times. Such a
//! return is an import, which raises the master's config epoch (a node that gave a slot away
//! never holds the highest epoch), so a chunk whose master's epoch changed is not trusted: its
//! stable slots are listed again one at a time (at most [`EPOCH_RELISTS`] times each).
//!
//! What is not covered:
//! - a slot that goes and comes back faster than gossip tells its master the epoch of the node
//!   it went to (the master then believes it still holds the highest epoch and does not raise
//!   it). Seen only with a test resharder moving 1,000+ slots a second round three masters;
//!   resharding tools move a few a second;
//! - the same return on a node reached while following a moved slot (the settle path checks
//!   ownership, not epochs);
//! - a slot whose migration is *aborted* (`SETSLOT STABLE`) after some keys moved leaves those
//!   keys on a node that does not own the slot; the cluster itself reports them as an open
//!   slot (`redis-cli --cluster check`).
//!
//! # Checkpoints
//!
//! [`Positions`] is what a checkpoint stores: a `SCAN` cursor per master (standalone), or the
//! bitmap of finished slots plus the cursor of each hot-slot pass in progress (cluster). A
//! position only moves past a batch once that batch and every batch before it are committed.
//! A resume in the middle of a hot pass continues its `SCAN` from the saved cursor; the digests
//! of keys seen before are not saved, so if that slot also moves before the pass ends, keys
//! walked before the checkpoint may be walked again after it (at least once, not exactly once).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::cluster::NodeAddr;
use crate::command::Cmd;
use crate::reply::Reply;
use crate::store::Store;
use crate::{Error, Result};

mod drive;
mod iter;
mod list;
mod scan;
mod slots;
mod view;

pub(crate) use drive::{walk, Snapshot, WalkOptions};
pub use iter::{Scan, ScanOptions};

/// At most this many keys are listed by one `CLUSTER GETKEYSINSLOT`; a slot holding more is
/// walked by a bounded `SCAN` pass over its master instead.
pub const SLOT_BOUND: usize = 5000;
/// How often a slot whose owner changes is followed before the walk gives up on it.
pub const SLOT_ATTEMPTS: usize = 10;
/// How often a slot is listed again because its master's config epoch changed during the
/// listing (it may have left and come back) before the walk gives up on it. Larger than
/// [`SLOT_ATTEMPTS`]: under steady resharding a master imports slots often, and each re-listing
/// of a slot is one short command.
pub const EPOCH_RELISTS: usize = 100;

/// Walk errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalkError {
    /// A slot whose owner kept changing while it was being walked.
    #[error("slot {slot}: owner still changing after {attempts} attempts")]
    SlotUnstable {
        /// The slot.
        slot: u16,
        /// Attempts made.
        attempts: usize,
    },
    /// A reply of the wrong shape.
    #[error("{node}: unexpected reply to {command}: {reply}")]
    UnexpectedReply {
        /// The node.
        node: String,
        /// The command (name only).
        command: &'static str,
        /// What came back (shape only, never a key).
        reply: String,
    },
    /// Saved positions that do not fit the store being walked.
    #[error("cannot resume the walk: {reason}")]
    Resume {
        /// Why.
        reason: String,
    },
}

/// Turns a [`WalkError`] into the caller's error family (analyzer, migrate).
pub(crate) type ErrorMap = fn(WalkError) -> Error;

/// The shape of a reply, for errors (never its content: it may hold keys).
pub(crate) fn shape(reply: &Reply) -> String {
    match reply {
        Reply::Nil => "nil".to_owned(),
        Reply::Int(i) => format!("integer {i}"),
        Reply::Bulk(b) => format!("bulk string of {} bytes", b.len()),
        Reply::Status(s) => format!("status {s:?}"),
        Reply::Array(a) => format!("array of {}", a.len()),
        Reply::Error(e) => format!("error {}", e.code()),
        _ => "another reply type".to_owned(),
    }
}

pub(crate) fn unexpected(node: &NodeAddr, command: &'static str, reply: &Reply) -> WalkError {
    WalkError::UnexpectedReply {
        node: node.to_string(),
        command,
        reply: shape(reply),
    }
}

/// The key types a walk can filter on (`SCAN … TYPE`, `TYPE`'s replies for the core types).
pub const KEY_TYPES: [&str; 6] = ["string", "list", "set", "zset", "hash", "stream"];

/// Checks a type filter given by a user: one of [`KEY_TYPES`] (lower case, as the server
/// names them). Anything else would make `SCAN … TYPE` silently match nothing; the error
/// says why and lists the names.
pub(crate) fn check_key_type(t: &str) -> std::result::Result<(), String> {
    if KEY_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(format!("not a key type (one of {})", KEY_TYPES.join(", ")))
    }
}

/// Which keys a walk hands out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    /// Redis glob (`SCAN … MATCH` on a server; applied in the client to slot listings).
    pub pattern: Option<Vec<u8>>,
    /// `SCAN … TYPE`.
    pub key_type: Option<String>,
    /// Only keys whose slot is in this inclusive range.
    pub slots: Option<(u16, u16)>,
    /// Check `key_type` with `TYPE` where the listing cannot (slot listings). False when the
    /// caller checks the type itself (the analyzer's probe does).
    pub check_type: bool,
    /// Leave out keys that start with this (the records of a shared job kept on the store
    /// being walked).
    pub skip_prefix: Option<Vec<u8>>,
}

impl Filter {
    pub(crate) fn skips(&self, key: &[u8]) -> bool {
        self.skip_prefix
            .as_ref()
            .is_some_and(|p| key.starts_with(p))
    }

    pub(crate) fn keeps_slot(&self, slot: u16) -> bool {
        self.slots.is_none_or(|(a, b)| a <= slot && slot <= b)
    }

    pub(crate) fn keeps_key(&self, key: &[u8]) -> bool {
        self.keeps_slot(crate::slot::key_slot(key).get()) && !self.skips(key)
    }
}

/// Where one master's `SCAN` stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterCursor {
    /// `host:port`.
    pub node: String,
    /// The next cursor to send (every key before it has been handled).
    pub cursor: String,
    /// The scan of this master is finished.
    pub done: bool,
}

/// A `SCAN` pass over one node for hot slots, in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotCursor {
    /// `host:port` of the node scanned.
    pub node: String,
    /// The hot slots this pass keeps keys of.
    pub slots: Vec<u16>,
    /// The next cursor to send.
    pub cursor: String,
    /// The `SCAN` came back to 0; what is left is asking where the slots are now.
    pub scanned: bool,
}

/// Where a walk stands: what a checkpoint saves and a resume starts from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Positions {
    /// Standalone or Sentinel: one `SCAN` cursor per master.
    pub masters: Vec<MasterCursor>,
    /// Cluster: finished slots, 16384 bits as 256 words (empty: none, or not a cluster).
    pub slots_done: Vec<u64>,
    /// Cluster: hot-slot passes in progress.
    pub hot: Vec<HotCursor>,
}

impl Positions {
    /// Is `slot` finished?
    pub fn slot_done(&self, slot: u16) -> bool {
        self.slots_done
            .get(usize::from(slot / 64))
            .is_some_and(|w| w & (1u64 << (slot % 64)) != 0)
    }

    /// Marks `slot` finished.
    pub fn mark_slot(&mut self, slot: u16) {
        if self.slots_done.len() < 256 {
            self.slots_done.resize(256, 0);
        }
        if let Some(w) = self.slots_done.get_mut(usize::from(slot / 64)) {
            *w |= 1u64 << (slot % 64);
        }
    }

    /// Nothing walked yet.
    pub fn is_empty(&self) -> bool {
        self.masters.is_empty() && self.hot.is_empty() && self.slots_done.iter().all(|w| *w == 0)
    }
}

/// How a committed batch moves the positions.
#[derive(Debug, Clone)]
pub(crate) enum Update {
    /// Master `idx`'s cursor.
    Master { idx: usize, cursor: String },
    /// Slots finished (and their hot passes, if any, removed).
    Slots(Vec<u16>),
    /// A hot pass moved (inserted if new, keyed by its first slot).
    Hot(HotCursor),
    /// The hot pass keyed by this first slot is over (its slots went on elsewhere).
    DropHot(u16),
    /// Several updates, in order.
    Many(Vec<Update>),
}

impl Positions {
    pub(crate) fn apply(&mut self, u: Update) {
        match u {
            Update::Master { idx, cursor } => {
                if let Some(m) = self.masters.get_mut(idx) {
                    m.done = cursor == "0";
                    m.cursor = cursor;
                }
            }
            Update::Slots(slots) => {
                for &s in &slots {
                    self.mark_slot(s);
                }
                self.hot
                    .retain(|h| !h.slots.iter().any(|s| slots.contains(s)));
            }
            Update::Hot(h) => match self
                .hot
                .iter_mut()
                .find(|x| x.slots.first() == h.slots.first())
            {
                Some(x) => *x = h,
                None => self.hot.push(h),
            },
            Update::DropHot(first) => self.hot.retain(|h| h.slots.first() != Some(&first)),
            Update::Many(list) => {
                for u in list {
                    self.apply(u);
                }
            }
        }
    }
}

/// One batch of keys and how committing it moves the positions.
#[derive(Debug)]
pub(crate) struct Page {
    pub keys: Vec<Vec<u8>>,
    pub update: Option<Update>,
}

/// Removes repeated keys from `keys`, keeping the first of each.
pub(crate) fn dedup(keys: &mut Vec<Vec<u8>>) {
    let mut seen = HashSet::with_capacity(keys.len());
    keys.retain(|k| seen.insert(k.clone()));
}

/// The sum of `DBSIZE` over the store's masters.
pub(crate) fn dbsize(store: &Store, map: ErrorMap) -> Result<u64> {
    let mut total = 0u64;
    for m in store.masters()? {
        let r = store.call_on(&m, &Cmd::new("DBSIZE"))?;
        match r {
            Reply::Int(n) => total += u64::try_from(n).unwrap_or(0),
            Reply::Error(e) => return Err(Error::Server(e)),
            other => return Err(map(unexpected(&m, "DBSIZE", &other))),
        }
    }
    Ok(total)
}

/// A key as text: printable ASCII as is, other bytes as `\xNN`, `"` and `\` escaped. Used
/// wherever a raw key is shown (reports with shown keys, mismatch lists, errors about a key).
pub fn escape_key(key: &[u8]) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_move() {
        let mut p = Positions::default();
        assert!(p.is_empty());
        p.apply(Update::Hot(HotCursor {
            node: "h:1".into(),
            slots: vec![7, 9],
            cursor: "12".into(),
            scanned: false,
        }));
        p.apply(Update::Slots(vec![0, 16383]));
        assert!(p.slot_done(0) && p.slot_done(16383) && !p.slot_done(7));
        assert_eq!(p.hot.len(), 1);
        p.apply(Update::Slots(vec![7, 9]));
        assert!(p.hot.is_empty() && p.slot_done(9));
    }

    #[test]
    fn keys_are_escaped() {
        assert_eq!(escape_key(b"a:b"), "a:b");
        assert_eq!(escape_key(b"a\"\\\n\xff"), "a\\\"\\\\\\x0a\\xff");
    }
}
