//! Rate limiting shared by the long jobs (analyzer, diff, migrate): one [`Pacer`] paces every
//! worker of a job together to a number of keys per second.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Hands out send times so that all workers together stay at `rate` keys per second.
pub(crate) struct Pacer {
    per_key: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    /// A pacer for `rate` keys per second; `None` (no limit) for `None` or `Some(0)` — callers
    /// refuse a rate of 0 as an invalid option before they get here.
    pub(crate) fn new(rate: Option<u64>) -> Option<Pacer> {
        let rate = rate.filter(|&r| r > 0)?;
        Some(Pacer {
            per_key: Duration::from_secs_f64(1.0 / rate as f64),
            next: Mutex::new(Instant::now()),
        })
    }

    /// Reserves `n` keys; returns how long to wait before sending them (for async callers).
    pub(crate) fn reserve(&self, n: usize) -> Duration {
        let mut next = self.next.lock();
        let now = Instant::now();
        if *next < now {
            *next = now;
        }
        let start = *next;
        *next += self
            .per_key
            .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
        start.saturating_duration_since(now)
    }

    /// Reserves `n` keys and sleeps until they may go.
    pub(crate) fn acquire(&self, n: usize) {
        let wait = self.reserve(n);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rate_no_pacer() {
        assert!(Pacer::new(None).is_none());
        assert!(Pacer::new(Some(0)).is_none());
    }

    #[test]
    fn reservations_queue_up_at_the_rate() {
        let p = Pacer::new(Some(1000)).unwrap();
        assert!(p.reserve(100) <= Duration::from_millis(1));
        // The next 100 keys may only start once the first 100 have had their 100 ms.
        let wait = p.reserve(100);
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
    }
}
