//! A census of key names per hash slot: how many were seen and two 64-bit sums of their keyed
//! hashes, so that two passes over two stores can tell slot by slot whether they saw the same
//! names, without remembering any name.
//!
//! [`diff`](super::diff) takes one census of the source keys its forward pass found on the
//! destination, and one of the destination's keys as it lists them (a `SCAN` and nothing
//! more per key). Where a slot's two entries agree, the destination has no key there that the
//! source lacks; only the slots where they differ need the exact reverse check (an `EXISTS` on
//! the source per destination key), which the reverse pass used to pay for every key.
//! [`migrate`](super::migrate) with `delete_extra` does the same with a census of the keys
//! its copy pass left on the destination.
//!
//! Why agreement is proof enough: the forward census counts only names the destination had,
//! so on a keyspace at rest equal counts alone would prove equal sets. The sums are for what
//! is not at rest: a name listed twice by `SCAN` (which it may do while the server resizes its
//! table), a batch counted twice after a resume, or a key written between the passes all make
//! the entries differ, and a difference only ever costs the exact check.
//! Two different sets of names in one slot agree only if their count and both sums of 64-bit
//! keyed hashes (SipHash-1-3, 128 bits, with a random key per run kept in the checkpoint)
//! coincide: about one chance in 2^128. SipHash is a keyed pseudo-random function made for
//! hashing names an adversary may choose; it costs a fraction of a cryptographic hash on
//! names of a few dozen bytes (the census was BLAKE3 until that showed in the diff's profile).

use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};

use siphasher::sip128::{Hasher128, SipHasher13};

use serde::{Deserialize, Serialize};

use super::checkpoint::{hex, unhex, Checkpoint};
use crate::keyspace::Positions;
use crate::slot::{key_slot, SLOT_COUNT};
use crate::store::{Store, StoreKind};

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

/// The names seen per slot; [`add_all`](Census::add_all) may be called from many threads at
/// once.
pub(crate) struct Census {
    /// SipHash's 128-bit key: the first half of the run's census key.
    sip_key: [u8; 16],
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
        let mut sip_key = [0u8; 16];
        sip_key.copy_from_slice(&key[..16]);
        Census {
            sip_key,
            slots: (0..SLOTS).map(|_| Entry::default()).collect(),
        }
    }

    /// Counts one name.
    #[cfg(test)]
    pub(crate) fn add(&self, name: &[u8]) {
        self.add_all([name]);
    }

    /// Counts every name of a batch. Each name's entry is read as its hash is computed and
    /// added to only once all are hashed: the plain reads' cache misses overlap, where each
    /// locked add (a full barrier on x86) would wait for its own miss (it was most of the
    /// forward pass's census cost).
    pub(crate) fn add_all<'a>(&self, names: impl IntoIterator<Item = &'a [u8]>) {
        let hashed: Vec<(&Entry, u64, u64)> = names
            .into_iter()
            .map(|name| {
                let entry = self.entry(name);
                std::hint::black_box(entry.0.count.load(Ordering::Relaxed));
                entry
            })
            .collect();
        for (e, a, b) in hashed {
            e.count.fetch_add(1, Ordering::Relaxed);
            e.sum_a.fetch_add(a, Ordering::Relaxed);
            e.sum_b.fetch_add(b, Ordering::Relaxed);
        }
    }

    /// The entry of `name`'s slot and the two halves of its hash.
    fn entry(&self, name: &[u8]) -> (&Entry, u64, u64) {
        let mut hasher = SipHasher13::new_with_key(&self.sip_key);
        hasher.write(name);
        let hash = hasher.finish128();
        let e = &self.slots[usize::from(key_slot(name).get())];
        (e, hash.h1, hash.h2)
    }

    /// Takes one name back out (a key counted as on the destination that was then deleted
    /// there).
    pub(crate) fn remove(&self, name: &[u8]) {
        let (e, a, b) = self.entry(name);
        e.count.fetch_sub(1, Ordering::Relaxed);
        e.sum_a.fetch_sub(a, Ordering::Relaxed);
        e.sum_b.fetch_sub(b, Ordering::Relaxed);
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

/// The two censuses of a reverse pass ([`Census`]): the source keys the forward pass found on
/// (or put on) the destination, and the destination's keys; both under one per-run hash key,
/// which a checkpoint keeps with them.
pub(crate) struct Censuses {
    key: [u8; 32],
    pub(crate) forward: Census,
    pub(crate) destination: Census,
}

impl Censuses {
    /// Fresh censuses under a random key, or a checkpoint's.
    pub(crate) fn resume(cp: &Checkpoint) -> Censuses {
        let saved_key = unhex(&cp.census_key).and_then(|k| <[u8; 32]>::try_from(k).ok());
        let key = saved_key.unwrap_or_else(rand::random);
        let c = Censuses {
            key,
            forward: Census::new(key),
            destination: Census::new(key),
        };
        if saved_key.is_some() {
            c.forward.restore(&cp.census_forward);
            c.destination.restore(&cp.census_destination);
        }
        c
    }

    /// Keeps the censuses in `cp`.
    pub(crate) fn save_to(&self, cp: &mut Checkpoint) {
        cp.census_key = hex(&self.key);
        cp.census_forward = self.forward.saved();
        cp.census_destination = self.destination.saved();
    }

    /// The slots where the destination's keys are not the ones counted forward.
    pub(crate) fn differing(&self) -> Slots {
        Slots(self.forward.differing(&self.destination))
    }
}

/// A set of hash slots: those an exact reverse check walks.
pub(crate) struct Slots(Vec<bool>);

impl Slots {
    /// Every slot (no census to narrow the check down).
    pub(crate) fn all() -> Slots {
        Slots(vec![true; SLOTS])
    }

    /// How many.
    pub(crate) fn len(&self) -> usize {
        self.0.iter().filter(|&&d| d).count()
    }

    /// None at all.
    pub(crate) fn is_empty(&self) -> bool {
        !self.0.contains(&true)
    }

    /// The keys of `keys` in these slots.
    pub(crate) fn keep(&self, keys: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        keys.into_iter()
            .filter(|k| self.0[usize::from(key_slot(k).get())])
            .collect()
    }

    /// Where a walk of `store` over these slots starts from `start`: on a cluster, which is
    /// walked slot by slot, every other slot is marked done.
    pub(crate) fn walk_start(&self, store: &Store, mut start: Positions) -> Positions {
        if store.kind() == StoreKind::Cluster {
            for slot in 0..SLOT_COUNT {
                if !self.0[usize::from(slot)] {
                    start.mark_slot(slot);
                }
            }
        }
        start
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
    fn a_removed_name_is_as_if_never_counted() {
        let a = census(3, &[b"a", b"b"]);
        let b = census(3, &[b"a", b"b", b"{b}x"]);
        b.remove(b"{b}x");
        assert!(differing_slots(&a, &b).is_empty());
        b.remove(b"b");
        assert_eq!(differing_slots(&a, &b), vec![key_slot(b"b").get()]);
    }

    #[test]
    fn censuses_under_other_keys_do_not_agree() {
        let a = census(1, &[b"a"]);
        let b = census(2, &[b"a"]);
        assert_eq!(differing_slots(&a, &b), vec![key_slot(b"a").get()]);
    }
}
