//! What migrate copied, by Redis type: keys written and the bytes of their `DUMP` payloads.
//!
//! The type of a `DUMP`ed key costs no command: a payload starts with the RDB object type of
//! the value ([`dump_type`]). Keys rewritten type by type have their type from `TYPE` and no
//! payload (0 bytes).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::report::TypeCopied;
use crate::keyspace::KEY_TYPES;

/// The names a tally counts under: the server's type names, then modules' types, then
/// anything this version does not know (a newer server's new encoding).
const NAMES: [&str; KEY_TYPES.len() + 2] = {
    let mut names = ["module"; KEY_TYPES.len() + 2];
    let mut i = 0;
    while i < KEY_TYPES.len() {
        names[i] = KEY_TYPES[i];
        i += 1;
    }
    names[KEY_TYPES.len() + 1] = "other";
    names
};

/// The Redis type of a `DUMP` payload, from its first byte (the RDB object type: one per
/// type and encoding, `RDB_TYPE_*` in the server's `rdb.h`, up to Redis 7.4's hashes with
/// field TTLs).
pub(crate) fn dump_type(payload: &[u8]) -> &'static str {
    match payload.first() {
        Some(0) => "string",
        Some(1 | 10 | 14 | 18) => "list",
        Some(2 | 11 | 20) => "set",
        Some(3 | 5 | 12 | 17) => "zset",
        Some(4 | 9 | 13 | 16 | 22..=25) => "hash",
        Some(15 | 19 | 21) => "stream",
        Some(6 | 7) => "module",
        _ => "other",
    }
}

/// Keys and bytes per type, counted from many threads.
pub(crate) struct TypeTally {
    keys: [AtomicU64; NAMES.len()],
    bytes: [AtomicU64; NAMES.len()],
}

impl TypeTally {
    /// A tally that starts from a checkpoint's counters ([`TypeTally::save`] wrote them).
    pub(crate) fn resumed(counters: &BTreeMap<String, u64>) -> TypeTally {
        let at = |what: &str, name: &str| {
            AtomicU64::new(counters.get(&key(what, name)).copied().unwrap_or(0))
        };
        TypeTally {
            keys: NAMES.map(|n| at("keys", n)),
            bytes: NAMES.map(|n| at("bytes", n)),
        }
    }

    /// Counts one key of type `name` (as `TYPE` or [`dump_type`] names it) of `bytes` bytes.
    pub(crate) fn add(&self, name: &str, bytes: usize) {
        let i = NAMES
            .iter()
            .position(|n| *n == name)
            .unwrap_or(NAMES.len() - 1);
        self.keys[i].fetch_add(1, Ordering::Relaxed);
        self.bytes[i].fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Writes the tally into a checkpoint's counters.
    pub(crate) fn save(&self, counters: &mut BTreeMap<String, u64>) {
        for (i, name) in NAMES.iter().enumerate() {
            for (what, v) in [("keys", &self.keys[i]), ("bytes", &self.bytes[i])] {
                counters.insert(key(what, name), v.load(Ordering::Relaxed));
            }
        }
    }

    /// The types with at least one key, for the report.
    pub(crate) fn report(&self) -> BTreeMap<String, TypeCopied> {
        NAMES
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let keys = self.keys[i].load(Ordering::Relaxed);
                (keys > 0).then(|| {
                    let bytes = self.bytes[i].load(Ordering::Relaxed);
                    ((*name).to_owned(), TypeCopied { keys, bytes })
                })
            })
            .collect()
    }
}

/// A checkpoint counter's name: `type.<name>.<keys|bytes>`.
fn key(what: &str, name: &str) -> String {
    format!("type.{name}.{what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rdb_object_type_has_its_redis_type() {
        for (byte, ty) in [
            (0, "string"),
            (14, "list"),
            (18, "list"),
            (11, "set"),
            (20, "set"),
            (17, "zset"),
            (5, "zset"),
            (16, "hash"),
            (25, "hash"),
            (15, "stream"),
            (21, "stream"),
            (7, "module"),
            (8, "other"),
            (200, "other"),
        ] {
            assert_eq!(dump_type(&[byte, 1, 2]), ty, "RDB type {byte}");
        }
        assert_eq!(dump_type(&[]), "other");
    }

    #[test]
    fn a_tally_survives_a_checkpoint() {
        let t = TypeTally::resumed(&BTreeMap::new());
        t.add("hash", 100);
        t.add("hash", 20);
        t.add("string", 5);
        t.add("vectorset", 7);
        let mut saved = BTreeMap::new();
        t.save(&mut saved);
        let back = TypeTally::resumed(&saved).report();
        assert_eq!(back, t.report());
        assert_eq!(
            back["hash"],
            TypeCopied {
                keys: 2,
                bytes: 120
            }
        );
        assert_eq!(back["other"], TypeCopied { keys: 1, bytes: 7 });
        assert!(!back.contains_key("list"));
    }
}
