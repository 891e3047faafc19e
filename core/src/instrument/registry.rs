//! The metric registry and the one Prometheus text renderer.
//!
//! - A [`Family`] describes one metric: name (without the prefix), kind, help text, label
//!   names. Every metric slotshift exports is declared once, in [`families`].
//! - [`Exposition`] renders families and their samples in the text format (version 0.0.4);
//!   the process-wide [`render_prometheus`](super::render_prometheus) and each MultiStore's
//!   own `metrics_text` both write through it.
//! - Named counters ([`Counter`]) are families registered at run time by other modules (the
//!   MultiStore's `multi_store_*_total`), kept in a lock-free grow-only list: incrementing,
//!   registering and scraping never take a lock, so a `fork()` at any moment leaves nothing
//!   held in the child.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::stats::Histogram;
use crate::lockfree::AppendList;
use crate::text::escape_label;

/// What a family measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    #[allow(dead_code)] // declared for completeness of the renderer; no gauge is exported yet
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family: `<prefix>_<name>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family<'a> {
    /// The name without prefix (counters end in `_total`).
    pub(crate) name: &'a str,
    pub(crate) kind: Kind,
    pub(crate) help: &'a str,
    /// Label names, in the order samples give their values.
    pub(crate) labels: &'a [&'a str],
}

/// Every family slotshift declares statically (named counters come on top).
pub(crate) mod families {
    use super::{Family, Kind};

    const STORE_CMD: &[&str] = &["instance_name", "command"];
    const STORE: &[&str] = &["instance_name"];
    const STORE_KIND: &[&str] = &["instance_name", "kind"];

    /// Commands sent.
    pub(crate) const REQUESTS: Family<'static> = Family {
        name: "requests_total",
        kind: Kind::Counter,
        help: "Commands sent (a pipeline of N counts N).",
        labels: STORE_CMD,
    };
    /// Argument bytes written.
    pub(crate) const WRITE_BYTES: Family<'static> = Family {
        name: "write_bytes_total",
        kind: Kind::Counter,
        help: "Bytes of command arguments written (RESP framing excluded).",
        labels: STORE_CMD,
    };
    /// Reply bytes read.
    pub(crate) const READ_BYTES: Family<'static> = Family {
        name: "read_bytes_total",
        kind: Kind::Counter,
        help: "Bytes of reply scalars read, as text.",
        labels: STORE_CMD,
    };
    /// Durations.
    pub(crate) const DURATION: Family<'static> = Family {
        name: "request_duration_seconds",
        kind: Kind::Histogram,
        help: "Command durations (a pipeline of N: its time / N, N times).",
        labels: STORE_CMD,
    };
    /// Errors by kind.
    pub(crate) const ERRORS: Family<'static> = Family {
        name: "errors_total",
        kind: Kind::Counter,
        help: "Failed commands by kind.",
        labels: STORE_KIND,
    };
    /// Redirections by kind.
    pub(crate) const REDIRECTIONS: Family<'static> = Family {
        name: "redirections_total",
        kind: Kind::Counter,
        help: "Redirections the cluster router followed, by kind.",
        labels: STORE_KIND,
    };
    /// Retries.
    pub(crate) const RETRIES: Family<'static> = Family {
        name: "retries_total",
        kind: Kind::Counter,
        help: "Retries after CLUSTERDOWN, LOADING, failover or connection loss.",
        labels: STORE,
    };
    /// Caller pipeline sizes.
    pub(crate) const PIPELINE_COMMANDS: Family<'static> = Family {
        name: "pipeline_commands",
        kind: Kind::Histogram,
        help: "Commands per pipeline the caller sent.",
        labels: STORE,
    };
    /// Batcher batch sizes.
    pub(crate) const BATCH_COMMANDS: Family<'static> = Family {
        name: "batch_commands",
        kind: Kind::Histogram,
        help: "Commands per batch the CrossSlot batcher sent to one node.",
        labels: STORE,
    };
    /// Cross-slot commands outside an allow scope.
    pub(crate) const CROSS_SLOT: Family<'static> = Family {
        name: "cross_slot_total",
        kind: Kind::Counter,
        help: "Cross-slot commands outside an allow scope.",
        labels: STORE,
    };
    /// Cross-slot commands inside an allow scope.
    pub(crate) const ALLOWED_CROSS_SLOT: Family<'static> = Family {
        name: "allowed_cross_slot_total",
        kind: Kind::Counter,
        help: "Cross-slot commands inside an allow scope.",
        labels: STORE,
    };
}

/// A value of one sample.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    /// A counter or an integer gauge.
    Int(u64),
    /// A histogram.
    Histogram(&'a Histogram),
}

fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".to_owned()
    } else {
        format!("{v}")
    }
}

/// The Prometheus text renderer: a prefix and the text written so far.
#[derive(Debug)]
pub(crate) struct Exposition {
    prefix: String,
    out: String,
}

impl Exposition {
    pub(crate) fn new(prefix: &str) -> Exposition {
        Exposition {
            prefix: prefix.to_owned(),
            out: String::new(),
        }
    }

    /// The `# HELP` and `# TYPE` lines of a family.
    pub(crate) fn header(&mut self, f: &Family<'_>) {
        let p = &self.prefix;
        let _ = writeln!(
            self.out,
            "# HELP {p}_{name} {help}\n# TYPE {p}_{name} {kind}",
            name = f.name,
            help = f.help,
            kind = f.kind.as_str()
        );
    }

    /// One sample of `f` whose label values are `values`, in `f.labels` order.
    pub(crate) fn sample(&mut self, f: &Family<'_>, values: &[&str], v: Value<'_>) {
        let pairs: Vec<(&str, &str)> = f
            .labels
            .iter()
            .copied()
            .zip(values.iter().copied())
            .collect();
        self.sample_pairs(f.name, &pairs, v);
    }

    /// One sample named `<prefix>_<name>` with these label pairs, in this order.
    pub(crate) fn sample_pairs(&mut self, name: &str, labels: &[(&str, &str)], v: Value<'_>) {
        let p = &self.prefix;
        match v {
            Value::Int(n) => {
                let _ = writeln!(self.out, "{p}_{name}{} {n}", fmt_labels(labels, None));
            }
            Value::Histogram(h) => {
                for (i, c) in h.cumulative().iter().enumerate() {
                    let le = h.bounds().get(i).map_or("+Inf".to_owned(), |b| fmt_f64(*b));
                    let _ = writeln!(
                        self.out,
                        "{p}_{name}_bucket{} {c}",
                        fmt_labels(labels, Some(&le))
                    );
                }
                let l = fmt_labels(labels, None);
                let _ = writeln!(self.out, "{p}_{name}_sum{l} {}", fmt_f64(h.sum()));
                let _ = writeln!(self.out, "{p}_{name}_count{l} {}", h.count());
            }
        }
    }

    /// The text.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

fn fmt_labels(pairs: &[(&str, &str)], le: Option<&str>) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{k}=\"{}\"", escape_label(v));
    }
    if let Some(le) = le {
        if !pairs.is_empty() {
            s.push(',');
        }
        let _ = write!(s, "le=\"{le}\"");
    }
    s.push('}');
    s
}

// ---------------------------------------------------------------------------------------------
// Named counters

/// One label set of a named counter.
struct Series {
    labels: Vec<(String, String)>,
    value: AtomicU64,
}

/// A named counter family, registered at run time.
pub(crate) struct NamedFamily {
    /// Without prefix and `_total`.
    name: String,
    total_name: String,
    help: String,
    series: AppendList<Series>,
}

static NAMED: AppendList<NamedFamily> = AppendList::new();

/// A counter with labels, registered by name; rendered as `<prefix>_<name>_total`.
/// Increments are one atomic add (after the label set's first use).
#[derive(Clone, Copy)]
pub struct Counter {
    family: &'static NamedFamily,
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("name", &self.family.name)
            .finish_non_exhaustive()
    }
}

/// The counter named `name` (without prefix and `_total`), registered on first use. The help
/// text of the first registration stays.
pub fn counter(name: &str, help: &str) -> Counter {
    let family = NAMED.get_or_insert_with(
        |f| f.name == name,
        || NamedFamily {
            name: name.to_owned(),
            total_name: format!("{name}_total"),
            help: help.to_owned(),
            series: AppendList::new(),
        },
    );
    Counter { family }
}

fn same_labels(have: &[(String, String)], want: &[(&str, &str)]) -> bool {
    have.len() == want.len()
        && have
            .iter()
            .zip(want)
            .all(|((hk, hv), (wk, wv))| hk == wk && hv == wv)
}

impl Counter {
    fn series(&self, labels: &[(&str, &str)]) -> &'static Series {
        self.family.series.get_or_insert_with(
            |s| same_labels(&s.labels, labels),
            || Series {
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                value: AtomicU64::new(0),
            },
        )
    }

    /// Adds one for these labels.
    pub fn inc(&self, labels: &[(&str, &str)]) {
        self.inc_by(labels, 1);
    }

    /// Adds `n` for these labels.
    pub fn inc_by(&self, labels: &[(&str, &str)], n: u64) {
        self.series(labels).value.fetch_add(n, Ordering::Relaxed);
    }

    /// The value for these labels (0 for a label set never incremented).
    pub fn get(&self, labels: &[(&str, &str)]) -> u64 {
        self.family
            .series
            .iter()
            .find(|s| same_labels(&s.labels, labels))
            .map_or(0, |s| s.value.load(Ordering::Relaxed))
    }
}

/// Renders every named counter, families by name, series by labels.
pub(crate) fn render_named(x: &mut Exposition) {
    let mut fams: Vec<&NamedFamily> = NAMED.iter().collect();
    fams.sort_by(|a, b| a.name.cmp(&b.name));
    for f in fams {
        x.header(&Family {
            name: &f.total_name,
            kind: Kind::Counter,
            help: &f.help,
            labels: &[],
        });
        let mut series: Vec<&Series> = f.series.iter().collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        for s in series {
            let pairs: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            x.sample_pairs(
                &f.total_name,
                &pairs,
                Value::Int(s.value.load(Ordering::Relaxed)),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prefix

/// Every prefix ever set, newest first (a few strings over a process's life; kept so that
/// reading the prefix takes no lock).
static PREFIXES: AppendList<String> = AppendList::new();

pub(crate) fn set_prefix(prefix: &str) {
    PREFIXES.push(prefix.to_owned());
}

pub(crate) fn prefix() -> String {
    PREFIXES
        .iter()
        .next()
        .cloned()
        .unwrap_or_else(|| "slotshift".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_renderer_for_every_kind() {
        let mut x = Exposition::new("p");
        x.header(&families::RETRIES);
        x.sample(&families::RETRIES, &["a\"b"], Value::Int(3));
        let mut h = Histogram::new(&[1.0]);
        h.observe_n(0.5, 2);
        x.header(&families::PIPELINE_COMMANDS);
        x.sample(&families::PIPELINE_COMMANDS, &["s"], Value::Histogram(&h));
        let text = x.finish();
        assert!(text.contains("# TYPE p_retries_total counter\n"), "{text}");
        assert!(
            text.contains("p_retries_total{instance_name=\"a\\\"b\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("p_pipeline_commands_bucket{instance_name=\"s\",le=\"1\"} 2\n"));
        assert!(text.contains("p_pipeline_commands_bucket{instance_name=\"s\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("p_pipeline_commands_sum{instance_name=\"s\"} 1\n"));
        assert!(text.contains("p_pipeline_commands_count{instance_name=\"s\"} 2\n"));
    }

    #[test]
    fn named_counters_add_up_without_locks() {
        let c = counter("registry_unit_test", "a test counter");
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.inc(&[("instance_name", "x")]);
                    }
                });
            }
        });
        assert_eq!(c.get(&[("instance_name", "x")]), 4000);
        assert_eq!(
            counter("registry_unit_test", "other help").get(&[("instance_name", "x")]),
            4000
        );
        let mut x = Exposition::new("q");
        render_named(&mut x);
        assert!(x
            .finish()
            .contains("# HELP q_registry_unit_test_total a test counter\n# TYPE q_registry_unit_test_total counter\nq_registry_unit_test_total{instance_name=\"x\"} 4000\n"));
    }
}
