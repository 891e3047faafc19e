//! Checkpoints: the scan position and the partial aggregate, written atomically.
//!
//! A checkpoint holds what a report would show at that moment (patterns, counts, top keys as
//! keyed digests, the generaliser's tree of literal segments) plus the cursors: the SCAN
//! cursor of each master, or the set of finished hash slots on a cluster. Raw keys appear
//! only with `show_keys`. The derived digest key is stored so that a resumed run shows the
//! same digests; whoever can read the checkpoint can therefore test a guessed key against a
//! digest — keep checkpoints where the keys themselves may be read.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::aggregate::Stats;
use super::generalise::SavedNode;
use super::AnalyzerError;

/// Where each master's scan stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cursors {
    /// Standalone or Sentinel: one SCAN cursor per master (`None` when finished).
    Scan(Vec<ScanCursor>),
    /// Cluster: a bitmap of finished slots (16384 bits as 256 words).
    Slots(Vec<u64>),
}

/// A master's SCAN position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCursor {
    /// `host:port`.
    pub node: String,
    /// The next cursor to send.
    pub cursor: String,
    /// True once the cursor came back to 0.
    pub done: bool,
}

impl Cursors {
    /// No slot done yet.
    pub fn empty_slots() -> Cursors {
        Cursors::Slots(vec![0; 256])
    }

    /// Is `slot` finished?
    pub fn slot_done(&self, slot: u16) -> bool {
        match self {
            Cursors::Slots(bits) => bits
                .get(usize::from(slot / 64))
                .is_some_and(|w| w & (1u64 << (slot % 64)) != 0),
            Cursors::Scan(_) => false,
        }
    }

    /// Marks `slot` finished.
    pub fn mark_slot(&mut self, slot: u16) {
        if let Cursors::Slots(bits) = self {
            if let Some(w) = bits.get_mut(usize::from(slot / 64)) {
                *w |= 1u64 << (slot % 64);
            }
        }
    }
}

/// Everything a checkpoint holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version.
    pub format: u32,
    /// The settings that shape the result, as (name, value) pairs; a resume must match them.
    pub settings: BTreeMap<String, String>,
    /// The derived digest key, hex.
    pub digest_key: String,
    /// Keys analysed so far.
    pub keys: u64,
    /// Wall time spent so far, ms.
    pub elapsed_ms: u64,
    /// Scan positions.
    pub cursors: Cursors,
    /// The partial aggregate, by pattern (folded through `tree`).
    pub patterns: BTreeMap<String, Stats>,
    /// The generaliser's tree.
    pub tree: SavedNode,
    /// The generaliser ran out of nodes.
    pub exhausted: bool,
    /// The pattern limit was hit.
    pub truncated: bool,
}

/// The current checkpoint format.
pub const FORMAT: u32 = 1;

impl Checkpoint {
    /// Writes the checkpoint to `path` atomically (a temporary file in the same directory,
    /// flushed to disk, then renamed over `path`).
    pub fn save(&self, path: &Path) -> Result<(), AnalyzerError> {
        let err = |e: String| AnalyzerError::Checkpoint {
            path: path.display().to_string(),
            reason: e,
        };
        crate::persist::write_json_atomic(path, self).map_err(err)
    }

    /// Reads a checkpoint.
    pub fn load(path: &Path) -> Result<Checkpoint, AnalyzerError> {
        let err = |e: String| AnalyzerError::Checkpoint {
            path: path.display().to_string(),
            reason: e,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let cp: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?;
        if cp.format != FORMAT {
            return Err(err(format!(
                "format {} is not the supported format {FORMAT}",
                cp.format
            )));
        }
        Ok(cp)
    }

    /// Checks that `settings` are the checkpoint's.
    pub fn check(
        &self,
        path: &Path,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), AnalyzerError> {
        for (name, now) in settings {
            let then = self.settings.get(name).cloned().unwrap_or_default();
            if &then != now {
                return Err(AnalyzerError::CheckpointMismatch {
                    path: path.display().to_string(),
                    setting: name.clone(),
                    checkpoint: then,
                    now: now.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_bitmap_and_atomic_round_trip() {
        let mut c = Cursors::empty_slots();
        c.mark_slot(0);
        c.mark_slot(16383);
        assert!(c.slot_done(0) && c.slot_done(16383) && !c.slot_done(1));
        let dir = std::env::temp_dir().join(format!("slotshift-cp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cp.json");
        let cp = Checkpoint {
            format: FORMAT,
            settings: BTreeMap::from([("match".to_string(), "*".to_string())]),
            digest_key: "00".into(),
            keys: 3,
            elapsed_ms: 5,
            cursors: c.clone(),
            patterns: BTreeMap::new(),
            tree: SavedNode::default(),
            exhausted: false,
            truncated: false,
        };
        cp.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.cursors, c);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let other = BTreeMap::from([("match".to_string(), "user:*".to_string())]);
        let e = back.check(&path, &other).unwrap_err().to_string();
        assert!(e.contains("match") && e.contains("user:*"), "{e}");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(Checkpoint::load(&path)
            .unwrap_err()
            .to_string()
            .contains("cp.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
