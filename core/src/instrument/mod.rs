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
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::command::Cmd;
use crate::lockfree::AppendList;
use crate::reply::Reply;
use crate::request::Totals;
use crate::validator::StoreValidator;
use crate::Error;

mod recorder;
mod registry;
mod stats;

pub use recorder::{Recorded, Recorder, Via};
pub use registry::{counter, Counter};
pub(crate) use registry::{families, Exposition, Family, Kind, Value as SampleValue};
pub(crate) use stats::{command_label, error_log_kind};
pub use stats::{
    read_size, CommandStats, Histogram, StoreSnapshot, StoreStats, DURATION_BUCKETS, SIZE_BUCKETS,
};

/// The user guide page, compiled so that its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/instrument.md")]
pub struct UserGuide;

// ---------------------------------------------------------------------------------------------
// Registry of store names (lock-free: see `crate::lockfree`)

static STORES: AppendList<Arc<StoreStats>> = AppendList::new();

/// The live figures of the store name `name` (created on first use).
pub fn store_stats(name: &str) -> Arc<StoreStats> {
    STORES
        .get_or_insert_with(
            |s| s.name() == name,
            || Arc::new(StoreStats::new(Arc::from(name))),
        )
        .clone()
}

/// A snapshot of one store name's figures, if any store of that name was instrumented.
pub fn stats(name: &str) -> Option<StoreSnapshot> {
    STORES
        .iter()
        .find(|s| s.name() == name)
        .map(|s| s.snapshot())
}

/// Snapshots of every instrumented store, by name.
pub fn snapshot() -> Snapshot {
    Snapshot {
        stores: STORES
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
    registry::set_prefix(prefix);
    Ok(())
}

/// The metric name prefix.
pub fn prefix() -> String {
    registry::prefix()
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition

/// Every figure in the Prometheus text format (version 0.0.4), names prefixed with
/// [`prefix`].
pub fn render_prometheus() -> String {
    render_prometheus_with_prefix(&prefix())
}

/// One figure of a command's stats.
type PerCommand = fn(&CommandStats) -> u64;
/// One figure of a store's snapshot.
type PerStore = for<'a> fn(&'a StoreSnapshot) -> SampleValue<'a>;

/// [`render_prometheus`] with an explicit prefix: the store families (one header each, one
/// sample per store name and label set), then every named counter.
pub fn render_prometheus_with_prefix(p: &str) -> String {
    use registry::Value::{Histogram as H, Int};
    let snap = snapshot();
    let stores: Vec<&StoreSnapshot> = snap.stores.values().collect();
    let mut x = Exposition::new(p);
    let per_command: [(&Family<'_>, PerCommand); 3] = [
        (&families::REQUESTS, |c| c.calls),
        (&families::WRITE_BYTES, |c| c.write_bytes),
        (&families::READ_BYTES, |c| c.read_bytes),
    ];
    for (f, get) in per_command {
        x.header(f);
        for s in &stores {
            for (c, st) in &s.commands {
                x.sample(f, &[&s.name, c], Int(get(st)));
            }
        }
    }
    x.header(&families::DURATION);
    for s in &stores {
        for (c, st) in &s.commands {
            x.sample(&families::DURATION, &[&s.name, c], H(&st.duration));
        }
    }
    x.header(&families::ERRORS);
    for s in &stores {
        for (k, n) in &s.errors {
            x.sample(&families::ERRORS, &[&s.name, k], Int(*n));
        }
    }
    x.header(&families::REDIRECTIONS);
    for s in &stores {
        for (k, n) in [
            ("moved", s.router.moved),
            ("ask", s.router.ask),
            ("tryagain", s.router.tryagain),
        ] {
            x.sample(&families::REDIRECTIONS, &[&s.name, k], Int(n));
        }
    }
    let per_store: [(&Family<'_>, PerStore); 5] = [
        (&families::RETRIES, |s| Int(s.router.retries)),
        (&families::PIPELINE_COMMANDS, |s| H(&s.pipelines)),
        (&families::BATCH_COMMANDS, |s| H(&s.batches)),
        (&families::CROSS_SLOT, |s| {
            Int(s.cross_slot.cross_slot + s.cross_slot.refused)
        }),
        (&families::ALLOWED_CROSS_SLOT, |s| Int(s.cross_slot.allowed)),
    ];
    for (f, get) in per_store {
        x.header(f);
        for s in &stores {
            x.sample(f, &[&s.name], get(s));
        }
    }
    registry::render_named(&mut x);
    x.finish()
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
    /// that are zero are left out; durations are rounded to microseconds. For one request's
    /// figures under a multi-threaded server, see [`crate::request::RequestScope`].
    pub fn log_fields(&self) -> Map<String, Value> {
        self.fields(None)
    }

    /// [`log_fields`](Self::log_fields) of what happened since `earlier` (in the whole
    /// process: every thread's calls).
    pub fn since(&self, earlier: &Snapshot) -> Map<String, Value> {
        self.fields(Some(earlier))
    }

    fn fields(&self, earlier: Option<&Snapshot>) -> Map<String, Value> {
        let per = self.stores.iter().map(|(name, s)| {
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
            (name.as_str(), t)
        });
        crate::request::log_fields(per)
    }
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
