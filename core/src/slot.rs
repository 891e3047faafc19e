//! Hash slots: CRC16/XMODEM of the key (or of its hash tag) modulo 16384, exactly as the
//! Redis Cluster specification states it.
//!
//! The hash-tag rule: if the key contains a `{`, and a `}` follows it with at least one byte
//! between them, only the bytes between the first `{` and the first `}` after it are hashed.
//! Otherwise the whole key is hashed.
//!
//! ```
//! use slotshift::slot::{hash_tag, key_slot};
//! assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
//! assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}"); // empty tag: the whole key
//! assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
//! ```

use std::fmt;

/// The number of hash slots in a Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// A hash slot. Its value is always below [`SLOT_COUNT`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Slot(u16);

/// A number that is not a valid hash slot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hash slot {0} is out of range (slots are 0..=16383)")]
#[non_exhaustive]
pub struct SlotError(pub u32);

impl Slot {
    /// The lowest slot.
    pub const MIN: Slot = Slot(0);
    /// The highest slot.
    pub const MAX: Slot = Slot(SLOT_COUNT - 1);

    /// A slot from its number; `None` unless `value < 16384`.
    pub const fn new(value: u16) -> Option<Slot> {
        if value < SLOT_COUNT {
            Some(Slot(value))
        } else {
            None
        }
    }

    /// The slot's number, always below 16384.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Every slot, in order.
    pub fn all() -> impl DoubleEndedIterator<Item = Slot> + ExactSizeIterator {
        (0..SLOT_COUNT).map(Slot)
    }
}

impl TryFrom<u32> for Slot {
    type Error = SlotError;
    fn try_from(value: u32) -> Result<Self, SlotError> {
        u16::try_from(value)
            .ok()
            .and_then(Slot::new)
            .ok_or(SlotError(value))
    }
}

impl TryFrom<i64> for Slot {
    type Error = SlotError;
    fn try_from(value: i64) -> Result<Self, SlotError> {
        u32::try_from(value)
            .map_err(|_| SlotError(u32::MAX))
            .and_then(Slot::try_from)
    }
}

impl From<Slot> for u16 {
    fn from(slot: Slot) -> u16 {
        slot.0
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slot({})", self.0)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The part of `key` that is hashed: the hash tag if there is a non-empty one, else the key.
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key) {
        let rest = &key[open + 1..];
        if let Some(close) = memchr::memchr(b'}', rest) {
            if close > 0 {
                return &rest[..close];
            }
        }
    }
    key
}

/// CRC16/XMODEM's slice-by-16 tables (8 KiB): `CRC16_TABLES[k][b]` is the CRC of byte `b`
/// followed by `k` zero bytes, so up to 16 bytes fold into the CRC with independent lookups.
static CRC16_TABLES: [[u16; 256]; 16] = crc16_tables();

const fn crc16_tables() -> [[u16; 256]; 16] {
    let mut tables = [[0u16; 256]; 16];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u16) << 8; // byte < 256: lossless
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        tables[0][byte] = crc;
        byte += 1;
    }
    let mut k = 1;
    while k < 16 {
        let mut byte = 0;
        while byte < 256 {
            let prev = tables[k - 1][byte];
            tables[k][byte] = (prev << 8) ^ tables[0][(prev >> 8) as usize];
            byte += 1;
        }
        k += 1;
    }
    tables
}

/// Folds `N` bytes (2 ≤ `N` ≤ 16) into `crc`: the first two meet the CRC's two bytes, the rest
/// index their tables directly; the lookups do not wait on each other.
#[inline(always)]
fn fold<const N: usize>(crc: u16, bytes: &[u8; N]) -> u16 {
    let t = &CRC16_TABLES;
    let [high, low] = crc.to_be_bytes();
    let mut out = t[N - 1][usize::from(high ^ bytes[0])] ^ t[N - 2][usize::from(low ^ bytes[1])];
    let mut i = 2;
    while i < N {
        out ^= t[N - 1 - i][usize::from(bytes[i])];
        i += 1;
    }
    out
}

/// CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection) of `bytes`, 16 bytes at
/// a time and then 8, 4, 2 and 1: a 15-byte key takes four dependent steps, not fifteen. (The
/// `crc` crate's slice-by-16 goes a byte at a time below 16 bytes, where most keys are: 3-4x
/// slower there, the same from 64 bytes; docs/BENCHMARKS.md.)
#[inline]
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    let mut rest = bytes;
    while rest.len() >= 16 {
        crc = fold_front::<16>(crc, &mut rest);
    }
    crc = fold_front::<8>(crc, &mut rest);
    crc = fold_front::<4>(crc, &mut rest);
    crc = fold_front::<2>(crc, &mut rest);
    if let Some(&last) = rest.first() {
        let [high, _] = crc.to_be_bytes();
        crc = (crc << 8) ^ CRC16_TABLES[0][usize::from(high ^ last)];
    }
    crc
}

/// Folds the first `N` bytes of `rest` into `crc` and moves `rest` past them, if it has `N`.
#[inline(always)]
fn fold_front<const N: usize>(crc: u16, rest: &mut &[u8]) -> u16 {
    match rest.split_first_chunk::<N>() {
        Some((head, tail)) => {
            *rest = tail;
            fold(crc, head)
        }
        None => crc,
    }
}

/// The hash slot of `key`.
#[inline]
pub fn key_slot(key: &[u8]) -> Slot {
    Slot(crc16(hash_tag(key)) & (SLOT_COUNT - 1))
}

/// The hash slots of many keys, in the order given.
pub fn key_slots<K: AsRef<[u8]>>(keys: &[K]) -> Vec<Slot> {
    let mut out = Vec::with_capacity(keys.len());
    key_slots_into(keys, &mut out);
    out
}

/// Appends the hash slot of each key to `out` (reusing its allocation across batches).
pub fn key_slots_into<K: AsRef<[u8]>>(keys: &[K], out: &mut Vec<Slot>) {
    out.reserve(keys.len());
    out.extend(keys.iter().map(|k| key_slot(k.as_ref())));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC16/XMODEM one bit at a time, as the cluster spec writes it.
    fn crc16_bitwise(bytes: &[u8]) -> u16 {
        let mut crc = 0u16;
        for &b in bytes {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    #[test]
    fn crc16_check_value_from_the_spec() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
        // Slots a Redis 7.0 cluster gives (CLUSTER KEYSLOT).
        assert_eq!(key_slot(b"foo").get(), 12182);
        assert_eq!(key_slot(b"user:1000:session").get(), 9274);
    }

    #[test]
    fn crc16_equals_the_bitwise_definition_at_every_length_to_40() {
        let bytes: Vec<u8> = (0u8..40)
            .map(|i| i.wrapping_mul(73).wrapping_add(5))
            .collect();
        for n in 0..=bytes.len() {
            assert_eq!(crc16(&bytes[..n]), crc16_bitwise(&bytes[..n]), "{n} bytes");
        }
    }

    #[test]
    fn hash_tags_follow_the_spec() {
        assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"{}"), b"{}");
        assert_eq!(hash_tag(b"no tag"), b"no tag");
        assert_eq!(hash_tag(b"open{only"), b"open{only");
        assert_eq!(hash_tag(b"}{x}"), b"x");
    }

    #[test]
    fn tagged_keys_share_a_slot() {
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
    }

    #[test]
    fn slot_bounds() {
        assert_eq!(Slot::new(16383), Some(Slot::MAX));
        assert_eq!(Slot::new(16384), None);
        assert_eq!(Slot::try_from(16384u32), Err(SlotError(16384)));
        assert!(Slot::try_from(-1i64).is_err());
        assert_eq!(Slot::all().len(), 16384);
    }

    #[test]
    fn batch_equals_single() {
        let keys: Vec<Vec<u8>> = (0..1000).map(|i| format!("key:{i}").into_bytes()).collect();
        let batch = key_slots(&keys);
        for (k, s) in keys.iter().zip(&batch) {
            assert_eq!(key_slot(k), *s);
        }
    }

    proptest::proptest! {
        #[test]
        fn crc16_equals_the_bitwise_definition(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..100)) {
            proptest::prop_assert_eq!(crc16(&bytes), crc16_bitwise(&bytes));
        }

        #[test]
        fn slot_is_always_in_range(key in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert!(key_slot(&key).get() < SLOT_COUNT);
        }

        #[test]
        fn tag_decides_the_slot(prefix in "[a-z]{0,8}", tag in "[a-z0-9]{1,8}", suffix in "[a-z{}]{0,8}") {
            let key = format!("{prefix}{{{tag}}}{suffix}");
            proptest::prop_assert_eq!(key_slot(key.as_bytes()), key_slot(tag.as_bytes()));
        }
    }
}
