//! The MultiStore: one client over two stores — the **primary** (new) and the **secondary**
//! (old) — for moving a workload between Redis deployments without downtime, controlled by
//! GitLab's two flags (see `docs/multistore.md` for the phases and a user guide).
//!
//! ```no_run
//! use slotshift::command::Cmd;
//! use slotshift::multistore::{FlagState, MultiStore, MultiStoreOptions, Phase};
//! use slotshift::store::Store;
//!
//! let old = Store::open("redis://127.0.0.1:6379")?;
//! let new = Store::open("redis://127.0.0.1:7000")?; // any node of the cluster
//! let ms = MultiStore::new("sessions", new, old, MultiStoreOptions::default())?;
//! assert_eq!(ms.phase(), Phase::SecondaryOnly);
//! ms.set_flags(FlagState::new(true, false))?; // dual-write: old still the default
//! ms.call(&Cmd::from_args(["SET", "session:1", "x"]))?; // both stores, concurrently
//! # Ok::<(), slotshift::Error>(())
//! ```
//!
//! - Writes (the key table's `write` flag, scripts, PUBLISH) go to both stores **concurrently**
//!   while dual-write is on; the caller gets the default store's reply or error; a failure on
//!   the other store is counted and logged, never raised. With `async_non_default_writes`, the
//!   other store is written from a bounded queue instead.
//! - Reads go to the default store, or (ramp) `primary_read_percentage` of them to the primary;
//!   `fallback_reads` reads the secondary after a miss on the primary; `shadow_read_ratio`
//!   compares a sample of reads against the other store.
//! - Pipelines and transactions run on both stores when dual-write is on and one of their
//!   commands writes; their results are compared command by command.
//! - Blocking pops block on the default store; what they pop is removed from the other store.
//! - The same server on both sides (same run ids and db) turns dual-write off.
//!
//! The API is blocking, run on the stores' internal runtime; the `*_async` methods serve
//! async callers.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::Cmd;
use crate::net::runtime;
use crate::reply::Reply;
use crate::store::Store;
use crate::{Error, Result};

mod error;
mod flags;
mod metrics;
mod pipeline;
mod queue;
mod read;
mod route;
mod slots;
mod write;

pub use error::MultiStoreError;
pub use flags::{
    env_var_names, flag_names, write_shared_flags, FlagCallback, FlagSource, FlagState, Phase, Side,
};
pub use metrics::{digest, Counter, MetricsSnapshot};

use flags::Flags;

/// The user guide page `docs/multistore.md`, compiled so that its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/multistore.md")]
pub struct UserGuide;
use metrics::{command_label, Metrics};
use route::{Class, Plan};

/// How a [`MultiStore`] behaves. Start from `MultiStoreOptions::default()`.
///
/// ```
/// use std::time::Duration;
/// use slotshift::multistore::{FlagSource, FlagState, MultiStoreOptions};
/// let mut opts = MultiStoreOptions::default();
/// opts.flags = FlagSource::InProcess(FlagState::new(true, false));
/// opts.primary_read_percentage = 5;
/// opts.shadow_read_ratio = 0.01;
/// opts.metrics_prefix = "gitlab_redis".into();
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MultiStoreOptions {
    /// Where the two flags come from. Default: in process, both off.
    pub flags: FlagSource,
    /// Refuse commands the key table does not know ([`MultiStoreError::UnknownCommand`]) instead
    /// of sending them to the default store and counting them. For development and tests.
    /// Default false.
    pub strict: bool,
    /// Write the non-default store from a bounded queue (drained in order per key) instead of
    /// concurrently with the default store: the caller waits for the default store only.
    /// Applies to single writes; pipelines and transactions stay concurrent (they are
    /// compared). Default false.
    pub async_non_default_writes: bool,
    /// Writes the async queue holds at most (all shards together). Default 10,000.
    pub queue_capacity: usize,
    /// Workers (shards) of the async queue. Default 4.
    pub queue_workers: usize,
    /// While dual-write is on and the secondary is the default, the share (0–100) of reads
    /// sent to the primary instead, chosen by key so a key always reads from the same store.
    /// Default 0.
    pub primary_read_percentage: u8,
    /// When a read on the primary finds nothing while dual-write is on, read the secondary and
    /// count a read fallback if it has the data (GitLab's first MultiStore). Default false.
    pub fallback_reads: bool,
    /// While dual-write is on, the share (0.0–1.0) of reads also sent to the other store and
    /// compared; differences are counted ([`Counter::ShadowMismatch`]). Default 0.
    pub shadow_read_ratio: f64,
    /// The metric name prefix of [`MultiStore::metrics_text`]: `<prefix>_multi_store_*_total`.
    /// Default `slotshift`; `gitlab_redis` keeps GitLab's dashboards. (The same counters also
    /// go to the process-wide [`instrument`](crate::instrument) registry, rendered with the
    /// process's prefix, set by [`instrument::set_prefix`](crate::instrument::set_prefix).)
    pub metrics_prefix: String,
    /// After this many connection failures in a row, the non-default store is skipped (each
    /// skipped write counted as a failure) for `breaker_cooldown`, then tried again. Default 3.
    pub breaker_threshold: u32,
    /// How long the non-default store is skipped once the breaker opens. Default 1 s.
    pub breaker_cooldown: Duration,
    /// The longest the caller waits for the non-default store in a dual write, pipeline or
    /// transaction; past it the write is counted as a failure (its outcome unknown) and the
    /// caller gets the default store's reply. Bounds latency when the other store hangs.
    /// `None`: wait as long as the store's own timeouts. Default 1 s.
    pub non_default_timeout: Option<Duration>,
    /// How long dropping the last handle waits for the async queue to drain. Default 5 s.
    pub close_timeout: Duration,
}

impl Default for MultiStoreOptions {
    fn default() -> MultiStoreOptions {
        MultiStoreOptions {
            flags: FlagSource::default(),
            strict: false,
            async_non_default_writes: false,
            queue_capacity: 10_000,
            queue_workers: 4,
            primary_read_percentage: 0,
            fallback_reads: false,
            shadow_read_ratio: 0.0,
            metrics_prefix: "slotshift".to_owned(),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(1),
            non_default_timeout: Some(Duration::from_secs(1)),
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl MultiStoreOptions {
    fn validate(&self) -> Result<(), MultiStoreError> {
        if self.primary_read_percentage > 100 {
            return Err(MultiStoreError::InvalidOption {
                option: "primary_read_percentage",
                value: self.primary_read_percentage.to_string(),
                reason: "must be 0 to 100",
            });
        }
        if !(0.0..=1.0).contains(&self.shadow_read_ratio) {
            return Err(MultiStoreError::InvalidOption {
                option: "shadow_read_ratio",
                value: self.shadow_read_ratio.to_string(),
                reason: "must be 0.0 to 1.0",
            });
        }
        if self.async_non_default_writes && self.queue_capacity == 0 {
            return Err(MultiStoreError::InvalidOption {
                option: "queue_capacity",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        if self.breaker_threshold == 0 {
            return Err(MultiStoreError::InvalidOption {
                option: "breaker_threshold",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        Ok(())
    }
}

/// Whether the two stores are the same server (compared by run ids and db).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sameness {
    Different,
    Same,
    /// Not known yet (a store was unreachable): dual-write stays off until it is.
    Unknown,
}

/// Connection health of one store: consecutive failures and, once the breaker opens, until
/// when (ms since the MultiStore's start) it is skipped as a non-default store.
#[derive(Default)]
struct Health {
    failures: AtomicU32,
    open_until_ms: AtomicU64,
}

struct Inner {
    name: String,
    /// `[primary, secondary]`.
    stores: [Store; 2],
    flags: Flags,
    opts: MultiStoreOptions,
    metrics: Arc<Metrics>,
    /// A [`Sameness`] as `u8` (read on every operation: an atomic, not a lock).
    same: std::sync::atomic::AtomicU8,
    health: [Health; 2],
    queue: Option<queue::Queue>,
    start: Instant,
    /// Last time (ms since start) a non-default failure was logged, to keep logs readable
    /// while a store is down.
    last_failure_log_ms: AtomicU64,
}

/// One client over two stores. Cheap to clone (clones share everything); safe to share
/// between threads.
#[derive(Clone)]
pub struct MultiStore {
    inner: Arc<Handle>,
}

/// Closes the queue when the last clone goes.
struct Handle(Arc<Inner>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.metrics.flush();
        if let Some(q) = &self.0.queue {
            let left = q.close(self.0.opts.close_timeout);
            if left > 0 {
                log::warn!(
                    "multistore name={}: {left} queued non-default writes not done at close",
                    self.0.name
                );
            }
        }
    }
}

impl std::fmt::Debug for MultiStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiStore")
            .field("name", &self.inner.0.name)
            .finish_non_exhaustive()
    }
}

impl MultiStore {
    /// A MultiStore named `name` (the instance name of flags, metrics and logs) over
    /// `primary` (the new store) and `secondary` (the old one), of any kinds.
    ///
    /// Reads the flags once (an invalid environment value or an unreadable flags key is an
    /// error) and checks whether both stores are the same server. Blocking; call it outside
    /// an async runtime.
    pub fn new(
        name: &str,
        primary: Store,
        secondary: Store,
        options: MultiStoreOptions,
    ) -> Result<MultiStore> {
        options.validate()?;
        let flags = runtime::block_on(Flags::init(options.flags.clone(), name))??;
        let metrics = Arc::new(Metrics::new(name));
        let queue = if options.async_non_default_writes {
            Some(queue::Queue::start(
                name,
                options.queue_workers,
                options.queue_capacity,
                metrics.clone(),
            )?)
        } else {
            None
        };
        let inner = Arc::new(Inner {
            name: name.to_owned(),
            stores: [primary, secondary],
            flags,
            opts: options,
            metrics,
            same: std::sync::atomic::AtomicU8::new(Sameness::Unknown as u8),
            health: Default::default(),
            queue,
            start: Instant::now(),
            last_failure_log_ms: AtomicU64::new(0),
        });
        inner.check_same_server();
        if inner.sameness() == Sameness::Unknown {
            spawn_same_server_retry(Arc::downgrade(&inner));
        }
        Ok(MultiStore {
            inner: Arc::new(Handle(inner)),
        })
    }

    fn i(&self) -> &Inner {
        &self.inner.0
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.i().name
    }

    /// The primary (new) store.
    pub fn primary(&self) -> &Store {
        &self.i().stores[0]
    }

    /// The secondary (old) store.
    pub fn secondary(&self) -> &Store {
        &self.i().stores[1]
    }

    /// The store that is the default now. Subscribers listen here (SUBSCRIBE on the default
    /// store only; PUBLISH goes to both while dual-write is on).
    pub fn default_store(&self) -> Store {
        let phase = self.phase();
        self.i().store(phase.default_side()).clone()
    }

    /// The flag names of this instance (dual-write, primary-as-default), as GitLab names them.
    pub fn flag_names(&self) -> (String, String) {
        self.i().flags.names().clone()
    }

    /// The flags as configured (before the same-server guard).
    pub fn flags(&self) -> FlagState {
        runtime::block_on(self.i().flags.current()).unwrap_or_default()
    }

    /// The phase in force: the flags, with dual-write off while both stores are the same
    /// server (or while that is not known yet).
    pub fn phase(&self) -> Phase {
        runtime::block_on(self.i().phase()).unwrap_or(Phase::SecondaryOnly)
    }

    /// [`MultiStore::phase`] for async callers.
    pub async fn phase_async(&self) -> Phase {
        self.i().phase().await
    }

    /// Sets both flags: in process (atomic; safe under load) or in the shared key.
    pub fn set_flags(&self, state: FlagState) -> Result<()> {
        runtime::block_on(self.i().flags.set(state))?
    }

    /// Whether the same-server guard has found both stores to be one server.
    pub fn same_server(&self) -> bool {
        self.i().sameness() == Sameness::Same
    }

    /// Sends one command where the phase says; see the module docs.
    pub fn call(&self, cmd: &Cmd) -> Result<Reply> {
        runtime::block_on(std::pin::pin!(self.call_async(cmd)))?
    }

    /// [`MultiStore::call`] for async callers.
    pub async fn call_async(&self, cmd: &Cmd) -> Result<Reply> {
        self.i().call(cmd).await
    }

    /// Runs `cmds` as a pipeline: on the default store, and also on the other store when
    /// dual-write is on and a command writes (results compared; the default's returned).
    pub fn pipeline(&self, cmds: &[Cmd]) -> Result<Vec<Result<Reply>>> {
        runtime::block_on(std::pin::pin!(self.pipeline_async(cmds)))?
    }

    /// [`MultiStore::pipeline`] for async callers.
    pub async fn pipeline_async(&self, cmds: &[Cmd]) -> Result<Vec<Result<Reply>>> {
        self.i().pipeline(cmds).await
    }

    /// Runs `cmds` in MULTI/EXEC, on both stores like [`MultiStore::pipeline`].
    pub fn transaction(&self, cmds: &[Cmd]) -> Result<Option<Vec<Reply>>> {
        runtime::block_on(std::pin::pin!(self.transaction_async(cmds)))?
    }

    /// [`MultiStore::transaction`] for async callers.
    pub async fn transaction_async(&self, cmds: &[Cmd]) -> Result<Option<Vec<Reply>>> {
        self.i().transaction(cmds).await
    }

    /// Publishes on the default store, and on the other too while dual-write is on; returns
    /// the default store's receiver count.
    pub fn publish(&self, channel: impl AsRef<[u8]>, message: impl AsRef<[u8]>) -> Result<i64> {
        let mut cmd = Cmd::new("PUBLISH");
        cmd.arg(channel).arg(message);
        Ok(self.call(&cmd)?.as_int().unwrap_or(0))
    }

    /// A copy of the counters, and the async queue's depth now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.i().metrics.snapshot(self.queued())
    }

    /// The counters, and the async queue's depth as a gauge, as Prometheus text with the
    /// configured prefix.
    pub fn metrics_text(&self) -> String {
        self.metrics()
            .prometheus_text(&self.i().opts.metrics_prefix)
    }

    /// Non-default writes queued and not yet done (0 without `async_non_default_writes`).
    pub fn queued(&self) -> usize {
        self.i().queue.as_ref().map_or(0, queue::Queue::pending)
    }

    /// Waits until the async queue is empty or `timeout` passes; true if it emptied. Do this
    /// before turning dual-write off.
    pub fn drain(&self, timeout: Duration) -> bool {
        self.i().queue.as_ref().is_none_or(|q| q.drain(timeout))
    }
}

/// Retries the same-server check once a second (outside any runtime) until it is known or
/// the MultiStore is gone.
fn spawn_same_server_retry(inner: std::sync::Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("slotshift-multistore-guard".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            let Some(inner) = inner.upgrade() else { return };
            inner.check_same_server();
            if inner.sameness() != Sameness::Unknown {
                return;
            }
        });
    if let Err(e) = spawned {
        log::error!("multistore: cannot start the same-server check thread: {e}");
    }
}

impl Inner {
    fn store(&self, side: Side) -> &Store {
        &self.stores[side.index()]
    }

    fn sameness(&self) -> Sameness {
        match self.same.load(Ordering::Acquire) {
            x if x == Sameness::Different as u8 => Sameness::Different,
            x if x == Sameness::Same as u8 => Sameness::Same,
            _ => Sameness::Unknown,
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Compares the two stores' server ids (blocking).
    fn check_same_server(&self) {
        let ids = (self.stores[0].server_id(), self.stores[1].server_id());
        match ids {
            (Ok(a), Ok(b)) if a == b => {
                self.same.store(Sameness::Same as u8, Ordering::Release);
                log::warn!(
                    "multistore name={}: primary and secondary are the same server (run ids {:?}, \
                     db {}): dual-write is off for this instance",
                    self.name,
                    a.run_ids,
                    a.db
                );
            }
            (Ok(_), Ok(_)) => self
                .same
                .store(Sameness::Different as u8, Ordering::Release),
            (a, b) => {
                if self.sameness() == Sameness::Unknown {
                    let err = a.err().or(b.err()).map(|e| metrics::error_kind(&e));
                    log::warn!(
                        "multistore name={}: cannot tell whether primary and secondary are the \
                         same server ({}); dual-write stays off until it is known",
                        self.name,
                        err.unwrap_or_default()
                    );
                }
            }
        }
    }

    async fn phase(&self) -> Phase {
        self.phase_pending().await.0
    }

    /// The phase, and whether dual-write was asked for but is held off because the same-server
    /// check has not succeeded yet (a store unreachable so far).
    async fn phase_pending(&self) -> (Phase, bool) {
        let mut flags = self.flags.current().await;
        let mut pending = false;
        if flags.dual_write {
            match self.sameness() {
                Sameness::Different => {}
                Sameness::Same => flags.dual_write = false,
                Sameness::Unknown => {
                    flags.dual_write = false;
                    pending = true;
                }
            }
        }
        (flags.phase(), pending)
    }

    /// `fut` (a call to the non-default store), cut off after `non_default_timeout`.
    async fn bounded<T>(&self, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        match self.opts.non_default_timeout {
            None => fut.await,
            Some(limit) => match tokio::time::timeout(limit, fut).await {
                Ok(r) => r,
                Err(_) => Err(Error::Connection(crate::store::ConnectionError {
                    node: "non-default store".into(),
                    kind: crate::store::ConnectionErrorKind::Timeout,
                    message: format!("no reply within the multistore's {limit:?}"),
                    outcome_unknown: true,
                })),
            },
        }
    }

    /// One command on the non-default store, cut off after `non_default_timeout`, with its
    /// health recorded (a timeout counts towards the breaker).
    async fn call_other(&self, side: Side, cmd: &Cmd) -> Result<Reply> {
        let r = self.bounded(self.store(side).call_async(cmd)).await;
        self.record(side, &r);
        r
    }

    /// One command on one store, with its health recorded.
    async fn call_side(&self, side: Side, cmd: &Cmd) -> Result<Reply> {
        let r = self.store(side).call_async(cmd).await;
        self.record(side, &r);
        r
    }

    fn record<T>(&self, side: Side, r: &Result<T>) {
        let h = &self.health[side.index()];
        match r {
            // A cross-slot transaction is refused before sending: the store is fine.
            Err(Error::Routing(crate::cluster::RoutingError::CrossSlotTransaction { .. })) => {}
            Err(Error::Connection(_)) | Err(Error::Routing(_)) => {
                let n = h.failures.fetch_add(1, Ordering::AcqRel) + 1;
                if n >= self.opts.breaker_threshold {
                    let until = self.now_ms() + self.opts.breaker_cooldown.as_millis() as u64;
                    h.open_until_ms.store(until, Ordering::Release);
                }
            }
            _ => {
                if h.failures.load(Ordering::Acquire) != 0 {
                    h.failures.store(0, Ordering::Release);
                }
            }
        }
    }

    /// The last call to `side` failed to reach it.
    fn suspect(&self, side: Side) -> bool {
        self.health[side.index()].failures.load(Ordering::Acquire) > 0
    }

    /// The breaker of `side` is open: skip it as a non-default store for now.
    fn breaker_open(&self, side: Side) -> bool {
        let h = &self.health[side.index()];
        h.failures.load(Ordering::Acquire) >= self.opts.breaker_threshold
            && self.now_ms() < h.open_until_ms.load(Ordering::Acquire)
    }

    /// Counts and (at most once a second, with the number held back) logs a failure on the
    /// non-default store.
    fn non_default_failure(&self, what: &str, command: &[u8], kind: &str, key_digest: &str) {
        self.metrics
            .incr(metrics::Counter::NonDefaultWriteFailure, command);
        let now = self.now_ms();
        let last = self.last_failure_log_ms.load(Ordering::Acquire);
        if (last == 0 || now >= last + 1000)
            && self
                .last_failure_log_ms
                .compare_exchange(last, now.max(1), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            log::warn!(
                "multistore name={} command={} error_kind={kind} key_digest={key_digest}: \
                 {what} failed on the non-default store (not raised; further failures within \
                 1s are counted, not logged)",
                self.name,
                command_label(command),
            );
        }
    }

    /// Counts and logs a write (or batch) that failed on the default store — the caller got
    /// the error — but succeeded on the other one: the stores now differ there. Logged with
    /// the error's kind and the key's digest, never a value.
    fn default_failure(&self, what: &str, command: &[u8], e: &Error, key_digest: &str) {
        self.metrics
            .incr(metrics::Counter::DefaultWriteFailure, command);
        log::warn!(
            "multistore name={} command={} error_kind={} key_digest={key_digest}: {what} failed \
             on the default store (raised) but succeeded on the non-default store; the stores \
             now differ",
            self.name,
            command_label(command),
            metrics::error_kind(e),
        );
    }

    /// Refuses (strict) or counts an unknown command.
    fn unknown(&self, cmd: &Cmd) -> Result<()> {
        if self.opts.strict {
            return Err(Error::MultiStore(MultiStoreError::UnknownCommand {
                instance: self.name.clone(),
                command: command_label(cmd.name()).to_ascii_uppercase(),
            }));
        }
        self.metrics
            .incr(metrics::Counter::UnknownCommand, cmd.name());
        log::warn!(
            "multistore name={} command={}: unknown command sent to the default store only",
            self.name,
            command_label(cmd.name())
        );
        Ok(())
    }

    async fn call(&self, cmd: &Cmd) -> Result<Reply> {
        let (class, info) = route::classify(cmd);
        if class == Class::Unknown {
            self.unknown(cmd)?;
        }
        let (phase, pending) = self.phase_pending().await;
        if pending && matches!(class, Class::Write | Class::BlockingPop) {
            // Not written to the other store: count it like any other missed dual write.
            self.non_default_failure(
                "write",
                cmd.name(),
                "same_server_check_pending",
                &metrics::key_digest(cmd),
            );
        }
        match route::plan(class, phase) {
            Plan::Only(side) => match (class, info) {
                (Class::Read, Some(info)) => self.read(cmd, info, phase).await,
                _ => self.store(side).call_async(cmd).await,
            },
            Plan::Both { default } => self.write(cmd, default).await,
            Plan::BlockThenMirror { default } => self.blocking_pop(cmd, default).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let o = MultiStoreOptions {
            primary_read_percentage: 101,
            ..Default::default()
        };
        assert!(o
            .validate()
            .unwrap_err()
            .to_string()
            .contains("primary_read_percentage=101"));
        let o = MultiStoreOptions {
            shadow_read_ratio: 1.5,
            ..Default::default()
        };
        assert!(o
            .validate()
            .unwrap_err()
            .to_string()
            .contains("shadow_read_ratio=1.5"));
        assert!(MultiStoreOptions::default().validate().is_ok());
    }
}
