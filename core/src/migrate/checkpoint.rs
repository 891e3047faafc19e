//! Checkpoints of a diff or a migration: the stage, the walk's committed positions (a `SCAN`
//! cursor per master, or finished slots on a cluster), counters and the keys still waiting for
//! a re-check, written atomically.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::census::SavedCensus;
use super::MigrateError;
use crate::keyspace::Positions;

/// The current checkpoint format (2: the walk's positions replace format 1's SCAN cursors).
pub(crate) const FORMAT: u32 = 2;

/// The stage of a checkpoint whose run finished.
pub(crate) const DONE: &str = "done";

/// Everything a checkpoint holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub format: u32,
    /// `diff` or `migrate`.
    pub job: String,
    /// The settings that shape the result; a resume must match them.
    pub settings: BTreeMap<String, String>,
    /// The stage in progress (`forward`, `reverse`, `reverse-check`, `rounds`, `copy`,
    /// `copied`).
    pub stage: String,
    /// The scanned store's walk positions in that stage.
    pub positions: Positions,
    /// Counters so far.
    pub counters: BTreeMap<String, u64>,
    /// Keys waiting for a re-check.
    pub pending: Vec<PendingKey>,
    /// The reverse pass's census hash key, hex (empty: none yet; the censuses below then start
    /// over).
    #[serde(default)]
    pub census_key: String,
    /// The census of the source keys a diff's forward pass found on the destination, or that a
    /// migration's copy pass left there (with `delete_extra`).
    #[serde(default)]
    pub census_forward: SavedCensus,
    /// The census of the destination's keys (reverse pass).
    #[serde(default)]
    pub census_destination: SavedCensus,
}

/// A key waiting for a re-check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingKey {
    /// The key, hex.
    pub key: String,
    /// What differed.
    pub kind: super::DiffKind,
    /// The detail seen.
    pub detail: String,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Checkpoint {
    /// Writes to `path` atomically: a temporary file in the same directory, synced, renamed.
    pub(crate) fn save(&self, path: &Path) -> Result<(), MigrateError> {
        let err = |e: String| MigrateError::Checkpoint {
            path: path.display().to_string(),
            reason: e,
        };
        crate::persist::write_json_atomic(path, self).map_err(err)
    }

    /// Reads `path`; `Ok(None)` if there is no such file.
    pub(crate) fn load(path: &Path) -> Result<Option<Checkpoint>, MigrateError> {
        let err = |e: String| MigrateError::Checkpoint {
            path: path.display().to_string(),
            reason: e,
        };
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(e.to_string())),
        };
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| err(e.to_string()))?;
        let format = value.get("format").and_then(serde_json::Value::as_u64);
        if format != Some(u64::from(FORMAT)) {
            return Err(err(format!(
                "format {} is not this build's format {FORMAT}; delete the file (or run \
                 without resume) to start over",
                format.map_or_else(|| "missing".to_owned(), |f| f.to_string())
            )));
        }
        let cp: Checkpoint = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
        Ok(Some(cp))
    }

    /// Refuses a checkpoint of another job, with other settings, or of a finished run.
    pub(crate) fn check(
        &self,
        path: &Path,
        job: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), MigrateError> {
        let mismatch = |setting: &str, saved: &str, now: &str| MigrateError::ResumeMismatch {
            path: path.display().to_string(),
            setting: setting.to_owned(),
            saved: saved.to_owned(),
            now: now.to_owned(),
        };
        if self.job != job {
            return Err(mismatch("job", &self.job, job));
        }
        for (k, v) in settings {
            let saved = self.settings.get(k).map(String::as_str).unwrap_or("");
            if saved != v {
                return Err(mismatch(k, saved, v));
            }
        }
        if self.stage == DONE {
            return Err(MigrateError::CheckpointFinished {
                path: path.display().to_string(),
                job: job.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let k = b"a\x00\xff{tag}".to_vec();
        assert_eq!(unhex(&hex(&k)), Some(k));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn save_load_check() {
        let path = std::env::temp_dir().join(format!("slotshift-cp-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        assert!(Checkpoint::load(&path).unwrap().is_none());
        let mut cp = Checkpoint {
            format: FORMAT,
            job: "diff".into(),
            ..Checkpoint::default()
        };
        cp.settings.insert("pattern".into(), "a*".into());
        cp.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap().unwrap();
        assert!(back.check(&path, "diff", &cp.settings).is_ok());
        let mut other = cp.settings.clone();
        other.insert("pattern".into(), "b*".into());
        let e = back.check(&path, "diff", &other).unwrap_err();
        assert!(e.to_string().contains("pattern"), "{e}");
        assert!(back.check(&path, "migrate", &cp.settings).is_err());
        std::fs::write(&path, br#"{"format":1,"job":"diff","cursors":[]}"#).unwrap();
        let e = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(e.contains("format 1") && e.contains("slotshift-cp-"), "{e}");
        std::fs::remove_file(&path).unwrap();
    }
}

#[cfg(test)]
mod fuzz {
    /// A checkpoint file as a crash, a disk or a hand edit leaves it.
    #[test]
    fn fuzz_migrate_checkpoints() {
        crate::fuzz::run("checkpoints", |input| {
            let f = crate::fuzz::file(input);
            let _ = super::Checkpoint::load(f.path());
        });
    }
}
