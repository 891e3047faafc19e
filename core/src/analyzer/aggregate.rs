//! Per-pattern aggregates: counts, memory, type mix, TTL buckets and a bounded top-N.
//!
//! Everything here is mergeable (sums, maxima, bounded sorted lists), so provisional patterns
//! can be folded into final ones and checkpoints can be resumed without changing a number.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The data types, in report order (`other` is any module type).
pub const TYPES: [&str; 7] = ["string", "list", "set", "zset", "hash", "stream", "other"];

/// The TTL buckets, in report order.
pub const TTL_BUCKETS: [&str; 6] = [
    "none", "under_1m", "under_1h", "under_1d", "under_1w", "longer",
];

/// The index of a `TYPE` reply in [`TYPES`]; `None` for `none` (the key is gone).
pub fn type_index(name: &[u8]) -> Option<usize> {
    match name {
        b"none" => None,
        b"string" => Some(0),
        b"list" => Some(1),
        b"set" => Some(2),
        b"zset" => Some(3),
        b"hash" => Some(4),
        b"stream" => Some(5),
        _ => Some(6),
    }
}

/// The index of a `PTTL` reply in [`TTL_BUCKETS`]; `None` for -2 (the key is gone).
pub fn ttl_index(pttl: i64) -> Option<usize> {
    const S: i64 = 1000;
    Some(match pttl {
        -2 => return None,
        i64::MIN..=-1 => 0,
        t if t < 60 * S => 1,
        t if t < 3600 * S => 2,
        t if t < 86_400 * S => 3,
        t if t < 7 * 86_400 * S => 4,
        _ => 5,
    })
}

/// One of the biggest keys of a pattern: its memory and how it is shown (a keyed digest, or
/// the key itself with `--show-keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TopKey {
    /// Bytes, as `MEMORY USAGE` reported them.
    pub memory: u64,
    /// The masked key (`#` and 16 hex digits of a keyed digest) or the raw key, escaped.
    pub key: String,
}

/// The statistics of one pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Keys.
    pub keys: u64,
    /// Sum of `MEMORY USAGE`.
    pub memory: u64,
    /// Largest `MEMORY USAGE`.
    pub max_memory: u64,
    /// Keys per type, indexed like [`TYPES`].
    pub types: [u64; 7],
    /// Keys per TTL bucket, indexed like [`TTL_BUCKETS`].
    pub ttl: [u64; 6],
    /// The biggest keys, biggest first (ties: by shown key), at most `top` of them.
    pub top: Vec<TopKey>,
}

fn ranks_before(a: &TopKey, b: &TopKey) -> bool {
    (a.memory, std::cmp::Reverse(&a.key)) > (b.memory, std::cmp::Reverse(&b.key))
}

impl Stats {
    /// Adds a top-key candidate, keeping at most `top`.
    pub fn offer_top(&mut self, cand: TopKey, top: usize) {
        if top == 0 {
            return;
        }
        if self.top.iter().any(|t| t.key == cand.key) {
            return;
        }
        let pos = self
            .top
            .iter()
            .position(|t| ranks_before(&cand, t))
            .unwrap_or(self.top.len());
        if pos < top {
            self.top.insert(pos, cand);
            self.top.truncate(top);
        }
    }

    /// Adds one key.
    pub fn add(&mut self, memory: u64, type_idx: usize, ttl_idx: usize) {
        self.keys += 1;
        self.memory += memory;
        self.max_memory = self.max_memory.max(memory);
        self.types[type_idx] += 1;
        self.ttl[ttl_idx] += 1;
    }

    /// Adds another pattern's statistics.
    pub fn merge(&mut self, other: &Stats, top: usize) {
        self.keys += other.keys;
        self.memory += other.memory;
        self.max_memory = self.max_memory.max(other.max_memory);
        for (a, b) in self.types.iter_mut().zip(other.types) {
            *a += b;
        }
        for (a, b) in self.ttl.iter_mut().zip(other.ttl) {
            *a += b;
        }
        for t in &other.top {
            self.offer_top(t.clone(), top);
        }
    }
}

/// Pattern → statistics, bounded by `max_patterns` (past it, new patterns count under
/// `<other>` and `truncated` is set).
#[derive(Debug, Clone, Default)]
pub struct Aggregate {
    /// The statistics per (provisional or final) pattern.
    pub patterns: HashMap<String, Stats>,
    /// Top-N size.
    pub top: usize,
    /// The pattern limit.
    pub max_patterns: usize,
    /// Set when the limit was hit.
    pub truncated: bool,
}

/// The pattern that collects keys once `max_patterns` is reached.
pub const OTHER: &str = "<other>";

impl Aggregate {
    /// An empty aggregate.
    pub fn new(top: usize, max_patterns: usize) -> Aggregate {
        Aggregate {
            patterns: HashMap::new(),
            top,
            max_patterns: max_patterns.max(1),
            truncated: false,
        }
    }

    /// Runs `f` on the statistics for `pattern` (created if new). Past the hard limit (`4 × max_patterns` provisional
    /// patterns, checked by the caller after a fold), new patterns count under [`OTHER`].
    pub fn with_entry<R>(&mut self, pattern: &str, f: impl FnOnce(&mut Stats) -> R) -> R {
        if let Some(stats) = self.patterns.get_mut(pattern) {
            return f(stats);
        }
        let key = if self.patterns.len() >= self.max_patterns.saturating_mul(4) {
            self.truncated = true;
            OTHER
        } else {
            pattern
        };
        f(self.patterns.entry(key.to_owned()).or_default())
    }

    /// Keeps the `max_patterns - 1` biggest patterns (by memory) and merges the others into
    /// [`OTHER`]; used for the report, after the final fold, so it does not depend on order.
    pub fn limit(&mut self) {
        if self.patterns.len() <= self.max_patterns {
            return;
        }
        self.truncated = true;
        let mut items: Vec<(String, Stats)> =
            std::mem::take(&mut self.patterns).into_iter().collect();
        items.sort_by(|a, b| b.1.memory.cmp(&a.1.memory).then_with(|| a.0.cmp(&b.0)));
        let mut other = Stats::default();
        let mut kept = 0;
        for (p, s) in items {
            if kept + 1 < self.max_patterns && p != OTHER {
                kept += 1;
                self.patterns.insert(p, s);
            } else {
                other.merge(&s, self.top);
            }
        }
        self.patterns.insert(OTHER.to_owned(), other);
    }

    /// Re-keys every pattern through `f` and merges those that meet.
    pub fn refold(&mut self, f: impl Fn(&str) -> String) {
        let old = std::mem::take(&mut self.patterns);
        let mut items: Vec<(String, Stats)> = old.into_iter().collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        for (p, s) in items {
            let q = if p == OTHER { p } else { f(&p) };
            match self.patterns.get_mut(&q) {
                Some(t) => t.merge(&s, self.top),
                None => {
                    self.patterns.insert(q, s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(ttl_index(-1), Some(0));
        assert_eq!(ttl_index(-2), None);
        assert_eq!(ttl_index(59_999), Some(1));
        assert_eq!(ttl_index(60_000), Some(2));
        assert_eq!(ttl_index(86_400_000 * 7), Some(5));
        assert_eq!(type_index(b"zset"), Some(3));
        assert_eq!(type_index(b"ReJSON-RL"), Some(6));
        assert_eq!(type_index(b"none"), None);
    }

    #[test]
    fn top_is_bounded_sorted_and_mergeable() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        for i in 0..50u64 {
            let t = TopKey {
                memory: i * 7 % 23,
                key: format!("k{i}"),
            };
            if i % 2 == 0 {
                a.offer_top(t, 5)
            } else {
                b.offer_top(t, 5)
            }
        }
        let mut all = Stats::default();
        for i in 0..50u64 {
            all.offer_top(
                TopKey {
                    memory: i * 7 % 23,
                    key: format!("k{i}"),
                },
                5,
            );
        }
        a.merge(&b, 5);
        assert_eq!(a.top, all.top);
        assert_eq!(a.top.len(), 5);
        assert!(a.top.windows(2).all(|w| w[0].memory >= w[1].memory));
    }

    #[test]
    fn pattern_limit() {
        let mut agg = Aggregate::new(3, 2);
        for (i, p) in ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .enumerate()
        {
            agg.with_entry(p, |s| s.add(i as u64, 0, 0));
        }
        assert!(agg.truncated);
        assert_eq!(agg.patterns[OTHER].keys, 1);
        agg.refold(|p| if p < "e" { "z".into() } else { p.into() });
        assert_eq!(agg.patterns["z"].keys, 4);
        agg.limit();
        assert_eq!(agg.patterns.len(), 2);
        assert_eq!(agg.patterns.values().map(|s| s.keys).sum::<u64>(), 9);
    }
}
