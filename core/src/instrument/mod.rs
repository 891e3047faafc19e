//! Instrumentation: per-store figures, Prometheus text exposition, JSON log fields, named
//! counters for other modules, and the command [`Recorder`].
//!
//! Every store opened with
//! [`StoreOptions::instrument`](crate::store::StoreOptions::instrument) (the default) counts,
//! under its [`name`](crate::store::StoreOptions::name) and per command name: calls, a duration
//! histogram, bytes written and read (GitLab's definitions: argument bytes without RESP
//! framing; reply scalars as text, recursively), errors by kind, caller pipeline sizes, the
//! batches the CrossSlot batcher sent, and — from the router and the
//! [validator](crate::validator) — redirections and cross-slot counts. Stores opened under the
//! same name add up. With `instrument` off a call reads no clock and allocates nothing for it.
//!
//! ```
//! use slotshift::instrument;
//!
//! let requests = instrument::counter("multi_store_requests", "requests per store and command");
//! requests.inc(&[("instance_name", "cache"), ("command", "get")]);
//! instrument::set_prefix("gitlab_redis").unwrap();
//! let text = instrument::render_prometheus();
//! assert!(text.contains(r#"gitlab_redis_multi_store_requests_total{instance_name="cache",command="get"} 1"#));
//! instrument::set_prefix("slotshift").unwrap();
//! assert!(instrument::set_prefix("no spaces").is_err());
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use once_cell::sync::Lazy;
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};

use crate::command::Cmd;
use crate::reply::Reply;
use crate::validator::StoreValidator;
use crate::Error;

mod recorder;
mod stats;

pub use recorder::{Recorded, Recorder, Via};
pub use stats::{
    read_size, CommandStats, Histogram, StoreSnapshot, StoreStats, DURATION_BUCKETS, SIZE_BUCKETS,
};

/// The user guide page, compiled so that its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/instrument.md")]
pub struct UserGuide;

// ---------------------------------------------------------------------------------------------
// Registry

static STORES: Lazy<Mutex<BTreeMap<String, Arc<StoreStats>>>> = Lazy::new(Default::default);
static PREFIX: Lazy<RwLock<String>> = Lazy::new(|| RwLock::new("slotshift".to_owned()));

/// The live figures of the store name `name` (created on first use).
pub fn store_stats(name: &str) -> Arc<StoreStats> {
    STORES
        .lock()
        .entry(name.to_owned())
        .or_insert_with(|| Arc::new(StoreStats::new(Arc::from(name))))
        .clone()
}

/// A snapshot of one store name's figures, if any store of that name was instrumented.
pub fn stats(name: &str) -> Option<StoreSnapshot> {
    let s = STORES.lock().get(name).cloned();
    s.map(|s| s.snapshot())
}

/// Snapshots of every instrumented store, by name.
pub fn snapshot() -> Snapshot {
    let stores: Vec<Arc<StoreStats>> = STORES.lock().values().cloned().collect();
    Snapshot {
        stores: stores
            .iter()
            .map(|s| (s.name().to_owned(), s.snapshot()))
            .collect(),
    }
}

/// A metric name prefix that Prometheus would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metric prefix '{0}' must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
pub struct InvalidPrefix(pub String);

/// Sets the metric name prefix (default `slotshift`; GitLab users set `gitlab_redis`).
pub fn set_prefix(prefix: &str) -> Result<(), InvalidPrefix> {
    let ok = prefix.bytes().enumerate().all(|(i, b)| {
        b.is_ascii_alphabetic() || b == b'_' || b == b':' || (i > 0 && b.is_ascii_digit())
    }) && !prefix.is_empty();
    if !ok {
        return Err(InvalidPrefix(prefix.chars().take(64).collect()));
    }
    *PREFIX.write() = prefix.to_owned();
    Ok(())
}

/// The metric name prefix.
pub fn prefix() -> String {
    PREFIX.read().clone()
}

// ---------------------------------------------------------------------------------------------
// Named counters (the MultiStore's `<prefix>_multi_store_*_total`, and any other module's)

/// A counter with labels, registered by name; rendered as `<prefix>_<name>_total`.
#[derive(Debug, Clone)]
pub struct Counter {
    inner: Arc<CounterInner>,
}

#[derive(Debug)]
struct CounterInner {
    name: String,
    help: String,
    values: Mutex<BTreeMap<Vec<(String, String)>, u64>>,
}

static COUNTERS: Lazy<Mutex<BTreeMap<String, Counter>>> = Lazy::new(Default::default);

/// The counter named `name` (without prefix and `_total`), registered on first use.
pub fn counter(name: &str, help: &str) -> Counter {
    COUNTERS
        .lock()
        .entry(name.to_owned())
        .or_insert_with(|| Counter {
            inner: Arc::new(CounterInner {
                name: name.to_owned(),
                help: help.to_owned(),
                values: Mutex::new(BTreeMap::new()),
            }),
        })
        .clone()
}

impl Counter {
    /// Adds one for these labels.
    pub fn inc(&self, labels: &[(&str, &str)]) {
        self.inc_by(labels, 1);
    }

    /// Adds `n` for these labels.
    pub fn inc_by(&self, labels: &[(&str, &str)], n: u64) {
        let key: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        *self.inner.values.lock().entry(key).or_default() += n;
    }

    /// The value for these labels.
    pub fn get(&self, labels: &[(&str, &str)]) -> u64 {
        let key: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.inner.values.lock().get(&key).copied().unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".to_owned()
    } else {
        format!("{v}")
    }
}

fn histogram(out: &mut String, name: &str, base: &[(&str, &str)], h: &Histogram) {
    let cum = h.cumulative();
    for (i, c) in cum.iter().enumerate() {
        let le = h.bounds().get(i).map_or("+Inf".to_owned(), |b| fmt_f64(*b));
        let mut l: Vec<(&str, &str)> = base.to_vec();
        l.push(("le", &le));
        let _ = writeln!(out, "{name}_bucket{} {c}", labels(&l));
    }
    let _ = writeln!(out, "{name}_sum{} {}", labels(base), fmt_f64(h.sum()));
    let _ = writeln!(out, "{name}_count{} {}", labels(base), h.count());
}

/// Every figure in the Prometheus text format (version 0.0.4), names prefixed with
/// [`prefix`].
pub fn render_prometheus() -> String {
    render_prometheus_with_prefix(&prefix())
}

/// [`render_prometheus`] with an explicit prefix.
pub fn render_prometheus_with_prefix(p: &str) -> String {
    let snap = snapshot();
    let mut out = String::new();
    let head = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {p}_{name} {help}\n# TYPE {p}_{name} {kind}");
    };
    let stores: Vec<&StoreSnapshot> = snap.stores.values().collect();

    head(
        &mut out,
        "requests_total",
        "counter",
        "Commands sent (a pipeline of N counts N).",
    );
    for s in &stores {
        for (c, st) in &s.commands {
            let _ = writeln!(
                out,
                "{p}_requests_total{} {}",
                labels(&[("instance_name", &s.name), ("command", c)]),
                st.calls
            );
        }
    }
    head(
        &mut out,
        "write_bytes_total",
        "counter",
        "Bytes of command arguments written (RESP framing excluded).",
    );
    for s in &stores {
        for (c, st) in &s.commands {
            let _ = writeln!(
                out,
                "{p}_write_bytes_total{} {}",
                labels(&[("instance_name", &s.name), ("command", c)]),
                st.write_bytes
            );
        }
    }
    head(
        &mut out,
        "read_bytes_total",
        "counter",
        "Bytes of reply scalars read, as text.",
    );
    for s in &stores {
        for (c, st) in &s.commands {
            let _ = writeln!(
                out,
                "{p}_read_bytes_total{} {}",
                labels(&[("instance_name", &s.name), ("command", c)]),
                st.read_bytes
            );
        }
    }
    head(
        &mut out,
        "request_duration_seconds",
        "histogram",
        "Command durations (a pipeline of N: its time / N, N times).",
    );
    for s in &stores {
        for (c, st) in &s.commands {
            histogram(
                &mut out,
                &format!("{p}_request_duration_seconds"),
                &[("instance_name", &s.name), ("command", c)],
                &st.duration,
            );
        }
    }
    head(
        &mut out,
        "errors_total",
        "counter",
        "Failed commands by kind.",
    );
    for s in &stores {
        for (k, n) in &s.errors {
            let _ = writeln!(
                out,
                "{p}_errors_total{} {n}",
                labels(&[("instance_name", &s.name), ("kind", k)])
            );
        }
    }
    head(
        &mut out,
        "redirections_total",
        "counter",
        "Redirections the cluster router followed, by kind.",
    );
    for s in &stores {
        for (k, n) in [
            ("moved", s.router.moved),
            ("ask", s.router.ask),
            ("tryagain", s.router.tryagain),
        ] {
            let _ = writeln!(
                out,
                "{p}_redirections_total{} {n}",
                labels(&[("instance_name", &s.name), ("kind", k)])
            );
        }
    }
    head(
        &mut out,
        "retries_total",
        "counter",
        "Retries after CLUSTERDOWN, LOADING, failover or connection loss.",
    );
    for s in &stores {
        let _ = writeln!(
            out,
            "{p}_retries_total{} {}",
            labels(&[("instance_name", &s.name)]),
            s.router.retries
        );
    }
    head(
        &mut out,
        "pipeline_commands",
        "histogram",
        "Commands per pipeline the caller sent.",
    );
    for s in &stores {
        histogram(
            &mut out,
            &format!("{p}_pipeline_commands"),
            &[("instance_name", &s.name)],
            &s.pipelines,
        );
    }
    head(
        &mut out,
        "batch_commands",
        "histogram",
        "Commands per batch the CrossSlot batcher sent to one node.",
    );
    for s in &stores {
        histogram(
            &mut out,
            &format!("{p}_batch_commands"),
            &[("instance_name", &s.name)],
            &s.batches,
        );
    }
    head(
        &mut out,
        "cross_slot_total",
        "counter",
        "Cross-slot commands outside an allow scope.",
    );
    for s in &stores {
        let _ = writeln!(
            out,
            "{p}_cross_slot_total{} {}",
            labels(&[("instance_name", &s.name)]),
            s.cross_slot.cross_slot + s.cross_slot.refused
        );
    }
    head(
        &mut out,
        "allowed_cross_slot_total",
        "counter",
        "Cross-slot commands inside an allow scope.",
    );
    for s in &stores {
        let _ = writeln!(
            out,
            "{p}_allowed_cross_slot_total{} {}",
            labels(&[("instance_name", &s.name)]),
            s.cross_slot.allowed
        );
    }
    let counters: Vec<Counter> = COUNTERS.lock().values().cloned().collect();
    for c in counters {
        let name = format!("{}_total", c.inner.name);
        head(&mut out, &name, "counter", &c.inner.help);
        for (l, v) in c.inner.values.lock().iter() {
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let _ = writeln!(out, "{p}_{name}{} {v}", labels(&l));
        }
    }
    out
}

/// Same as [`render_prometheus`]: the name the bindings use.
pub fn metrics_text() -> String {
    render_prometheus()
}

// ---------------------------------------------------------------------------------------------
// Log fields

/// Figures of every store at one moment; [`since`](Self::since) gives what happened between
/// two snapshots (one web request, one job).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Snapshot {
    /// Per store name.
    pub stores: BTreeMap<String, StoreSnapshot>,
}

/// The log-field totals of one store.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Totals {
    calls: u64,
    duration_s: f64,
    read_bytes: u64,
    write_bytes: u64,
    cross_slot: u64,
    allowed: u64,
}

fn totals(s: &StoreSnapshot) -> Totals {
    Totals {
        calls: s.calls(),
        duration_s: s.duration_s(),
        read_bytes: s.read_bytes(),
        write_bytes: s.write_bytes(),
        cross_slot: s.cross_slot.cross_slot + s.cross_slot.refused,
        allowed: s.cross_slot.allowed,
    }
}

impl Snapshot {
    /// The structured log fields, GitLab-shaped: totals `redis_calls`, `redis_duration_s`,
    /// `redis_read_bytes`, `redis_write_bytes`, `redis_cross_slot_calls`,
    /// `redis_allowed_cross_slot_calls`, and the same per store as `redis_<name>_…`. Fields
    /// that are zero are left out; durations are rounded to microseconds.
    pub fn log_fields(&self) -> Map<String, Value> {
        self.fields(None)
    }

    /// [`log_fields`](Self::log_fields) of what happened since `earlier`.
    pub fn since(&self, earlier: &Snapshot) -> Map<String, Value> {
        self.fields(Some(earlier))
    }

    fn fields(&self, earlier: Option<&Snapshot>) -> Map<String, Value> {
        let mut out = Map::new();
        let mut sum = Totals::default();
        let mut per: Vec<(String, Totals)> = Vec::new();
        for (name, s) in &self.stores {
            let mut t = totals(s);
            if let Some(e) = earlier.and_then(|e| e.stores.get(name)) {
                let b = totals(e);
                t.calls = t.calls.saturating_sub(b.calls);
                t.duration_s = (t.duration_s - b.duration_s).max(0.0);
                t.read_bytes = t.read_bytes.saturating_sub(b.read_bytes);
                t.write_bytes = t.write_bytes.saturating_sub(b.write_bytes);
                t.cross_slot = t.cross_slot.saturating_sub(b.cross_slot);
                t.allowed = t.allowed.saturating_sub(b.allowed);
            }
            sum.calls += t.calls;
            sum.duration_s += t.duration_s;
            sum.read_bytes += t.read_bytes;
            sum.write_bytes += t.write_bytes;
            sum.cross_slot += t.cross_slot;
            sum.allowed += t.allowed;
            per.push((field_name(name), t));
        }
        let mut put = |prefix: &str, t: &Totals| {
            let mut int = |k: &str, v: u64| {
                if v > 0 {
                    out.insert(format!("{prefix}_{k}"), Value::from(v));
                }
            };
            int("calls", t.calls);
            int("read_bytes", t.read_bytes);
            int("write_bytes", t.write_bytes);
            int("cross_slot_calls", t.cross_slot);
            int("allowed_cross_slot_calls", t.allowed);
            let d = (t.duration_s * 1e6).round() / 1e6;
            if d > 0.0 {
                out.insert(format!("{prefix}_duration_s"), Value::from(d));
            }
        };
        put("redis", &sum);
        for (name, t) in &per {
            put(&format!("redis_{name}"), t);
        }
        out
    }
}

fn field_name(store: &str) -> String {
    store
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The current log fields of every store (see [`Snapshot::log_fields`]).
pub fn log_fields() -> Map<String, Value> {
    snapshot().log_fields()
}

/// Logs the current figures as one JSON line through the `log` crate (target
/// `slotshift::instrument`, level info).
pub fn log_stats() {
    let fields = Value::Object(log_fields());
    log::info!(target: "slotshift::instrument", "{fields}");
}

// ---------------------------------------------------------------------------------------------
// The store's hook points

/// What a store runs before and after each call: validator, recorder, stats.
#[derive(Debug)]
pub(crate) struct StoreHooks {
    pub(crate) name: Arc<str>,
    pub(crate) stats: Option<Arc<StoreStats>>,
    pub(crate) validator: StoreValidator,
    pub(crate) batch_limit: usize,
}

/// What the hooks of one store are built from (the store's name, whether it counts, its
/// validation mode and batch limit): [`StoreOptions::hooks`](crate::store::StoreOptions::hooks).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HookOptions {
    /// The store's name (metrics label, validator counts).
    pub name: String,
    /// Count calls, durations, bytes, errors.
    pub instrument: bool,
    /// This store's cross-slot validation mode; `None`: the global mode.
    pub cross_slot_validation: Option<crate::validator::Mode>,
    /// Commands per batch of the CrossSlot batcher; `None`: the environment, else 1000.
    pub batch_limit: Option<usize>,
}

/// Started by [`StoreHooks::before`]; carries the clock when stats are on.
#[derive(Debug)]
pub(crate) struct Probe {
    start: Option<Instant>,
}

impl StoreHooks {
    pub(crate) fn new(opts: &HookOptions) -> Result<StoreHooks, Error> {
        crate::validator::env_mode()?;
        let name: Arc<str> = Arc::from(opts.name.as_str());
        Ok(StoreHooks {
            stats: opts.instrument.then(|| store_stats(&name)),
            validator: StoreValidator::new(name.clone(), opts.cross_slot_validation),
            batch_limit: crate::pipeline::resolve_batch_limit(opts.batch_limit)?,
            name,
        })
    }

    /// Validates, records, starts the clock. `Err`: refused by the validator; nothing sent.
    #[inline]
    pub(crate) fn before(&self, cmds: &[Cmd], via: Via) -> Result<Probe, Error> {
        if let Err(e) = self.validator.enforce(cmds, via == Via::Transaction) {
            let e = Error::Validator(e);
            if let Some(s) = &self.stats {
                s.record_refused(&e);
            }
            return Err(e);
        }
        if recorder::any_active() {
            recorder::capture(&self.name, cmds, via);
        }
        Ok(Probe {
            start: self.stats.as_ref().map(|_| Instant::now()),
        })
    }

    pub(crate) fn after_call(&self, probe: Probe, cmd: &Cmd, result: &Result<Reply, Error>) {
        let (Some(stats), Some(start)) = (&self.stats, probe.start) else {
            return;
        };
        let mut it = std::iter::once(result.as_ref());
        stats.record(
            std::slice::from_ref(cmd),
            &mut it,
            None,
            start.elapsed(),
            false,
        );
    }

    pub(crate) fn after_pipeline(
        &self,
        probe: Probe,
        cmds: &[Cmd],
        result: &Result<Vec<Result<Reply, Error>>, Error>,
    ) {
        let (Some(stats), Some(start)) = (&self.stats, probe.start) else {
            return;
        };
        match result {
            Ok(rs) => {
                let mut it = rs.iter().map(|r| r.as_ref());
                stats.record(cmds, &mut it, None, start.elapsed(), true);
            }
            Err(e) => stats.record(
                cmds,
                &mut std::iter::empty(),
                Some(e),
                start.elapsed(),
                true,
            ),
        }
    }

    pub(crate) fn after_transaction(
        &self,
        probe: Probe,
        cmds: &[Cmd],
        result: &Result<Option<Vec<Reply>>, Error>,
    ) {
        let (Some(stats), Some(start)) = (&self.stats, probe.start) else {
            return;
        };
        match result {
            Ok(Some(rs)) => {
                let mut it = rs.iter().map(|r| match r {
                    Reply::Error(_) => Ok(&Reply::Nil),
                    r => Ok(r),
                });
                stats.record(cmds, &mut it, None, start.elapsed(), true);
            }
            Ok(None) => stats.record(cmds, &mut std::iter::empty(), None, start.elapsed(), true),
            Err(e) => stats.record(
                cmds,
                &mut std::iter::empty(),
                Some(e),
                start.elapsed(),
                true,
            ),
        }
    }

    /// The batch observer for the batcher (`None` when stats are off).
    pub(crate) fn batch_observer(&self) -> Option<impl Fn(usize) + Send + Sync + '_> {
        self.stats
            .as_ref()
            .map(|s| move |n: usize| s.record_batch(n))
    }
}
