//! [`migrate`]: copy what is missing or different, with `DUMP` / `RESTORE … REPLACE` or a
//! type-by-type rewrite, verify it, re-copy what changed meanwhile (and delete what the
//! application deleted meanwhile, which the copy would otherwise bring back), end with a diff.
//!
//! # TTLs without the local clock
//!
//! A key's TTL is read as `PTTL` in the same pipeline as its `DUMP` (one round trip), and the
//! instant the pipeline was sent is taken from the monotonic clock ([`Instant`]). The copy is
//! written with the *relative* TTL `PTTL − elapsed` (`RESTORE key ttl …`, or `PEXPIRE` after a
//! rewrite), where `elapsed` is measured from that instant to the moment the write is sent: the
//! destination computes the expiry on its own clock, so the migrating host's wall clock — skewed,
//! or stepped while the job runs — never enters. Counting from the send of the read makes the
//! copy's TTL shorter than the source's by at most one round trip, never longer. A key whose
//! remaining TTL reaches 0 has expired at the source and is not copied.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::command::Cmd;
use crate::reply::Reply;
use crate::store::Store;
use crate::{Error, Result};

use super::census::{Census, Censuses, Slots};
use super::checkpoint::{Checkpoint, DONE, FORMAT};
use super::compare::{
    absent_on_source, compare_counting, compare_keys, pipeline_all, server_reply, Finding, Settings,
};
use super::diff::{filter_settings, pass_walk, reported_walk, validate_common, Pending};
use super::tally::{dump_type, TypeTally};
use super::{
    check_pair, check_writable, diff, CopyMethod, DiffKind, DiffMode, DiffOptions, MigrateError,
    MigrateOptions, MigrateReport,
};
use crate::keyspace::escape_key;
use crate::keyspace::{walk, Positions, Snapshot};
use crate::pace::Pacer;

/// Elements per write command (and per read) in a type-by-type rewrite.
const REWRITE_CHUNK: usize = 1000;

/// What is left of a TTL of `pttl` ms read at `read_at`: `None` when it has run out. `-1`
/// (no expiry) stays `Some(-1)`.
fn remaining(pttl: i64, read_at: Instant) -> Option<i64> {
    if pttl < 0 {
        return Some(-1);
    }
    let elapsed = i64::try_from(read_at.elapsed().as_millis()).unwrap_or(i64::MAX);
    let left = pttl.saturating_sub(elapsed);
    (left > 0).then_some(left)
}

/// A reply of the wrong shape to `command` (its shape only: it may hold keys or values).
fn reply_error(command: &'static str, reply: &Reply) -> Error {
    MigrateError::Reply {
        command,
        detail: crate::keyspace::shape(reply),
    }
    .into()
}

fn pttl_of(r: Result<Reply>) -> Result<i64> {
    match server_reply(r)? {
        Reply::Int(n) => Ok(n),
        other => Err(reply_error("PTTL", &other)),
    }
}

fn is_format_error(e: &Error) -> bool {
    matches!(e, Error::Server(s) if s.detail().contains("payload version or checksum"))
}

struct Copier<'a> {
    src: &'a Store,
    dst: &'a Store,
    opts: &'a MigrateOptions,
    /// Switched on by the first refused DUMP payload under `CopyMethod::Auto`.
    rewrite: AtomicBool,
    restored: AtomicU64,
    rewritten: AtomicU64,
    equal: AtomicU64,
    /// Keys the destination had and kept (`missing_only`).
    kept: AtomicU64,
    deleted: AtomicU64,
    /// Keys written, by Redis type.
    by_type: TypeTally,
}

impl Copier<'_> {
    /// Copies `keys` from the source; returns the keys written.
    fn copy(&self, keys: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if self.rewrite.load(Ordering::Relaxed) || self.opts.method == CopyMethod::Rewrite {
            let mut out = Vec::new();
            for k in keys {
                if self.rewrite_key(k)? {
                    out.push(k.clone());
                }
            }
            return Ok(out);
        }
        let mut cmds = Vec::with_capacity(keys.len() * 2);
        for k in keys {
            cmds.push(Cmd::new("PTTL").with_arg(k));
            cmds.push(Cmd::new("DUMP").with_arg(k));
        }
        // The monotonic instant the reads were sent: every PTTL was taken after it.
        let read_at = Instant::now();
        let replies = pipeline_all(self.src, &cmds, "PTTL/DUMP")?;
        let mut read = Vec::with_capacity(keys.len());
        let mut gone = Vec::new();
        let mut it = replies.into_iter();
        for k in keys {
            let (Some(p), Some(d)) = (it.next(), it.next()) else {
                return Err(MigrateError::MissingReply {
                    command: "PTTL/DUMP",
                }
                .into());
            };
            let pttl = pttl_of(p)?;
            match server_reply(d)? {
                Reply::Bulk(b) if pttl != -2 => read.push((k, pttl, b)),
                _ => gone.push(k.clone()),
            }
        }
        let mut restores = Vec::with_capacity(read.len());
        let mut which = Vec::with_capacity(read.len());
        let mut sizes = Vec::with_capacity(read.len());
        for (k, pttl, payload) in read {
            // Measured now, just before the writes are sent.
            let Some(left) = remaining(pttl, read_at) else {
                continue; // expired at the source meanwhile
            };
            let mut c = Cmd::new("RESTORE");
            c.arg(k).arg(left.max(0).to_string()).arg(&payload);
            if !self.opts.missing_only {
                c.arg("REPLACE");
            }
            restores.push(c);
            which.push(k.clone());
            sizes.push((dump_type(&payload), payload.len()));
        }
        if self.opts.delete_extra && !gone.is_empty() {
            self.delete(&gone)?;
        }
        if self.opts.dry_run {
            self.restored
                .fetch_add(which.len() as u64, Ordering::Relaxed);
            for (ty, len) in sizes {
                self.by_type.add(ty, len);
            }
            return Ok(which);
        }
        let replies = pipeline_all(self.dst, &restores, "RESTORE")?;
        let mut written = Vec::with_capacity(which.len());
        for ((k, (ty, len)), r) in which.into_iter().zip(sizes).zip(replies) {
            match server_reply(r) {
                Ok(_) => {
                    self.restored.fetch_add(1, Ordering::Relaxed);
                    self.by_type.add(ty, len);
                    written.push(k);
                }
                // `missing_only`: the destination has the key (written there since the walk
                // saw it missing, e.g. by dual-write): its copy is the newer, and stays.
                Err(Error::Server(e)) if self.opts.missing_only && e.code() == "BUSYKEY" => {
                    self.kept.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if is_format_error(&e) && self.opts.method == CopyMethod::Auto => {
                    log::warn!(
                        "slotshift migrate: the destination refuses the source's DUMP format; \
                         rewriting keys type by type from now on"
                    );
                    self.rewrite.store(true, Ordering::Relaxed);
                    if self.rewrite_key(&k)? {
                        written.push(k);
                    }
                }
                Err(e) => {
                    return Err(MigrateError::Copy {
                        key: escape_key(&k),
                        reason: e.to_string(),
                    }
                    .into())
                }
            }
        }
        Ok(written)
    }

    fn delete(&self, keys: &[Vec<u8>]) -> Result<()> {
        if self.opts.dry_run {
            self.deleted.fetch_add(keys.len() as u64, Ordering::Relaxed);
            return Ok(());
        }
        let cmds: Vec<Cmd> = keys.iter().map(|k| Cmd::new("DEL").with_arg(k)).collect();
        for r in pipeline_all(self.dst, &cmds, "DEL")? {
            let n = server_reply(r)?.as_int().unwrap_or(0);
            self.deleted
                .fetch_add(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Rewrites one key type by type; false when it no longer exists at the source.
    fn rewrite_key(&self, key: &[u8]) -> Result<bool> {
        let read_at = Instant::now();
        let meta = pipeline_all(
            self.src,
            &[
                Cmd::new("TYPE").with_arg(key),
                Cmd::new("PTTL").with_arg(key),
            ],
            "TYPE/PTTL",
        )?;
        let mut meta = meta.into_iter();
        let (Some(ty), Some(pttl)) = (meta.next(), meta.next()) else {
            return Err(MigrateError::MissingReply {
                command: "TYPE/PTTL",
            }
            .into());
        };
        let ty = server_reply(ty)?;
        let ty = ty.as_bytes().map(<[u8]>::to_vec).unwrap_or_default();
        let pttl = pttl_of(pttl)?;
        if ty == b"none" || pttl == -2 {
            if self.opts.delete_extra {
                self.delete(&[key.to_vec()])?;
            }
            return Ok(false);
        }
        if self.opts.missing_only {
            // Checked here and written below: not one step as RESTORE makes it (a write of
            // the application in between is overwritten; the re-check rounds see it).
            let there = self.dst.call(&Cmd::new("EXISTS").with_arg(key))?;
            if there.as_int() == Some(1) {
                self.kept.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
        }
        let mut writes = vec![Cmd::new("DEL").with_arg(key)];
        let src = self.src;
        match ty.as_slice() {
            b"string" => {
                let v = server_reply(Ok(src.call(&Cmd::new("GET").with_arg(key))?))?;
                writes.push(
                    Cmd::new("SET")
                        .with_arg(key)
                        .with_arg(v.as_bytes().unwrap_or_default()),
                );
            }
            b"list" => {
                let mut start = 0usize;
                loop {
                    let r = src.call(
                        &Cmd::new("LRANGE")
                            .with_arg(key)
                            .with_arg(start.to_string())
                            .with_arg((start + REWRITE_CHUNK - 1).to_string()),
                    )?;
                    let items = flat(r);
                    if !items.is_empty() {
                        let mut c = Cmd::new("RPUSH");
                        c.arg(key);
                        for i in &items {
                            c.arg(i);
                        }
                        writes.push(c);
                    }
                    if items.len() < REWRITE_CHUNK {
                        break;
                    }
                    start += REWRITE_CHUNK;
                }
            }
            b"hash" | b"set" | b"zset" => {
                let (scan, write) = match ty.as_slice() {
                    b"hash" => ("HSCAN", "HSET"),
                    b"set" => ("SSCAN", "SADD"),
                    _ => ("ZSCAN", "ZADD"),
                };
                let mut cursor = b"0".to_vec();
                loop {
                    let r = src.call(
                        &Cmd::new(scan)
                            .with_arg(key)
                            .with_arg(&cursor)
                            .with_arg("COUNT")
                            .with_arg(REWRITE_CHUNK.to_string()),
                    )?;
                    let bad_reply = |r: &Reply| reply_error("SCAN family", r);
                    let r = server_reply(Ok(r))?;
                    let [next, elems] = two(r).map_err(|r| bad_reply(&r))?;
                    let items = flat(elems);
                    cursor = next
                        .as_bytes()
                        .map(<[u8]>::to_vec)
                        .ok_or_else(|| bad_reply(&next))?;
                    if !items.is_empty() {
                        let mut c = Cmd::new(write);
                        c.arg(key);
                        if write == "ZADD" {
                            // ZSCAN gives member, score; ZADD takes score, member.
                            for pair in items.chunks(2) {
                                if let [m, s] = pair {
                                    c.arg(s).arg(m);
                                }
                            }
                        } else {
                            for i in &items {
                                c.arg(i);
                            }
                        }
                        writes.push(c);
                    }
                    if cursor == b"0" {
                        break;
                    }
                }
            }
            b"stream" => {
                let mut start = b"-".to_vec();
                loop {
                    let r = src.call(
                        &Cmd::new("XRANGE")
                            .with_arg(key)
                            .with_arg(&start)
                            .with_arg("+")
                            .with_arg("COUNT")
                            .with_arg(REWRITE_CHUNK.to_string()),
                    )?;
                    let bad_entry = |r: &Reply| reply_error("XRANGE", r);
                    let entries = match server_reply(Ok(r))? {
                        Reply::Array(e) => e,
                        other => return Err(bad_entry(&other)),
                    };
                    let n = entries.len();
                    let mut last = None;
                    for e in entries {
                        let [id, fields] = two(e).map_err(|e| bad_entry(&e))?;
                        let fields = flat(fields);
                        let id = id
                            .as_bytes()
                            .map(<[u8]>::to_vec)
                            .ok_or_else(|| bad_entry(&id))?;
                        let mut c = Cmd::new("XADD");
                        c.arg(key).arg(&id);
                        for f in &fields {
                            c.arg(f);
                        }
                        writes.push(c);
                        last = Some(id);
                    }
                    match last {
                        Some(id) if n >= REWRITE_CHUNK => start = [b"(".as_slice(), &id].concat(),
                        _ => break,
                    }
                }
            }
            other => {
                return Err(MigrateError::Copy {
                    key: escape_key(key),
                    reason: format!(
                        "type {} cannot be rewritten type by type (only DUMP/RESTORE copies it)",
                        String::from_utf8_lossy(other)
                    ),
                }
                .into())
            }
        }
        if pttl >= 0 {
            // Measured after the value was read, just before the writes are sent.
            let Some(left) = remaining(pttl, read_at) else {
                return Ok(false); // expired at the source meanwhile
            };
            writes.push(Cmd::new("PEXPIRE").with_arg(key).with_arg(left.to_string()));
        }
        self.rewritten.fetch_add(1, Ordering::Relaxed);
        self.by_type.add(&String::from_utf8_lossy(&ty), 0);
        if self.opts.dry_run {
            return Ok(true);
        }
        let fail = |e: String| -> Error {
            MigrateError::Copy {
                key: escape_key(key),
                reason: e,
            }
            .into()
        };
        if writes.len() <= 64 {
            // One key: one slot, so a transaction works on a cluster too.
            match self.dst.transaction(&writes)? {
                Some(replies) => {
                    if let Some(Reply::Error(e)) =
                        replies.into_iter().find(|r| matches!(r, Reply::Error(_)))
                    {
                        return Err(fail(e.to_string()));
                    }
                }
                None => return Err(fail("transaction aborted".into())),
            }
        } else {
            // A big key: written in chunks, not atomically (the verify round re-checks it).
            for chunk in writes.chunks(64) {
                for r in pipeline_all(self.dst, chunk, "rewrite")? {
                    server_reply(r).map_err(|e| fail(e.to_string()))?;
                }
            }
        }
        Ok(true)
    }
}

/// The two elements of a two-element array reply (a SCAN-family page, a stream entry); the
/// reply itself when it has another shape.
fn two(r: Reply) -> std::result::Result<[Reply; 2], Reply> {
    match r {
        Reply::Array(p) => p.try_into().map_err(Reply::Array),
        other => Err(other),
    }
}

fn flat(r: Reply) -> Vec<Vec<u8>> {
    let items = match r {
        Reply::Array(v) | Reply::Set(v) => v,
        Reply::Map(p) => p.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|i| match i {
            Reply::Double(d) => Some(d.to_string().into_bytes()),
            other => other.as_bytes().map(<[u8]>::to_vec),
        })
        .collect()
}

/// The settings that shape a migration's result: a checkpoint, or a shared job, of other
/// settings is not this run's.
pub(crate) fn migrate_settings(
    src: &Store,
    dst: &Store,
    opts: &MigrateOptions,
) -> Result<BTreeMap<String, String>> {
    let mut s = filter_settings(src, dst, &opts.filter)?;
    // A dry run's checkpoint records keys as walked that it did not copy: a real run must
    // not take it for its own.
    s.insert("dry_run".into(), opts.dry_run.to_string());
    if opts.missing_only {
        // Another way to write: a checkpoint of a run that overwrote is not this one's.
        s.insert("missing_only".into(), "true".into());
    }
    Ok(s)
}

/// Copies every source key (that the filter keeps) which is missing or different on the
/// destination: `DUMP` / `RESTORE … REPLACE` (type-by-type rewrite when the formats do
/// not match or when asked), routed per slot and pipelined per destination node, `workers`
/// batches at a time, paced to `rate`. Each copied batch is compared again; keys that changed
/// at the source while being copied are re-copied in up to `rounds` rounds. Ends with a full
/// [`diff`] both ways when `final_diff`.
///
/// Refuses the same store on both sides, a read-only replica as the destination, and bad
/// options (nothing is written then).
pub fn migrate(src: &Store, dst: &Store, opts: &MigrateOptions) -> Result<MigrateReport> {
    validate_common(opts.batch, opts.workers, opts.rate, &opts.filter)?;
    check_pair(src, dst)?;
    check_writable(dst)?;
    let started = Instant::now();
    let settings = Settings::new(
        DiffMode::Full,
        opts.ttl_tolerance,
        true,
        opts.big_key_bytes,
        1000,
    );
    let cp_settings = migrate_settings(src, dst, opts)?;
    let pending = Pending::new(opts.max_pending);
    let mut cp = Checkpoint {
        format: FORMAT,
        job: "migrate".into(),
        settings: cp_settings.clone(),
        stage: "copy".into(),
        ..Checkpoint::default()
    };
    if let (true, Some(path)) = (opts.resume, &opts.checkpoint) {
        if let Some(saved) = Checkpoint::load(path)? {
            saved.check(path, "migrate", &cp_settings)?;
            pending.restore(&saved.pending);
            cp = saved;
        }
    }
    let counter = |name: &str| cp.counters.get(name).copied().unwrap_or(0);
    let copier = Copier {
        src,
        dst,
        opts,
        rewrite: AtomicBool::new(false),
        restored: AtomicU64::new(counter("restored")),
        rewritten: AtomicU64::new(counter("rewritten")),
        equal: AtomicU64::new(counter("equal")),
        kept: AtomicU64::new(counter("kept")),
        deleted: AtomicU64::new(counter("deleted")),
        by_type: TypeTally::resumed(&cp.counters),
    };
    let scanned = AtomicU64::new(counter("scanned"));
    let pacer = Pacer::new(opts.rate);
    let cancel = opts.cancel.as_deref();
    let start_stage = cp.stage.clone();
    let resume_cursors = cp.positions.clone();
    let filter = opts.filter.walk_filter();
    // With delete_extra, the keys each batch leaves on the destination are counted, so the
    // reverse pass asks the source only in slots where the destination holds others
    // (a dry run writes nothing: its reverse pass checks every key).
    let censuses = Censuses::resume(&cp);
    let census = (opts.delete_extra && !opts.dry_run).then_some(&censuses.forward);
    let cp = Mutex::new(cp);
    let save = |stage: &str, positions: &Positions| -> Result<(), MigrateError> {
        let Some(path) = &opts.checkpoint else {
            return Ok(());
        };
        let mut c = cp.lock();
        c.stage = stage.to_owned();
        c.positions = positions.clone();
        for (name, v) in [
            ("scanned", &scanned),
            ("restored", &copier.restored),
            ("rewritten", &copier.rewritten),
            ("equal", &copier.equal),
            ("kept", &copier.kept),
            ("deleted", &copier.deleted),
        ] {
            c.counters.insert(name.into(), v.load(Ordering::Relaxed));
        }
        copier.by_type.save(&mut c.counters);
        c.pending = pending.saved();
        censuses.save_to(&mut c);
        c.save(path)
    };
    let mut complete = true;
    let walk_from = |start| {
        pass_walk(
            &filter,
            opts.batch,
            opts.workers,
            pacer.as_ref(),
            cancel,
            start,
        )
    };

    if start_stage == "copy" {
        let base = scanned.load(Ordering::Relaxed);
        let work = |keys: Vec<Vec<u8>>| -> Result<()> {
            copy_batch(&copier, &pending, &settings, keys, census)
        };
        let counts = &mut |snap: &Snapshot<'_>| {
            scanned.store(base + snap.keys, Ordering::Relaxed);
            let copied =
                copier.restored.load(Ordering::Relaxed) + copier.rewritten.load(Ordering::Relaxed);
            (pending.found.load(Ordering::Relaxed), copied)
        };
        let reports = (opts.progress.as_ref(), opts.checkpoint.as_deref());
        let wopts = walk_from(resume_cursors);
        let save_copy = |c: &Positions| save("copy", c);
        complete &= reported_walk(src, &wopts, &work, reports, "copy", counts, &save_copy)?;
        if complete {
            save("copied", &Positions::default())?;
        }
    }

    // With delete_extra: destination keys the source does not have are deleted. The
    // destination is listed into its census first (no dry run); only the slots where it holds
    // other keys than the copy pass left there are listed again and checked on the source.
    if complete && opts.delete_extra && !cancelled_now(cancel) {
        let dst_walk = |start: Positions, work: &(dyn Fn(Vec<Vec<u8>>) -> Result<()> + Sync)| {
            walk(dst, &walk_from(start), work, &|(), _| {}, &mut |_| {}).map(|w| w.complete)
        };
        let differing = if census.is_some() {
            let list = |keys: Vec<Vec<u8>>| -> Result<()> {
                censuses.destination.add_all(keys.iter().map(Vec::as_slice));
                Ok(())
            };
            complete &= dst_walk(Positions::default(), &list)?;
            censuses.differing()
        } else {
            Slots::all()
        };
        if complete && !differing.is_empty() {
            let work = |keys: Vec<Vec<u8>>| -> Result<()> {
                let (_, extra) =
                    split(absent_on_source(src, dst, differing.keep(keys), &settings)?);
                if !extra.is_empty() {
                    copier.delete(&extra.into_iter().map(|f| f.key).collect::<Vec<_>>())?;
                }
                Ok(())
            };
            complete &= dst_walk(differing.walk_start(dst, Positions::default()), &work)?;
        }
    }

    // Re-check rounds: compare what was copied and still differed; copy it again.
    let mut rounds = 0;
    let mut recopied = 0u64;
    let mut current: Vec<Finding> = pending.take();
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    while complete && rounds < opts.rounds && !current.is_empty() && !cancelled() {
        std::thread::sleep(opts.round_interval);
        rounds += 1;
        if let Some(p) = &opts.progress {
            p(&super::Progress {
                stage: "recheck",
                keys: current.len() as u64,
                total: current.len() as u64,
                differences: current.len() as u64,
                copied: recopied,
                elapsed: started.elapsed(),
            });
        }
        let mut next = Vec::new();
        let keys: Vec<Vec<u8>> = current.iter().map(|f| f.key.clone()).collect();
        for chunk in keys.chunks(opts.batch.max(1)) {
            let differ = compare_keys(src, dst, chunk, &settings)?;
            let (copy, extra) = split(differ);
            if !extra.is_empty() {
                // Every key re-checked here was written by this run. One the source no longer
                // has was deleted by the application while it was being copied (a DEL between
                // our DUMP and our RESTORE, also on the destination under dual-write): our copy
                // brought it back. Delete it whatever `delete_extra` says, and look again next
                // round (the application may have written it since).
                let gone: Vec<Vec<u8>> = extra.iter().map(|f| f.key.clone()).collect();
                copier.delete(&gone)?;
                if !opts.dry_run {
                    next.extend(compare_keys(src, dst, &gone, &settings)?);
                }
            }
            let keys: Vec<Vec<u8>> = copy.iter().map(|f| f.key.clone()).collect();
            let written = copier.copy(&keys)?;
            recopied += written.len() as u64;
            if !opts.dry_run {
                next.extend(compare_keys(src, dst, &written, &settings)?);
            }
        }
        current = next;
    }
    if complete {
        save(DONE, &Positions::default())?;
    }
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let final_diff = if opts.final_diff && complete && !opts.dry_run && !cancelled() {
        let d = DiffOptions {
            filter: opts.filter.clone(),
            ttl_tolerance: opts.ttl_tolerance,
            batch: opts.batch,
            workers: opts.workers,
            rate: opts.rate,
            big_key_bytes: opts.big_key_bytes,
            rounds: opts.rounds.max(1),
            round_interval: opts.round_interval.max(Duration::from_millis(100)),
            mismatch_log: opts.mismatch_log.clone(),
            progress: opts.progress.clone(),
            cancel: opts.cancel.clone(),
            ..DiffOptions::default()
        };
        Some(diff(src, dst, &d)?)
    } else {
        None
    };
    Ok(MigrateReport {
        complete,
        dry_run: opts.dry_run,
        keys_scanned: scanned.load(Ordering::Relaxed),
        restored: copier.restored.load(Ordering::Relaxed),
        rewritten: copier.rewritten.load(Ordering::Relaxed),
        equal: copier.equal.load(Ordering::Relaxed),
        kept: copier.kept.load(Ordering::Relaxed),
        deleted: copier.deleted.load(Ordering::Relaxed),
        recopied,
        left_after_rounds: current.len() as u64,
        copied_by_type: copier.by_type.report(),
        rounds,
        method: if copier.rewrite.load(Ordering::Relaxed) || opts.method == CopyMethod::Rewrite {
            "rewrite".into()
        } else {
            "dump".into()
        },
        elapsed_ms,
        final_diff,
    })
}

fn cancelled_now(cancel: Option<&AtomicBool>) -> bool {
    cancel.is_some_and(|c| c.load(Ordering::Relaxed))
}

/// Splits findings into keys to copy and keys that exist only on the destination.
fn split(findings: Vec<Finding>) -> (Vec<Finding>, Vec<Finding>) {
    findings
        .into_iter()
        .partition(|f| f.kind != DiffKind::Extra)
}

/// Copies one batch of source keys (compared first unless `compare` is off). With a
/// `census`, counts the keys the batch leaves on the destination: those it had when compared,
/// less the extra ones deleted, and those written that it lacked.
fn copy_batch(
    copier: &Copier<'_>,
    pending: &Pending,
    settings: &Settings,
    keys: Vec<Vec<u8>>,
    census: Option<&Census>,
) -> Result<()> {
    let (src, dst, opts) = (copier.src, copier.dst, copier.opts);
    // The keys the destination lacked when compared (every key, without a comparison).
    let mut lacked: Option<HashSet<Vec<u8>>> = None;
    let to_copy: Vec<Vec<u8>> = if opts.compare {
        let (mut copy, extra) = split(compare_counting(src, dst, &keys, settings, census)?);
        if opts.delete_extra && !extra.is_empty() {
            copier.delete(&extra.iter().map(|f| f.key.clone()).collect::<Vec<_>>())?;
            if let Some(c) = census {
                for f in &extra {
                    c.remove(&f.key);
                }
            }
        }
        if census.is_some() {
            lacked = Some(
                copy.iter()
                    .filter(|f| f.kind == DiffKind::Missing)
                    .map(|f| f.key.clone())
                    .collect(),
            );
        }
        let n = keys.len() - copy.len() - extra.len();
        copier.equal.fetch_add(n as u64, Ordering::Relaxed);
        if opts.missing_only {
            // Only what the destination lacks; what it has (even different) it keeps.
            let before = copy.len();
            copy.retain(|f| f.kind == DiffKind::Missing);
            copier
                .kept
                .fetch_add((before - copy.len()) as u64, Ordering::Relaxed);
        }
        copy.into_iter().map(|f| f.key).collect()
    } else {
        keys
    };
    let written = copier.copy(&to_copy)?;
    if let Some(c) = census {
        let left = written
            .iter()
            .filter(|k| lacked.as_ref().is_none_or(|l| l.contains(*k)));
        c.add_all(left.map(Vec::as_slice));
    }
    if opts.verify && !opts.dry_run && !written.is_empty() {
        pending.add(compare_keys(src, dst, &written, settings)?);
    }
    Ok(())
}
