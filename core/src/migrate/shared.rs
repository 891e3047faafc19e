//! One migration, diff or analysis shared by several processes, on one machine or many.
//!
//! The job's slots (all 16,384, or the filter's `slots`) are cut into ranges. Each process
//! leases ranges from a **coordinator** — any Redis, standalone or cluster (the destination
//! itself will do) — runs the ordinary [`migrate`], [`diff`] or
//! [`analyze`] on each range it holds, records the range's report
//! there, and leases the next.
//! A lease lasts [`SharedOptions::lease`] and is renewed while its range runs: the range of a
//! process that dies or is cut off goes to another process once its lease runs out, so the job
//! finishes as long as one process runs. A process that finds no range left to lease waits for
//! the ranges others hold, then returns the one merged report of every range — every process
//! of a job ends with the same report.
//!
//! **Resuming** is by range: a range recorded as done stays done; a process killed mid-range
//! leaves that range to be done again (copy and compare are idempotent). Start processes again
//! with the same job name to continue. Processes joining a finished job return its report
//! without touching either store; a new run takes a new job name.
//!
//! **What the coordinator holds**, under one hash tag (one node of a cluster holds it all) and
//! for a week after the last range finished: `slotshift:job:{NAME}:job` (a hash: kind,
//! settings, ranges, start and end times), `…:leases` (range → `expiry-ms|worker`) and `…:done`
//! (range → its report as JSON). Every change to them is one Lua script, and lease times are the
//! coordinator's clock (`TIME`): the processes' clocks do not matter.
//!
//! **Ranges and cost**: on a cluster source a range is walked slot by slot, so all the ranges
//! together walk the source once. On a standalone or Sentinel source a range is a `SCAN` of the
//! whole keyspace that keeps the range's keys, so each range scans everything; such a job is cut
//! into 8 ranges by default, a cluster source's into 64. Ranges are handed out spread over the
//! slot space (bit-reversed order), so processes that start together work on different masters.
//!
//! ```no_run
//! use slotshift::migrate::{migrate_shared, MigrateOptions, SharedOptions};
//! use slotshift::store::Store;
//!
//! let old = Store::open("redis://10.0.0.1:6379")?;
//! let new = Store::open("redis://10.0.0.2:7000")?; // any node of the cluster
//! // Run this same program on N machines: they share the job "move-2026-12".
//! let report = migrate_shared(&old, &new, &new, &MigrateOptions::default(),
//!                             &SharedOptions::new("move-2026-12"))?;
//! println!("{}", report.to_text());
//! # Ok::<(), slotshift::Error>(())
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::copy::migrate_settings;
use super::diff::{diff_settings, sorted_run_ids};
use super::{
    diff, migrate, DiffOptions, DiffReport, MigrateError, MigrateOptions, MigrateReport, Progress,
};
use crate::analyzer::{analyze, AnalyzeOptions, ProgressInfo, Report as AnalyzerReport};
use crate::command::Cmd;
use crate::reply::Reply;
use crate::store::{Store, StoreKind};
use crate::Result;

/// How a process takes part in a shared job. Start from [`SharedOptions::new`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SharedOptions {
    /// The job's name: processes that give the same name to the same coordinator share one
    /// job. Letters, digits, `.`, `_` and `-`; at most 64.
    pub job: String,
    /// Ranges the slots are cut into; the first process to join decides, the others follow.
    /// `None` (default): 64 for a cluster source, 8 for a standalone or Sentinel one.
    pub ranges: Option<u16>,
    /// How long a range stays leased without renewal (renewed every third of it). Default
    /// 30 s: a process that dies holds its range up to this long.
    pub lease: Duration,
    /// Ranges this process works on at once (each with the diff's or migration's own
    /// `workers`). `None` (default): 4 for a cluster source — ranges handed out one after
    /// another lie on different masters, so one process keeps several masters busy, as a
    /// plain run does — and 1 for a single server, whose every range scans it whole.
    pub at_once: Option<usize>,
    /// This process's name in the leases and logs. Default: `host:pid:random`.
    pub worker: Option<String>,
    /// How often a process with nothing left to lease looks whether the others are done.
    /// Default 200 ms.
    pub poll: Duration,
}

impl SharedOptions {
    /// Options for joining the job `job`, with the defaults.
    pub fn new(job: impl Into<String>) -> SharedOptions {
        SharedOptions {
            job: job.into(),
            ranges: None,
            at_once: None,
            lease: Duration::from_secs(30),
            worker: None,
            poll: Duration::from_millis(200),
        }
    }
}

/// Runs `opts`' migration as one process of the shared job `shared.job` kept in
/// `coordinator` (see the [module](self)); returns the merged report of every range, once
/// every range is done (or, after a cancel, of the ranges done so far, `complete: false`).
///
/// `opts.rate` is this process's: its lanes share it. Refuses a checkpoint (the coordinator
/// keeps the job's progress), a mismatch log (the merged report lists the differences) and
/// settings other than the job's.
pub fn migrate_shared(
    src: &Store,
    dst: &Store,
    coordinator: &Store,
    opts: &MigrateOptions,
    shared: &SharedOptions,
) -> Result<MigrateReport> {
    let (parts, elapsed_ms) = run_shared(src, dst, coordinator, opts, shared)?;
    let mut report = MigrateReport::merged(opts.dry_run, &parts.reports, usize::MAX);
    report.complete &= parts.all_done;
    report.elapsed_ms = elapsed_ms;
    if let Some(d) = &mut report.final_diff {
        d.complete &= parts.all_done;
        d.elapsed_ms = elapsed_ms;
    }
    Ok(report)
}

/// Runs `opts`' analysis of `store` as one process of the shared job `shared.job` kept in
/// `coordinator`, as [`migrate_shared`] does: the report merges every range's rows by
/// pattern. For masked keys that compare across processes, give every process the same
/// `digest_key`.
pub fn analyze_shared(
    store: &Store,
    coordinator: &Store,
    opts: &AnalyzeOptions,
    shared: &SharedOptions,
) -> Result<AnalyzerReport> {
    let (parts, elapsed_ms) = run_shared(store, store, coordinator, opts, shared)?;
    let mut report = AnalyzerReport::merged(&parts.reports, opts.top, elapsed_ms);
    report.complete &= parts.all_done;
    Ok(report)
}

/// Runs `opts`' diff as one process of the shared job `shared.job` kept in `coordinator`,
/// as [`migrate_shared`] does.
pub fn diff_shared(
    src: &Store,
    dst: &Store,
    coordinator: &Store,
    opts: &DiffOptions,
    shared: &SharedOptions,
) -> Result<DiffReport> {
    let (parts, elapsed_ms) = run_shared(src, dst, coordinator, opts, shared)?;
    let mut report = DiffReport::merged(opts.mode, &parts.reports, opts.report_limit);
    report.complete &= parts.all_done;
    report.elapsed_ms = elapsed_ms;
    Ok(report)
}

/// The options of a job that runs by slot ranges: migrate's, diff's and the analyzer's.
trait Ranged: Clone + Sync {
    /// What one range reports.
    type Report: Part;
    /// `migrate`, `diff` or `analyze`.
    const KIND: &'static str;
    /// Takes the caller's progress callback, as a job-level sink (the ranges report into the
    /// job's progress instead).
    fn take_progress(&mut self) -> Option<JobProgressFn>;
    /// Makes a range report its progress to `sink`.
    fn report_to(&mut self, sink: Arc<dyn Fn(RangeSample) + Send + Sync>);
    /// The settings processes of one job must share.
    fn settings(&self, src: &Store, dst: &Store) -> Result<BTreeMap<String, String>>;
    /// The slots asked for (the job's slots: all when `None`).
    fn slots(&self) -> Option<(u16, u16)>;
    /// Narrows to `slots`, leaving out keys that start with `skip`.
    fn narrow(&mut self, slots: (u16, u16), skip: Vec<u8>);
    fn rate_mut(&mut self) -> &mut Option<u64>;
    fn cancel(&self) -> Option<&AtomicBool>;
    /// Whether a checkpoint or a mismatch log is asked for (one process's run only).
    fn solo(&self) -> (bool, bool);
    fn run(&self, src: &Store, dst: &Store) -> Result<Self::Report>;
}

/// The accessors of `rate` and `cancel`, which the three option structs have by those names.
macro_rules! rate_and_cancel {
    () => {
        fn rate_mut(&mut self) -> &mut Option<u64> {
            &mut self.rate
        }
        fn cancel(&self) -> Option<&AtomicBool> {
            self.cancel.as_deref()
        }
    };
}

/// The accessors of the fields migrate's and diff's options have, by the same names.
macro_rules! same_fields {
    () => {
        rate_and_cancel!();
        fn slots(&self) -> Option<(u16, u16)> {
            self.filter.slots
        }
        fn narrow(&mut self, slots: (u16, u16), skip: Vec<u8>) {
            self.filter.slots = Some(slots);
            self.filter.skip_prefix = Some(skip);
        }
        fn solo(&self) -> (bool, bool) {
            (self.checkpoint.is_some(), self.mismatch_log.is_some())
        }
    };
}

/// The progress of migrate's and diff's ranges, whose main stage is `$stage`.
macro_rules! transfer_progress {
    ($stage:literal) => {
        fn take_progress(&mut self) -> Option<JobProgressFn> {
            let f = self.progress.take()?;
            Some(Box::new(move |s: &JobSample| {
                f(&Progress {
                    stage: $stage,
                    keys: s.keys,
                    total: s.total,
                    differences: s.differences,
                    copied: s.copied,
                    elapsed: s.elapsed,
                })
            }))
        }
        fn report_to(&mut self, sink: Arc<dyn Fn(RangeSample) + Send + Sync>) {
            self.progress = Some(Arc::new(move |p: &Progress| {
                sink(RangeSample {
                    main: p.stage == $stage,
                    keys: p.keys,
                    total: p.total,
                    copied: p.copied,
                    differences: p.differences,
                })
            }));
        }
    };
}

impl Ranged for MigrateOptions {
    type Report = MigrateReport;
    const KIND: &'static str = "migrate";
    transfer_progress!("copy");
    fn settings(&self, src: &Store, dst: &Store) -> Result<BTreeMap<String, String>> {
        migrate_settings(src, dst, self)
    }
    same_fields!();
    fn run(&self, src: &Store, dst: &Store) -> Result<MigrateReport> {
        migrate(src, dst, self)
    }
}

impl Ranged for DiffOptions {
    type Report = DiffReport;
    const KIND: &'static str = "diff";
    transfer_progress!("diff");
    fn settings(&self, src: &Store, dst: &Store) -> Result<BTreeMap<String, String>> {
        diff_settings(src, dst, self)
    }
    same_fields!();
    fn run(&self, src: &Store, dst: &Store) -> Result<DiffReport> {
        diff(src, dst, self)
    }
}

impl Ranged for AnalyzeOptions {
    type Report = AnalyzerReport;
    const KIND: &'static str = "analyze";
    fn take_progress(&mut self) -> Option<JobProgressFn> {
        let f = self.progress.take()?;
        Some(Box::new(move |s: &JobSample| {
            let secs = s.elapsed.as_secs_f64();
            let rate = if secs > 0.0 {
                s.keys as f64 / secs
            } else {
                0.0
            };
            let left = s.total.saturating_sub(s.keys) as f64;
            f.update(&ProgressInfo {
                keys: s.keys,
                total: s.total,
                keys_per_sec: rate,
                eta: (rate > 0.0).then(|| Duration::from_secs_f64(left / rate)),
                elapsed: s.elapsed,
            });
        }))
    }
    fn report_to(&mut self, sink: Arc<dyn Fn(RangeSample) + Send + Sync>) {
        self.progress = Some(Arc::new(move |p: &ProgressInfo| {
            sink(RangeSample {
                main: true,
                keys: p.keys,
                total: p.total,
                copied: 0,
                differences: 0,
            })
        }));
    }
    /// The analysed store (`src`; `dst` is the same) and what shapes the report.
    fn settings(&self, src: &Store, _: &Store) -> Result<BTreeMap<String, String>> {
        let mut s = BTreeMap::new();
        s.insert("source".into(), sorted_run_ids(src)?);
        let text =
            |v: &Option<Vec<u8>>| String::from_utf8_lossy(v.as_deref().unwrap_or(b"")).into_owned();
        s.insert("match".into(), text(&self.match_pattern));
        s.insert("type".into(), self.key_type.clone().unwrap_or_default());
        let slots = self.slots.map(|(a, b)| format!("{a}-{b}"));
        s.insert("slots".into(), slots.unwrap_or_default());
        let samples = self.samples.map(|n| n.to_string());
        s.insert("samples".into(), samples.unwrap_or_default());
        s.insert("show_keys".into(), self.show_keys.to_string());
        s.insert("top".into(), self.top.to_string());
        s.insert("rules".into(), self.rules.len().to_string());
        Ok(s)
    }
    fn slots(&self) -> Option<(u16, u16)> {
        self.slots
    }
    fn narrow(&mut self, slots: (u16, u16), skip: Vec<u8>) {
        self.slots = Some(slots);
        self.skip_prefix = Some(skip);
    }
    rate_and_cancel!();
    fn solo(&self) -> (bool, bool) {
        (self.checkpoint.is_some(), false)
    }
    fn run(&self, src: &Store, _: &Store) -> Result<AnalyzerReport> {
        analyze(src, self)
    }
}

/// Joins the job, then runs each range this process leases with `opts` narrowed to it and a
/// lane's share of the rate; every range's report and the job's wall time.
fn run_shared<O: Ranged>(
    src: &Store,
    dst: &Store,
    coordinator: &Store,
    opts: &O,
    shared: &SharedOptions,
) -> Result<(Parts<O::Report>, u64)> {
    let (checkpoint, mismatch_log) = opts.solo();
    solo_options(checkpoint, mismatch_log)?;
    let settings = opts.settings(src, dst)?;
    let mut opts = opts.clone();
    let job = Job::join(coordinator, shared, O::KIND, &settings, src, opts.slots())?;
    let rate = *opts.rate_mut();
    *opts.rate_mut() = job.lane_rate(rate);
    let progress = opts.take_progress().map(|emit| {
        Arc::new(JobProgress {
            emit,
            started: Instant::now(),
            keys_done: job.keys_done.clone(),
            state: parking_lot::Mutex::new(ProgressState::default()),
        })
    });
    let out = job.run(opts.cancel(), |i, slots| {
        let mut range = opts.clone();
        range.narrow(slots, job.prefix.clone().into_bytes());
        if let Some(p) = &progress {
            let p = p.clone();
            range.report_to(Arc::new(move |s: RangeSample| p.sample(i, s)));
        }
        let report = range.run(src, dst);
        if let Some(p) = &progress {
            p.range_ended(i);
        }
        report
    })?;
    if let Some(p) = &progress {
        p.emit();
    }
    Ok(out)
}

/// What a range's progress callback saw last.
#[derive(Debug, Clone, Copy, Default)]
struct RangeSample {
    /// In the job's main stage (`copy`, `diff`, the analyzer's walk): `keys` counts.
    main: bool,
    keys: u64,
    /// Keys of the store the stage walks, all of it.
    total: u64,
    copied: u64,
    differences: u64,
}

/// What the job's progress shows.
#[derive(Debug, Clone, Copy)]
struct JobSample {
    /// Keys of the ranges done (all processes) and of this process's ranges in flight.
    keys: u64,
    total: u64,
    /// This process's.
    copied: u64,
    /// This process's.
    differences: u64,
    elapsed: Duration,
}

/// A job-level progress sink.
type JobProgressFn = Box<dyn Fn(&JobSample) + Send + Sync>;

/// Folds the progress of this process's ranges in flight, and the keys of every range done,
/// into the job's progress, shown through the caller's callback.
struct JobProgress {
    emit: JobProgressFn,
    started: Instant,
    keys_done: Arc<AtomicU64>,
    state: parking_lot::Mutex<ProgressState>,
}

#[derive(Default)]
struct ProgressState {
    in_flight: BTreeMap<u16, RangeSample>,
    /// Of this process's ranges that ended.
    copied: u64,
    differences: u64,
    total: u64,
}

impl JobProgress {
    fn sample(&self, range: u16, s: RangeSample) {
        {
            let mut st = self.state.lock();
            if s.main {
                // Other stages count other stores (a reverse pass, the destination).
                st.total = st.total.max(s.total);
            }
            let seen = st.in_flight.entry(range).or_default();
            if s.main {
                seen.keys = s.keys;
            }
            // A range's later stages count from zero again: keep the most it reached.
            seen.copied = seen.copied.max(s.copied);
            seen.differences = seen.differences.max(s.differences);
        }
        self.emit();
    }

    /// A range ended: its keys count through the coordinator from now on.
    fn range_ended(&self, range: u16) {
        let mut st = self.state.lock();
        if let Some(seen) = st.in_flight.remove(&range) {
            st.copied += seen.copied;
            st.differences += seen.differences;
        }
    }

    fn emit(&self) {
        let sample = {
            let st = self.state.lock();
            let flight = st.in_flight.values();
            JobSample {
                keys: self.keys_done.load(Ordering::Relaxed)
                    + flight.clone().map(|s| s.keys).sum::<u64>(),
                total: st.total,
                copied: st.copied + flight.clone().map(|s| s.copied).sum::<u64>(),
                differences: st.differences + flight.map(|s| s.differences).sum::<u64>(),
                elapsed: self.started.elapsed(),
            }
        };
        (self.emit)(&sample);
    }
}

/// Refuses the options that belong to a single process's run.
fn solo_options(checkpoint: bool, mismatch_log: bool) -> Result<()> {
    if checkpoint {
        return Err(MigrateError::invalid(
            "checkpoint",
            "given",
            "a shared job keeps its progress in the coordinator; leave the checkpoint out",
        )
        .into());
    }
    if mismatch_log {
        return Err(MigrateError::invalid(
            "mismatch_log",
            "given",
            "a shared job lists its differences in the merged report; leave the mismatch log out",
        )
        .into());
    }
    Ok(())
}

/// A report of one range.
trait Part: Serialize + DeserializeOwned {
    fn complete(&self) -> bool;
    /// The keys the range held (walked on the source).
    fn keys(&self) -> u64;
}

macro_rules! part {
    ($($report:ty: |$r:ident| $keys:expr),*) => {
        $(impl Part for $report {
            fn complete(&self) -> bool {
                self.complete
            }
            fn keys(&self) -> u64 {
                let $r = self;
                $keys
            }
        })*
    };
}

part!(
    MigrateReport: |r| r.keys_scanned,
    DiffReport: |r| r.source_keys,
    AnalyzerReport: |r| r.total.keys
);

/// The reports of the ranges done, and whether that is all of them.
struct Parts<R> {
    reports: Vec<R>,
    all_done: bool,
}

/// What a claim found.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    /// This range is now this process's.
    Range(u16),
    /// Nothing to lease now: this many ranges are leased by other processes.
    Busy(u64),
    /// Every range is done.
    Done,
}

/// What every script starts with: the coordinator's clock, and a lease's value
/// (`expiry-ms|worker`) made and read.
const PRELUDE: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ms(n) return string.format('%.0f', n) end
local function lease(now, ttl, worker) return ms(now + tonumber(ttl)) .. '|' .. worker end
local function bar(held) return string.find(held, '|', 1, true) end
local function expiry(held) return tonumber(string.sub(held, 1, bar(held) - 1)) end
local function holder(held) return string.sub(held, bar(held) + 1) end
";

/// Creates the job, or checks this process's settings against it, and returns what was
/// saved. KEYS: job. ARGV: kind, settings (JSON), ranges, keep (s).
const JOIN: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'settings', ARGV[2], 'ranges', ARGV[3],
             'started_ms', ms(now_ms()))
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return redis.call('HMGET', KEYS[1], 'kind', 'settings', 'ranges')
";

/// Leases the first range (in ARGV's order) that is neither done nor under a lease that runs
/// (whoever holds it: this process's other lanes too). KEYS: leases, done, job. ARGV: worker,
/// lease (ms), ranges in order.
/// Returns {1, range, keys done} or {0, ranges leased by others, keys done}; {0, 0, …} when
/// all are done. Keys done: the keys of the ranges done, all processes together.
const CLAIM: &str = r"
local now = now_ms()
local done = tonumber(redis.call('HGET', KEYS[3], 'keys_done') or '0')
local busy = 0
for i = 3, #ARGV do
  local r = ARGV[i]
  if redis.call('HEXISTS', KEYS[2], r) == 0 then
    local held = redis.call('HGET', KEYS[1], r)
    if not held or expiry(held) <= now then
      redis.call('HSET', KEYS[1], r, lease(now, ARGV[2], ARGV[1]))
      return {1, tonumber(r), done}
    end
    busy = busy + 1
  end
end
return {0, busy, done}
";

/// Extends this process's lease of a range; 0 if another process holds it now.
/// KEYS: leases. ARGV: worker, lease (ms), range.
const RENEW: &str = r"
local held = redis.call('HGET', KEYS[1], ARGV[3])
if not held or holder(held) ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[3], lease(now_ms(), ARGV[2], ARGV[1]))
return 1
";

/// Records a range's report (the first one recorded stands, and counts its keys) and drops
/// its lease. KEYS: job, leases, done. ARGV: range, report, keep (s), keys. Returns the keys
/// of the ranges done.
const FINISH: &str = r"
if redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'keys_done', ARGV[4])
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'finished_ms', ms(now_ms()))
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return tonumber(redis.call('HGET', KEYS[1], 'keys_done'))
";

/// Drops this process's lease of a range (after a cancel or a failure).
/// KEYS: leases. ARGV: worker, range.
const RELEASE: &str = r"
local held = redis.call('HGET', KEYS[1], ARGV[2])
if held and holder(held) == ARGV[1] then
  redis.call('HDEL', KEYS[1], ARGV[2])
end
return 1
";

/// How long the coordinator keeps a job after its last range finished.
const KEEP_SECONDS: u64 = 7 * 24 * 3600;

/// One process's handle on a job in the coordinator.
struct Job<'a> {
    store: &'a Store,
    name: String,
    worker: String,
    lease: Duration,
    poll: Duration,
    /// Ranges worked on at once.
    at_once: usize,
    /// `job`, `leases`, `done`.
    keys: [String; 3],
    /// What those keys start with.
    prefix: String,
    /// The keys of the ranges done, all processes together, as last seen.
    keys_done: Arc<AtomicU64>,
    /// The job's slots, cut into ranges.
    ranges: Vec<(u16, u16)>,
}

impl<'a> Job<'a> {
    fn join(
        store: &'a Store,
        opts: &SharedOptions,
        kind: &str,
        settings: &BTreeMap<String, String>,
        src: &Store,
        slots: Option<(u16, u16)>,
    ) -> Result<Job<'a>> {
        let name = &opts.job;
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if name.is_empty() || name.len() > 64 || !name.chars().all(valid) {
            return Err(MigrateError::invalid(
                "job",
                name,
                "expected 1 to 64 letters, digits, '.', '_' or '-'",
            )
            .into());
        }
        if opts.lease < Duration::from_secs(1) {
            return Err(MigrateError::invalid(
                "lease",
                format!("{:?}", opts.lease),
                "must be at least 1 s",
            )
            .into());
        }
        let (lo, hi) = slots.unwrap_or((0, 16383));
        let cluster = src.kind() == StoreKind::Cluster;
        let wanted = opts.ranges.unwrap_or(if cluster { 64 } else { 8 });
        let at_once = opts.at_once.unwrap_or(if cluster { 4 } else { 1 });
        if at_once == 0 {
            return Err(MigrateError::invalid("at_once", 0, "must be at least 1").into());
        }
        if wanted == 0 {
            return Err(MigrateError::invalid("ranges", 0, "must be at least 1").into());
        }
        let wanted = wanted.min(hi - lo + 1);
        let tag = format!("slotshift:job:{{{name}}}");
        let keys = [
            format!("{tag}:job"),
            format!("{tag}:leases"),
            format!("{tag}:done"),
        ];
        let json = serde_json::to_string(settings).unwrap_or_default();
        let fail = |reason: String| MigrateError::Shared {
            job: name.clone(),
            reason,
        };
        let mut cmd = eval(JOIN, &keys[..1]);
        cmd.arg(kind)
            .arg(&json)
            .arg(wanted.to_string())
            .arg(KEEP_SECONDS.to_string());
        let saved = match store.call(&cmd)? {
            Reply::Array(items) if items.len() == 3 => items
                .iter()
                .map(|r| {
                    r.as_bytes()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                })
                .collect::<Vec<_>>(),
            other => return Err(fail(format!("unexpected reply to join: {other:?}")).into()),
        };
        let [Some(saved_kind), Some(saved_json), Some(saved_ranges)] = &saved[..] else {
            return Err(fail("the coordinator holds a damaged job hash".into()).into());
        };
        let mismatch = |setting: &str, saved: &str, now: &str| MigrateError::SharedMismatch {
            job: name.clone(),
            setting: setting.to_owned(),
            saved: saved.to_owned(),
            now: now.to_owned(),
        };
        if saved_kind != kind {
            return Err(mismatch("kind", saved_kind, kind).into());
        }
        let saved_settings: BTreeMap<String, String> = serde_json::from_str(saved_json)
            .map_err(|e| fail(format!("the job's settings do not parse: {e}")))?;
        for (k, v) in settings {
            let theirs = saved_settings.get(k).map_or("", String::as_str);
            if theirs != v {
                return Err(mismatch(k, theirs, v).into());
            }
        }
        let count: u16 = saved_ranges
            .parse()
            .ok()
            .filter(|&n| (1..=hi - lo + 1).contains(&n))
            .ok_or_else(|| {
                fail(format!(
                    "the job's range count {saved_ranges:?} is unusable"
                ))
            })?;
        let worker = opts.worker.clone().unwrap_or_else(default_worker);
        log::info!("shared job {name}: joined as {worker}, {count} ranges");
        Ok(Job {
            store,
            name: name.clone(),
            worker,
            lease: opts.lease,
            poll: opts.poll,
            at_once,
            keys,
            prefix: format!("{tag}:"),
            keys_done: Arc::default(),
            ranges: cut(lo, hi, count),
        })
    }

    /// Leases ranges and runs `work` on each, `at_once` ranges at a time, until none is left,
    /// then waits for the ranges other processes hold; returns every range's report and the
    /// job's wall time so far.
    fn run<R: Part>(
        &self,
        cancel: Option<&AtomicBool>,
        work: impl Fn(u16, (u16, u16)) -> Result<R> + Sync,
    ) -> Result<(Parts<R>, u64)> {
        let order = spread(self.ranges.len());
        // Set when this process stops short: a cancel (a range came back incomplete) or an
        // error (kept in `failed`).
        let stopped = AtomicBool::new(false);
        let failed: parking_lot::Mutex<Option<crate::Error>> = parking_lot::Mutex::new(None);
        let working = AtomicUsize::new(0);
        let lane = || {
            if let Err(e) = self.lane(&order, cancel, &stopped, &working, &work) {
                stopped.store(true, Ordering::Relaxed);
                failed.lock().get_or_insert(e);
            }
        };
        std::thread::scope(|s| {
            let lanes: Vec<_> = (0..self.at_once).map(|_| s.spawn(lane)).collect();
            lanes.into_iter().for_each(join_ended);
        });
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        let (done, elapsed_ms) = self.reports()?;
        let all_done = !stopped.into_inner() && done.len() == self.ranges.len();
        let reports = done
            .iter()
            .map(|json| {
                serde_json::from_str(json).map_err(|e| {
                    self.fail(format!("a range's report does not parse: {e}"))
                        .into()
                })
            })
            .collect::<Result<Vec<R>>>()?;
        Ok((Parts { reports, all_done }, elapsed_ms))
    }

    /// One of [`Job::run`]'s lanes: leases a range, runs it, records it, and again, until
    /// every range is done or this process stops.
    fn lane<R: Part>(
        &self,
        order: &[u16],
        cancel: Option<&AtomicBool>,
        stopped: &AtomicBool,
        working: &AtomicUsize,
        work: &(impl Fn(u16, (u16, u16)) -> Result<R> + Sync),
    ) -> Result<()> {
        let mut waiting_logged = false;
        loop {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                stopped.store(true, Ordering::Relaxed);
                return Ok(());
            }
            if stopped.load(Ordering::Relaxed) {
                return Ok(());
            }
            match self.claim(order)? {
                Claim::Range(i) => {
                    waiting_logged = false;
                    let slots = self.ranges[usize::from(i)];
                    working.fetch_add(1, Ordering::SeqCst);
                    let report = self.with_lease(i, || work(i, slots));
                    working.fetch_sub(1, Ordering::SeqCst);
                    match report {
                        Ok(r) if r.complete() => {
                            let json = serde_json::to_string(&r).map_err(|e| {
                                self.fail(format!("cannot encode a range's report: {e}"))
                            })?;
                            self.finish(i, &json, r.keys())?;
                            log::info!(
                                "shared job {}: range {i} (slots {}-{}) done",
                                self.name,
                                slots.0,
                                slots.1
                            );
                        }
                        Ok(_) => {
                            stopped.store(true, Ordering::Relaxed);
                            return self.release(i);
                        }
                        Err(e) => {
                            // The range goes back at once; the error ends this process.
                            let _ = self.release(i);
                            return Err(e);
                        }
                    }
                }
                Claim::Busy(_) if working.load(Ordering::SeqCst) > 0 => {
                    // This process's other lanes hold ranges: the last of them to finish
                    // waits for the rest of the job.
                    return Ok(());
                }
                Claim::Busy(n) => {
                    if !waiting_logged {
                        log::info!(
                            "shared job {}: waiting for {n} ranges held elsewhere",
                            self.name
                        );
                        waiting_logged = true;
                    }
                    std::thread::sleep(self.poll);
                }
                Claim::Done => return Ok(()),
            }
        }
    }

    /// Runs `work` while a thread renews the lease of range `i`.
    fn with_lease<T>(&self, i: u16, work: impl FnOnce() -> T) -> T {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            let renewer = s.spawn(move || loop {
                match stopped.recv_timeout(self.lease / 3) {
                    Err(mpsc::RecvTimeoutError::Timeout) => match self.renew(i) {
                        Ok(true) => {}
                        Ok(false) => log::warn!(
                            "shared job {}: lost the lease of range {i} to another process (a \
                             stall longer than the lease?); finishing it anyway, the first \
                             report recorded stands",
                            self.name
                        ),
                        Err(e) => log::warn!(
                            "shared job {}: cannot renew the lease of range {i}: {e}",
                            self.name
                        ),
                    },
                    _ => return,
                }
            });
            let out = work();
            let _ = stop.send(());
            join_ended(renewer);
            out
        })
    }

    /// A lane's share of this process's rate (each lane's run paces itself).
    fn lane_rate(&self, rate: Option<u64>) -> Option<u64> {
        rate.map(|r| (r / u64::try_from(self.at_once).unwrap_or(1)).max(1))
    }

    fn fail(&self, reason: String) -> MigrateError {
        MigrateError::Shared {
            job: self.name.clone(),
            reason,
        }
    }

    fn lease_ms(&self) -> String {
        self.lease.as_millis().to_string()
    }

    fn claim(&self, order: &[u16]) -> Result<Claim> {
        let mut cmd = eval(CLAIM, &[&self.keys[1], &self.keys[2], &self.keys[0]]);
        cmd.arg(&self.worker).arg(self.lease_ms());
        for i in order {
            cmd.arg(i.to_string());
        }
        let reply = self.store.call(&cmd)?;
        let pair = match &reply {
            Reply::Array(items) if items.len() == 3 => {
                self.saw_keys_done(items[2].as_int());
                (items[0].as_int(), items[1].as_int())
            }
            _ => (None, None),
        };
        match pair {
            (Some(1), Some(r)) => u16::try_from(r)
                .ok()
                .filter(|&r| usize::from(r) < self.ranges.len())
                .map(Claim::Range),
            (Some(0), Some(0)) => Some(Claim::Done),
            (Some(0), Some(n)) => u64::try_from(n).ok().map(Claim::Busy),
            _ => None,
        }
        .ok_or_else(|| {
            self.fail(format!("unexpected reply to a claim: {reply:?}"))
                .into()
        })
    }

    fn renew(&self, i: u16) -> Result<bool> {
        let mut cmd = eval(RENEW, &self.keys[1..2]);
        cmd.arg(&self.worker)
            .arg(self.lease_ms())
            .arg(i.to_string());
        Ok(self.store.call(&cmd)?.as_int() == Some(1))
    }

    fn finish(&self, i: u16, report: &str, keys: u64) -> Result<()> {
        let mut cmd = eval(FINISH, &self.keys);
        cmd.arg(i.to_string())
            .arg(report)
            .arg(KEEP_SECONDS.to_string())
            .arg(keys.to_string());
        self.saw_keys_done(self.store.call(&cmd)?.as_int());
        Ok(())
    }

    /// Keeps the latest count of the keys in ranges done that the coordinator gave.
    fn saw_keys_done(&self, keys: Option<i64>) {
        if let Some(n) = keys.and_then(|n| u64::try_from(n).ok()) {
            self.keys_done.fetch_max(n, Ordering::Relaxed);
        }
    }

    fn release(&self, i: u16) -> Result<()> {
        let mut cmd = eval(RELEASE, &self.keys[1..2]);
        cmd.arg(&self.worker).arg(i.to_string());
        self.store.call(&cmd)?;
        Ok(())
    }

    /// The reports recorded so far, in range order, and the job's wall time: from its start
    /// to the last range's finish (the coordinator's clock).
    fn reports(&self) -> Result<(Vec<String>, u64)> {
        let done = self.store.call(Cmd::new("HGETALL").arg(&self.keys[2]))?;
        let mut by_range: BTreeMap<u16, String> = BTreeMap::new();
        let items = match done {
            Reply::Array(items) => items,
            Reply::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            other => {
                return Err(self
                    .fail(format!("unexpected reply to HGETALL: {other:?}"))
                    .into())
            }
        };
        for pair in items.chunks(2) {
            if let [k, v] = pair {
                let range = k.as_int().and_then(|r| u16::try_from(r).ok());
                let report = v
                    .as_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned());
                if let (Some(range), Some(report)) = (range, report) {
                    by_range.insert(range, report);
                }
            }
        }
        let times = self.store.call(
            Cmd::new("HMGET")
                .arg(&self.keys[0])
                .arg("started_ms")
                .arg("finished_ms"),
        )?;
        let elapsed_ms = match &times {
            Reply::Array(t) => match (
                t.first().and_then(Reply::as_int),
                t.get(1).and_then(Reply::as_int),
            ) {
                (Some(a), Some(b)) => u64::try_from(b - a).unwrap_or(0),
                _ => 0,
            },
            _ => 0,
        };
        Ok((by_range.into_values().collect(), elapsed_ms))
    }
}

/// `EVAL script numkeys keys…`, the script after [`PRELUDE`].
fn eval(script: &str, keys: &[impl AsRef<[u8]>]) -> Cmd {
    let mut cmd = Cmd::new("EVAL");
    cmd.arg(format!("{PRELUDE}{script}"))
        .arg(keys.len().to_string());
    for k in keys {
        cmd.arg(k);
    }
    cmd
}

/// Waits until the thread of `handle` has ended, not only its closure: a scope's own wait
/// returns once the closures are done, while a thread it never joined may still be exiting —
/// after a C caller's last call returns, valgrind counted such a thread's TLS as lost. A panic
/// in the thread goes on in the caller, as the scope would have raised it.
fn join_ended<T>(handle: std::thread::ScopedJoinHandle<'_, T>) {
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

/// `lo..=hi` cut into `n` ranges as even as can be (`n` at most the slot count).
fn cut(lo: u16, hi: u16, n: u16) -> Vec<(u16, u16)> {
    let len = u32::from(hi - lo) + 1;
    let n32 = u32::from(n);
    let at = |i: u32| lo + u16::try_from(len * i / n32).unwrap_or(u16::MAX);
    (0..n32).map(|i| (at(i), at(i + 1) - 1)).collect()
}

/// The range indices `0..n` in bit-reversed order (0, n/2, n/4, 3n/4, …): ranges taken one
/// after another lie far apart in the slot space, on different masters.
fn spread(n: usize) -> Vec<u16> {
    let bits = usize::BITS - n.saturating_sub(1).leading_zeros();
    let mut order: Vec<u16> = (0..n).filter_map(|i| u16::try_from(i).ok()).collect();
    order.sort_by_key(|&i| {
        if bits == 0 {
            0
        } else {
            u32::from(i).reverse_bits() >> (32 - bits)
        }
    });
    order
}

/// `host:pid:random`.
fn default_worker() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "host".into());
    format!(
        "{}:{}:{:08x}",
        host.trim(),
        std::process::id(),
        rand::random::<u32>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_covers_every_slot_once() {
        for (lo, hi, n) in [
            (0, 16383, 64),
            (0, 16383, 8),
            (100, 109, 10),
            (5, 5, 1),
            (0, 16383, 7),
        ] {
            let r = cut(lo, hi, n);
            assert_eq!(r.len(), usize::from(n));
            assert_eq!(r[0].0, lo);
            assert_eq!(r[r.len() - 1].1, hi);
            for w in r.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0, "{r:?}");
                assert!(w[0].0 <= w[0].1);
            }
        }
        assert_eq!(
            cut(0, 16383, 4),
            vec![(0, 4095), (4096, 8191), (8192, 12287), (12288, 16383)]
        );
    }

    #[test]
    fn spread_is_a_permutation_far_apart() {
        assert_eq!(spread(4), vec![0, 2, 1, 3]);
        assert_eq!(spread(8), vec![0, 4, 2, 6, 1, 5, 3, 7]);
        assert_eq!(spread(1), vec![0]);
        let mut s = spread(10);
        assert_eq!(&s[..4], &[0, 8, 4, 2]);
        s.sort_unstable();
        assert_eq!(s, (0..10).collect::<Vec<u16>>());
    }
}
