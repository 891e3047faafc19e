//! The asynchronous non-default write queue: bounded, sharded by key slot onto a few workers on
//! the internal runtime, so the writes of one key reach the non-default store in the order the
//! caller made them. A full shard drops the write and counts it; the caller never waits.
//!
//! The workers belong to the process that started them. After `fork()` they do not exist in
//! the child, so the child's first write starts the child's own workers (and its own channels,
//! counters and locks): nothing the parent's threads held at fork time is touched again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::metrics::{error_kind, key_digest, Counter, Metrics};
use crate::command::Cmd;
use crate::lockfree::AppendList;
use crate::store::Store;

struct Job {
    store: Store,
    cmd: Cmd,
}

/// The queue of one process: its channels, its worker thread, its pending count.
struct Workers {
    pid: u32,
    senders: Mutex<Option<Vec<mpsc::Sender<Job>>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Jobs enqueued and not yet finished.
    pending: Arc<AtomicUsize>,
    /// The worker could not be started (logged once; every write then counts an overflow).
    failed: AtomicBool,
}

pub(crate) struct Queue {
    name: String,
    shards: usize,
    per_shard: usize,
    /// One entry per process of a fork chain that used the queue (newest first).
    by_process: AppendList<Workers>,
    metrics: Arc<Metrics>,
}

impl Queue {
    /// Starts `shards` workers, each with room for `capacity / shards` writes (at least one).
    pub(crate) fn start(
        name: &str,
        shards: usize,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> crate::Result<Queue> {
        let shards = shards.max(1);
        let q = Queue {
            name: name.to_owned(),
            shards,
            per_shard: (capacity / shards).max(1),
            by_process: AppendList::new(),
            metrics,
        };
        let w = q.workers();
        if w.failed.load(Ordering::Acquire) {
            return Err(crate::Error::Connection(crate::store::ConnectionError {
                node: "local".into(),
                kind: crate::store::ConnectionErrorKind::Io,
                message: "cannot start the multistore queue thread".into(),
                outcome_unknown: false,
            }));
        }
        Ok(q)
    }

    /// This process's workers, started on first use in this process.
    fn workers(&self) -> &Workers {
        let pid = std::process::id();
        if let Some(w) = self.by_process.iter().find(|w| w.pid == pid) {
            return w;
        }
        let w = self.by_process.get_or_insert_with(
            |w| w.pid == pid,
            || Workers {
                pid,
                senders: Mutex::new(None),
                worker: Mutex::new(None),
                pending: Arc::new(AtomicUsize::new(0)),
                failed: AtomicBool::new(false),
            },
        );
        // The first caller of this process starts the thread (the others see it started).
        let mut senders = w.senders.lock();
        if senders.is_none() && !w.failed.load(Ordering::Acquire) {
            match self.spawn(w.pending.clone()) {
                Ok((tx, handle)) => {
                    *senders = Some(tx);
                    *w.worker.lock() = Some(handle);
                }
                Err(e) => {
                    w.failed.store(true, Ordering::Release);
                    log::error!(
                        "multistore name={}: cannot start the async queue worker: {e}",
                        self.name
                    );
                }
            }
        }
        drop(senders);
        w
    }

    #[allow(clippy::type_complexity)]
    fn spawn(
        &self,
        pending: Arc<AtomicUsize>,
    ) -> Result<(Vec<mpsc::Sender<Job>>, std::thread::JoinHandle<()>), String> {
        let rt = crate::net::runtime::shared().map_err(|e| e.to_string())?;
        let mut senders = Vec::with_capacity(self.shards);
        let mut receivers = Vec::with_capacity(self.shards);
        for _ in 0..self.shards {
            let (tx, rx) = mpsc::channel::<Job>(self.per_shard);
            senders.push(tx);
            receivers.push(rx);
        }
        let (m, n) = (self.metrics.clone(), self.name.clone());
        // One thread drives every shard's loop on the shared runtime (block_on does not need
        // the futures to be Send); the shards still run concurrently, each in its key order.
        let handle = std::thread::Builder::new()
            .name("slotshift-multistore-queue".into())
            .spawn(move || {
                let loops = receivers
                    .into_iter()
                    .map(|rx| shard_loop(rx, pending.clone(), m.clone(), n.clone()));
                rt.block_on(futures_util::future::join_all(loops));
            })
            .map_err(|e| e.to_string())?;
        Ok((senders, handle))
    }

    /// Queues `cmd` for `store` on the shard of its first key. Never waits: a full shard (or a
    /// closed queue) drops the write and counts an overflow.
    pub(crate) fn push(&self, store: &Store, cmd: &Cmd) {
        let w = self.workers();
        let guard = w.senders.lock();
        let Some(senders) = guard.as_ref() else {
            drop(guard);
            self.overflow(cmd, "closed");
            return;
        };
        let shard = crate::command::keys(cmd)
            .ok()
            .and_then(|k| k.first().map(|k| crate::slot::key_slot(k).get() as usize))
            .unwrap_or(0)
            % senders.len();
        w.pending.fetch_add(1, Ordering::AcqRel);
        let job = Job {
            store: store.clone(),
            cmd: cmd.clone(),
        };
        if senders[shard].try_send(job).is_err() {
            w.pending.fetch_sub(1, Ordering::AcqRel);
            drop(guard);
            self.overflow(cmd, "full");
        }
    }

    fn overflow(&self, cmd: &Cmd, why: &str) {
        self.metrics.incr(Counter::QueueOverflow, cmd.name());
        log::warn!(
            "multistore name={} command={} key_digest={}: async queue {why}, non-default write dropped",
            self.name,
            super::metrics::command_label(cmd.name()),
            key_digest(cmd),
        );
    }

    /// This process's workers, if it started them.
    fn mine(&self) -> Option<&Workers> {
        let pid = std::process::id();
        self.by_process.iter().find(|w| w.pid == pid)
    }

    /// Writes queued in this process and not yet done.
    pub(crate) fn pending(&self) -> usize {
        self.mine().map_or(0, |w| w.pending.load(Ordering::Acquire))
    }

    /// Waits (blocking) until the queue is empty or `timeout` passes; true if it emptied.
    pub(crate) fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.pending() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Stops taking writes, lets this process's workers finish what is queued within
    /// `timeout` and returns how many writes were still pending when it gave up (0 = all
    /// done). The workers of a parent process are left alone.
    pub(crate) fn close(&self, timeout: Duration) -> usize {
        let Some(w) = self.mine() else { return 0 };
        w.senders.lock().take();
        let deadline = Instant::now() + timeout;
        let mut worker = w.worker.lock();
        while worker.as_ref().is_some_and(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if worker.as_ref().is_some_and(|t| t.is_finished()) {
            if let Some(t) = worker.take() {
                let _ = t.join();
            }
        }
        w.pending.load(Ordering::Acquire)
    }
}

/// One shard: its writes, one after the other.
async fn shard_loop(
    mut rx: mpsc::Receiver<Job>,
    pending: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    name: String,
) {
    while let Some(job) = rx.recv().await {
        if let Err(e) = job.store.call_async(&job.cmd).await {
            metrics.incr(Counter::NonDefaultWriteFailure, job.cmd.name());
            log::warn!(
                "multistore name={name} command={} error_kind={} key_digest={}: queued write to \
                 the non-default store failed",
                super::metrics::command_label(job.cmd.name()),
                error_kind(&e),
                key_digest(&job.cmd),
            );
        }
        pending.fetch_sub(1, Ordering::AcqRel);
    }
}
