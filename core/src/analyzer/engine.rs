//! The scan engine: workers per master, probes, pacing, checkpoints, progress.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use parking_lot::Mutex;

use super::aggregate::{ttl_index, type_index, Aggregate, TopKey};
use super::checkpoint::{Checkpoint, Cursors, ScanCursor, FORMAT};
use super::generalise::Generaliser;
use super::pattern::{Labels, Normaliser};
use super::view::{SlotState, View};
use super::{glob, AnalyzeOptions, AnalyzerError, ProgressInfo, Report, Scope};
use crate::cluster::NodeAddr;
use crate::command::Cmd;
use crate::pace::Pacer;
use crate::reply::{Reply, ServerError};
use crate::store::{runtime, Store, StoreKind};
use crate::{Error, Result};

/// Slots listed per round trip group on a cluster master.
const SLOT_CHUNK: usize = 32;
/// How often a slot whose owner moves is retried.
const SLOT_ATTEMPTS: usize = 10;
/// Labels tracked per key by the generaliser.
const MAX_DEPTH: usize = 32;

/// Probes in flight per master.
const PROBE_DEPTH: usize = 2;

/// One probed SCAN batch and the cursor that follows it.
struct Batch {
    probes: Vec<Probed>,
    cursor: String,
    finished: bool,
}

struct State {
    agg: Aggregate,
    gen: Generaliser,
    cursors: Cursors,
    keys: u64,
}

/// One probed key.
struct Probed {
    key: Vec<u8>,
    type_idx: usize,
    memory: u64,
    ttl_idx: usize,
}

struct Engine<'a> {
    store: &'a Store,
    opts: &'a AnalyzeOptions,
    normaliser: Normaliser,
    digest_key: [u8; 32],
    state: Mutex<State>,
    pacer: Option<Pacer>,
    stop: AtomicBool,
    error: Mutex<Option<Error>>,
    keys_this_run: AtomicU64,
}

fn bad_reply(node: &str, command: &str, reply: &Reply) -> Error {
    let shape = match reply {
        Reply::Nil => "nil".to_owned(),
        Reply::Int(i) => format!("integer {i}"),
        Reply::Bulk(b) => format!("bulk string of {} bytes", b.len()),
        Reply::Status(s) => format!("status {s:?}"),
        Reply::Array(a) => format!("array of {}", a.len()),
        Reply::Error(e) => format!("error {}", e.code()),
        _ => "another reply type".to_owned(),
    };
    Error::Analyzer(AnalyzerError::UnexpectedReply {
        node: node.to_owned(),
        command: command.to_owned(),
        reply: shape,
    })
}

fn key_list(node: &NodeAddr, reply: Reply) -> Result<Vec<Vec<u8>>> {
    match reply {
        Reply::Array(items) | Reply::Set(items) => items
            .into_iter()
            .map(|k| match k {
                Reply::Bulk(b) => Ok(b),
                other => Err(bad_reply(
                    &node.to_string(),
                    "CLUSTER GETKEYSINSLOT",
                    &other,
                )),
            })
            .collect(),
        other => Err(bad_reply(
            &node.to_string(),
            "CLUSTER GETKEYSINSLOT",
            &other,
        )),
    }
}

fn getkeys(slot: u16) -> Cmd {
    Cmd::from_args([
        "CLUSTER".to_owned(),
        "GETKEYSINSLOT".to_owned(),
        slot.to_string(),
        i32::MAX.to_string(),
    ])
}

/// Escapes a raw key for display (`--show-keys`).
fn escape_key(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_graphic() || b == b' ' {
            if b == b'\\' {
                s.push_str("\\\\");
            } else {
                s.push(char::from(b));
            }
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl<'a> Engine<'a> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn fail(&self, e: Error) {
        let mut slot = self.error.lock();
        if slot.is_none() {
            *slot = Some(e);
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    fn display(&self, key: &[u8]) -> String {
        if self.opts.show_keys {
            escape_key(key)
        } else {
            let d = blake3::keyed_hash(&self.digest_key, key);
            let mut s = String::with_capacity(17);
            s.push('#');
            s.push_str(&hex(&d.as_bytes()[..8]));
            s
        }
    }

    fn probe_cmds(&self, keys: &[Vec<u8>]) -> Vec<Cmd> {
        let mut cmds = Vec::with_capacity(keys.len() * 3);
        let samples = self.opts.samples.map(|s| s.to_string());
        for k in keys {
            let mut t = Cmd::new("TYPE");
            t.arg(k);
            let mut m = Cmd::new("MEMORY");
            m.arg("USAGE").arg(k);
            if let Some(s) = &samples {
                m.arg("SAMPLES").arg(s);
            }
            let mut p = Cmd::new("PTTL");
            p.arg(k);
            cmds.push(t);
            cmds.push(m);
            cmds.push(p);
        }
        cmds
    }

    async fn probe_async(&self, keys: Vec<Vec<u8>>) -> Result<Vec<Probed>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let cmds = self.probe_cmds(&keys);
        let replies = self.store.pipeline_async(&cmds).await?;
        let mut out = Vec::with_capacity(keys.len());
        let mut it = replies.into_iter();
        for key in keys {
            let (Some(t), Some(m), Some(p)) = (it.next(), it.next(), it.next()) else {
                return Err(bad_reply("pipeline", "TYPE/MEMORY USAGE/PTTL", &Reply::Nil));
            };
            let t = t?.into_result().map_err(Error::Server)?;
            let m = m?.into_result().map_err(Error::Server)?;
            let p = p?.into_result().map_err(Error::Server)?;
            let Some(type_name) = t.as_bytes() else {
                return Err(bad_reply("pipeline", "TYPE", &t));
            };
            let Some(type_idx) = type_index(type_name) else {
                continue; // gone since it was listed
            };
            if let Some(want) = &self.opts.key_type {
                if !type_name.eq_ignore_ascii_case(want.as_bytes()) {
                    continue;
                }
            }
            let memory = match m {
                Reply::Nil => continue,
                ref r => match r.as_int() {
                    Some(n) => u64::try_from(n).unwrap_or(0),
                    None => return Err(bad_reply("pipeline", "MEMORY USAGE", r)),
                },
            };
            let ttl_idx = match p.as_int() {
                Some(ms) => match ttl_index(ms) {
                    Some(i) => i,
                    None => continue,
                },
                None => return Err(bad_reply("pipeline", "PTTL", &p)),
            };
            out.push(Probed {
                key,
                type_idx,
                memory,
                ttl_idx,
            });
        }
        Ok(out)
    }

    /// Merges probed keys into the aggregate and moves the cursors, under one lock.
    fn absorb(&self, probes: Vec<Probed>, commit: impl FnOnce(&mut Cursors)) {
        let labelled: Vec<(Labels, Probed)> = probes
            .into_iter()
            .map(|p| (self.normaliser.labels(&p.key), p))
            .collect();
        let n = labelled.len() as u64;
        let top = self.opts.top;
        let mut st = self.state.lock();
        let State {
            agg,
            gen,
            cursors,
            keys,
        } = &mut *st;
        for (labels, p) in labelled {
            let pattern = gen.observe(&labels);
            agg.with_entry(&pattern, |stats| {
                stats.add(p.memory, p.type_idx, p.ttl_idx);
                if top == 0 {
                    return;
                }
                // Only keys that can enter the top list are shown (a digest costs ~100 ns);
                // ties at the bottom are broken by the shown key, so the list does not depend
                // on the order keys arrive in.
                let enters = match stats.top.last() {
                    Some(last) if stats.top.len() >= top => {
                        if p.memory > last.memory {
                            Some(self.display(&p.key))
                        } else if p.memory == last.memory {
                            let shown = self.display(&p.key);
                            (shown < last.key).then_some(shown)
                        } else {
                            None
                        }
                    }
                    _ => Some(self.display(&p.key)),
                };
                if let Some(shown) = enters {
                    stats.offer_top(
                        TopKey {
                            memory: p.memory,
                            key: shown,
                        },
                        top,
                    );
                }
            });
        }
        commit(cursors);
        *keys += n;
        if agg.patterns.len() > self.opts.max_patterns.saturating_mul(2) {
            agg.refold(|p| gen.fold(p));
        }
        drop(st);
        self.keys_this_run.fetch_add(n, Ordering::Relaxed);
    }

    fn pace(&self, n: usize) {
        if let Some(p) = &self.pacer {
            p.acquire(n);
        }
    }

    // ---- standalone / Sentinel ----

    fn scan_cmd(&self, cursor: &str) -> Cmd {
        let mut cmd = Cmd::new("SCAN");
        cmd.arg(cursor);
        if let Some(p) = &self.opts.match_pattern {
            cmd.arg("MATCH").arg(p);
        }
        cmd.arg("COUNT").arg(self.opts.count.to_string());
        if let Some(t) = &self.opts.key_type {
            cmd.arg("TYPE").arg(t);
        }
        cmd
    }

    async fn scan_step(&self, node: &NodeAddr, cursor: String) -> Result<(String, Vec<Vec<u8>>)> {
        let reply = self
            .store
            .call_on_async(node, &self.scan_cmd(&cursor))
            .await?;
        let name = node.to_string();
        let Reply::Array(mut parts) = reply else {
            return Err(bad_reply(&name, "SCAN", &reply));
        };
        if parts.len() != 2 {
            return Err(bad_reply(&name, "SCAN", &Reply::Array(parts)));
        }
        let keys = parts.pop().unwrap_or(Reply::Nil);
        let cur = parts.pop().unwrap_or(Reply::Nil);
        let cursor = match cur.as_bytes() {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => return Err(bad_reply(&name, "SCAN", &cur)),
        };
        let mut keys = match keys {
            Reply::Array(items) | Reply::Set(items) => items
                .into_iter()
                .filter_map(|k| match k {
                    Reply::Bulk(b) => Some(b),
                    _ => None,
                })
                .collect::<Vec<_>>(),
            other => return Err(bad_reply(&name, "SCAN", &other)),
        };
        let mut seen = HashSet::with_capacity(keys.len());
        keys.retain(|k| seen.insert(k.clone()));
        Ok((cursor, keys))
    }

    fn run_scan(&self, idx: usize, node: NodeAddr) -> Result<()> {
        let start = {
            let st = self.state.lock();
            match &st.cursors {
                Cursors::Scan(c) => c.get(idx).cloned(),
                Cursors::Slots(_) => None,
            }
        };
        let Some(start) = start else { return Ok(()) };
        if start.done {
            return Ok(());
        }
        // I/O here, aggregation on a second thread: the server always has a SCAN and up to
        // PROBE_DEPTH probe pipelines to work on while the client normalises keys.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(PROBE_DEPTH);
        std::thread::scope(|s| {
            s.spawn(move || {
                while let Some(batch) = rx.blocking_recv() {
                    let Batch {
                        probes,
                        cursor,
                        finished,
                    } = batch;
                    self.absorb(probes, move |c| {
                        if let Cursors::Scan(list) = c {
                            if let Some(sc) = list.get_mut(idx) {
                                sc.cursor = cursor;
                                sc.done = finished;
                            }
                        }
                    });
                }
            });
            runtime::block_on(self.scan_io(&node, start.cursor, tx))?
        })
    }

    async fn scan_io(
        &self,
        node: &NodeAddr,
        cursor: String,
        tx: tokio::sync::mpsc::Sender<Batch>,
    ) -> Result<()> {
        use futures_util::stream::{FuturesOrdered, StreamExt};
        let mut scan = Some(Box::pin(self.scan_step(node, cursor)));
        let mut inflight = FuturesOrdered::new();
        loop {
            if self.stopped() {
                break;
            }
            if scan.is_none() && inflight.is_empty() {
                break;
            }
            let scanning = scan.is_some() && inflight.len() < PROBE_DEPTH;
            tokio::select! {
                r = async {
                    match scan.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                }, if scanning => {
                    let (next, keys) = r?;
                    let finished = next == "0";
                    scan = if finished {
                        None
                    } else {
                        Some(Box::pin(self.scan_step(node, next.clone())))
                    };
                    if let Some(p) = &self.pacer {
                        let wait = p.reserve(keys.len());
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    inflight.push_back(async move {
                        (self.probe_async(keys).await, next, finished)
                    });
                }
                Some((probes, cursor, finished)) = inflight.next(), if !inflight.is_empty() => {
                    let batch = Batch { probes: probes?, cursor, finished };
                    if tx.send(batch).await.is_err() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    // ---- cluster ----

    async fn view_of(&self, node: &NodeAddr) -> Result<View> {
        let reply = self
            .store
            .call_on_async(node, &Cmd::from_args(["CLUSTER", "NODES"]))
            .await?;
        let text = reply
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .ok_or_else(|| bad_reply(&node.to_string(), "CLUSTER NODES", &reply))?;
        View::parse(&text, node)
            .ok_or_else(|| bad_reply(&node.to_string(), "CLUSTER NODES", &Reply::Nil))
    }

    async fn list_on(&self, node: &NodeAddr, slot: u16) -> Result<Vec<Vec<u8>>> {
        let reply = self.store.call_on_async(node, &getkeys(slot)).await?;
        key_list(node, reply)
    }

    /// Lists `slot` given that `first` (listed from `node`) may not be the whole slot.
    async fn settle_slot(
        &self,
        slot: u16,
        mut node: NodeAddr,
        mut listed: Option<(Vec<Vec<u8>>, SlotState)>,
    ) -> Result<Vec<Vec<u8>>> {
        for _ in 0..SLOT_ATTEMPTS {
            let (keys, state) = match listed.take() {
                Some(x) => x,
                None => {
                    let keys = self.list_on(&node, slot).await?;
                    let view = self.view_of(&node).await?;
                    (keys, view.state(slot))
                }
            };
            match state {
                SlotState::Stable => return Ok(keys),
                SlotState::Migrating(target) => {
                    let more = self.list_on(&target, slot).await?;
                    let mut seen: HashSet<Vec<u8>> =
                        HashSet::with_capacity(keys.len() + more.len());
                    let mut all = Vec::with_capacity(keys.len() + more.len());
                    for k in keys.into_iter().chain(more) {
                        if seen.insert(k.clone()) {
                            all.push(k);
                        }
                    }
                    return Ok(all);
                }
                SlotState::Elsewhere(owner) => node = owner,
                SlotState::Unowned => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        Err(Error::Analyzer(AnalyzerError::SlotUnstable {
            slot,
            attempts: SLOT_ATTEMPTS,
        }))
    }

    fn run_slots(&self, owner: NodeAddr, slots: Vec<u16>) -> Result<()> {
        for chunk in slots.chunks(SLOT_CHUNK) {
            if self.stopped() {
                break;
            }
            let per_slot: Vec<Vec<Vec<u8>>> = runtime::block_on(async {
                let lists = join_all(chunk.iter().map(|&s| self.list_on(&owner, s))).await;
                // Asked after the listings completed, on the same node.
                let view = self.view_of(&owner).await?;
                let mut out = Vec::with_capacity(chunk.len());
                for (&s, list) in chunk.iter().zip(lists) {
                    let list = list?;
                    let state = view.state(s);
                    out.push(if state == SlotState::Stable {
                        list
                    } else {
                        self.settle_slot(s, owner.clone(), Some((list, state)))
                            .await?
                    });
                }
                Ok::<_, Error>(out)
            })??;
            let mut keys: Vec<Vec<u8>> = per_slot.into_iter().flatten().collect();
            if let Some(p) = &self.opts.match_pattern {
                keys.retain(|k| glob::matches(p, k));
            }
            let mut probes = Vec::with_capacity(keys.len());
            let count = self.opts.count.max(1);
            while !keys.is_empty() {
                let rest = keys.split_off(keys.len().min(count));
                let batch = std::mem::replace(&mut keys, rest);
                self.pace(batch.len());
                probes.extend(runtime::block_on(self.probe_async(batch))??);
            }
            self.absorb(probes, |c| {
                for &s in chunk {
                    c.mark_slot(s);
                }
            });
        }
        Ok(())
    }

    // ---- checkpoints ----

    fn checkpoint(
        &self,
        path: &Path,
        settings: &BTreeMap<String, String>,
        elapsed_ms: u64,
    ) -> std::result::Result<(), AnalyzerError> {
        let cp = {
            let mut st = self.state.lock();
            let State {
                agg,
                gen,
                cursors,
                keys,
            } = &mut *st;
            agg.refold(|p| gen.fold(p));
            Checkpoint {
                format: FORMAT,
                settings: settings.clone(),
                digest_key: hex(&self.digest_key),
                keys: *keys,
                elapsed_ms,
                cursors: cursors.clone(),
                patterns: agg
                    .patterns
                    .iter()
                    .map(|(p, s)| (p.clone(), s.clone()))
                    .collect(),
                tree: gen.save(),
                exhausted: gen.exhausted(),
                truncated: agg.truncated,
            }
        };
        cp.save(path)
    }
}

fn invalid(name: &'static str, value: impl ToString, reason: &str) -> Error {
    Error::Analyzer(AnalyzerError::InvalidOption {
        name,
        value: value.to_string(),
        reason: reason.to_owned(),
    })
}

fn validate(o: &AnalyzeOptions) -> Result<()> {
    if o.count == 0 {
        return Err(invalid("count", 0, "must be at least 1"));
    }
    if o.rate == Some(0) {
        return Err(invalid(
            "rate",
            0,
            "must be at least 1 key per second (omit it for no limit)",
        ));
    }
    if let Some(t) = &o.key_type {
        if t.is_empty()
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "type",
                t,
                "not a type name (string, list, set, zset, hash, stream)",
            ));
        }
    }
    if o.resume && o.checkpoint.is_none() {
        return Err(invalid("resume", true, "needs a checkpoint file"));
    }
    if o.checkpoint_every == 0 {
        return Err(invalid("checkpoint_every", 0, "must be at least 1"));
    }
    Ok(())
}

fn settings(o: &AnalyzeOptions, kind: StoreKind, run_ids: &[String]) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    s.insert("kind".into(), format!("{kind:?}").to_lowercase());
    s.insert("servers".into(), run_ids.join(","));
    s.insert(
        "match".into(),
        o.match_pattern
            .as_deref()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default(),
    );
    s.insert("type".into(), o.key_type.clone().unwrap_or_default());
    s.insert(
        "samples".into(),
        o.samples.map(|x| x.to_string()).unwrap_or_default(),
    );
    s.insert("top".into(), o.top.to_string());
    s.insert("show_keys".into(), o.show_keys.to_string());
    s.insert("generalise_after".into(), o.generalise_after.to_string());
    s.insert("generaliser_nodes".into(), o.generaliser_nodes.to_string());
    s.insert("max_patterns".into(), o.max_patterns.to_string());
    s.insert(
        "rules".into(),
        o.rules
            .iter()
            .map(|r| {
                format!(
                    "{} => {}",
                    r.pattern(),
                    String::from_utf8_lossy(r.placeholder())
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    s
}

pub(super) fn run(store: &Store, opts: &AnalyzeOptions) -> Result<Report> {
    validate(opts)?;
    let kind = store.kind();
    let masters = store.masters()?;
    let server = store.server_id()?;
    let settings = settings(opts, kind, &server.run_ids);

    // Key display.
    let (mut digest_key, mut key_display) = match opts.digest_key.clone().or_else(|| {
        std::env::var("SLOTSHIFT_DIGEST_KEY")
            .ok()
            .filter(|k| !k.is_empty())
    }) {
        Some(k) => (
            blake3::derive_key("slotshift analyzer key digest v1", k.as_bytes()),
            "keyed-digest",
        ),
        None => (rand::random::<[u8; 32]>(), "per-run-digest"),
    };
    if opts.show_keys {
        key_display = "raw";
    }

    let mut gen = Generaliser::new(opts.generalise_after, opts.generaliser_nodes, MAX_DEPTH);
    let mut agg = Aggregate::new(opts.top, opts.max_patterns);
    let mut keys_before = 0;
    let mut elapsed_before = 0;
    let fresh_cursors = match kind {
        StoreKind::Cluster => Cursors::empty_slots(),
        _ => Cursors::Scan(
            masters
                .iter()
                .map(|m| ScanCursor {
                    node: m.to_string(),
                    cursor: "0".into(),
                    done: false,
                })
                .collect(),
        ),
    };
    let mut cursors = fresh_cursors;
    if let (true, Some(path)) = (opts.resume, &opts.checkpoint) {
        let cp = Checkpoint::load(path)?;
        cp.check(path, &settings)?;
        let saved_key = unhex(&cp.digest_key).ok_or_else(|| AnalyzerError::Checkpoint {
            path: path.display().to_string(),
            reason: "malformed digest key".into(),
        })?;
        if key_display == "keyed-digest" && saved_key != digest_key {
            return Err(Error::Analyzer(AnalyzerError::CheckpointMismatch {
                path: path.display().to_string(),
                setting: "digest key".into(),
                checkpoint: "***".into(),
                now: "*** (a different key)".into(),
            }));
        }
        digest_key = saved_key;
        gen.restore(&cp.tree, cp.exhausted);
        agg.patterns = cp.patterns.into_iter().collect();
        agg.truncated = cp.truncated;
        keys_before = cp.keys;
        elapsed_before = cp.elapsed_ms;
        cursors = cp.cursors;
    }

    // Work per master.
    enum Job {
        Scan(usize, NodeAddr),
        Slots(NodeAddr, Vec<u16>),
    }
    let mut jobs = Vec::new();
    match kind {
        StoreKind::Cluster => {
            let topology = store.topology()?.ok_or_else(|| {
                Error::Server(ServerError::new("ERR", "cluster store without a topology"))
            })?;
            for shard in topology.shards() {
                let slots: Vec<u16> = shard
                    .ranges
                    .iter()
                    .flat_map(|&(lo, hi)| lo..=hi)
                    .filter(|&s| !cursors.slot_done(s))
                    .collect();
                if !slots.is_empty() {
                    jobs.push(Job::Slots(shard.master.clone(), slots));
                }
            }
        }
        _ => {
            for (i, m) in masters.iter().enumerate() {
                jobs.push(Job::Scan(i, m.clone()));
            }
        }
    }
    let mut total = 0u64;
    for m in &masters {
        total += store
            .call_on(m, &Cmd::from_args(["DBSIZE"]))?
            .as_int()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
    }

    let engine = Engine {
        store,
        opts,
        normaliser: Normaliser::new(opts.rules.clone())?,
        digest_key,
        state: Mutex::new(State {
            agg,
            gen,
            cursors,
            keys: keys_before,
        }),
        pacer: Pacer::new(opts.rate),
        stop: AtomicBool::new(false),
        error: Mutex::new(None),
        keys_this_run: AtomicU64::new(0),
    };

    let started = Instant::now();
    let mut cancelled = false;
    let mut last_checkpoint = keys_before;
    let mut checkpoint_error = None;
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let engine = &engine;
                scope.spawn(move || {
                    let r = match job {
                        Job::Scan(i, node) => engine.run_scan(i, node),
                        Job::Slots(node, slots) => engine.run_slots(node, slots),
                    };
                    if let Err(e) = r {
                        engine.fail(e);
                    }
                })
            })
            .collect();
        loop {
            let done = handles.iter().all(|h| h.is_finished());
            if let Some(c) = &opts.cancel {
                if c.load(Ordering::Relaxed) && !engine.stopped() {
                    cancelled = true;
                    engine.stop.store(true, Ordering::Relaxed);
                }
            }
            let n = engine.keys_this_run.load(Ordering::Relaxed);
            if let Some(p) = &opts.progress {
                let elapsed = started.elapsed();
                let rate = n as f64 / elapsed.as_secs_f64().max(1e-3);
                let keys = keys_before + n;
                p.update(&ProgressInfo {
                    keys,
                    total,
                    keys_per_sec: rate,
                    eta: (rate > 0.0)
                        .then(|| Duration::from_secs_f64(total.saturating_sub(keys) as f64 / rate)),
                    elapsed,
                });
            }
            if let Some(path) = &opts.checkpoint {
                if !done && keys_before + n >= last_checkpoint + opts.checkpoint_every {
                    last_checkpoint = keys_before + n;
                    let ms = elapsed_before + started.elapsed().as_millis() as u64;
                    if let Err(e) = engine.checkpoint(path, &settings, ms) {
                        checkpoint_error = Some(e);
                        engine.stop.store(true, Ordering::Relaxed);
                    }
                }
            }
            if done {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let elapsed_ms = elapsed_before + started.elapsed().as_millis() as u64;
    let failure = engine.error.lock().take();
    if let Some(path) = &opts.checkpoint {
        // Saved whatever happened: a failed or cancelled run resumes from here.
        engine.checkpoint(path, &settings, elapsed_ms)?;
    }
    if let Some(e) = checkpoint_error {
        return Err(Error::Analyzer(e));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let st = engine.state.into_inner();
    let mut gen = st.gen;
    let mut agg = st.agg;
    gen.finish();
    agg.refold(|p| gen.fold(p));
    agg.limit();
    let scope = Scope {
        kind: format!("{kind:?}").to_lowercase(),
        masters: masters.len(),
        match_pattern: opts
            .match_pattern
            .as_deref()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        key_type: opts.key_type.clone(),
        samples: opts.samples,
        key_display: key_display.to_owned(),
    };
    Ok(Report::build(
        scope,
        agg.patterns,
        opts.top,
        !cancelled,
        elapsed_ms,
        (agg.truncated, gen.exhausted()),
    ))
}
