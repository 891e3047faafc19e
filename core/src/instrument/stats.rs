//! Per-store figures: calls, durations, bytes, errors, pipeline and batch sizes.
//!
//! Every figure is an atomic, allocated when the store name is first seen (one cell per
//! command of the key table, plus one for unknown commands): recording takes no lock, so a
//! thread forked away in the middle of a call cannot leave the child waiting for one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use smallvec::SmallVec;

use crate::command::{Cmd, KeyTable};
use crate::lockfree::AppendList;
use crate::net::{Counters, RouterStats};
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

#[cfg(test)]
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
}

impl Histogram {
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

/// A [`Histogram`] that threads update without a lock (the sum is an `f64` updated by
/// compare-and-swap).
pub(crate) struct AtomicHistogram {
    bounds: &'static [f64],
    counts: Box<[AtomicU64]>,
    sum_bits: AtomicU64,
    count: AtomicU64,
}

impl AtomicHistogram {
    pub(crate) fn new(bounds: &'static [f64]) -> AtomicHistogram {
        AtomicHistogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
            count: AtomicU64::new(0),
        }
    }

    /// Adds `n` observations of `value`.
    pub(crate) fn observe_n(&self, value: f64, n: u64) {
        if n == 0 {
            return;
        }
        let i = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(n, Ordering::Relaxed);
        }
        let add = value * n as f64;
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + add).to_bits())
            });
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// A copy (each figure read on its own: a copy taken during a call may count that call's
    /// bucket and not yet its sum).
    pub(crate) fn snapshot(&self) -> Histogram {
        Histogram {
            bounds: self.bounds,
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum: f64::from_bits(self.sum_bits.load(Ordering::Relaxed)),
            count: self.count.load(Ordering::Relaxed),
        }
    }

    fn reset(&self) {
        for c in self.counts.iter() {
            c.store(0, Ordering::Relaxed);
        }
        self.sum_bits.store(0f64.to_bits(), Ordering::Relaxed);
        self.count.store(0, Ordering::Relaxed);
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

/// The live figures of one command name.
struct CommandCell {
    calls: AtomicU64,
    write_bytes: AtomicU64,
    read_bytes: AtomicU64,
    duration: AtomicHistogram,
}

impl CommandCell {
    fn new() -> CommandCell {
        CommandCell {
            calls: AtomicU64::new(0),
            write_bytes: AtomicU64::new(0),
            read_bytes: AtomicU64::new(0),
            duration: AtomicHistogram::new(&DURATION_BUCKETS),
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
    /// `partial_failure`, `cannot_split`, `multistore`, `other`).
    pub errors: std::collections::BTreeMap<&'static str, u64>,
    /// Caller's pipelines by size (commands).
    pub pipelines: Histogram,
    /// The CrossSlot batcher's batches by size (commands): each node's share of a pipeline
    /// cut at the batch limit, the most that node has in flight at once.
    pub batches: Histogram,
    /// The largest batch.
    pub max_batch: u64,
    /// Redirections and retries the routers of the stores of this name saw: the live stores'
    /// figures plus the last figures seen of the stores already dropped, so they never go
    /// down.
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

/// Per-name sums of one call, before they reach the atomics.
struct Tally {
    index: usize,
    calls: u64,
    write: u64,
    read: u64,
}

type RouterSource = Box<dyn Fn() -> Option<RouterStats> + Send + Sync>;

/// One store's router, as seen by the stats of its name.
struct RouterEntry {
    source: RouterSource,
    last: Counters,
    /// The store is gone: `last` is final.
    gone: AtomicBool,
}

/// The live figures of one store name. Shared by every store opened under that name.
pub struct StoreStats {
    name: Arc<str>,
    /// One per key table command, then one for unknown commands.
    commands: Box<[CommandCell]>,
    errors: [AtomicU64; ERROR_KINDS.len()],
    pipelines: AtomicHistogram,
    batches: AtomicHistogram,
    max_batch: AtomicU64,
    routers: AppendList<RouterEntry>,
}

impl std::fmt::Debug for StoreStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreStats")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How many command names (as spelled) one [`StoreStats::record`] remembers before it looks
/// each further one up in the key table.
const SEEN_NAMES: usize = 8;

/// The index of a command's cell: its position in the key table, or the last cell.
fn command_index(cmd: &Cmd) -> usize {
    let table = KeyTable::builtin().commands();
    KeyTable::builtin()
        .get(cmd.name())
        .and_then(|info| {
            // The entry's position from its address in the table's slice (no search).
            let offset = (info as *const _ as usize).checked_sub(table.as_ptr() as usize)?;
            let i = offset / std::mem::size_of::<crate::command::CommandInfo>().max(1);
            table.get(i).filter(|c| std::ptr::eq(*c, info)).map(|_| i)
        })
        .unwrap_or(table.len())
}

fn index_label(i: usize) -> &'static str {
    KeyTable::builtin()
        .commands()
        .get(i)
        .map_or("unknown", |c| c.name())
}

/// The label of a command name: the key table's (static, lower-case) name for a known
/// command, otherwise the name itself made safe (lower case, printable, at most 32
/// characters). The one command label of every metric and log line.
pub(crate) fn command_label(name: &[u8]) -> std::borrow::Cow<'static, str> {
    match KeyTable::builtin().get(name) {
        Some(info) => std::borrow::Cow::Borrowed(info.name()),
        None => std::borrow::Cow::Owned(crate::text::label_word(name, 32)),
    }
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

/// Every error kind label, in a fixed order.
const ERROR_KINDS: [&str; 9] = [
    "server",
    "timeout",
    "connection",
    "routing",
    "cross_slot",
    "partial_failure",
    "cannot_split",
    "multistore",
    "other",
];

/// The kind label of an error: the one classification of metrics and logs (a log may add
/// the server's error code, [`error_log_kind`]).
pub(crate) fn error_kind(e: &Error) -> &'static str {
    ERROR_KINDS[error_kind_index(e)]
}

fn error_kind_index(e: &Error) -> usize {
    match e {
        Error::Server(_) => 0,
        Error::Connection(c) if c.kind == crate::net::ConnectionErrorKind::Timeout => 1,
        Error::Connection(_) => 2,
        Error::Routing(_) => 3,
        Error::Validator(_) => 4,
        Error::Pipeline(crate::pipeline::PipelineError::PartialFailure(_)) => 5,
        Error::Pipeline(crate::pipeline::PipelineError::CannotSplit { .. }) => 6,
        Error::MultiStore(_) => 7,
        _ => 8,
    }
}

/// [`error_kind`] for a log line: with the server's error code (`server:WRONGTYPE`), never
/// the error's text (which may quote a value).
pub(crate) fn error_log_kind(e: &Error) -> String {
    match e {
        Error::Server(s) => format!("server:{}", s.code()),
        _ => error_kind(e).to_owned(),
    }
}

impl StoreStats {
    pub(crate) fn new(name: Arc<str>) -> StoreStats {
        let cells = KeyTable::builtin().commands().len() + 1;
        StoreStats {
            name,
            commands: (0..cells).map(|_| CommandCell::new()).collect(),
            errors: Default::default(),
            pipelines: AtomicHistogram::new(&SIZE_BUCKETS),
            batches: AtomicHistogram::new(&SIZE_BUCKETS),
            max_batch: AtomicU64::new(0),
            routers: AppendList::new(),
        }
    }

    /// The store name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a live store's router counters (`source` answers `None` once the store is gone;
    /// its last figures then stay in the totals).
    pub(crate) fn add_router_source(&self, source: RouterSource) {
        let first = source();
        let entry = self.routers.push(RouterEntry {
            source,
            last: Counters::default(),
            gone: AtomicBool::new(false),
        });
        if let Some(r) = first {
            entry.last.raise_to(&r);
        }
    }

    /// The router figures: every store's last seen, refreshed from the live ones.
    fn router(&self) -> RouterStats {
        let mut out = RouterStats::default();
        for e in self.routers.iter() {
            if !e.gone.load(Ordering::Acquire) {
                match (e.source)() {
                    Some(r) => e.last.raise_to(&r),
                    None => e.gone.store(true, Ordering::Release),
                }
            }
            out += e.last.snapshot();
        }
        out
    }

    fn count_error(&self, e: &Error) {
        self.errors[error_kind_index(e)].fetch_add(1, Ordering::Relaxed);
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
        // Add up per command name first (pipelines mostly repeat a few names, so a name is
        // compared with the first few names seen before it is looked up).
        let mut local: SmallVec<[Tally; 4]> = SmallVec::new();
        let mut seen: SmallVec<[(&[u8], usize); SEEN_NAMES]> = SmallVec::new();
        for cmd in cmds {
            let name = cmd.name();
            let i = match seen.iter().find(|(n, _)| *n == name) {
                Some(&(_, i)) => i,
                None => {
                    let index = command_index(cmd);
                    let i = match local.iter().position(|t| t.index == index) {
                        Some(i) => i,
                        None => {
                            local.push(Tally {
                                index,
                                calls: 0,
                                write: 0,
                                read: 0,
                            });
                            local.len() - 1
                        }
                    };
                    if seen.len() < SEEN_NAMES {
                        seen.push((name, i));
                    }
                    i
                }
            };
            let read = match replies.next() {
                Some(Ok(r)) => read_size(r),
                Some(Err(e)) => {
                    self.count_error(e);
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
            self.count_error(e);
        }
        if pipelined {
            self.pipelines.observe_n(cmds.len() as f64, 1);
        }
        let (mut calls, mut write, mut read) = (0, 0, 0);
        for t in &local {
            calls += t.calls;
            write += t.write;
            read += t.read;
        }
        crate::request::add_calls(&self.name, calls, write, read, elapsed.as_secs_f64());
        for t in local {
            let Some(cell) = self.commands.get(t.index) else {
                continue;
            };
            cell.calls.fetch_add(t.calls, Ordering::Relaxed);
            cell.write_bytes.fetch_add(t.write, Ordering::Relaxed);
            cell.read_bytes.fetch_add(t.read, Ordering::Relaxed);
            cell.duration.observe_n(per, t.calls);
        }
    }

    /// Counts an error of a call that was not sent (refused by the validator).
    pub(crate) fn record_refused(&self, e: &Error) {
        self.count_error(e);
    }

    pub(crate) fn record_batch(&self, size: usize) {
        self.batches.observe_n(size as f64, 1);
        self.max_batch.fetch_max(size as u64, Ordering::Relaxed);
    }

    /// A snapshot of every figure.
    pub fn snapshot(&self) -> StoreSnapshot {
        StoreSnapshot {
            name: self.name.to_string(),
            commands: self
                .commands
                .iter()
                .enumerate()
                .filter(|(_, c)| c.calls.load(Ordering::Relaxed) > 0 || c.duration.count() > 0)
                .map(|(i, c)| {
                    (
                        index_label(i).to_owned(),
                        CommandStats {
                            calls: c.calls.load(Ordering::Relaxed),
                            write_bytes: c.write_bytes.load(Ordering::Relaxed),
                            read_bytes: c.read_bytes.load(Ordering::Relaxed),
                            duration: c.duration.snapshot(),
                        },
                    )
                })
                .collect(),
            errors: ERROR_KINDS
                .iter()
                .zip(self.errors.iter())
                .map(|(k, n)| (*k, n.load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            pipelines: self.pipelines.snapshot(),
            batches: self.batches.snapshot(),
            max_batch: self.max_batch.load(Ordering::Relaxed),
            router: self.router(),
            cross_slot: crate::validator::counts(&self.name),
        }
    }

    /// Sets every figure back to zero (the router's own counters are not touched).
    pub fn reset(&self) {
        for c in self.commands.iter() {
            c.calls.store(0, Ordering::Relaxed);
            c.write_bytes.store(0, Ordering::Relaxed);
            c.read_bytes.store(0, Ordering::Relaxed);
            c.duration.reset();
        }
        for e in &self.errors {
            e.store(0, Ordering::Relaxed);
        }
        self.pipelines.reset();
        self.batches.reset();
        self.max_batch.store(0, Ordering::Relaxed);
    }
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
