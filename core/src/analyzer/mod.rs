//! The keyspace analyzer: what is in a deployment, by key pattern, without exposing a key.
//!
//! [`analyze`] walks every master of a deployment — the masters of a cluster in parallel, the
//! one master of a standalone or Sentinel deployment — and asks, pipelined, each key's `TYPE`,
//! `MEMORY USAGE` (with `SAMPLES` if given) and `PTTL`. Nothing needs `DEBUG` or `CONFIG`, so
//! it runs on managed services. Keys become patterns ([`pattern`], [`generalise`]), and the
//! [`Report`] has per pattern the key count, memory (sum, mean, max), type mix, TTL buckets,
//! shares of the total and the biggest keys — as keyed digests unless `show_keys`.
//!
//! ```no_run
//! use slotshift::analyzer::{analyze, AnalyzeOptions};
//! use slotshift::store::Store;
//!
//! let store = Store::open("redis://127.0.0.1:6379")?;
//! let mut opts = AnalyzeOptions::default();
//! opts.rate = Some(50_000); // keys per second, all masters together
//! let report = analyze(&store, &opts)?;
//! println!("{}", report.to_text());
//! std::fs::write("keyspace.html", report.to_html()).unwrap();
//! # Ok::<(), slotshift::Error>(())
//! ```
//!
//! # How a key is counted exactly once
//!
//! **Standalone and Sentinel**: `SCAN` with the saved cursor (COUNT, MATCH and TYPE passed to
//! the server). The next `SCAN` batch is fetched while the current one is being probed.
//! `SCAN` itself may return a key twice if the server's table shrinks during the scan; keys
//! are de-duplicated within a batch only (holding every key would break the memory bound).
//!
//! **Cluster**: a per-slot walk, because a per-master `SCAN` cannot tell a key that moved
//! from one it has not reached. Each master's worker takes the slots the master owned when the
//! scan started and, for a chunk of slots, lists each slot's keys with
//! `CLUSTER GETKEYSINSLOT` on that master, and only then asks the same master for
//! `CLUSTER NODES` (on the same connection, so after the listing):
//!
//! - the master still owns the slot and is not migrating it: keys leave a slot only through a
//!   migration, so the listing was the whole slot;
//! - the master is migrating the slot to T: the slot's keys are on the master or on T (keys
//!   only move source → target), so the slot is listed on T too, and the two lists are
//!   de-duplicated — a set of that one slot's keys, discarded after;
//! - the master no longer owns the slot: the walk moves to the owner named in `CLUSTER NODES`
//!   and starts the slot again (a bounded number of times).
//!
//! The per-key probes are routed by slot (MOVED and ASK followed), so a key that moves between
//! listing and probing is still measured where it is. A slot's keys are merged into the
//! aggregate, and the slot marked done, under one lock: a checkpoint never holds half a slot.
//! `MATCH` is applied in the client with Redis's own glob rules ([`glob`]); `TYPE` from the
//! probe. The memory bound on a cluster is therefore the patterns plus the largest slot's key
//! names (`GETKEYSINSLOT` cannot page).
//!
//! # Memory
//!
//! Aggregates are keyed by pattern, never by key; top-N lists are bounded; the generaliser is
//! bounded by its node budget; patterns are folded when they pass twice the limit and capped
//! at four times it (new ones then count under `<other>`). A report keeps at most
//! `max_patterns` rows.
//!
//! # Resume, rate, progress, cancellation
//!
//! With `checkpoint`, the cursors and the partial aggregate are written atomically every
//! `checkpoint_every` keys and when the scan stops (cancelled, failed or done); `resume` loads
//! them and goes on. The settings that shape the result must match, or the resume is refused
//! naming the setting. `rate` paces all masters together. `progress` is called about five
//! times a second from the calling thread. Setting `cancel` stops the workers after their
//! current batch; `analyze` then returns a report with `complete == false`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

mod aggregate;
mod checkpoint;
mod engine;
pub mod generalise;
pub mod pattern;
mod report;

/// Redis's glob dialect; lives in [`crate::glob`], kept here under its old path.
pub use crate::glob;

pub use aggregate::{TopKey, TTL_BUCKETS, TYPES};
pub use pattern::{load_rules, parse_rules, Labels, Normaliser, Rule};
pub use report::{human, Memory, PatternReport, Report, Scope, TtlBuckets};

use crate::store::Store;

/// The user guide page `docs/analyzer.md`, compiled so that its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/analyzer.md")]
pub struct UserGuide;

/// Progress of a running analysis.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProgressInfo {
    /// Keys analysed (resumed runs included).
    pub keys: u64,
    /// Keys in the deployment when the scan started (`DBSIZE` summed over masters).
    pub total: u64,
    /// Keys per second in this run.
    pub keys_per_sec: f64,
    /// Estimated time left (from `total`; with MATCH/TYPE an upper bound).
    pub eta: Option<Duration>,
    /// Wall time of this run.
    pub elapsed: Duration,
}

/// Receives progress updates (from the thread that called [`analyze`]).
pub trait Progress: Send + Sync {
    /// Called about five times a second, and once at the end.
    fn update(&self, info: &ProgressInfo);
}

impl<F: Fn(&ProgressInfo) + Send + Sync> Progress for F {
    fn update(&self, info: &ProgressInfo) {
        self(info)
    }
}

/// What to analyse and how. Start from `AnalyzeOptions::default()`.
#[derive(Clone)]
#[non_exhaustive]
pub struct AnalyzeOptions {
    /// `SCAN … COUNT`, and the keys probed per pipeline. Default 1000.
    pub count: usize,
    /// `SCAN … MATCH` (Redis glob).
    pub match_pattern: Option<Vec<u8>>,
    /// `SCAN … TYPE` (`string`, `hash`, …).
    pub key_type: Option<String>,
    /// Only keys whose hash slot is in this inclusive range (one analysis split between
    /// processes: [`crate::migrate::analyze_shared`]).
    pub slots: Option<(u16, u16)>,
    /// Keys that start with this are left out (a shared job's records on the analysed store).
    pub(crate) skip_prefix: Option<Vec<u8>>,
    /// `MEMORY USAGE … SAMPLES` (server default 5; 0 = every element).
    pub samples: Option<u32>,
    /// Keys per second, all masters together (must be > 0).
    pub rate: Option<u64>,
    /// User rules, applied before the built-in ones.
    pub rules: Vec<Rule>,
    /// Show raw keys in the report and the checkpoint. Default false (keyed digests).
    pub show_keys: bool,
    /// Biggest keys kept per pattern. Default 10.
    pub top: usize,
    /// Key for the digests of sample keys; the same key gives the same digests in two
    /// reports. Default: `SLOTSHIFT_DIGEST_KEY`, else a random key per run.
    pub digest_key: Option<String>,
    /// A position becomes `<*>` after this many distinct values under one prefix (0: never).
    /// Default 64.
    pub generalise_after: usize,
    /// Generaliser node budget. Default 50,000.
    pub generaliser_nodes: usize,
    /// Report rows at most (the smallest are merged into `<other>`). Default 10,000.
    pub max_patterns: usize,
    /// Checkpoint file.
    pub checkpoint: Option<PathBuf>,
    /// Continue from `checkpoint`.
    pub resume: bool,
    /// Keys between checkpoints. Default 100,000.
    pub checkpoint_every: u64,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
    /// Set to stop the analysis cleanly.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for AnalyzeOptions {
    fn default() -> AnalyzeOptions {
        AnalyzeOptions {
            count: 1000,
            match_pattern: None,
            key_type: None,
            slots: None,
            skip_prefix: None,
            samples: None,
            rate: None,
            rules: Vec::new(),
            show_keys: false,
            top: 10,
            digest_key: None,
            generalise_after: 64,
            generaliser_nodes: 50_000,
            max_patterns: 10_000,
            checkpoint: None,
            resume: false,
            checkpoint_every: 100_000,
            progress: None,
            cancel: None,
        }
    }
}

impl std::fmt::Debug for AnalyzeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyzeOptions")
            .field("count", &self.count)
            .field(
                "match_pattern",
                &self.match_pattern.as_deref().map(String::from_utf8_lossy),
            )
            .field("key_type", &self.key_type)
            .field("slots", &self.slots)
            .field("samples", &self.samples)
            .field("rate", &self.rate)
            .field("rules", &self.rules.len())
            .field("show_keys", &self.show_keys)
            .field("top", &self.top)
            .field("digest_key", &self.digest_key.as_ref().map(|_| "***"))
            .field("checkpoint", &self.checkpoint)
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

/// Analyzer errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzerError {
    /// An option value that cannot work.
    #[error("invalid {name} {value}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// A rule that does not compile.
    #[error("invalid rule {index} ({pattern:?}): {reason}")]
    Rule {
        /// Its position (1-based; 0 when built alone).
        index: usize,
        /// The regex.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// A rules file that cannot be read or parsed.
    #[error("rules file {path}: {reason}")]
    RuleFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A checkpoint that cannot be written or read.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A checkpoint made with other settings.
    #[error("checkpoint {path} was made with {setting} = {checkpoint:?}, this run has {now:?}; run without --resume to start over")]
    CheckpointMismatch {
        /// The file.
        path: String,
        /// The setting.
        setting: String,
        /// Its value in the checkpoint.
        checkpoint: String,
        /// Its value now.
        now: String,
    },
    /// The keyspace walk failed (a slot that kept moving, a malformed listing, saved
    /// positions that do not fit the store).
    #[error(transparent)]
    Walk(#[from] crate::keyspace::WalkError),
    /// A reply of the wrong shape to one of the analyzer's own probes.
    #[error("{node}: unexpected reply to {command}: {reply}")]
    UnexpectedReply {
        /// The node.
        node: String,
        /// The command (name only).
        command: String,
        /// What came back (shape only, no key).
        reply: String,
    },
    /// A report that cannot be rendered or read back.
    #[error("report: {reason}")]
    Report {
        /// Why.
        reason: String,
    },
}

/// Analyses the deployment behind `store`; see the [module documentation](self).
pub fn analyze(store: &Store, options: &AnalyzeOptions) -> crate::Result<Report> {
    engine::run(store, options)
}
