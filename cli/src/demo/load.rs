//! What the demo's workload measures for the report's charts: per second of the run, the
//! operations, errors and a latency histogram; per phase, a latency histogram. Each worker
//! thread keeps its own [`Load`] and the run merges them at the end. Memory is bounded: a
//! histogram is 100 counters, and seconds past [`MAX_SECONDS`] count in the last one.

/// Histogram bins: 4 per power of two of microseconds (±12.5 %), up to 2²⁵ µs (33 s).
const BINS: usize = 100;
/// Seconds recorded one by one (an hour); later ones are added to the last.
pub const MAX_SECONDS: usize = 3600;

/// Latencies in microseconds, in log-spaced bins.
#[derive(Clone)]
pub struct Hist {
    counts: [u32; BINS],
}

impl Default for Hist {
    fn default() -> Hist {
        Hist { counts: [0; BINS] }
    }
}

/// The bin of a latency: exact below 4 µs, then 4 bins per power of two.
fn bin(micros: u64) -> usize {
    if micros < 4 {
        return micros as usize;
    }
    let e = 63 - micros.leading_zeros() as usize;
    let sub = ((micros >> (e - 2)) & 3) as usize;
    (4 * (e - 1) + sub).min(BINS - 1)
}

/// The largest latency (µs) that falls in bin `i`.
fn upper(i: usize) -> u64 {
    if i < 4 {
        return i as u64;
    }
    let e = i / 4 + 1;
    ((4 + (i % 4) as u64) << (e - 2)) + (1 << (e - 2)) - 1
}

impl Hist {
    /// Counts one latency.
    pub fn add(&mut self, micros: u64) {
        let c = &mut self.counts[bin(micros)];
        *c = c.saturating_add(1);
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a = a.saturating_add(b);
        }
    }

    /// The `q` quantile (0..=1) in milliseconds, as its bin's upper bound; 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let total: u64 = self.counts.iter().map(|c| u64::from(*c)).sum();
        if total == 0 {
            return 0.0;
        }
        let target = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= target {
                return upper(i) as f64 / 1000.0;
            }
        }
        upper(BINS - 1) as f64 / 1000.0
    }

    /// Counts per power of two: entry `g` holds latencies below 2^(g+2) µs (and at least
    /// 2^(g+1) µs for g > 0).
    pub fn octaves(&self) -> Vec<u64> {
        self.counts
            .chunks(4)
            .map(|c| c.iter().map(|n| u64::from(*n)).sum())
            .collect()
    }
}

/// The label of octave `g` of [`Hist::octaves`]: its upper bound (`< 8 µs`, `< 1.0 ms`).
pub fn octave_label(g: usize) -> String {
    let us = 1u64 << (g + 2);
    if us < 1000 {
        format!("<{us}µs")
    } else if us < 10_000 {
        format!("<{:.1}ms", us as f64 / 1000.0)
    } else {
        format!("<{:.0}ms", us as f64 / 1000.0)
    }
}

/// One second of the run.
#[derive(Clone, Default)]
pub struct Second {
    /// Operations that ended in this second.
    pub ops: u64,
    /// Of which failed.
    pub errors: u64,
    /// Their latencies.
    pub hist: Hist,
}

/// A worker's (or the whole run's) measurements.
pub struct Load {
    /// Per second since the start of the run.
    pub seconds: Vec<Second>,
    /// Per phase.
    pub phases: Vec<Hist>,
}

impl Load {
    /// Empty, for a run of `phases` phases.
    pub fn new(phases: usize) -> Load {
        Load {
            seconds: Vec::new(),
            phases: vec![Hist::default(); phases],
        }
    }

    /// Counts one operation that ended `second` seconds into the run, in `phase`.
    pub fn add(&mut self, second: usize, phase: usize, micros: u64, ok: bool) {
        let s = second.min(MAX_SECONDS - 1);
        if self.seconds.len() <= s {
            self.seconds.resize(s + 1, Second::default());
        }
        let sec = &mut self.seconds[s];
        sec.ops += 1;
        sec.errors += u64::from(!ok);
        sec.hist.add(micros);
        if let Some(h) = self.phases.get_mut(phase) {
            h.add(micros);
        }
    }

    /// Adds `other`'s measurements.
    pub fn merge(&mut self, other: &Load) {
        if self.seconds.len() < other.seconds.len() {
            self.seconds.resize(other.seconds.len(), Second::default());
        }
        for (a, b) in self.seconds.iter_mut().zip(&other.seconds) {
            a.ops += b.ops;
            a.errors += b.errors;
            a.hist.merge(&b.hist);
        }
        for (a, b) in self.phases.iter_mut().zip(&other.phases) {
            a.merge(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_latency_in_order() {
        let mut last = 0;
        for us in 0..100_000u64 {
            let b = bin(us);
            assert!(b >= last && b <= last + 1, "{us} → {b}");
            assert!(us <= upper(b), "{us} above bin {b}'s bound {}", upper(b));
            last = b;
        }
        assert_eq!(bin(u64::MAX), BINS - 1);
    }

    #[test]
    fn quantiles_and_merges() {
        let mut a = Load::new(2);
        for us in [100, 100, 100, 5000] {
            a.add(0, 0, us, true);
        }
        let mut b = Load::new(2);
        b.add(3, 1, 50, false);
        a.merge(&b);
        assert_eq!(a.seconds.len(), 4);
        assert_eq!((a.seconds[3].ops, a.seconds[3].errors), (1, 1));
        let p50 = a.seconds[0].hist.quantile_ms(0.5);
        assert!((0.1..=0.125).contains(&p50), "{p50}");
        assert!(a.seconds[0].hist.quantile_ms(0.99) >= 5.0);
        assert_eq!(a.phases[1].octaves().iter().sum::<u64>(), 1);
        a.add(MAX_SECONDS * 2, 0, 1, true);
        assert_eq!(a.seconds.len(), MAX_SECONDS);
    }
}
