//! Per-store figures: calls, durations, bytes, errors, pipeline and batch sizes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::command::{Cmd, KeyTable};
use crate::net::RouterStats;
use crate::reply::Reply;
use crate::Error;

/// Upper bounds (seconds) of the duration histogram: Prometheus' defaults below 10 ms refined,
/// and GitLab's 0.5 / 0.75 / 1 s kept.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
];

/// Upper bounds of the pipeline and batch size histograms (commands).
pub const SIZE_BUCKETS: [f64; 7] = [1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0, 1_000_000.0];

/// A histogram with fixed buckets: cumulative counts are computed when rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last entry is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Adds `n` observations of `value`.
    pub(crate) fn observe_n(&mut self, value: f64, n: u64) {
        let i = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += n;
        self.sum += value * n as f64;
        self.count += n;
    }

    /// The bucket bounds.
    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// Cumulative counts per bound, then `+Inf`.
    pub fn cumulative(&self) -> Vec<u64> {
        let mut acc = 0;
        self.counts
            .iter()
            .map(|c| {
                acc += c;
                acc
            })
            .collect()
    }

    /// The sum of the observed values.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest bound that holds an observation (`f64::INFINITY` past the last), or 0.
    pub fn max_bucket(&self) -> f64 {
        match self.counts.iter().rposition(|&c| c > 0) {
            Some(i) if i < self.bounds.len() => self.bounds[i],
            Some(_) => f64::INFINITY,
            None => 0.0,
        }
    }
}

/// The figures of one command name on one store.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommandStats {
    /// Commands sent (a pipeline of N counts N).
    pub calls: u64,
    /// Bytes written: the sum of the arguments' lengths, RESP framing left out (GitLab's
    /// definition: `SET foo bar` is 9).
    pub write_bytes: u64,
    /// Bytes read: the sum of the lengths of every scalar in the reply, recursively, as text
    /// (`OK` is 2, the integer 1001 is 4, nil and empty arrays 0).
    pub read_bytes: u64,
    /// Durations; a pipeline of N commands that took T observes T/N, N times.
    pub duration: Histogram,
}

impl CommandStats {
    fn new() -> CommandStats {
        CommandStats {
            calls: 0,
            write_bytes: 0,
            read_bytes: 0,
            duration: Histogram::new(&DURATION_BUCKETS),
        }
    }
}

/// Everything counted for one store name.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreSnapshot {
    /// The store's name (`instance_name`).
    pub name: String,
    /// Per command name (lower case, as the key table spells it; `unknown` otherwise).
    pub commands: std::collections::BTreeMap<String, CommandStats>,
    /// Errors by kind (`server`, `connection`, `timeout`, `routing`, `cross_slot`,
    /// `partial_failure`, `cannot_split`, `other`).
    pub errors: std::collections::BTreeMap<&'static str, u64>,
    /// Caller's pipelines by size (commands).
    pub pipelines: Histogram,
    /// Batches the CrossSlot batcher sent, by size (commands).
    pub batches: Histogram,
    /// The largest batch sent.
    pub max_batch: u64,
    /// Redirections and retries the store's router saw (summed over live stores of this name).
    pub router: RouterStats,
    /// Cross-slot counts of the validator.
    pub cross_slot: crate::validator::Counts,
}

impl StoreSnapshot {
    /// Commands sent, all names.
    pub fn calls(&self) -> u64 {
        self.commands.values().map(|c| c.calls).sum()
    }

    /// Bytes written, all names.
    pub fn write_bytes(&self) -> u64 {
        self.commands.values().map(|c| c.write_bytes).sum()
    }

    /// Bytes read, all names.
    pub fn read_bytes(&self) -> u64 {
        self.commands.values().map(|c| c.read_bytes).sum()
    }

    /// Total time, all names (seconds).
    pub fn duration_s(&self) -> f64 {
        self.commands.values().map(|c| c.duration.sum()).sum()
    }

    /// The figures of one command (case-insensitive), if it was sent.
    pub fn command(&self, name: &str) -> Option<&CommandStats> {
        self.commands.get(&name.to_ascii_lowercase())
    }
}

/// Per-name sums of one call, before they go under the lock.
struct Tally {
    label: &'static str,
    calls: u64,
    write: u64,
    read: u64,
}

type RouterSource = Box<dyn Fn() -> Option<RouterStats> + Send + Sync>;

#[derive(Debug)]
struct Inner {
    commands: HashMap<&'static str, CommandStats>,
    errors: HashMap<&'static str, u64>,
    pipelines: Histogram,
    batches: Histogram,
    max_batch: u64,
}

/// The live figures of one store name. Shared by every store opened under that name.
pub struct StoreStats {
    name: Arc<str>,
    inner: Mutex<Inner>,
    routers: Mutex<Vec<RouterSource>>,
}

impl std::fmt::Debug for StoreStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreStats")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The label of a command: the key table's (static, lower-case) name.
pub(crate) fn command_label(cmd: &Cmd) -> &'static str {
    KeyTable::builtin()
        .get(cmd.name())
        .map(|i| i.name())
        .unwrap_or("unknown")
}

/// GitLab's read size of a reply.
pub fn read_size(reply: &Reply) -> u64 {
    match reply {
        Reply::Nil => 0,
        Reply::Int(i) => int_len(*i),
        Reply::Bulk(b) => b.len() as u64,
        Reply::Status(s) => s.len() as u64,
        Reply::Array(items) | Reply::Set(items) => items.iter().map(read_size).sum(),
        Reply::Map(pairs) => pairs.iter().map(|(k, v)| read_size(k) + read_size(v)).sum(),
        Reply::Double(d) => d.to_string().len() as u64,
        Reply::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Reply::Verbatim { text, .. } => text.len() as u64,
        Reply::BigNumber(d) => d.len() as u64,
        // An error reply raises in the caller's language: nothing is read as data.
        Reply::Error(_) => 0,
    }
}

fn int_len(i: i64) -> u64 {
    let mut n = if i < 0 { 2 } else { 1 };
    let mut v = i.unsigned_abs();
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

/// The kind label of an error.
pub(crate) fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::Server(_) => "server",
        Error::Connection(c) if c.kind == crate::net::ConnectionErrorKind::Timeout => "timeout",
        Error::Connection(_) => "connection",
        Error::Routing(_) => "routing",
        Error::Validator(_) => "cross_slot",
        Error::Pipeline(crate::pipeline::PipelineError::PartialFailure(_)) => "partial_failure",
        Error::Pipeline(crate::pipeline::PipelineError::CannotSplit { .. }) => "cannot_split",
        Error::Pipeline(crate::pipeline::PipelineError::NodeFailed { .. }) => "connection",
        _ => "other",
    }
}

impl StoreStats {
    pub(crate) fn new(name: Arc<str>) -> StoreStats {
        StoreStats {
            name,
            inner: Mutex::new(Inner {
                commands: HashMap::new(),
                errors: HashMap::new(),
                pipelines: Histogram::new(&SIZE_BUCKETS),
                batches: Histogram::new(&SIZE_BUCKETS),
                max_batch: 0,
            }),
            routers: Mutex::new(Vec::new()),
        }
    }

    /// The store name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn add_router_source(&self, source: RouterSource) {
        let mut routers = self.routers.lock();
        // Forget stores that are gone.
        routers.retain(|s| s().is_some());
        routers.push(source);
    }

    /// Records commands and their results. `results` holds one entry per command, or is
    /// empty when the whole call failed with `whole_error`.
    pub(crate) fn record(
        &self,
        cmds: &[Cmd],
        replies: &mut dyn Iterator<Item = Result<&Reply, &Error>>,
        whole_error: Option<&Error>,
        elapsed: Duration,
        pipelined: bool,
    ) {
        let per = elapsed.as_secs_f64() / cmds.len().max(1) as f64;
        // Add up per command name without the lock (pipelines are mostly one or two names,
        // so the name is compared with the previous command's before it is looked up).
        let mut local: SmallVec<[Tally; 4]> = SmallVec::new();
        let mut errors: SmallVec<[&'static str; 2]> = SmallVec::new();
        let mut last: Option<(&[u8], usize)> = None;
        for cmd in cmds {
            let name = cmd.name();
            let i = match last {
                Some((n, i)) if n == name => i,
                _ => {
                    let label = command_label(cmd);
                    let i = match local.iter().position(|t| t.label == label) {
                        Some(i) => i,
                        None => {
                            local.push(Tally {
                                label,
                                calls: 0,
                                write: 0,
                                read: 0,
                            });
                            local.len() - 1
                        }
                    };
                    last = Some((name, i));
                    i
                }
            };
            let read = match replies.next() {
                Some(Ok(r)) => read_size(r),
                Some(Err(e)) => {
                    errors.push(error_kind(e));
                    0
                }
                None => 0,
            };
            let t = &mut local[i];
            t.calls += 1;
            t.write += cmd.byte_len() as u64;
            t.read += read;
        }
        if let Some(e) = whole_error {
            errors.push(error_kind(e));
        }
        let mut inner = self.inner.lock();
        if pipelined {
            inner.pipelines.observe_n(cmds.len() as f64, 1);
        }
        for t in local {
            let s = inner
                .commands
                .entry(t.label)
                .or_insert_with(CommandStats::new);
            s.calls += t.calls;
            s.write_bytes += t.write;
            s.read_bytes += t.read;
            s.duration.observe_n(per, t.calls);
        }
        for e in errors {
            *inner.errors.entry(e).or_default() += 1;
        }
    }

    /// Counts an error of a call that was not sent (refused by the validator).
    pub(crate) fn record_refused(&self, e: &Error) {
        *self.inner.lock().errors.entry(error_kind(e)).or_default() += 1;
    }

    pub(crate) fn record_batch(&self, size: usize) {
        let mut inner = self.inner.lock();
        inner.batches.observe_n(size as f64, 1);
        inner.max_batch = inner.max_batch.max(size as u64);
    }

    /// A snapshot of every figure.
    pub fn snapshot(&self) -> StoreSnapshot {
        let inner = self.inner.lock();
        let mut router = RouterStats::default();
        for s in self.routers.lock().iter() {
            if let Some(r) = s() {
                router = add_router(router, r);
            }
        }
        StoreSnapshot {
            name: self.name.to_string(),
            commands: inner
                .commands
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            errors: inner.errors.iter().map(|(k, v)| (*k, *v)).collect(),
            pipelines: inner.pipelines.clone(),
            batches: inner.batches.clone(),
            max_batch: inner.max_batch,
            router,
            cross_slot: crate::validator::counts(&self.name),
        }
    }

    /// Sets every figure back to zero (the router's own counters are not touched).
    pub fn reset(&self) {
        let mut inner = self.inner.lock();
        inner.commands.clear();
        inner.errors.clear();
        inner.pipelines = Histogram::new(&SIZE_BUCKETS);
        inner.batches = Histogram::new(&SIZE_BUCKETS);
        inner.max_batch = 0;
    }
}

fn add_router(a: RouterStats, b: RouterStats) -> RouterStats {
    let mut out = a;
    out.moved += b.moved;
    out.ask += b.ask;
    out.tryagain += b.tryagain;
    out.retries += b.retries;
    out.refreshes += b.refreshes;
    out.connection_errors += b.connection_errors;
    out.commands += b.commands;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_read_sizes() {
        assert_eq!(read_size(&Reply::Status("OK".into())), 2);
        assert_eq!(read_size(&Reply::Int(1001)), 4);
        assert_eq!(read_size(&Reply::Int(-7)), 2);
        assert_eq!(read_size(&Reply::Int(0)), 1);
        assert_eq!(read_size(&Reply::Array(vec![])), 0);
        assert_eq!(read_size(&Reply::Nil), 0);
        let hgetall = Reply::Array(vec![
            Reply::Bulk(b"field".to_vec()),
            Reply::Bulk(b"value1".to_vec()),
        ]);
        assert_eq!(read_size(&hgetall), 11);
        let nested = Reply::Array(vec![Reply::Array(vec![
            Reply::Bulk(b"1-0".to_vec()),
            Reply::Array(vec![Reply::Bulk(b"f".to_vec()), Reply::Bulk(b"v".to_vec())]),
        ])]);
        assert_eq!(read_size(&nested), 5);
    }

    #[test]
    fn gitlab_write_size() {
        assert_eq!(Cmd::from_args(["SET", "foo", "bar"]).byte_len(), 9);
    }

    #[test]
    fn histogram_buckets() {
        let mut h = Histogram::new(&SIZE_BUCKETS);
        h.observe_n(7.0, 2);
        h.observe_n(1000.0, 1);
        h.observe_n(5e6, 1);
        assert_eq!(h.cumulative(), vec![0, 2, 2, 3, 3, 3, 3, 4]);
        assert_eq!(h.count(), 4);
        assert_eq!(h.max_bucket(), f64::INFINITY);
    }
}
