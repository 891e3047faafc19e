//! What [`diff`](super::diff) and [`migrate`](super::migrate) report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::DiffMode;

/// The kind of a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiffKind {
    /// On the source, not on the destination.
    Missing,
    /// On the destination, not on the source.
    Extra,
    /// Different types.
    Type,
    /// Same type, different value (or length, in length mode).
    Value,
    /// TTLs differ by more than the tolerance (or only one side expires).
    Ttl,
}

impl DiffKind {
    /// Every kind, in report order.
    pub const ALL: [DiffKind; 5] = [
        DiffKind::Missing,
        DiffKind::Extra,
        DiffKind::Type,
        DiffKind::Value,
        DiffKind::Ttl,
    ];

    /// The kind's name as reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Type => "type",
            DiffKind::Value => "value",
            DiffKind::Ttl => "ttl",
        }
    }
}

/// One key that differs at the end of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Mismatch {
    /// The key, printable ASCII as is, other bytes as `\xNN`.
    pub key: String,
    /// What differs.
    pub kind: DiffKind,
    /// Types, lengths or TTLs involved — never a value.
    pub detail: String,
}

/// The result of [`diff`](super::diff).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DiffReport {
    /// Every key was looked at (false after a cancel).
    pub complete: bool,
    /// The mode.
    pub mode: DiffMode,
    /// Keys of the source compared.
    pub source_keys: u64,
    /// Keys of the destination looked at in the reverse pass.
    pub destination_keys: u64,
    /// Hash slots where the reverse pass checked each destination key on the source: those
    /// where the destination's keys were not the source keys the forward pass found there
    /// (0 when they were the same everywhere, and without a reverse pass).
    #[serde(default)]
    pub reverse_exact_slots: u64,
    /// Differences seen in the passes, before re-checks.
    pub found: u64,
    /// Of those, how many converged away in the re-check rounds.
    pub converged: u64,
    /// Re-check rounds run.
    pub rounds: u32,
    /// Differences that remain, by kind (every kind listed, zero included).
    pub differences: BTreeMap<DiffKind, u64>,
    /// Differences beyond `max_pending` that were never re-checked (included above).
    pub unchecked: u64,
    /// The first remaining differences (up to `report_limit`).
    pub mismatches: Vec<Mismatch>,
    /// Wall time, ms.
    pub elapsed_ms: u64,
}

impl DiffReport {
    /// Remaining differences, all kinds together.
    pub fn total_differences(&self) -> u64 {
        self.differences.values().sum()
    }

    /// Remaining differences of one kind.
    pub fn count(&self, kind: DiffKind) -> u64 {
        self.differences.get(&kind).copied().unwrap_or(0)
    }

    /// Keys looked at per second.
    pub fn keys_per_second(&self) -> f64 {
        per_second(self.source_keys + self.destination_keys, self.elapsed_ms)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The report as text.
    pub fn to_text(&self) -> String {
        self.to_text_listing(usize::MAX)
    }

    /// [`DiffReport::to_text`] listing at most `max_keys` differences one per line, then how
    /// many more there are (all of them are in [`DiffReport::mismatches`], the JSON form and the
    /// mismatch log); 0 lists none, only the counts.
    pub fn to_text_listing(&self, max_keys: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "diff ({}): {} source keys, {} destination keys in {:.1} s ({:.0} keys/s){}",
            self.mode.name(),
            self.source_keys,
            self.destination_keys,
            self.elapsed_ms as f64 / 1000.0,
            self.keys_per_second(),
            if self.complete { "" } else { " — INCOMPLETE" }
        );
        let _ = writeln!(
            s,
            "found {} differences, {} converged in {} re-check rounds, {} remain",
            self.found,
            self.converged,
            self.rounds,
            self.total_differences()
        );
        for kind in DiffKind::ALL {
            let _ = writeln!(s, "  {:<8} {}", kind.name(), self.count(kind));
        }
        if self.reverse_exact_slots > 0 {
            let _ = writeln!(
                s,
                "  (reverse pass: {} slots checked key by key on the source)",
                self.reverse_exact_slots
            );
        }
        if self.unchecked > 0 {
            let _ = writeln!(
                s,
                "  ({} never re-checked: over max_pending)",
                self.unchecked
            );
        }
        for m in self.mismatches.iter().take(max_keys) {
            let _ = writeln!(s, "  {:<8} {}  {}", m.kind.name(), m.key, m.detail);
        }
        let more = self.mismatches.len().saturating_sub(max_keys);
        if more > 0 {
            let _ = writeln!(
                s,
                "  … and {more} more (all of them: --json, or --mismatches FILE)"
            );
        }
        s
    }
}

/// Keys of one Redis type that migrate wrote, and their size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCopied {
    /// Keys written (each write counts, re-copies too, as [`MigrateReport::copied`] does).
    pub keys: u64,
    /// Bytes of their `DUMP` payloads (0 for keys rewritten type by type).
    pub bytes: u64,
}

/// The result of [`migrate`](super::migrate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MigrateReport {
    /// Every source key was looked at (false after a cancel).
    pub complete: bool,
    /// Nothing was written.
    pub dry_run: bool,
    /// Source keys scanned.
    pub keys_scanned: u64,
    /// Keys written with `RESTORE` (or that would be, in a dry run).
    pub restored: u64,
    /// Keys written type by type.
    pub rewritten: u64,
    /// Keys found equal, not written.
    pub equal: u64,
    /// Keys the destination already had and kept (`missing_only`).
    #[serde(default)]
    pub kept: u64,
    /// Destination keys deleted (`delete_extra`).
    pub deleted: u64,
    /// Keys copied again in the re-check rounds.
    pub recopied: u64,
    /// Keys still different after the last round (the final diff has the last word).
    pub left_after_rounds: u64,
    /// What was written, by Redis type (`string`, `hash`, …; `module` and `other` for
    /// modules' types and encodings this version does not know); only types written.
    #[serde(default)]
    pub copied_by_type: BTreeMap<String, TypeCopied>,
    /// Re-check rounds run.
    pub rounds: u32,
    /// `dump` or `rewrite` (what the last key used).
    pub method: String,
    /// Wall time of the copy pass and rounds, ms.
    pub elapsed_ms: u64,
    /// The final diff, when asked for.
    pub final_diff: Option<DiffReport>,
}

impl MigrateReport {
    /// Keys written (restored + rewritten).
    pub fn copied(&self) -> u64 {
        self.restored + self.rewritten
    }

    /// Source keys handled per second in the copy pass.
    pub fn keys_per_second(&self) -> f64 {
        per_second(self.keys_scanned, self.elapsed_ms)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The report as text.
    pub fn to_text(&self) -> String {
        self.to_text_listing(usize::MAX)
    }

    /// [`MigrateReport::to_text`] with the final diff's differences listed as
    /// [`DiffReport::to_text_listing`] does.
    pub fn to_text_listing(&self, max_keys: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "migrate{}: {} keys scanned in {:.1} s ({:.0} keys/s){}",
            if self.dry_run { " (dry run)" } else { "" },
            self.keys_scanned,
            self.elapsed_ms as f64 / 1000.0,
            self.keys_per_second(),
            if self.complete { "" } else { " — INCOMPLETE" }
        );
        let _ = writeln!(
            s,
            "  copied {} (restore {}, rewrite {}), equal {}, kept {}, deleted {}, re-copied {} in {} rounds, left {}",
            self.copied(),
            self.restored,
            self.rewritten,
            self.equal,
            self.kept,
            self.deleted,
            self.recopied,
            self.rounds,
            self.left_after_rounds
        );
        if !self.copied_by_type.is_empty() {
            let types: Vec<String> = self
                .copied_by_type
                .iter()
                .map(|(name, t)| format!("{name} {} ({})", t.keys, crate::analyzer::human(t.bytes)))
                .collect();
            let _ = writeln!(s, "  by type: {}", types.join(", "));
        }
        if let Some(d) = &self.final_diff {
            s.push_str("final ");
            s.push_str(&d.to_text_listing(max_keys));
        }
        s
    }
}

impl DiffReport {
    /// One report for a diff that ran as parts over disjoint key sets (the slot ranges of a
    /// [shared job](super::shared)): counts add up, `rounds` is the most any part ran, the
    /// first `limit` mismatches are listed, and it is complete only if every part is (and there
    /// is one). `elapsed_ms` is left at 0 for the caller, who knows the wall time.
    pub fn merged(mode: DiffMode, parts: &[DiffReport], limit: usize) -> DiffReport {
        let mut m = DiffReport {
            complete: !parts.is_empty(),
            mode,
            source_keys: 0,
            destination_keys: 0,
            reverse_exact_slots: 0,
            found: 0,
            converged: 0,
            rounds: 0,
            differences: DiffKind::ALL.iter().map(|&k| (k, 0)).collect(),
            unchecked: 0,
            mismatches: Vec::new(),
            elapsed_ms: 0,
        };
        for p in parts {
            m.complete &= p.complete;
            m.source_keys += p.source_keys;
            m.destination_keys += p.destination_keys;
            m.reverse_exact_slots += p.reverse_exact_slots;
            m.found += p.found;
            m.converged += p.converged;
            m.rounds = m.rounds.max(p.rounds);
            for (kind, n) in &p.differences {
                *m.differences.entry(*kind).or_insert(0) += n;
            }
            m.unchecked += p.unchecked;
            let room = limit.saturating_sub(m.mismatches.len());
            m.mismatches.extend(p.mismatches.iter().take(room).cloned());
        }
        m
    }
}

impl MigrateReport {
    /// One report for a migration that ran as parts over disjoint key sets (see
    /// [`DiffReport::merged`]); the final diffs merge likewise when the parts ran them.
    /// `method` is `rewrite` if any part rewrote.
    pub fn merged(dry_run: bool, parts: &[MigrateReport], limit: usize) -> MigrateReport {
        let mut m = MigrateReport {
            complete: !parts.is_empty(),
            dry_run,
            keys_scanned: 0,
            restored: 0,
            rewritten: 0,
            equal: 0,
            kept: 0,
            deleted: 0,
            recopied: 0,
            left_after_rounds: 0,
            copied_by_type: BTreeMap::new(),
            rounds: 0,
            method: "dump".into(),
            elapsed_ms: 0,
            final_diff: None,
        };
        for p in parts {
            m.complete &= p.complete;
            m.keys_scanned += p.keys_scanned;
            m.restored += p.restored;
            m.rewritten += p.rewritten;
            m.equal += p.equal;
            m.kept += p.kept;
            m.deleted += p.deleted;
            m.recopied += p.recopied;
            m.left_after_rounds += p.left_after_rounds;
            for (name, t) in &p.copied_by_type {
                let sum = m.copied_by_type.entry(name.clone()).or_default();
                sum.keys += t.keys;
                sum.bytes += t.bytes;
            }
            m.rounds = m.rounds.max(p.rounds);
            if p.method == "rewrite" {
                m.method = "rewrite".into();
            }
        }
        let diffs: Vec<DiffReport> = parts.iter().filter_map(|p| p.final_diff.clone()).collect();
        if let Some(first) = diffs.first() {
            m.final_diff = Some(DiffReport::merged(first.mode, &diffs, limit));
        }
        m
    }
}

fn per_second(n: u64, ms: u64) -> f64 {
    if ms == 0 {
        n as f64 * 1000.0
    } else {
        n as f64 * 1000.0 / ms as f64
    }
}
