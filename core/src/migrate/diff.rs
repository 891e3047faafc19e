//! [`diff`]: both ways, type-aware, with TTLs and re-check rounds.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::store::Store;
use crate::Result;

use super::census::Censuses;
use super::checkpoint::{hex, unhex, Checkpoint, PendingKey, DONE, FORMAT};
use super::compare::{
    absent_on_source, compare_counting, compare_keys, escape_key, Finding, Settings,
};
use super::{
    check_pair, DiffKind, DiffOptions, DiffReport, KeyFilter, MigrateError, Mismatch, Progress,
    ProgressFn,
};
use crate::keyspace::{dbsize, walk, Positions, Snapshot, WalkOptions};
use crate::pace::Pacer;

/// Differences waiting for a re-check, bounded; the overflow is only counted.
pub(crate) struct Pending {
    max: usize,
    keys: Mutex<HashMap<Vec<u8>, Finding>>,
    overflow: Mutex<BTreeMap<DiffKind, u64>>,
    pub(crate) found: AtomicU64,
}

impl Pending {
    pub(crate) fn new(max: usize) -> Pending {
        Pending {
            max,
            keys: Mutex::new(HashMap::new()),
            overflow: Mutex::new(BTreeMap::new()),
            found: AtomicU64::new(0),
        }
    }

    pub(crate) fn add(&self, findings: Vec<Finding>) {
        if findings.is_empty() {
            return;
        }
        let mut keys = self.keys.lock();
        for f in findings {
            if keys.contains_key(&f.key) {
                continue;
            }
            self.found.fetch_add(1, Ordering::Relaxed);
            if keys.len() < self.max {
                keys.insert(f.key.clone(), f);
            } else {
                *self.overflow.lock().entry(f.kind).or_insert(0) += 1;
            }
        }
    }

    pub(crate) fn take(&self) -> Vec<Finding> {
        let mut v: Vec<Finding> = self.keys.lock().drain().map(|(_, f)| f).collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    pub(crate) fn overflow(&self) -> BTreeMap<DiffKind, u64> {
        self.overflow.lock().clone()
    }

    pub(crate) fn saved(&self) -> Vec<PendingKey> {
        self.keys
            .lock()
            .values()
            .map(|f| PendingKey {
                key: hex(&f.key),
                kind: f.kind,
                detail: f.detail.clone(),
            })
            .collect()
    }

    pub(crate) fn restore(&self, saved: &[PendingKey]) {
        let findings = saved
            .iter()
            .filter_map(|p| {
                Some(Finding {
                    key: unhex(&p.key)?,
                    kind: p.kind,
                    detail: p.detail.clone(),
                })
            })
            .collect();
        self.add(findings);
    }
}

/// The walk of one pass of a diff or a migration over `filter` from `start`, with their
/// options' batch size, workers, rate and cancel flag.
pub(crate) fn pass_walk<'a>(
    filter: &'a crate::keyspace::Filter,
    batch: usize,
    workers: usize,
    pacer: Option<&'a Pacer>,
    cancel: Option<&'a std::sync::atomic::AtomicBool>,
    start: Positions,
) -> WalkOptions<'a> {
    WalkOptions {
        filter,
        batch,
        workers,
        pacer,
        cancel: cancel.into_iter().collect(),
        start,
        map: walk_error,
    }
}

/// The walk's errors as migrate errors.
pub(crate) fn walk_error(e: crate::keyspace::WalkError) -> crate::Error {
    MigrateError::Walk(e).into()
}

pub(crate) fn validate_common(
    batch: usize,
    workers: usize,
    rate: Option<u64>,
    filter: &KeyFilter,
) -> Result<()> {
    if let Some(t) = &filter.key_type {
        crate::keyspace::check_key_type(t).map_err(|why| MigrateError::invalid("type", t, &why))?;
    }
    if batch == 0 {
        return Err(MigrateError::invalid("batch", batch, "must be at least 1").into());
    }
    if workers == 0 || workers > 256 {
        return Err(MigrateError::invalid("workers", workers, "must be 1 to 256").into());
    }
    if rate == Some(0) {
        return Err(MigrateError::invalid(
            "rate",
            0,
            "must be a positive number of keys per second (leave it out for no limit)",
        )
        .into());
    }
    Ok(())
}

/// The store's masters' run ids, sorted (processes that list the masters in another order
/// still see one store), comma-separated.
pub(crate) fn sorted_run_ids(store: &Store) -> Result<String> {
    let mut ids = store.server_id()?.run_ids;
    ids.sort_unstable();
    Ok(ids.join(","))
}

pub(crate) fn filter_settings(
    src: &Store,
    dst: &Store,
    filter: &KeyFilter,
) -> Result<BTreeMap<String, String>> {
    let mut s = BTreeMap::new();
    s.insert("source".into(), sorted_run_ids(src)?);
    s.insert("destination".into(), sorted_run_ids(dst)?);
    s.insert("match".into(), filter.pattern.clone().unwrap_or_default());
    s.insert("type".into(), filter.key_type.clone().unwrap_or_default());
    s.insert(
        "slots".into(),
        filter
            .slots
            .map(|(a, b)| format!("{a}-{b}"))
            .unwrap_or_default(),
    );
    Ok(s)
}

/// The settings that shape a diff's result: a checkpoint, or a shared job, of other settings
/// is not this run's.
pub(crate) fn diff_settings(
    src: &Store,
    dst: &Store,
    opts: &DiffOptions,
) -> Result<BTreeMap<String, String>> {
    let mut s = filter_settings(src, dst, &opts.filter)?;
    s.insert("mode".into(), opts.mode.name().into());
    s.insert("reverse".into(), opts.reverse.to_string());
    Ok(s)
}

/// One walk of `store` as a stage of a diff or a migration, reported: the progress callback
/// sees it as `shown`, with the differences found and keys copied that `counts` gives for each
/// snapshot (after noting it in the caller's counters), and the checkpoint is saved with
/// `save`. Whether the walk saw every key.
pub(crate) fn reported_walk(
    store: &Store,
    wopts: &WalkOptions<'_>,
    work: &(dyn Fn(Vec<Vec<u8>>) -> Result<()> + Sync),
    (progress, checkpoint): (Option<&ProgressFn>, Option<&Path>),
    shown: &'static str,
    counts: &mut dyn FnMut(&Snapshot<'_>) -> (u64, u64),
    save: &dyn Fn(&Positions) -> Result<(), MigrateError>,
) -> Result<bool> {
    let mut rep = Reporter {
        progress,
        checkpoint,
        last_save: Instant::now(),
        last_progress: None,
        started: Instant::now(),
        total: dbsize(store, walk_error)?,
    };
    let mut save_err = None;
    let walked = walk(store, wopts, work, &|(), _| {}, &mut |snap| {
        let (differences, copied) = counts(snap);
        if let Err(e) = rep.tick(shown, snap, differences, copied, save) {
            save_err = Some(e);
        }
    })?;
    match save_err {
        Some(e) => Err(e.into()),
        None => Ok(walked.complete),
    }
}

/// Calls the progress callback, and saves a checkpoint at most once a second and at the end.
struct Reporter<'a> {
    progress: Option<&'a ProgressFn>,
    checkpoint: Option<&'a Path>,
    last_save: Instant,
    /// When the progress callback last ran (it runs about five times a second).
    last_progress: Option<Instant>,
    started: Instant,
    total: u64,
}

impl Reporter<'_> {
    fn tick(
        &mut self,
        stage: &'static str,
        snap: &Snapshot<'_>,
        differences: u64,
        copied: u64,
        save: &dyn Fn(&Positions) -> Result<(), MigrateError>,
    ) -> Result<(), MigrateError> {
        let due = snap.last
            || self
                .last_progress
                .is_none_or(|t| t.elapsed() >= Duration::from_millis(200));
        if let (Some(p), true) = (self.progress, due) {
            self.last_progress = Some(Instant::now());
            p(&Progress {
                stage,
                keys: snap.keys,
                total: self.total,
                differences,
                copied,
                elapsed: self.started.elapsed(),
            });
        }
        if self.checkpoint.is_some()
            && (snap.last || self.last_save.elapsed() >= Duration::from_secs(1))
        {
            self.last_save = Instant::now();
            save(snap.positions)?;
        }
        Ok(())
    }
}

/// Compares two stores both ways: keys missing on the destination, extra keys on the
/// destination, type, value and TTL differences; then re-checks what differed, up to
/// `opts.rounds` times, and reports what remains.
///
/// Refuses two stores that reach the same server and database.
pub fn diff(src: &Store, dst: &Store, opts: &DiffOptions) -> Result<DiffReport> {
    validate_common(opts.batch, opts.workers, opts.rate, &opts.filter)?;
    if opts.chunk == 0 {
        return Err(MigrateError::invalid("chunk", 0, "must be at least 1").into());
    }
    check_pair(src, dst)?;
    let started = Instant::now();
    let settings = Settings::new(
        opts.mode,
        opts.ttl_tolerance,
        opts.compare_ttl,
        opts.big_key_bytes,
        opts.chunk,
    );
    let cp_settings = diff_settings(src, dst, opts)?;
    let pending = Pending::new(opts.max_pending);
    let mut cp = Checkpoint {
        format: FORMAT,
        job: "diff".into(),
        settings: cp_settings.clone(),
        stage: "forward".into(),
        ..Checkpoint::default()
    };
    if let (true, Some(path)) = (opts.resume, &opts.checkpoint) {
        if let Some(saved) = Checkpoint::load(path)? {
            saved.check(path, "diff", &cp_settings)?;
            pending.restore(&saved.pending);
            cp = saved;
        }
    }
    let source_keys = AtomicU64::new(cp.counters.get("source_keys").copied().unwrap_or(0));
    let destination_keys =
        AtomicU64::new(cp.counters.get("destination_keys").copied().unwrap_or(0));
    let exact_slots = AtomicU64::new(cp.counters.get("exact_slots").copied().unwrap_or(0));
    let pacer = Pacer::new(opts.rate);
    let cancel = opts.cancel.as_deref();
    let censuses = Censuses::resume(&cp);
    let cp = Mutex::new(cp);
    let save = |stage: &str, positions: &Positions| -> Result<(), MigrateError> {
        let Some(path) = &opts.checkpoint else {
            return Ok(());
        };
        let mut c = cp.lock();
        c.stage = stage.to_owned();
        c.positions = positions.clone();
        c.counters
            .insert("source_keys".into(), source_keys.load(Ordering::Relaxed));
        c.counters.insert(
            "destination_keys".into(),
            destination_keys.load(Ordering::Relaxed),
        );
        c.counters
            .insert("exact_slots".into(), exact_slots.load(Ordering::Relaxed));
        c.pending = pending.saved();
        censuses.save_to(&mut c);
        c.save(path)
    };
    let mut complete = true;
    let start_stage = cp.lock().stage.clone();
    let resume_cursors = cp.lock().positions.clone();
    let filter = opts.filter.walk_filter();
    let resume_at = |stage: &str| {
        if start_stage == stage {
            resume_cursors.clone()
        } else {
            Positions::default()
        }
    };

    // One walk of a store in a stage from `start`, with progress (`shown` as the stage's
    // name) and checkpoints (`stage`); whether it saw every key.
    let pass = |store: &Store,
                shown: &'static str,
                stage: &'static str,
                start: Positions,
                work: &(dyn Fn(Vec<Vec<u8>>) -> Result<()> + Sync),
                seen: &mut dyn FnMut(&Snapshot<'_>)|
     -> Result<bool> {
        let wopts = pass_walk(
            &filter,
            opts.batch,
            opts.workers,
            pacer.as_ref(),
            cancel,
            start,
        );
        let reports = (opts.progress.as_ref(), opts.checkpoint.as_deref());
        let counts = &mut |snap: &Snapshot<'_>| {
            seen(snap);
            (pending.found.load(Ordering::Relaxed), 0)
        };
        reported_walk(store, &wopts, work, reports, shown, counts, &|c| {
            save(stage, c)
        })
    };
    let stages = ["forward", "reverse", "reverse-check", "rounds"];
    let from = stages.iter().position(|&s| s == start_stage);
    let runs = |stage: &str| from.is_some_and(|f| stages[f..].contains(&stage));

    // Forward: every source key against the destination (and, for the reverse pass, a
    // census of those the destination has).
    if runs("forward") {
        let base = source_keys.load(Ordering::Relaxed);
        let census = opts.reverse.then_some(&censuses.forward);
        let work = |keys: Vec<Vec<u8>>| -> Result<()> {
            pending.add(compare_counting(src, dst, &keys, &settings, census)?);
            Ok(())
        };
        complete &= pass(
            src,
            "diff",
            "forward",
            resume_at("forward"),
            &work,
            &mut |snap| {
                source_keys.store(base + snap.keys, Ordering::Relaxed);
            },
        )?;
        if complete {
            save("reverse", &Positions::default())?;
        }
    }

    // Reverse: destination keys the source does not have. First a census of the
    // destination's keys (listed, nothing asked per key); then, only in the slots where it
    // differs from the forward pass's, an EXISTS on the source per destination key.
    if opts.reverse && complete && runs("reverse") {
        let base = destination_keys.load(Ordering::Relaxed);
        let work = |keys: Vec<Vec<u8>>| -> Result<()> {
            censuses.destination.add_all(keys.iter().map(Vec::as_slice));
            Ok(())
        };
        complete &= pass(
            dst,
            "reverse",
            "reverse",
            resume_at("reverse"),
            &work,
            &mut |snap| {
                destination_keys.store(base + snap.keys, Ordering::Relaxed);
            },
        )?;
        if complete {
            exact_slots.store(censuses.differing().len() as u64, Ordering::Relaxed);
            save("reverse-check", &Positions::default())?;
        }
    }
    if opts.reverse && complete && runs("reverse-check") {
        let differing = censuses.differing();
        if !differing.is_empty() {
            let work = |keys: Vec<Vec<u8>>| -> Result<()> {
                pending.add(absent_on_source(src, dst, differing.keep(keys), &settings)?);
                Ok(())
            };
            let start = differing.walk_start(dst, resume_at("reverse-check"));
            let stage = "reverse-check";
            complete &= pass(dst, stage, stage, start, &work, &mut |_| {})?;
        }
    }
    if complete && runs("rounds") {
        save("rounds", &Positions::default())?;
    }

    // Re-check rounds.
    let found = pending.found.load(Ordering::Relaxed);
    let mut current = pending.take();
    let mut rounds = 0;
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    while rounds < opts.rounds && !current.is_empty() && !cancelled() {
        std::thread::sleep(opts.round_interval);
        rounds += 1;
        let keys: Vec<Vec<u8>> = current.iter().map(|f| f.key.clone()).collect();
        let mut next = Vec::new();
        for chunk in keys.chunks(opts.batch) {
            if let Some(p) = &pacer {
                p.acquire(chunk.len());
            }
            next.extend(compare_keys(src, dst, chunk, &settings)?);
        }
        current = next;
    }
    let overflow = pending.overflow();
    let unchecked: u64 = overflow.values().sum();
    let mut differences: BTreeMap<DiffKind, u64> = DiffKind::ALL.iter().map(|&k| (k, 0)).collect();
    for f in &current {
        *differences.entry(f.kind).or_insert(0) += 1;
    }
    for (k, n) in overflow {
        *differences.entry(k).or_insert(0) += n;
    }
    let remaining = current.len() as u64 + unchecked;
    if let Some(path) = &opts.mismatch_log {
        write_log(path, &current)?;
    }
    if complete {
        if let Some(path) = &opts.checkpoint {
            let mut c = cp.lock();
            c.stage = DONE.into();
            c.positions = Positions::default();
            c.pending.clear();
            c.save(path)?;
        }
    }
    Ok(DiffReport {
        complete,
        mode: opts.mode,
        source_keys: source_keys.load(Ordering::Relaxed),
        destination_keys: destination_keys.load(Ordering::Relaxed),
        reverse_exact_slots: exact_slots.load(Ordering::Relaxed),
        found,
        converged: found.saturating_sub(remaining),
        rounds,
        differences,
        unchecked,
        mismatches: current
            .iter()
            .take(opts.report_limit)
            .map(to_mismatch)
            .collect(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

pub(crate) fn to_mismatch(f: &Finding) -> Mismatch {
    Mismatch {
        key: escape_key(&f.key),
        kind: f.kind,
        detail: f.detail.clone(),
    }
}

fn write_log(path: &Path, findings: &[Finding]) -> Result<(), MigrateError> {
    let err = |e: std::io::Error| MigrateError::MismatchLog {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = std::fs::File::create(path).map_err(err)?;
    let mut w = std::io::BufWriter::new(file);
    for f in findings {
        let line = serde_json::to_string(&to_mismatch(f)).unwrap_or_default();
        writeln!(w, "{line}").map_err(err)?;
    }
    w.flush().map_err(err)
}
