//! The asynchronous non-default write queue: bounded, sharded by key slot onto a few workers on
//! the internal runtime, so the writes of one key reach the non-default store in the order the
//! caller made them. A full shard drops the write and counts it; the caller never waits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::metrics::{error_kind, key_digest, Counter, Metrics};
use crate::command::Cmd;
use crate::store::Store;

struct Job {
    store: Store,
    cmd: Cmd,
}

pub(crate) struct Queue {
    name: String,
    senders: Mutex<Option<Vec<mpsc::Sender<Job>>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Jobs enqueued and not yet finished.
    pending: Arc<AtomicUsize>,
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
        let rt = crate::store::runtime::runtime()?;
        let shards = shards.max(1);
        let per_shard = (capacity / shards).max(1);
        let pending = Arc::new(AtomicUsize::new(0));
        let mut senders = Vec::with_capacity(shards);
        let mut receivers = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = mpsc::channel::<Job>(per_shard);
            senders.push(tx);
            receivers.push(rx);
        }
        let (p, m, n) = (pending.clone(), metrics.clone(), name.to_owned());
        // One thread drives every shard's loop on the shared runtime (block_on does not need
        // the futures to be Send); the shards still run concurrently, each in its key order.
        let worker = std::thread::Builder::new()
            .name("slotshift-multistore-queue".into())
            .spawn(move || {
                let loops = receivers
                    .into_iter()
                    .map(|rx| shard_loop(rx, p.clone(), m.clone(), n.clone()));
                rt.block_on(futures_util::future::join_all(loops));
            })
            .map_err(|e| {
                crate::Error::Connection(crate::store::ConnectionError {
                    node: "local".into(),
                    kind: crate::store::ConnectionErrorKind::Io,
                    message: format!("cannot start the multistore queue thread: {e}"),
                    outcome_unknown: false,
                })
            })?;
        Ok(Queue {
            name: name.to_owned(),
            senders: Mutex::new(Some(senders)),
            worker: Mutex::new(Some(worker)),
            pending,
            metrics,
        })
    }

    /// Queues `cmd` for `store` on the shard of its first key. Never waits: a full shard (or a
    /// closed queue) drops the write and counts an overflow.
    pub(crate) fn push(&self, store: &Store, cmd: &Cmd) {
        let guard = self.senders.lock();
        let Some(senders) = guard.as_ref() else {
            self.overflow(cmd, "closed");
            return;
        };
        let shard = crate::command::keys(cmd)
            .ok()
            .and_then(|k| k.first().map(|k| crate::slot::key_slot(k).get() as usize))
            .unwrap_or(0)
            % senders.len();
        self.pending.fetch_add(1, Ordering::AcqRel);
        let job = Job {
            store: store.clone(),
            cmd: cmd.clone(),
        };
        if senders[shard].try_send(job).is_err() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
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

    /// Writes queued and not yet done.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
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

    /// Stops taking writes, lets the workers finish what is queued within `timeout` and
    /// returns how many writes were still pending when it gave up (0 = all done).
    pub(crate) fn close(&self, timeout: Duration) -> usize {
        self.senders.lock().take();
        let deadline = Instant::now() + timeout;
        let mut worker = self.worker.lock();
        while worker.as_ref().is_some_and(|w| !w.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if worker.as_ref().is_some_and(|w| w.is_finished()) {
            if let Some(w) = worker.take() {
                let _ = w.join();
            }
        }
        self.pending()
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
