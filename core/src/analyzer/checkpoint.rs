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
use crate::keyspace::Positions;

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
    /// The walk's positions.
    pub positions: Positions,
    /// The partial aggregate, by pattern (folded through `tree`).
    pub patterns: BTreeMap<String, Stats>,
    /// The generaliser's tree.
    pub tree: SavedNode,
    /// The generaliser ran out of nodes.
    pub exhausted: bool,
    /// The pattern limit was hit.
    pub truncated: bool,
}

/// The current checkpoint format (2: the shared walk's positions replace format 1's cursors).
pub const FORMAT: u32 = 2;

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
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?;
        let format = value.get("format").and_then(serde_json::Value::as_u64);
        if format != Some(u64::from(FORMAT)) {
            return Err(err(format!(
                "format {} is not the supported format {FORMAT}; run without --resume to start \
                 over",
                format.map_or_else(|| "missing".to_owned(), |f| f.to_string())
            )));
        }
        serde_json::from_value(value).map_err(|e| err(e.to_string()))
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
        let mut c = Positions::default();
        c.mark_slot(0);
        c.mark_slot(16383);
        let dir = std::env::temp_dir().join(format!("slotshift-cp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cp.json");
        let cp = Checkpoint {
            format: FORMAT,
            settings: BTreeMap::from([("match".to_string(), "*".to_string())]),
            digest_key: "00".into(),
            keys: 3,
            elapsed_ms: 5,
            positions: c.clone(),
            patterns: BTreeMap::new(),
            tree: SavedNode::default(),
            exhausted: false,
            truncated: false,
        };
        cp.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.positions, c);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let other = BTreeMap::from([("match".to_string(), "user:*".to_string())]);
        let e = back.check(&path, &other).unwrap_err().to_string();
        assert!(e.contains("match") && e.contains("user:*"), "{e}");
        std::fs::write(&path, br#"{"format":1,"cursors":{"slots":[]}}"#).unwrap();
        let e = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(e.contains("format 1") && e.contains("cp.json"), "{e}");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(Checkpoint::load(&path)
            .unwrap_err()
            .to_string()
            .contains("cp.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod fuzz {
    /// The analyzer's checkpoint file, whatever is in it.
    #[test]
    fn fuzz_analyzer_checkpoints() {
        crate::fuzz::run("checkpoints", |input| {
            let f = crate::fuzz::file(input);
            let _ = super::Checkpoint::load(f.path());
        });
    }
}
