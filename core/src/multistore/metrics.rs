//! The MultiStore's counters and the digests its logs use instead of keys and values.
//!
//! Every counter carries the `instance_name` and `command` labels GitLab's dashboards use; the
//! metric names are `<prefix>_multi_store_<counter>_total`, with the prefix configurable
//! (`gitlab_redis` keeps GitLab's names for the counters GitLab has).
//!
//! Every increment goes to two places: this MultiStore's own counters ([`MetricsSnapshot`],
//! for `MultiStore::metrics`), and the process-wide registry of
//! [`core::instrument`](crate::instrument) (named counters `multi_store_*`, rendered by
//! [`instrument::render_prometheus`](crate::instrument::render_prometheus) with the process's
//! prefix, [`instrument::set_prefix`](crate::instrument::set_prefix)). Both are fed from the
//! functions of [`Metrics`] only, both are rendered by the one renderer of `instrument`, and
//! neither takes a lock (atomics and lock-free lists: safe across `fork()`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::flags::Side;
use crate::instrument::{Exposition, Family, Kind, SampleValue};
use crate::lockfree::AppendList;

pub(crate) use crate::instrument::{command_label, error_log_kind as error_kind};

/// One of the MultiStore's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Counter {
    /// A read went to the secondary because the primary had nothing (`fallback_reads`) and the
    /// secondary had the data. GitLab: `read_fallback_total`.
    ReadFallback,
    /// A sampled shadow read found the other store answering differently.
    ShadowMismatch,
    /// A dual pipeline or transaction got different results from the two stores. GitLab:
    /// `pipelined_diff_error_total`.
    PipelineDiff,
    /// A write (or pipeline, or blocking-pop mirror) failed on the non-default store; the
    /// caller was not told.
    NonDefaultWriteFailure,
    /// A command not in the key table went to the default store only. GitLab:
    /// `method_missing_total`.
    UnknownCommand,
    /// The asynchronous non-default write queue was full; the write was dropped (counted, and
    /// its key digest logged).
    QueueOverflow,
    /// A write failed on the default store (the caller got the error) but succeeded on the
    /// other store: the two stores now differ on that key.
    DefaultWriteFailure,
    /// Per-slot transactions sent to a non-default cluster store for a dual transaction whose
    /// keys span slots (a cluster refuses one MULTI/EXEC across slots). Counted per
    /// transaction sent, command `multi`.
    PerSlotTransactions,
}

impl Counter {
    /// Every counter.
    pub const ALL: [Counter; 8] = [
        Counter::ReadFallback,
        Counter::ShadowMismatch,
        Counter::PipelineDiff,
        Counter::NonDefaultWriteFailure,
        Counter::UnknownCommand,
        Counter::QueueOverflow,
        Counter::DefaultWriteFailure,
        Counter::PerSlotTransactions,
    ];

    /// The metric's name without prefix and `_total` (`pipelined_diff_error`).
    pub const fn metric(self) -> &'static str {
        match self {
            Counter::ReadFallback => "read_fallback",
            Counter::ShadowMismatch => "shadow_read_mismatch",
            Counter::PipelineDiff => "pipelined_diff_error",
            Counter::NonDefaultWriteFailure => "non_default_write_failure",
            Counter::UnknownCommand => "method_missing",
            Counter::QueueOverflow => "async_queue_overflow",
            Counter::DefaultWriteFailure => "default_write_failure",
            Counter::PerSlotTransactions => "per_slot_transactions",
        }
    }

    /// The family: `multi_store_<metric>_total{instance_name, command}`.
    pub(crate) fn family(self) -> Family<'static> {
        let name = match self {
            Counter::ReadFallback => "multi_store_read_fallback_total",
            Counter::ShadowMismatch => "multi_store_shadow_read_mismatch_total",
            Counter::PipelineDiff => "multi_store_pipelined_diff_error_total",
            Counter::NonDefaultWriteFailure => "multi_store_non_default_write_failure_total",
            Counter::UnknownCommand => "multi_store_method_missing_total",
            Counter::QueueOverflow => "multi_store_async_queue_overflow_total",
            Counter::DefaultWriteFailure => "multi_store_default_write_failure_total",
            Counter::PerSlotTransactions => "multi_store_per_slot_transactions_total",
        };
        Family {
            name,
            kind: Kind::Counter,
            help: self.help(),
            labels: &["instance_name", "command"],
        }
    }

    const fn help(self) -> &'static str {
        match self {
            Counter::ReadFallback => "Reads answered by the secondary after a miss on the primary.",
            Counter::ShadowMismatch => "Sampled shadow reads where the two stores disagreed.",
            Counter::PipelineDiff => "Dual pipelines/transactions whose results differed.",
            Counter::NonDefaultWriteFailure => {
                "Writes that failed on the non-default store (not raised)."
            }
            Counter::UnknownCommand => "Commands not in the key table, sent to the default store.",
            Counter::QueueOverflow => {
                "Non-default writes dropped because the async queue was full."
            }
            Counter::DefaultWriteFailure => {
                "Writes that failed on the default store (raised) but succeeded on the other."
            }
            Counter::PerSlotTransactions => {
                "Per-slot transactions sent to a non-default cluster store for cross-slot transactions."
            }
        }
    }
}

/// `multi_store_reads_total{instance_name, store, result}`.
const READS: Family<'static> = Family {
    name: "multi_store_reads_total",
    kind: Kind::Counter,
    help: "MultiStore reads by store and whether they found data.",
    labels: &["instance_name", "store", "result"],
};

/// `multi_store_shadow_reads_total{instance_name}`.
const SHADOW_READS: Family<'static> = Family {
    name: "multi_store_shadow_reads_total",
    kind: Kind::Counter,
    help: "MultiStore sampled shadow reads.",
    labels: &["instance_name"],
};

/// `multi_store_async_queue_depth{instance_name}`: a gauge, not a counter.
const QUEUE_DEPTH: Family<'static> = Family {
    name: "multi_store_async_queue_depth",
    kind: Kind::Gauge,
    help: "Non-default writes in the MultiStore's async queue, not yet done (0 without the queue).",
    labels: &["instance_name"],
};

/// A copy of one MultiStore's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// The instance name (the `instance_name` label).
    pub instance_name: String,
    /// Every non-zero counter by (counter, command).
    pub counters: BTreeMap<(Counter, String), u64>,
    /// Reads that found data, by store (`[primary, secondary]`).
    pub hits: [u64; 2],
    /// Reads that found nothing (nil, empty, `EXISTS` 0, `TTL` -2), by store.
    pub misses: [u64; 2],
    /// Shadow reads made.
    pub shadow_reads: u64,
    /// Non-default writes in the async queue and not yet done, at the snapshot (a gauge: it
    /// goes down as the queue drains; 0 without `async_non_default_writes`).
    pub async_queue_depth: u64,
}

impl MetricsSnapshot {
    /// The total of `counter` over every command.
    pub fn total(&self, counter: Counter) -> u64 {
        self.counters
            .iter()
            .filter(|((c, _), _)| *c == counter)
            .map(|(_, v)| *v)
            .sum()
    }

    /// `counter` for one command (lower case: `set`, `pipelined`, `multi`).
    pub fn get(&self, counter: Counter, command: &str) -> u64 {
        self.counters
            .get(&(counter, command.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Read hits on `side`.
    pub fn hits(&self, side: Side) -> u64 {
        self.hits[side.index()]
    }

    /// Read misses on `side`.
    pub fn misses(&self, side: Side) -> u64 {
        self.misses[side.index()]
    }

    /// Prometheus text exposition (the process-wide renderer's format):
    /// `<prefix>_multi_store_<counter>_total{instance_name=, command=}`,
    /// `<prefix>_multi_store_reads_total{instance_name=, store=, result=}` and
    /// `<prefix>_multi_store_shadow_reads_total{instance_name=}` and the gauge
    /// `<prefix>_multi_store_async_queue_depth{instance_name=}`.
    pub fn prometheus_text(&self, prefix: &str) -> String {
        let mut x = Exposition::new(prefix);
        let inst = self.instance_name.as_str();
        for counter in Counter::ALL {
            let f = counter.family();
            x.header(&f);
            for ((c, cmd), v) in &self.counters {
                if *c == counter {
                    x.sample(&f, &[inst, cmd], SampleValue::Int(*v));
                }
            }
        }
        x.header(&READS);
        for side in [Side::Primary, Side::Secondary] {
            for (result, v) in [("hit", self.hits(side)), ("miss", self.misses(side))] {
                x.sample(&READS, &[inst, side.as_str(), result], SampleValue::Int(v));
            }
        }
        x.header(&SHADOW_READS);
        x.sample(&SHADOW_READS, &[inst], SampleValue::Int(self.shadow_reads));
        x.header(&QUEUE_DEPTH);
        x.sample(
            &QUEUE_DEPTH,
            &[inst],
            SampleValue::Int(self.async_queue_depth),
        );
        x.finish()
    }
}

/// The live counters of one MultiStore.
pub(crate) struct Metrics {
    instance: String,
    /// The registry's counters, by [`Counter`] (in `Counter::ALL` order).
    registry: Vec<crate::instrument::Counter>,
    registry_reads: crate::instrument::Counter,
    registry_shadow: crate::instrument::Counter,
    /// This MultiStore's own counts, per (counter, command label).
    counters: AppendList<((Counter, String), AtomicU64)>,
    hits: [AtomicU64; 2],
    misses: [AtomicU64; 2],
    /// How much of `hits`/`misses` has reached the registry (reads are pushed in batches of
    /// 64, not one by one).
    flushed_hits: [AtomicU64; 2],
    flushed_misses: [AtomicU64; 2],
    shadow_reads: AtomicU64,
}

/// Reads per (store, result) pushed to the registry at once.
const READ_BATCH: u64 = 64;

/// A family's name without `_total`, as named counters are registered.
fn base_name(f: &Family<'_>) -> String {
    f.name.strip_suffix("_total").unwrap_or(f.name).to_owned()
}

impl Metrics {
    pub(crate) fn new(instance: &str) -> Metrics {
        let reg = |f: &Family<'_>| crate::instrument::counter(&base_name(f), f.help);
        Metrics {
            instance: instance.to_owned(),
            registry: Counter::ALL.iter().map(|c| reg(&c.family())).collect(),
            registry_reads: reg(&READS),
            registry_shadow: reg(&SHADOW_READS),
            counters: AppendList::new(),
            hits: Default::default(),
            misses: Default::default(),
            flushed_hits: Default::default(),
            flushed_misses: Default::default(),
            shadow_reads: AtomicU64::new(0),
        }
    }

    /// Adds one to `counter` for `command` (a command name: lower-cased, shortened).
    pub(crate) fn incr(&self, counter: Counter, command: &[u8]) {
        self.incr_by(counter, command, 1);
    }

    /// Adds `n` to `counter` for `command`.
    pub(crate) fn incr_by(&self, counter: Counter, command: &[u8], n: u64) {
        let label = command_label(command);
        if let Some(c) = Counter::ALL
            .iter()
            .position(|c| *c == counter)
            .and_then(|i| self.registry.get(i))
        {
            c.inc_by(&[("instance_name", &self.instance), ("command", &label)], n);
        }
        self.counters
            .get_or_insert_with(
                |((c, l), _)| *c == counter && *l == label,
                || ((counter, label.to_string()), AtomicU64::new(0)),
            )
            .1
            .fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, side: Side, hit: bool) {
        let slot = if hit { &self.hits } else { &self.misses };
        let n = slot[side.index()].fetch_add(1, Ordering::Relaxed) + 1;
        if n % READ_BATCH == 0 {
            self.flush_reads(side, hit);
        }
    }

    /// Pushes the reads of (`side`, `hit`) not yet in the registry.
    fn flush_reads(&self, side: Side, hit: bool) {
        let (total, flushed) = if hit {
            (&self.hits, &self.flushed_hits)
        } else {
            (&self.misses, &self.flushed_misses)
        };
        let now = total[side.index()].load(Ordering::Acquire);
        let before = flushed[side.index()].fetch_max(now, Ordering::AcqRel);
        if now > before {
            self.registry_reads.inc_by(
                &[
                    ("instance_name", &self.instance),
                    ("store", side.as_str()),
                    ("result", if hit { "hit" } else { "miss" }),
                ],
                now - before,
            );
        }
    }

    /// Pushes every pending read count to the registry (on `metrics()` and at drop).
    pub(crate) fn flush(&self) {
        for side in [Side::Primary, Side::Secondary] {
            self.flush_reads(side, true);
            self.flush_reads(side, false);
        }
    }

    pub(crate) fn shadow_read(&self) {
        self.shadow_reads.fetch_add(1, Ordering::Relaxed);
        self.registry_shadow
            .inc(&[("instance_name", &self.instance)]);
    }

    /// The one way out of this structure; `async_queue_depth` is the queue's count at the
    /// moment (the queue keeps it, not these counters).
    pub(crate) fn snapshot(&self, async_queue_depth: usize) -> MetricsSnapshot {
        self.flush();
        let load =
            |a: &[AtomicU64; 2]| [a[0].load(Ordering::Relaxed), a[1].load(Ordering::Relaxed)];
        MetricsSnapshot {
            instance_name: self.instance.clone(),
            counters: self
                .counters
                .iter()
                .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
                .collect(),
            hits: load(&self.hits),
            misses: load(&self.misses),
            shadow_reads: self.shadow_reads.load(Ordering::Relaxed),
            async_queue_depth: async_queue_depth as u64,
        }
    }
}

/// A short digest of a key or value for logs: 16 hex digits of BLAKE3. The same bytes give
/// the same digest in every process, so a known key can be found in logs; the bytes cannot be
/// read back from it.
pub fn digest(bytes: &[u8]) -> String {
    let hash = blake3::hash(bytes);
    let mut out = String::with_capacity(16);
    for b in &hash.as_bytes()[..8] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The digest of a command's first key, or `-` for a keyless command.
pub(crate) fn key_digest(cmd: &crate::command::Cmd) -> String {
    crate::command::keys(cmd)
        .ok()
        .and_then(|k| k.first().map(|k| digest(k)))
        .unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_exposes() {
        let m = Metrics::new("sessions");
        m.incr(Counter::PipelineDiff, b"pipelined");
        m.incr(Counter::PipelineDiff, b"pipelined");
        m.incr(Counter::UnknownCommand, b"FROB\x00NICATE");
        m.read(Side::Primary, true);
        m.read(Side::Secondary, false);
        let s = m.snapshot(3);
        assert_eq!(s.get(Counter::PipelineDiff, "pipelined"), 2);
        assert_eq!(s.total(Counter::UnknownCommand), 1);
        assert_eq!(s.hits(Side::Primary), 1);
        assert_eq!(s.misses(Side::Secondary), 1);
        let text = s.prometheus_text("gitlab_redis");
        assert!(text.contains(
            "gitlab_redis_multi_store_pipelined_diff_error_total{instance_name=\"sessions\",command=\"pipelined\"} 2"
        ));
        assert!(
            text.contains("gitlab_redis_multi_store_method_missing_total{instance_name=\"sessions\",command=\"frob?nicate\"}")
        );
        assert!(text.contains("store=\"primary\",result=\"hit\"} 1"));
        assert!(text.contains("# TYPE gitlab_redis_multi_store_async_queue_depth gauge"));
        assert!(text
            .contains("gitlab_redis_multi_store_async_queue_depth{instance_name=\"sessions\"} 3"));
        // The same increments reached the process-wide registry.
        let global = crate::instrument::render_prometheus_with_prefix("gitlab_redis");
        assert!(global.contains(
            "gitlab_redis_multi_store_pipelined_diff_error_total{instance_name=\"sessions\",command=\"pipelined\"} 2"
        ), "{global}");
    }

    #[test]
    fn digests_are_short_stable_and_not_the_key() {
        let d = digest(b"session:42");
        assert_eq!(d.len(), 16);
        assert_eq!(d, digest(b"session:42"));
        assert_ne!(d, digest(b"session:43"));
        assert!(!d.contains("session"));
    }
}
