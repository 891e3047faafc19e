//! The scan engine: workers per master, probes, pacing, checkpoints, progress.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::aggregate::{ttl_index, type_index, Aggregate, TopKey};
use super::checkpoint::{Checkpoint, FORMAT};
use super::generalise::Generaliser;
use super::pattern::{Labels, Normaliser};
use super::{AnalyzeOptions, AnalyzerError, ProgressInfo, Report, Scope};
use crate::command::Cmd;
use crate::keyspace::{dbsize, escape_key, shape, walk, Filter, Positions, WalkError, WalkOptions};
use crate::pace::Pacer;
use crate::reply::Reply;
use crate::store::{Store, StoreKind};
use crate::{Error, Result};

/// Labels tracked per key by the generaliser.
const MAX_DEPTH: usize = 32;

struct State {
    agg: Aggregate,
    gen: Generaliser,
    positions: Positions,
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
    keys_this_run: AtomicU64,
}

fn bad_reply(node: &str, command: &str, reply: &Reply) -> Error {
    Error::Analyzer(AnalyzerError::UnexpectedReply {
        node: node.to_owned(),
        command: command.to_owned(),
        reply: shape(reply),
    })
}

/// The walk's errors as analyzer errors.
fn walk_error(e: WalkError) -> Error {
    Error::Analyzer(AnalyzerError::Walk(e))
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

    /// Probes a batch and labels its keys (on a worker thread, outside any lock).
    fn probe(&self, keys: Vec<Vec<u8>>) -> Result<Vec<(Labels, Probed)>> {
        Ok(self
            .probe_keys(keys)?
            .into_iter()
            .map(|p| (self.normaliser.labels(&p.key), p))
            .collect())
    }

    fn probe_keys(&self, keys: Vec<Vec<u8>>) -> Result<Vec<Probed>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let cmds = self.probe_cmds(&keys);
        let replies = self.store.pipeline(&cmds)?;
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

    /// Merges probed keys into the aggregate and records the positions that include them,
    /// under one lock: a checkpoint never holds half a batch.
    fn absorb(&self, labelled: Vec<(Labels, Probed)>, positions: &Positions) {
        let n = labelled.len() as u64;
        let top = self.opts.top;
        let mut st = self.state.lock();
        let State {
            agg,
            gen,
            positions: saved,
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
        saved.clone_from(positions);
        *keys += n;
        if agg.patterns.len() > self.opts.max_patterns.saturating_mul(2) {
            agg.refold(|p| gen.fold(p));
        }
        drop(st);
        self.keys_this_run.fetch_add(n, Ordering::Relaxed);
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
                positions,
                keys,
            } = &mut *st;
            agg.refold(|p| gen.fold(p));
            Checkpoint {
                format: FORMAT,
                settings: settings.clone(),
                digest_key: hex(&self.digest_key),
                keys: *keys,
                elapsed_ms,
                positions: positions.clone(),
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
        crate::keyspace::check_key_type(t).map_err(|why| invalid("type", t, &why))?;
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
    let mut positions = Positions::default();
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
        positions = cp.positions;
    }

    let total = dbsize(store, walk_error)?;
    let engine = Engine {
        store,
        opts,
        normaliser: Normaliser::new(opts.rules.clone())?,
        digest_key,
        state: Mutex::new(State {
            agg,
            gen,
            positions: positions.clone(),
            keys: keys_before,
        }),
        keys_this_run: AtomicU64::new(0),
    };
    let filter = Filter {
        pattern: opts.match_pattern.clone(),
        key_type: opts.key_type.clone(),
        slots: opts.slots,
        // The probe asks TYPE anyway and drops other types.
        check_type: false,
        skip_prefix: opts.skip_prefix.clone(),
    };
    let pacer = Pacer::new(opts.rate);
    // Stops the walk: the caller's cancel flag, or a checkpoint that cannot be written.
    let stop = AtomicBool::new(false);
    let wopts = WalkOptions {
        filter: &filter,
        batch: opts.count,
        workers: (masters.len() * 2).clamp(2, 8),
        pacer: pacer.as_ref(),
        cancel: opts.cancel.as_deref().into_iter().chain([&stop]).collect(),
        start: positions,
        map: walk_error,
    };
    let started = Instant::now();
    let mut cancelled = false;
    let mut last_checkpoint = keys_before;
    let mut checkpoint_error = None;
    let work = |keys: Vec<Vec<u8>>| engine.probe(keys);
    let commit = |labelled: Vec<(Labels, Probed)>, at: &Positions| engine.absorb(labelled, at);
    let walked = walk(store, &wopts, &work, &commit, &mut |snap| {
        if let Some(c) = &opts.cancel {
            if c.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                cancelled = true;
                stop.store(true, Ordering::Relaxed);
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
            if !snap.last && keys_before + n >= last_checkpoint + opts.checkpoint_every {
                last_checkpoint = keys_before + n;
                let ms = elapsed_before + started.elapsed().as_millis() as u64;
                if let Err(e) = engine.checkpoint(path, &settings, ms) {
                    checkpoint_error = Some(e);
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
    });
    let elapsed_ms = elapsed_before + started.elapsed().as_millis() as u64;
    if let Some(path) = &opts.checkpoint {
        // Saved whatever happened: a failed or cancelled run resumes from here.
        engine.checkpoint(path, &settings, elapsed_ms)?;
    }
    if let Some(e) = checkpoint_error {
        return Err(Error::Analyzer(e));
    }
    let walked = walked?;
    let cancelled = cancelled || !walked.complete;
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
