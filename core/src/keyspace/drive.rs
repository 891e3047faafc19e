//! Running a walk: one producer thread per lister (a master's `SCAN`, or a master's slots),
//! a few workers, a shared rate limit, positions committed in order, cancellation, progress.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use parking_lot::Mutex;

use crate::cluster::NodeAddr;
use crate::pace::Pacer;
use crate::store::{Store, StoreKind};
use crate::{Error, Result};

use super::list::{Ctx, MasterLister};
use super::slots::SlotLister;
use super::{ErrorMap, Filter, MasterCursor, Page, Positions, Update, WalkError};

/// How often the progress callback runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

/// How to walk.
pub(crate) struct WalkOptions<'a> {
    pub filter: &'a Filter,
    /// `SCAN … COUNT` and keys per batch handed to the work.
    pub batch: usize,
    /// Batches worked on at once.
    pub workers: usize,
    pub pacer: Option<&'a Pacer>,
    /// Any of these set stops the walk after the batches in hand.
    pub cancel: Vec<&'a AtomicBool>,
    /// Where to resume from (default: from the start).
    pub start: Positions,
    /// Errors of the walk itself, in the caller's family.
    pub map: ErrorMap,
}

/// What the progress callback sees.
pub(crate) struct Snapshot<'a> {
    /// Keys committed in this walk.
    pub keys: u64,
    /// The committed positions.
    pub positions: &'a Positions,
    /// The walk is over (this is the last call).
    pub last: bool,
}

/// How a walk ended.
pub(crate) struct Walked {
    /// Every lister reached its end.
    pub complete: bool,
}

/// One source of pages: a master's `SCAN`, or the slots a cluster master owned at the start.
pub(super) enum Lister {
    Master(MasterLister),
    Slots(Box<SlotLister>),
}

impl Lister {
    pub(super) fn next_page(&mut self, ctx: Ctx<'_>) -> Result<Option<Page>> {
        match self {
            Lister::Master(m) => m.next_page(ctx),
            Lister::Slots(s) => s.next_page(ctx),
        }
    }

    /// The node this lister starts from (a cluster slot may be followed to other nodes).
    pub(super) fn node(&self) -> &NodeAddr {
        match self {
            Lister::Master(m) => &m.node,
            Lister::Slots(s) => s.owner(),
        }
    }
}

struct Item {
    lister: usize,
    seq: u64,
    page: Page,
}

struct Done<T> {
    out: Option<T>,
    update: Option<Update>,
    keys: u64,
}

struct Track<T> {
    next: u64,
    finished: BTreeMap<u64, Done<T>>,
}

fn resume_error(map: ErrorMap, reason: String) -> Error {
    map(WalkError::Resume { reason })
}

/// The listers of `store` for the keys `filter` keeps, and the positions they start from
/// (`start`, completed with a cursor per master or the slot bitmap).
pub(super) fn plan(
    store: &Store,
    filter: &Filter,
    start: &Positions,
    map: ErrorMap,
) -> Result<(Vec<Lister>, Positions)> {
    let mut positions = start.clone();
    let mut listers = Vec::new();
    if store.kind() == StoreKind::Cluster {
        if !positions.masters.is_empty() {
            return Err(resume_error(
                map,
                "the saved positions are SCAN cursors of a standalone server, the store is a \
                 cluster"
                    .into(),
            ));
        }
        let topology = store
            .topology()?
            .ok_or_else(|| resume_error(map, "cluster store without a slot map".into()))?;
        let in_hot: HashSet<u16> = positions.hot.iter().flat_map(|h| h.slots.clone()).collect();
        for shard in topology.shards() {
            let slots: Vec<u16> = shard
                .ranges
                .iter()
                .flat_map(|&(lo, hi)| lo..=hi)
                .filter(|&s| filter.keeps_slot(s) && !positions.slot_done(s))
                .filter(|s| !in_hot.contains(s))
                .collect();
            if !slots.is_empty() {
                listers.push(Lister::Slots(Box::new(SlotLister::new(
                    shard.master.clone(),
                    slots,
                ))));
            }
        }
        if !positions.hot.is_empty() {
            listers.push(Lister::Slots(Box::new(SlotLister::resumed(
                positions.hot.clone(),
            ))));
        }
        if positions.slots_done.len() < 256 {
            positions.slots_done.resize(256, 0);
        }
        return Ok((listers, positions));
    }
    if !positions.slots_done.is_empty() || !positions.hot.is_empty() {
        return Err(resume_error(
            map,
            "the saved positions are slots of a cluster, the store is a single server".into(),
        ));
    }
    let masters = store.masters()?;
    let mut fresh: Vec<MasterCursor> = masters
        .iter()
        .map(|m| MasterCursor {
            node: m.to_string(),
            cursor: "0".into(),
            done: false,
        })
        .collect();
    if !positions.masters.is_empty() {
        let mut saved: Vec<String> = positions.masters.iter().map(|c| c.node.clone()).collect();
        let mut now: Vec<String> = fresh.iter().map(|c| c.node.clone()).collect();
        saved.sort();
        now.sort();
        if saved != now {
            return Err(resume_error(
                map,
                format!(
                    "the saved cursors are for masters {}, the store's masters are {}",
                    saved.join(","),
                    now.join(",")
                ),
            ));
        }
        for c in &mut fresh {
            if let Some(s) = positions.masters.iter().find(|s| s.node == c.node) {
                c.clone_from(s);
            }
        }
    }
    for (idx, (node, c)) in masters.into_iter().zip(&fresh).enumerate() {
        if !c.done {
            listers.push(Lister::Master(MasterLister {
                idx,
                node,
                cursor: c.cursor.clone(),
                done: false,
            }));
        }
    }
    positions.masters = fresh;
    Ok((listers, positions))
}

/// Walks every key of `store` that `opts.filter` keeps: `work` is called with batches from
/// `opts.workers` threads; `commit` with each batch's result, in walk order per lister and one
/// at a time, together with the positions that include that batch; `progress` from the
/// calling thread every 50 ms and once more at the end (also after an error, so
/// a checkpoint can be saved).
pub(crate) fn walk<T: Send>(
    store: &Store,
    opts: &WalkOptions<'_>,
    work: &(dyn Fn(Vec<Vec<u8>>) -> Result<T> + Sync),
    commit: &(dyn Fn(T, &Positions) + Sync),
    progress: &mut dyn FnMut(&Snapshot<'_>),
) -> Result<Walked> {
    let (listers, positions) = plan(store, opts.filter, &opts.start, opts.map)?;
    let ctx = Ctx {
        store,
        filter: opts.filter,
        batch: opts.batch.max(1),
        map: opts.map,
    };
    let stop = AtomicBool::new(false);
    let stopped =
        || stop.load(Ordering::Relaxed) || opts.cancel.iter().any(|c| c.load(Ordering::Relaxed));
    let error: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        let mut slot = error.lock();
        if slot.is_none() {
            *slot = Some(e);
        }
        stop.store(true, Ordering::Relaxed);
    };
    let keys_done = AtomicU64::new(0);
    let ended = AtomicUsize::new(0);
    let n_listers = listers.len();
    let committed = Mutex::new(positions);
    let tracks: Vec<Mutex<Track<T>>> = (0..n_listers)
        .map(|_| {
            Mutex::new(Track {
                next: 0,
                finished: BTreeMap::new(),
            })
        })
        .collect();
    let workers = opts.workers.max(1);
    let (tx, rx) = sync_channel::<Item>(workers * 2);
    let rx: Mutex<Receiver<Item>> = Mutex::new(rx);

    // Every thread holds a sender; once all have returned, the receiver wakes the progress
    // loop at once (a short walk does not wait out a progress period).
    let (alive, all_returned) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        for (li, mut lister) in listers.into_iter().enumerate() {
            let tx = tx.clone();
            let (stopped, fail, ended) = (&stopped, &fail, &ended);
            scope.spawn(while_alive(alive.clone(), move || {
                let mut seq = 0u64;
                loop {
                    if stopped() {
                        return;
                    }
                    let page = match lister.next_page(ctx) {
                        Ok(Some(p)) => p,
                        Ok(None) => {
                            ended.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Err(e) => return fail(e),
                    };
                    if tx
                        .send(Item {
                            lister: li,
                            seq,
                            page,
                        })
                        .is_err()
                    {
                        return;
                    }
                    seq += 1;
                }
            }));
        }
        drop(tx);
        for _ in 0..workers {
            let (rx, stopped, fail) = (&rx, &stopped, &fail);
            let (tracks, committed, keys_done) = (&tracks, &committed, &keys_done);
            scope.spawn(while_alive(alive.clone(), move || loop {
                let item = match rx.lock().recv() {
                    Ok(item) => item,
                    Err(_) => return,
                };
                if stopped() {
                    continue;
                }
                let Page { keys, update } = item.page;
                let n = keys.len();
                let out = if n == 0 {
                    None
                } else {
                    if let Some(p) = opts.pacer {
                        p.acquire(n);
                    }
                    match work(keys) {
                        Ok(out) => Some(out),
                        Err(e) => {
                            fail(e);
                            continue;
                        }
                    }
                };
                let Some(track) = tracks.get(item.lister) else {
                    continue;
                };
                let mut t = track.lock();
                t.finished.insert(
                    item.seq,
                    Done {
                        out,
                        update,
                        keys: n as u64,
                    },
                );
                // Commit in walk order: the track's lock is held so no later batch of this
                // lister overtakes; then the positions' lock (always in this order).
                let mut pos = None;
                while let Some(done) = {
                    let next = t.next;
                    t.finished.remove(&next)
                } {
                    t.next += 1;
                    let p = pos.get_or_insert_with(|| committed.lock());
                    if let Some(u) = done.update {
                        p.apply(u);
                    }
                    if let Some(out) = done.out {
                        commit(out, p);
                    }
                    keys_done.fetch_add(done.keys, Ordering::Relaxed);
                }
            }));
        }
        drop(alive);
        loop {
            let finished = matches!(
                all_returned.recv_timeout(PROGRESS_EVERY),
                Err(RecvTimeoutError::Disconnected)
            );
            {
                let snap = committed.lock().clone();
                progress(&Snapshot {
                    keys: keys_done.load(Ordering::Relaxed),
                    positions: &snap,
                    last: finished,
                });
            }
            if finished {
                break;
            }
        }
    });
    if let Some(e) = error.into_inner() {
        return Err(e);
    }
    let complete = !stopped() && ended.load(Ordering::Relaxed) == n_listers;
    Ok(Walked { complete })
}

/// `f`, holding `alive` until it returns (or unwinds).
fn while_alive<R>(alive: Sender<()>, f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    move || {
        let _alive = alive;
        f()
    }
}
