//! Diff and migrate: compare two deployments key by key, and copy what is missing or different.
//!
//! Both work between any two stores — standalone, Sentinel or cluster, in any combination —
//! and are built from the same pieces:
//!
//! - **the keyspace walk** ([`crate::keyspace`]): `SCAN` on every master of a standalone or
//!   Sentinel store, slot by slot on a cluster (`CLUSTER GETKEYSINSLOT` with a bounded count,
//!   both sides of a migrating slot, so a cluster that reshards meanwhile is walked once per
//!   key), batches handed to a few workers, a shared rate limit, a checkpoint of the positions
//!   that only moves past a batch once that batch is finished, cancellation. Memory is bounded
//!   by the batches in flight (and the largest slot's listing), never by the key count.
//! - **a type-aware comparison** ([`compare`]): per batch, `PTTL` / `MEMORY USAGE` (and
//!   `TYPE` outside full mode) pipelined on both stores at once; then `DUMP` on both for keys
//!   below the big-key size (equal payloads are equal values of one type); `TYPE` only for keys
//!   on one side, big keys and keys whose payloads differ; those, and big keys, are compared
//!   type by type in chunks (`GETRANGE`, `LRANGE`, `HSCAN`+`HMGET`, `SSCAN`+`SMISMEMBER`,
//!   `ZSCAN`+`ZMSCORE`, `XRANGE`), so a difference in encoding or DUMP version is not reported
//!   as a difference in value and a big key never sits whole in memory.
//! - **re-check rounds**: a key that differed is compared again after a pause, up to
//!   `rounds` times; only what still differs at the end is reported. Writes in flight during
//!   the pass converge away this way. A key that is missing on one side while the other side's
//!   copy is about to expire (TTL within the tolerance) is not a difference.
//!
//! [`diff`] compares both ways (keys missing on the destination, extra keys on the
//! destination, type, value, TTL beyond a tolerance) in one of three [`DiffMode`]s. Its
//! reverse pass lists the destination into a per-slot census of key names and checks keys on
//! the source only in the slots where that census differs from the forward pass's
//! (`census`); migrate's `delete_extra` pass does the same.
//! [`migrate`] copies with `DUMP` / `RESTORE … REPLACE` and the TTL as the source's `PTTL` less
//! the time elapsed since it was read (a monotonic clock: a skewed or stepped clock on the
//! migrating host changes nothing), falls
//! back to a type-by-type rewrite when the destination refuses the source's DUMP format,
//! verifies what it copied, re-copies keys that changed while being copied, and can end with a
//! full [`diff`].
//!
//! ```no_run
//! use slotshift::migrate::{diff, migrate, DiffOptions, MigrateOptions};
//! use slotshift::store::Store;
//!
//! let old = Store::open("redis://127.0.0.1:6379")?;
//! let new = Store::open("redis://127.0.0.1:7000")?; // any node of the cluster
//! let mut opts = MigrateOptions::default();
//! opts.rate = Some(100_000); // keys per second
//! let copied = migrate(&old, &new, &opts)?;
//! println!("{}", copied.to_text());
//! let report = diff(&old, &new, &DiffOptions::default())?;
//! assert_eq!(report.total_differences(), 0);
//! # Ok::<(), slotshift::Error>(())
//! ```

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::Result;

mod census;
mod checkpoint;
pub mod compare;
mod copy;
mod diff;
mod error;
mod report;
pub mod shared;
mod tally;

pub use copy::migrate;
pub use diff::diff;
pub use error::MigrateError;
pub use report::{DiffKind, DiffReport, MigrateReport, Mismatch, TypeCopied};
pub use shared::{analyze_shared, diff_shared, migrate_shared, SharedOptions};

/// How deeply [`diff`] compares two keys that exist on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiffMode {
    /// Type, TTL and the whole value (default).
    #[default]
    Full,
    /// Type, TTL and the length (`STRLEN`, `LLEN`, `HLEN`, `SCARD`, `ZCARD`, `XLEN`).
    Length,
    /// Type and TTL only: which keys exist where.
    Outline,
}

impl DiffMode {
    /// The mode's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            DiffMode::Full => "full",
            DiffMode::Length => "length",
            DiffMode::Outline => "outline",
        }
    }

    /// Parses `full`, `length` or `outline`.
    pub fn parse(s: &str) -> Result<DiffMode> {
        match s {
            "full" => Ok(DiffMode::Full),
            "length" => Ok(DiffMode::Length),
            "outline" => Ok(DiffMode::Outline),
            other => {
                Err(MigrateError::invalid("mode", other, "expected full, length or outline").into())
            }
        }
    }
}

/// What a progress callback sees, about five times a second and at the end of each stage.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Progress {
    /// `diff`, `reverse`, `reverse-check` (a diff's exact look at the slots where the
    /// destination's keys were not the ones the forward pass found), `copy`, `recheck` or
    /// `final-diff`.
    pub stage: &'static str,
    /// Keys scanned in this stage so far.
    pub keys: u64,
    /// Keys the scanned store holds (sum of `DBSIZE` over its masters, read at the start).
    pub total: u64,
    /// Differences found so far (before re-checks).
    pub differences: u64,
    /// Keys copied so far.
    pub copied: u64,
    /// Time spent in this stage.
    pub elapsed: Duration,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Which keys to look at: the `SCAN` filters and a slot range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyFilter {
    /// `MATCH` pattern (Redis glob).
    pub pattern: Option<String>,
    /// `TYPE` filter: `string`, `list`, `set`, `zset`, `hash`, `stream`.
    pub key_type: Option<String>,
    /// Only keys whose hash slot is in this inclusive range: one migration split across
    /// several machines, each taking a range.
    pub slots: Option<(u16, u16)>,
    /// Keys that start with this are left out: a shared job's own records, when its
    /// coordinator is one of the two stores.
    pub(crate) skip_prefix: Option<Vec<u8>>,
}

impl KeyFilter {
    /// Parses a slot range `A-B` (or a single slot `A`); both ends below 16384, `A <= B`.
    pub fn parse_slots(s: &str) -> Result<(u16, u16)> {
        let bad = |why: &str| MigrateError::invalid("slots", s, why);
        let (a, b) = match s.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (s.trim(), s.trim()),
        };
        let a: u16 = a
            .parse()
            .map_err(|_| bad("expected A-B with 0 <= A <= B <= 16383"))?;
        let b: u16 = b
            .parse()
            .map_err(|_| bad("expected A-B with 0 <= A <= B <= 16383"))?;
        if a > b || b >= 16384 {
            return Err(bad("expected A-B with 0 <= A <= B <= 16383").into());
        }
        Ok((a, b))
    }

    /// The walk's filter (the type is checked with `TYPE` where a slot listing cannot).
    pub(crate) fn walk_filter(&self) -> crate::keyspace::Filter {
        crate::keyspace::Filter {
            pattern: self.pattern.as_ref().map(|p| p.as_bytes().to_vec()),
            key_type: self.key_type.clone(),
            slots: self.slots,
            check_type: true,
            skip_prefix: self.skip_prefix.clone(),
        }
    }
}

/// Options of [`diff`]. Start from `DiffOptions::default()`.
#[derive(Clone)]
#[non_exhaustive]
pub struct DiffOptions {
    /// Full (default), length-only or outline.
    pub mode: DiffMode,
    /// Which keys.
    pub filter: KeyFilter,
    /// Also scan the destination for keys the source does not have. Default true.
    pub reverse: bool,
    /// TTLs that differ by at most this much are equal; a key missing on one side whose other
    /// copy expires within this much is not a difference. Default 1 s.
    pub ttl_tolerance: Duration,
    /// Compare TTLs at all. Default true.
    pub compare_ttl: bool,
    /// Re-check rounds for keys that differed. Default 3.
    pub rounds: u32,
    /// Pause before each re-check round. Default 500 ms.
    pub round_interval: Duration,
    /// Keys at or above this `MEMORY USAGE` are compared in chunks instead of by `DUMP`.
    /// Default 512 KiB.
    pub big_key_bytes: u64,
    /// Elements (or bytes for strings: ×1024) per chunk of a chunked compare. Default 1000.
    pub chunk: usize,
    /// `SCAN COUNT` and keys per batch. Default 500.
    pub batch: usize,
    /// Batches compared at once. Default 4.
    pub workers: usize,
    /// Keys per second, both passes together; `None`: no limit.
    pub rate: Option<u64>,
    /// Differences kept in memory for re-checking and for the report; more are counted but
    /// not re-checked (and reported as found). Default 100,000.
    pub max_pending: usize,
    /// Write the remaining differences here as JSON lines.
    pub mismatch_log: Option<PathBuf>,
    /// Mismatches listed in the report (all of them go to `mismatch_log`). Default 100.
    pub report_limit: usize,
    /// Save the scan position here (atomically) as the diff goes.
    pub checkpoint: Option<PathBuf>,
    /// Start from the checkpoint in `checkpoint`, if it exists.
    pub resume: bool,
    /// Called with progress.
    pub progress: Option<ProgressFn>,
    /// Set to stop early (the report then says `complete: false`).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for DiffOptions {
    fn default() -> DiffOptions {
        DiffOptions {
            mode: DiffMode::Full,
            filter: KeyFilter::default(),
            reverse: true,
            ttl_tolerance: Duration::from_secs(1),
            compare_ttl: true,
            rounds: 3,
            round_interval: Duration::from_millis(500),
            big_key_bytes: 512 * 1024,
            chunk: 1000,
            batch: 500,
            workers: 4,
            rate: None,
            max_pending: 100_000,
            mismatch_log: None,
            report_limit: 100,
            checkpoint: None,
            resume: false,
            progress: None,
            cancel: None,
        }
    }
}

impl std::fmt::Debug for DiffOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiffOptions")
            .field("mode", &self.mode)
            .field("filter", &self.filter)
            .field("reverse", &self.reverse)
            .field("ttl_tolerance", &self.ttl_tolerance)
            .field("rounds", &self.rounds)
            .field("batch", &self.batch)
            .field("workers", &self.workers)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

/// How [`migrate`] writes a key on the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CopyMethod {
    /// `DUMP` / `RESTORE … REPLACE` with the relative TTL; when the destination refuses the payload's format
    /// (another major version), that key and every later one is rewritten type by type.
    #[default]
    Auto,
    /// Always `DUMP` / `RESTORE`; a refused payload is an error.
    Dump,
    /// Always type by type (`DEL` + `SET`/`RPUSH`/`HSET`/`SADD`/`ZADD`/`XADD` + `PEXPIRE`,
    /// in one transaction per key, chunked for big keys).
    Rewrite,
}

/// Options of [`migrate`]. Start from `MigrateOptions::default()`.
#[derive(Clone)]
#[non_exhaustive]
pub struct MigrateOptions {
    /// Which keys.
    pub filter: KeyFilter,
    /// DUMP/RESTORE, rewrite, or DUMP with rewrite fallback (default).
    pub method: CopyMethod,
    /// Compare each batch first and copy only what is missing or different (default true);
    /// false copies every scanned key (fastest into an empty destination).
    pub compare: bool,
    /// Compare each copied batch again right away; keys that changed meanwhile are re-copied
    /// in the re-check rounds. Default true.
    pub verify: bool,
    /// Delete destination keys that the source does not have: a reverse pass over the
    /// destination after the copy, and keys found extra before their copy. Default false.
    /// (A key this run copied that the source lost while it was being copied is deleted from
    /// the destination whatever this says: the copy brought back a key the application
    /// deleted.)
    pub delete_extra: bool,
    /// Write only keys the destination does not have; a key it has is left as it is
    /// (`RESTORE` without `REPLACE`, so the check and the write are one step on the
    /// destination). For a backfill under dual-write, where every key the application wrote
    /// since dual-write began is already on the destination and newer than what a copy would
    /// read: a copy in flight never writes an older value over it. Default false.
    pub missing_only: bool,
    /// Write nothing: report what would be copied.
    pub dry_run: bool,
    /// TTL tolerance, as in [`DiffOptions::ttl_tolerance`]. Default 1 s.
    pub ttl_tolerance: Duration,
    /// Re-check (and re-copy) rounds for keys that still differed after their copy. Default 3.
    pub rounds: u32,
    /// Pause before each re-check round. Default 200 ms.
    pub round_interval: Duration,
    /// `SCAN COUNT` and keys per batch. Default 500.
    pub batch: usize,
    /// Batches in flight at once; each batch is pipelined per destination node, so this is
    /// the concurrency per destination node. Default 4.
    pub workers: usize,
    /// Keys per second; `None`: no limit.
    pub rate: Option<u64>,
    /// Keys held for re-checking; more are left to the final diff. Default 100,000.
    pub max_pending: usize,
    /// End with a full [`diff`] both ways (with its own re-check rounds). Default true.
    pub final_diff: bool,
    /// Big-key size for the comparisons (see [`DiffOptions::big_key_bytes`]).
    pub big_key_bytes: u64,
    /// Save the scan position here (atomically) as the copy goes.
    pub checkpoint: Option<PathBuf>,
    /// Start from the checkpoint in `checkpoint`, if it exists.
    pub resume: bool,
    /// Write the final diff's remaining differences here as JSON lines.
    pub mismatch_log: Option<PathBuf>,
    /// Called with progress.
    pub progress: Option<ProgressFn>,
    /// Set to stop early (the report then says `complete: false`; the checkpoint is saved).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for MigrateOptions {
    fn default() -> MigrateOptions {
        MigrateOptions {
            filter: KeyFilter::default(),
            method: CopyMethod::Auto,
            compare: true,
            verify: true,
            delete_extra: false,
            missing_only: false,
            dry_run: false,
            ttl_tolerance: Duration::from_secs(1),
            rounds: 3,
            round_interval: Duration::from_millis(200),
            batch: 500,
            workers: 4,
            rate: None,
            max_pending: 100_000,
            final_diff: true,
            big_key_bytes: 512 * 1024,
            checkpoint: None,
            resume: false,
            mismatch_log: None,
            progress: None,
            cancel: None,
        }
    }
}

impl std::fmt::Debug for MigrateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateOptions")
            .field("filter", &self.filter)
            .field("method", &self.method)
            .field("compare", &self.compare)
            .field("verify", &self.verify)
            .field("missing_only", &self.missing_only)
            .field("dry_run", &self.dry_run)
            .field("batch", &self.batch)
            .field("workers", &self.workers)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

/// Refuses a source and destination that reach the same data (same masters' run ids and the
/// same database), and a destination master that is a read-only replica.
pub fn check_pair(source: &Store, destination: &Store) -> Result<()> {
    let src = source.server_id()?;
    let dst = destination.server_id()?;
    if src.db == dst.db && src.run_ids.iter().any(|r| dst.run_ids.contains(r)) {
        return Err(MigrateError::SameStore.into());
    }
    Ok(())
}

/// Refuses a destination whose masters answer `ROLE` as replicas (a read-only replica given
/// as the destination).
pub fn check_writable(destination: &Store) -> Result<()> {
    use crate::command::Cmd;
    use crate::reply::Reply;
    for node in destination.masters()? {
        let role = destination.call_on(&node, &Cmd::new("ROLE"))?;
        let first = match &role {
            Reply::Array(items) => items.first().and_then(|r| r.as_bytes()).map(<[u8]>::to_vec),
            _ => None,
        };
        if first.as_deref() == Some(b"slave") || first.as_deref() == Some(b"replica") {
            return Err(MigrateError::ReadOnlyDestination {
                node: node.to_string(),
            }
            .into());
        }
    }
    Ok(())
}
