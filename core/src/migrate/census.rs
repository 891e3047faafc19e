//! A census of key names per hash slot: how many were seen and two 64-bit sums of their keyed
//! hashes, so that two passes over two stores can tell slot by slot whether they saw the same
//! names, without remembering any name.
//!
//! [`diff`](super::diff) takes one census of the source keys its forward pass found on the
//! destination, and one of the destination's keys as it lists them (a `SCAN` and nothing
//! more per key). Where a slot's two entries agree, the destination has no key there that the
//! source lacks; only the slots where they differ need the exact reverse check (an `EXISTS` on
//! the source per destination key), which the reverse pass used to pay for every key.
//!
//! Why agreement is proof enough: the forward census counts only names the destination had,
//! so on a keyspace at rest equal counts alone would prove equal sets. The sums are for what
//! is not at rest: a name listed twice by `SCAN` (which it may do while the server resizes its
//! table), a batch counted twice after a resume, or a key written between the passes all make
//! the entries differ, and a difference only ever costs the exact check.
//! Two different sets of names in one slot agree only if their count and both sums of 64-bit
//! keyed hashes (BLAKE3 with a random key per run, kept in the checkpoint) coincide: about
//! one chance in 2^128.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::slot::{key_slot, SLOT_COUNT};

const SLOTS: usize = SLOT_COUNT as usize;

/// One slot's entry: names counted and the two sums of their hashes.
#[derive(Default)]
struct Entry {
    count: AtomicU64,
    sum_a: AtomicU64,
    sum_b: AtomicU64,
}

impl Entry {
    fn get(&self) -> [u64; 3] {
        [
            self.count.load(Ordering::Relaxed),
            self.sum_a.load(Ordering::Relaxed),
            self.sum_b.load(Ordering::Relaxed),
        ]
    }
}

/// The names seen per slot; [`add`](Census::add) may be called from many threads at once.
pub(crate) struct Census {
    key: [u8; 32],
    slots: Box<[Entry]>,
}

/// A census as a checkpoint keeps it: only the slots that saw a name, as
/// `[slot, count, sum_a, sum_b]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedCensus(pub Vec<[u64; 4]>);

impl Census {
    /// An empty census whose hashes are keyed by `key` (two censuses compare only under
    /// the same key).
    pub(crate) fn new(key: [u8; 32]) -> Census {
        Census {
            key,
            slots: (0..SLOTS).map(|_| Entry::default()).collect(),
        }
    }

    /// Counts one name.
    pub(crate) fn add(&self, name: &[u8]) {
        let hash = blake3::keyed_hash(&self.key, name);
        let bytes = hash.as_bytes();
        let half = |i: usize| {
            let mut h = [0u8; 8];
            h.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(h)
        };
        let e = &self.slots[usize::from(key_slot(name).get())];
        e.count.fetch_add(1, Ordering::Relaxed);
        e.sum_a.fetch_add(half(0), Ordering::Relaxed);
        e.sum_b.fetch_add(half(8), Ordering::Relaxed);
    }

    /// The slots whose entries differ between `self` and `other`, one flag per slot.
    pub(crate) fn differing(&self, other: &Census) -> Vec<bool> {
        self.slots
            .iter()
            .zip(other.slots.iter())
            .map(|(a, b)| a.get() != b.get())
            .collect()
    }

    /// The entries to keep in a checkpoint.
    pub(crate) fn saved(&self) -> SavedCensus {
        SavedCensus(
            self.slots
                .iter()
                .enumerate()
                .filter_map(|(slot, e)| {
                    let [count, a, b] = e.get();
                    (count != 0).then_some([slot as u64, count, a, b])
                })
                .collect(),
        )
    }

    /// Adds the entries of a checkpoint (slots out of range are ignored: the census then
    /// differs from the other side there, which only costs that slot's exact check).
    pub(crate) fn restore(&self, saved: &SavedCensus) {
        for &[slot, count, a, b] in &saved.0 {
            let Some(e) = usize::try_from(slot).ok().and_then(|s| self.slots.get(s)) else {
                continue;
            };
            e.count.fetch_add(count, Ordering::Relaxed);
            e.sum_a.fetch_add(a, Ordering::Relaxed);
            e.sum_b.fetch_add(b, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn census(key: u8, names: &[&[u8]]) -> Census {
        let c = Census::new([key; 32]);
        for n in names {
            c.add(n);
        }
        c
    }

    fn differing_slots(a: &Census, b: &Census) -> Vec<u16> {
        let flags = a.differing(b);
        (0..SLOT_COUNT).filter(|&s| flags[usize::from(s)]).collect()
    }

    #[test]
    fn the_same_names_in_any_order_agree() {
        let a = census(1, &[b"a", b"b", b"{x}1", b"{x}2"]);
        let b = census(1, &[b"{x}2", b"b", b"{x}1", b"a"]);
        assert!(differing_slots(&a, &b).is_empty());
    }

    #[test]
    fn an_extra_missing_or_repeated_name_differs_in_its_slot_only() {
        let base: &[&[u8]] = &[b"a", b"b", b"{x}1"];
        let a = census(1, base);
        let extra = census(1, &[b"a", b"b", b"{x}1", b"{x}2"]);
        assert_eq!(differing_slots(&a, &extra), vec![key_slot(b"x").get()]);
        let missing = census(1, &[b"a", b"{x}1"]);
        assert_eq!(differing_slots(&a, &missing), vec![key_slot(b"b").get()]);
        let repeated = census(1, &[b"a", b"b", b"b", b"{x}1"]);
        assert_eq!(differing_slots(&a, &repeated), vec![key_slot(b"b").get()]);
    }

    #[test]
    fn one_name_swapped_for_another_of_the_same_slot_differs() {
        // Same count in the slot; only the sums tell them apart.
        let a = census(1, &[b"{t}one"]);
        let b = census(1, &[b"{t}two"]);
        assert_eq!(differing_slots(&a, &b), vec![key_slot(b"t").get()]);
    }

    #[test]
    fn a_saved_census_restores_to_the_same_entries() {
        let a = census(7, &[b"a", b"b", b"{x}1", b"\xff\x00binary"]);
        let saved = a.saved();
        assert_eq!(saved.0.len(), 4);
        let json = serde_json::to_string(&saved).unwrap();
        let back = Census::new([7; 32]);
        back.restore(&serde_json::from_str(&json).unwrap());
        assert!(differing_slots(&a, &back).is_empty());
        // A slot number out of range is ignored, not a panic.
        back.restore(&SavedCensus(vec![[99_999, 1, 2, 3]]));
        assert!(differing_slots(&a, &back).is_empty());
    }

    #[test]
    fn censuses_under_other_keys_do_not_agree() {
        let a = census(1, &[b"a"]);
        let b = census(2, &[b"a"]);
        assert_eq!(differing_slots(&a, &b), vec![key_slot(b"a").get()]);
    }
}
