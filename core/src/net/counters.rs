//! What a router has seen: redirects, retries, refreshes, connection errors, commands sent.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters the router keeps: the hook point for instrumentation.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    moved: AtomicU64,
    ask: AtomicU64,
    tryagain: AtomicU64,
    retries: AtomicU64,
    refreshes: AtomicU64,
    connection_errors: AtomicU64,
    commands: AtomicU64,
}

/// A snapshot of what a store's router has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterStats {
    /// MOVED redirects followed.
    pub moved: u64,
    /// ASK redirects followed.
    pub ask: u64,
    /// TRYAGAIN replies retried.
    pub tryagain: u64,
    /// Retries after CLUSTERDOWN, LOADING, MASTERDOWN, READONLY or a connection loss.
    pub retries: u64,
    /// Full topology refreshes done.
    pub refreshes: u64,
    /// Requests that failed below the protocol (connect, I/O, timeout).
    pub connection_errors: u64,
    /// Commands sent (each ASKING, MULTI and EXEC included).
    pub commands: u64,
}

impl RouterStats {
    /// The figures in the order of [`Counters`]' fields.
    fn to_array(self) -> [u64; 7] {
        [
            self.moved,
            self.ask,
            self.tryagain,
            self.retries,
            self.refreshes,
            self.connection_errors,
            self.commands,
        ]
    }

    fn from_array(
        [moved, ask, tryagain, retries, refreshes, connection_errors, commands]: [u64; 7],
    ) -> Self {
        RouterStats {
            moved,
            ask,
            tryagain,
            retries,
            refreshes,
            connection_errors,
            commands,
        }
    }
}

impl std::ops::AddAssign for RouterStats {
    fn add_assign(&mut self, other: RouterStats) {
        let mut sum = self.to_array();
        for (a, b) in sum.iter_mut().zip(other.to_array()) {
            *a += b;
        }
        *self = RouterStats::from_array(sum);
    }
}

impl Counters {
    fn fields(&self) -> [&AtomicU64; 7] {
        [
            &self.moved,
            &self.ask,
            &self.tryagain,
            &self.retries,
            &self.refreshes,
            &self.connection_errors,
            &self.commands,
        ]
    }

    pub(crate) fn snapshot(&self) -> RouterStats {
        RouterStats::from_array(self.fields().map(|c| c.load(Ordering::Relaxed)))
    }

    /// Raises each counter to `r`'s figure (never lowers one: callers racing each other keep
    /// the larger). The instrument keeps a dropped store's last figures so.
    pub(crate) fn raise_to(&self, r: &RouterStats) {
        for (a, v) in self.fields().into_iter().zip(r.to_array()) {
            a.fetch_max(v, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_commands(&self, n: usize) {
        self.commands.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn connection_error(&self) {
        self.connection_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn moved(&self) {
        self.moved.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ask(&self) {
        self.ask.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tryagain(&self) {
        self.tryagain.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refreshed(&self) {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
    }

    /// Full refreshes so far (the router rotates the node it asks by it).
    pub(crate) fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }
}
