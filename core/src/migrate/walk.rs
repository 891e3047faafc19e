//! The streamed walk over a store's keys that [`diff`](super::diff) and
//! [`migrate`](super::migrate) share: one `SCAN` producer per master, a few workers, a shared
//! rate limit, a per-master cursor that is committed only once every batch before it is done,
//! cancellation, and periodic progress.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::cluster::NodeAddr;
use crate::command::Cmd;
pub(crate) use crate::pace::Pacer;
use crate::reply::Reply;
use crate::store::Store;
use crate::{Error, Result};

use super::{KeyFilter, MigrateError};

/// Where one master's `SCAN` stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterCursor {
    /// `host:port`.
    pub node: String,
    /// The next cursor to send (every key before it has been handled).
    pub cursor: String,
    /// The scan of this master is finished.
    pub done: bool,
}

/// How to walk.
pub(crate) struct WalkOptions<'a> {
    pub filter: &'a KeyFilter,
    pub batch: usize,
    pub workers: usize,
    pub pacer: Option<&'a Pacer>,
    pub cancel: Option<&'a AtomicBool>,
    /// Cursors to resume from (empty: from the start).
    pub start: Vec<MasterCursor>,
}

/// What the progress callback sees.
pub(crate) struct Snapshot<'a> {
    pub keys: u64,
    pub cursors: &'a [MasterCursor],
    pub last: bool,
}

/// How a walk ended.
pub(crate) struct Walked {
    pub complete: bool,
}

struct Item {
    master: usize,
    seq: u64,
    keys: Vec<Vec<u8>>,
    cursor: String,
}

struct Track {
    next: u64,
    finished: BTreeMap<u64, String>,
}

fn scan_cmd(cursor: &str, filter: &KeyFilter, count: usize) -> Cmd {
    let mut cmd = Cmd::new("SCAN");
    cmd.arg(cursor);
    if let Some(p) = &filter.pattern {
        cmd.arg("MATCH").arg(p);
    }
    cmd.arg("COUNT").arg(count.to_string());
    if let Some(t) = &filter.key_type {
        cmd.arg("TYPE").arg(t);
    }
    cmd
}

fn parse_scan(reply: Reply) -> Result<(String, Vec<Vec<u8>>)> {
    let bad = |d: String| -> Error {
        MigrateError::Reply {
            command: "SCAN",
            detail: d,
        }
        .into()
    };
    let reply = match reply {
        Reply::Error(e) => return Err(Error::Server(e)),
        r => r,
    };
    let Reply::Array(mut parts) = reply else {
        return Err(bad("not an array".into()));
    };
    if parts.len() != 2 {
        return Err(bad(format!("{} parts", parts.len())));
    }
    let keys = parts.pop().unwrap_or(Reply::Nil);
    let cursor = parts
        .pop()
        .and_then(|c| {
            c.as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        })
        .ok_or_else(|| bad("no cursor".into()))?;
    let keys = match keys {
        Reply::Array(items) | Reply::Set(items) => items
            .into_iter()
            .filter_map(|k| match k {
                Reply::Bulk(b) => Some(b),
                _ => None,
            })
            .collect(),
        _ => return Err(bad("keys are not an array".into())),
    };
    Ok((cursor, keys))
}

/// The sum of `DBSIZE` over the store's masters.
pub(crate) fn dbsize(store: &Store) -> Result<u64> {
    let mut total = 0u64;
    for m in store.masters()? {
        let r = store.call_on(&m, &Cmd::new("DBSIZE"))?;
        total += r.as_int().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    }
    Ok(total)
}

/// Walks every key of `store` that `opts.filter` keeps, calling `work` with batches from
/// `opts.workers` threads, and `progress` from the calling thread about five times a second
/// and once more at the end (also after an error, so a checkpoint can be saved).
pub(crate) fn walk(
    store: &Store,
    opts: &WalkOptions<'_>,
    work: &(dyn Fn(Vec<Vec<u8>>) -> Result<()> + Sync),
    progress: &mut dyn FnMut(&Snapshot<'_>),
) -> Result<Walked> {
    let masters: Vec<NodeAddr> = store.masters()?;
    let mut cursors: Vec<MasterCursor> = masters
        .iter()
        .map(|m| MasterCursor {
            node: m.to_string(),
            cursor: "0".into(),
            done: false,
        })
        .collect();
    if !opts.start.is_empty() {
        let mut saved: Vec<String> = opts.start.iter().map(|c| c.node.clone()).collect();
        let mut now: Vec<String> = cursors.iter().map(|c| c.node.clone()).collect();
        saved.sort();
        now.sort();
        if saved != now {
            return Err(MigrateError::ResumeMismatch {
                path: "(checkpoint)".into(),
                setting: "masters of the scanned store".into(),
                saved: saved.join(","),
                now: now.join(","),
            }
            .into());
        }
        for c in &mut cursors {
            if let Some(s) = opts.start.iter().find(|s| s.node == c.node) {
                c.clone_from(s);
            }
        }
    }
    let stop = AtomicBool::new(false);
    let stopped =
        || stop.load(Ordering::Relaxed) || opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let error: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        let mut slot = error.lock();
        if slot.is_none() {
            *slot = Some(e);
        }
        stop.store(true, Ordering::Relaxed);
    };
    let keys_done = AtomicU64::new(0);
    let committed = Mutex::new(cursors.clone());
    let tracks: Vec<Mutex<Track>> = (0..masters.len())
        .map(|_| {
            Mutex::new(Track {
                next: 0,
                finished: BTreeMap::new(),
            })
        })
        .collect();
    let workers = opts.workers.max(1);
    let batch = opts.batch.max(1);
    let (tx, rx) = sync_channel::<Item>(workers * 2);
    let rx: Mutex<Receiver<Item>> = Mutex::new(rx);

    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (mi, node) in masters.iter().enumerate() {
            if cursors[mi].done {
                continue;
            }
            let tx = tx.clone();
            let start = cursors[mi].cursor.clone();
            let (stopped, fail) = (&stopped, &fail);
            handles.push(scope.spawn(move || {
                let mut cursor = start;
                let mut seq = 0u64;
                loop {
                    if stopped() {
                        return;
                    }
                    let reply = store.call_on(node, &scan_cmd(&cursor, opts.filter, batch));
                    let (next, keys) = match reply.and_then(parse_scan) {
                        Ok(x) => x,
                        Err(e) => return fail(e),
                    };
                    let keys: Vec<Vec<u8>> =
                        keys.into_iter().filter(|k| opts.filter.keeps(k)).collect();
                    let last = next == "0";
                    let item = Item {
                        master: mi,
                        seq,
                        keys,
                        cursor: next.clone(),
                    };
                    if tx.send(item).is_err() {
                        return;
                    }
                    seq += 1;
                    if last {
                        return;
                    }
                    cursor = next;
                }
            }));
        }
        drop(tx);
        for _ in 0..workers {
            let (rx, stopped, fail) = (&rx, &stopped, &fail);
            let (tracks, committed, keys_done) = (&tracks, &committed, &keys_done);
            handles.push(scope.spawn(move || loop {
                let item = match rx.lock().recv() {
                    Ok(item) => item,
                    Err(_) => return,
                };
                if stopped() {
                    continue;
                }
                let n = item.keys.len();
                if let Some(p) = opts.pacer {
                    p.acquire(n);
                }
                if n > 0 {
                    if let Err(e) = work(item.keys) {
                        fail(e);
                        continue;
                    }
                }
                keys_done.fetch_add(n as u64, Ordering::Relaxed);
                let mut t = tracks[item.master].lock();
                t.finished.insert(item.seq, item.cursor);
                let mut advanced = None;
                while let Some(c) = {
                    let next = t.next;
                    t.finished.remove(&next)
                } {
                    t.next += 1;
                    advanced = Some(c);
                }
                drop(t);
                if let Some(c) = advanced {
                    let mut all = committed.lock();
                    all[item.master].done = c == "0";
                    all[item.master].cursor = c;
                }
            }));
        }
        loop {
            let finished = handles.iter().all(|h| h.is_finished());
            {
                let snap = committed.lock().clone();
                progress(&Snapshot {
                    keys: keys_done.load(Ordering::Relaxed),
                    cursors: &snap,
                    last: finished,
                });
            }
            if finished {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    if let Some(e) = error.into_inner() {
        return Err(e);
    }
    let cursors = committed.into_inner();
    Ok(Walked {
        complete: cursors.iter().all(|c| c.done),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_reply_parses() {
        let r = Reply::Array(vec![
            Reply::Bulk(b"17".to_vec()),
            Reply::Array(vec![Reply::Bulk(b"a".to_vec()), Reply::Bulk(b"b".to_vec())]),
        ]);
        let (c, k) = parse_scan(r).unwrap();
        assert_eq!(c, "17");
        assert_eq!(k, vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(parse_scan(Reply::Int(3)).is_err());
    }
}
