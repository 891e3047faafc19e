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
//! functions of [`Metrics`] only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::flags::Side;

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
}

impl Counter {
    /// Every counter.
    pub const ALL: [Counter; 6] = [
        Counter::ReadFallback,
        Counter::ShadowMismatch,
        Counter::PipelineDiff,
        Counter::NonDefaultWriteFailure,
        Counter::UnknownCommand,
        Counter::QueueOverflow,
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
        }
    }
}

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

    /// Prometheus text exposition: `<prefix>_multi_store_<counter>_total{command=,
    /// instance_name=}` and `<prefix>_multi_store_reads_total{instance_name=, result=, store=}`.
    pub fn prometheus_text(&self, prefix: &str) -> String {
        let mut out = String::new();
        let inst = escape(&self.instance_name);
        for counter in Counter::ALL {
            let name = format!("{prefix}_multi_store_{}_total", counter.metric());
            let _ = writeln!(out, "# HELP {name} {}", counter.help());
            let _ = writeln!(out, "# TYPE {name} counter");
            for ((c, cmd), v) in &self.counters {
                if *c == counter {
                    let _ = writeln!(
                        out,
                        "{name}{{command=\"{}\",instance_name=\"{inst}\"}} {v}",
                        escape(cmd)
                    );
                }
            }
        }
        let name = format!("{prefix}_multi_store_reads_total");
        let _ = writeln!(
            out,
            "# HELP {name} Reads by store and whether they found data."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for side in [Side::Primary, Side::Secondary] {
            for (result, v) in [("hit", self.hits(side)), ("miss", self.misses(side))] {
                let _ = writeln!(
                    out,
                    "{name}{{instance_name=\"{inst}\",result=\"{result}\",store=\"{}\"}} {v}",
                    side.as_str()
                );
            }
        }
        let name = format!("{prefix}_multi_store_shadow_reads_total");
        let _ = writeln!(out, "# HELP {name} Sampled shadow reads made.");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(
            out,
            "{name}{{instance_name=\"{inst}\"}} {}",
            self.shadow_reads
        );
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The live counters of one MultiStore.
pub(crate) struct Metrics {
    instance: String,
    /// The registry's counters, by [`Counter`] (in `Counter::ALL` order).
    registry: Vec<crate::instrument::Counter>,
    registry_reads: crate::instrument::Counter,
    registry_shadow: crate::instrument::Counter,
    counters: Mutex<BTreeMap<(Counter, String), u64>>,
    hits: [AtomicU64; 2],
    misses: [AtomicU64; 2],
    /// How much of `hits`/`misses` has reached the registry (reads are pushed in batches:
    /// one lock per 64 reads, not per read).
    flushed_hits: [AtomicU64; 2],
    flushed_misses: [AtomicU64; 2],
    shadow_reads: AtomicU64,
}

/// Reads per (store, result) pushed to the registry at once.
const READ_BATCH: u64 = 64;

impl Metrics {
    pub(crate) fn new(instance: &str) -> Metrics {
        let reg = |name: &str, help: &str| crate::instrument::counter(name, help);
        Metrics {
            instance: instance.to_owned(),
            registry: Counter::ALL
                .iter()
                .map(|c| reg(&format!("multi_store_{}", c.metric()), c.help()))
                .collect(),
            registry_reads: reg(
                "multi_store_reads",
                "MultiStore reads by store and whether they found data.",
            ),
            registry_shadow: reg(
                "multi_store_shadow_reads",
                "MultiStore sampled shadow reads.",
            ),
            counters: Mutex::new(BTreeMap::new()),
            hits: Default::default(),
            misses: Default::default(),
            flushed_hits: Default::default(),
            flushed_misses: Default::default(),
            shadow_reads: AtomicU64::new(0),
        }
    }

    /// Adds one to `counter` for `command` (a command name: lower-cased, shortened).
    pub(crate) fn incr(&self, counter: Counter, command: &[u8]) {
        let label = command_label(command);
        if let Some(c) = Counter::ALL
            .iter()
            .position(|c| *c == counter)
            .and_then(|i| self.registry.get(i))
        {
            c.inc(&[("instance_name", &self.instance), ("command", &label)]);
        }
        *self.counters.lock().entry((counter, label)).or_insert(0) += 1;
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

    /// The one way out of this structure.
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        self.flush();
        let load =
            |a: &[AtomicU64; 2]| [a[0].load(Ordering::Relaxed), a[1].load(Ordering::Relaxed)];
        MetricsSnapshot {
            instance_name: self.instance.clone(),
            counters: self.counters.lock().clone(),
            hits: load(&self.hits),
            misses: load(&self.misses),
            shadow_reads: self.shadow_reads.load(Ordering::Relaxed),
        }
    }
}

/// A command name as a label: lower case, printable ASCII, at most 32 characters (an unknown
/// command's name is user input; it must not blow up the label set or carry bytes).
pub(crate) fn command_label(name: &[u8]) -> String {
    let mut s: String = name
        .iter()
        .take(32)
        .map(|&b| {
            if b.is_ascii_graphic() {
                b.to_ascii_lowercase() as char
            } else {
                '?'
            }
        })
        .collect();
    if s.is_empty() {
        s.push('?');
    }
    s
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

/// What kind of error this is, for logs (never its text, which may quote a value).
pub(crate) fn error_kind(e: &crate::Error) -> String {
    match e {
        crate::Error::Server(s) => format!("server:{}", s.code()),
        crate::Error::Connection(c) => format!("connection:{:?}", c.kind).to_ascii_lowercase(),
        crate::Error::Routing(_) => "routing".to_owned(),
        crate::Error::MultiStore(_) => "multistore".to_owned(),
        _ => "other".to_owned(),
    }
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
        let s = m.snapshot();
        assert_eq!(s.get(Counter::PipelineDiff, "pipelined"), 2);
        assert_eq!(s.total(Counter::UnknownCommand), 1);
        assert_eq!(s.hits(Side::Primary), 1);
        assert_eq!(s.misses(Side::Secondary), 1);
        let text = s.prometheus_text("gitlab_redis");
        assert!(text.contains(
            "gitlab_redis_multi_store_pipelined_diff_error_total{command=\"pipelined\",instance_name=\"sessions\"} 2"
        ));
        assert!(
            text.contains("gitlab_redis_multi_store_method_missing_total{command=\"frob?nicate\"")
        );
        assert!(text.contains("result=\"hit\",store=\"primary\"} 1"));
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
