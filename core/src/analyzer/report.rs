//! The report and its four formats: text table, JSON, CSV and a self-contained HTML page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::aggregate::{Stats, TopKey, TTL_BUCKETS, TYPES};
use super::AnalyzerError;

/// Memory of a pattern, in bytes as `MEMORY USAGE` reports them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Memory {
    /// Sum over the pattern's keys.
    pub total: u64,
    /// Mean per key (0 for no key).
    pub mean: f64,
    /// The biggest key.
    pub max: u64,
}

/// Keys per TTL bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TtlBuckets {
    /// No expiry.
    pub none: u64,
    /// Under a minute.
    pub under_1m: u64,
    /// A minute to an hour.
    pub under_1h: u64,
    /// An hour to a day.
    pub under_1d: u64,
    /// A day to a week.
    pub under_1w: u64,
    /// A week or more.
    pub longer: u64,
}

impl TtlBuckets {
    fn from_array(a: [u64; 6]) -> TtlBuckets {
        TtlBuckets {
            none: a[0],
            under_1m: a[1],
            under_1h: a[2],
            under_1d: a[3],
            under_1w: a[4],
            longer: a[5],
        }
    }

    /// The counts in [`TTL_BUCKETS`] order.
    pub fn as_array(&self) -> [u64; 6] {
        [
            self.none,
            self.under_1m,
            self.under_1h,
            self.under_1d,
            self.under_1w,
            self.longer,
        ]
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatternReport {
    /// The pattern (placeholders in `<…>`; `<*>` where the generaliser found variation).
    pub pattern: String,
    /// Keys.
    pub keys: u64,
    /// This pattern's keys over all keys (0..=1).
    pub key_share: f64,
    /// Memory.
    pub memory: Memory,
    /// This pattern's memory over all memory (0..=1).
    pub memory_share: f64,
    /// Keys per type (only types present).
    pub types: BTreeMap<String, u64>,
    /// Keys per TTL bucket.
    pub ttl: TtlBuckets,
    /// The biggest keys, masked unless `show_keys`.
    pub top_keys: Vec<TopKey>,
}

/// Where the numbers came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Scope {
    /// `standalone`, `sentinel` or `cluster`.
    pub kind: String,
    /// Masters scanned.
    pub masters: usize,
    /// `MATCH` pattern, if any (as given).
    pub match_pattern: Option<String>,
    /// `TYPE` filter, if any.
    pub key_type: Option<String>,
    /// `MEMORY USAGE … SAMPLES`, if given.
    pub samples: Option<u32>,
    /// How sample keys are shown: `keyed-digest`, `per-run-digest` or `raw`.
    pub key_display: String,
}

/// The analyzer's result. `to_json`, `to_csv`, `to_text` and `to_html` render it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// What was scanned and how.
    pub scope: Scope,
    /// False when the scan was cancelled (the numbers cover the keys seen so far).
    pub complete: bool,
    /// Wall time of the scan(s), resumed runs included, in milliseconds.
    pub elapsed_ms: u64,
    /// Keys analysed per second of wall time.
    pub keys_per_sec: f64,
    /// Every key (the sum of the rows).
    pub total: PatternReport,
    /// One row per pattern, by memory (largest first), then by pattern.
    pub patterns: Vec<PatternReport>,
    /// True when the pattern limit was reached and the smallest patterns were merged into
    /// `<other>`.
    pub patterns_truncated: bool,
    /// True when the generaliser's node budget ran out (patterns coarser than usual).
    pub generaliser_exhausted: bool,
}

fn row(pattern: String, s: &Stats, total_keys: u64, total_mem: u64) -> PatternReport {
    let share = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    PatternReport {
        pattern,
        keys: s.keys,
        key_share: share(s.keys, total_keys),
        memory: Memory {
            total: s.memory,
            mean: share(s.memory, s.keys),
            max: s.max_memory,
        },
        memory_share: share(s.memory, total_mem),
        types: TYPES
            .iter()
            .zip(s.types)
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| ((*t).to_owned(), n))
            .collect(),
        ttl: TtlBuckets::from_array(s.ttl),
        top_keys: s.top.clone(),
    }
}

impl PatternReport {
    /// The row's statistics again (what [`Report::merged`] adds up).
    fn stats(&self) -> Stats {
        let mut types = [0; 7];
        for (name, n) in &self.types {
            if let Some(i) = TYPES.iter().position(|t| t == name) {
                types[i] += n;
            }
        }
        Stats {
            keys: self.keys,
            memory: self.memory.total,
            max_memory: self.memory.max,
            types,
            ttl: self.ttl.as_array(),
            top: self.top_keys.clone(),
        }
    }
}

impl Report {
    pub(crate) fn build(
        scope: Scope,
        patterns: impl IntoIterator<Item = (String, Stats)>,
        top: usize,
        complete: bool,
        elapsed_ms: u64,
        flags: (bool, bool),
    ) -> Report {
        let mut total = Stats::default();
        let items: Vec<(String, Stats)> = patterns.into_iter().collect();
        for (_, s) in &items {
            total.merge(s, top);
        }
        let mut rows: Vec<PatternReport> = items
            .iter()
            .map(|(p, s)| row(p.clone(), s, total.keys, total.memory))
            .collect();
        rows.sort_by(|a, b| {
            b.memory
                .total
                .cmp(&a.memory.total)
                .then_with(|| a.pattern.cmp(&b.pattern))
        });
        let secs = elapsed_ms as f64 / 1000.0;
        Report {
            scope,
            complete,
            elapsed_ms,
            keys_per_sec: if secs > 0.0 {
                total.keys as f64 / secs
            } else {
                0.0
            },
            total: row("(total)".into(), &total, total.keys, total.memory),
            patterns: rows,
            patterns_truncated: flags.0,
            generaliser_exhausted: flags.1,
        }
    }

    /// One report for an analysis that ran as parts over disjoint key sets (the slot ranges
    /// of a [shared job](crate::migrate::shared)): rows of the same pattern add up (the `top`
    /// biggest keys kept), shares are of the merged totals, the flags hold if any part's do,
    /// and it is complete only if every part is (and there is one). `elapsed_ms` is the
    /// whole run's wall time (the parts overlap), which the rate is of.
    pub fn merged(parts: &[Report], top: usize, elapsed_ms: u64) -> Report {
        let mut by_pattern: BTreeMap<String, Stats> = BTreeMap::new();
        for part in parts {
            for row in &part.patterns {
                by_pattern
                    .entry(row.pattern.clone())
                    .or_default()
                    .merge(&row.stats(), top);
            }
        }
        let scope = parts.first().map_or_else(
            || Scope {
                kind: String::new(),
                masters: 0,
                match_pattern: None,
                key_type: None,
                samples: None,
                key_display: String::new(),
            },
            |p| p.scope.clone(),
        );
        Report::build(
            scope,
            by_pattern,
            top,
            !parts.is_empty() && parts.iter().all(|p| p.complete),
            elapsed_ms,
            (
                parts.iter().any(|p| p.patterns_truncated),
                parts.iter().any(|p| p.generaliser_exhausted),
            ),
        )
    }

    /// The row of `pattern`, if present.
    pub fn pattern(&self, pattern: &str) -> Option<&PatternReport> {
        self.patterns.iter().find(|p| p.pattern == pattern)
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Reads a report back from [`Report::to_json`]'s output.
    pub fn from_json(text: &str) -> Result<Report, AnalyzerError> {
        serde_json::from_str(text).map_err(|e| AnalyzerError::Report {
            reason: e.to_string(),
        })
    }

    /// One CSV row per pattern plus a `(total)` row, with a header.
    pub fn to_csv(&self) -> Result<String, AnalyzerError> {
        let err = |e: csv::Error| AnalyzerError::Report {
            reason: e.to_string(),
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = [
            "pattern",
            "keys",
            "key_share",
            "memory_total",
            "memory_mean",
            "memory_max",
            "memory_share",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        header.extend(TYPES.iter().map(|t| format!("type_{t}")));
        header.extend(TTL_BUCKETS.iter().map(|t| format!("ttl_{t}")));
        header.push("top_keys".into());
        w.write_record(&header).map_err(err)?;
        for r in self.patterns.iter().chain(std::iter::once(&self.total)) {
            let mut rec = vec![
                r.pattern.clone(),
                r.keys.to_string(),
                format!("{:.6}", r.key_share),
                r.memory.total.to_string(),
                format!("{:.1}", r.memory.mean),
                r.memory.max.to_string(),
                format!("{:.6}", r.memory_share),
            ];
            rec.extend(
                TYPES
                    .iter()
                    .map(|t| r.types.get(*t).copied().unwrap_or(0).to_string()),
            );
            rec.extend(r.ttl.as_array().iter().map(|n| n.to_string()));
            rec.push(
                r.top_keys
                    .iter()
                    .map(|t| format!("{}={}", t.key, t.memory))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            w.write_record(&rec).map_err(err)?;
        }
        let bytes = w.into_inner().map_err(|e| AnalyzerError::Report {
            reason: e.to_string(),
        })?;
        String::from_utf8(bytes).map_err(|e| AnalyzerError::Report {
            reason: e.to_string(),
        })
    }

    /// A text table for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} keys, {} in {} pattern(s) on {} master(s) ({}){}",
            self.total.keys,
            human(self.total.memory.total),
            self.patterns.len(),
            self.scope.masters,
            self.scope.kind,
            if self.complete {
                ""
            } else {
                " — INCOMPLETE (interrupted)"
            }
        );
        let width = self
            .patterns
            .iter()
            .map(|p| p.pattern.chars().count())
            .max()
            .unwrap_or(7)
            .clamp(7, 60);
        let _ = writeln!(
            out,
            "{:<width$}  {:>10} {:>6}  {:>10} {:>6} {:>9} {:>9}  {:<24} ttl none/<1m/<1h/<1d/<1w/longer",
            "pattern", "keys", "keys%", "memory", "mem%", "mean", "max", "types"
        );
        for r in self.patterns.iter().chain(std::iter::once(&self.total)) {
            let types = r
                .types
                .iter()
                .map(|(t, n)| format!("{t}:{n}"))
                .collect::<Vec<_>>()
                .join(",");
            let ttl = r
                .ttl
                .as_array()
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join("/");
            let _ = writeln!(
                out,
                "{:<width$}  {:>10} {:>5.1}%  {:>10} {:>5.1}% {:>9} {:>9}  {:<24} {}",
                truncate(&r.pattern, width),
                r.keys,
                r.key_share * 100.0,
                human(r.memory.total),
                r.memory_share * 100.0,
                human(r.memory.mean.round() as u64),
                human(r.memory.max),
                types,
                ttl
            );
        }
        let biggest: Vec<String> = self
            .total
            .top_keys
            .iter()
            .map(|t| format!("{} ({})", t.key, human(t.memory)))
            .collect();
        if !biggest.is_empty() {
            let _ = writeln!(out, "biggest keys: {}", biggest.join(", "));
        }
        if self.patterns_truncated {
            let _ = writeln!(
                out,
                "note: pattern limit reached; the smallest are under <other>"
            );
        }
        if self.generaliser_exhausted {
            let _ = writeln!(
                out,
                "note: generaliser budget exhausted; some patterns are coarser"
            );
        }
        out
    }

    /// A self-contained HTML page (no script, no external resource) with a bar chart of memory
    /// by pattern, the TTL distribution and the full table.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>slotshift keyspace report</title>\n<style>\nbody{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\ntable{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}\ntd:first-child,th:first-child{text-align:left;font-family:monospace}\n.bar{fill:#3b7dd8}.l{font:12px monospace}\n</style></head><body>\n");
        let _ = writeln!(
            h,
            "<h1>Keyspace report</h1><p>{} keys, {} in {} patterns on {} master(s) ({}){}.</p>",
            self.total.keys,
            human(self.total.memory.total),
            self.patterns.len(),
            self.scope.masters,
            esc(&self.scope.kind),
            if self.complete {
                ""
            } else {
                " — <b>incomplete</b>"
            }
        );
        // Memory by pattern.
        let shown: Vec<&PatternReport> = self.patterns.iter().take(25).collect();
        let max = shown
            .iter()
            .map(|p| p.memory.total)
            .max()
            .unwrap_or(1)
            .max(1);
        let _ = writeln!(
            h,
            "<h2>Memory by pattern</h2>\n<svg role=\"img\" aria-label=\"memory by pattern\" width=\"900\" height=\"{}\">",
            shown.len() * 22 + 10
        );
        for (i, p) in shown.iter().enumerate() {
            let y = i * 22 + 5;
            let w = (p.memory.total as f64 / max as f64 * 420.0).max(1.0);
            let _ = writeln!(
                h,
                "<text class=\"l\" x=\"0\" y=\"{}\">{}</text><rect class=\"bar\" x=\"340\" y=\"{}\" width=\"{:.1}\" height=\"16\"/><text class=\"l\" x=\"{:.1}\" y=\"{}\">{} ({:.1}%)</text>",
                y + 13,
                esc(&truncate(&p.pattern, 44)),
                y,
                w,
                345.0 + w,
                y + 13,
                human(p.memory.total),
                p.memory_share * 100.0
            );
        }
        h.push_str("</svg>\n");
        // TTL distribution.
        let ttl = self.total.ttl.as_array();
        let all: u64 = ttl.iter().sum::<u64>().max(1);
        let colours = [
            "#888", "#d9534f", "#f0ad4e", "#5bc0de", "#5cb85c", "#3b7dd8",
        ];
        let labels = [
            "no TTL", "< 1 min", "< 1 hour", "< 1 day", "< 1 week", "longer",
        ];
        h.push_str("<h2>TTL distribution</h2>\n<svg role=\"img\" aria-label=\"TTL distribution\" width=\"900\" height=\"70\">");
        let mut x = 0.0;
        for (i, n) in ttl.iter().enumerate() {
            let w = *n as f64 / all as f64 * 880.0;
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"0\" width=\"{w:.1}\" height=\"24\" fill=\"{}\"><title>{}: {}</title></rect>",
                colours[i], labels[i], n
            );
            x += w;
        }
        for (i, n) in ttl.iter().enumerate() {
            let _ = write!(
                h,
                "<rect x=\"{}\" y=\"40\" width=\"12\" height=\"12\" fill=\"{}\"/><text class=\"l\" x=\"{}\" y=\"51\">{} {}</text>",
                i * 145,
                colours[i],
                i * 145 + 16,
                labels[i],
                n
            );
        }
        h.push_str("</svg>\n<h2>Patterns</h2>\n<table><tr><th>pattern</th><th>keys</th><th>keys %</th><th>memory</th><th>memory %</th><th>mean</th><th>max</th><th>types</th><th>TTL none/&lt;1m/&lt;1h/&lt;1d/&lt;1w/longer</th><th>biggest keys</th></tr>\n");
        for r in self.patterns.iter().chain(std::iter::once(&self.total)) {
            let types = r
                .types
                .iter()
                .map(|(t, n)| format!("{t}:{n}"))
                .collect::<Vec<_>>()
                .join(" ");
            let ttl = r
                .ttl
                .as_array()
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join("/");
            let top = r
                .top_keys
                .iter()
                .take(3)
                .map(|t| format!("{} {}", esc(&t.key), human(t.memory)))
                .collect::<Vec<_>>()
                .join("<br>");
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.pattern),
                r.keys,
                r.key_share * 100.0,
                human(r.memory.total),
                r.memory_share * 100.0,
                human(r.memory.mean.round() as u64),
                human(r.memory.max),
                types,
                ttl,
                top
            );
        }
        h.push_str("</table>\n</body></html>\n");
        h
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Bytes in B, KiB, MiB, GiB.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut a = Stats::default();
        a.add(100, 0, 0);
        a.add(300, 4, 2);
        a.offer_top(
            TopKey {
                memory: 300,
                key: "#00ff".into(),
            },
            3,
        );
        let mut b = Stats::default();
        b.add(50, 1, 5);
        let scope = Scope {
            kind: "standalone".into(),
            masters: 1,
            match_pattern: None,
            key_type: None,
            samples: None,
            key_display: "keyed-digest".into(),
        };
        Report::build(
            scope,
            vec![("user:<num>".to_string(), a), ("q:<*>".to_string(), b)],
            3,
            true,
            1000,
            (false, false),
        )
    }

    #[test]
    fn totals_add_up_and_formats_render() {
        let r = sample();
        assert_eq!(r.total.keys, 3);
        assert_eq!(r.total.memory.total, 450);
        assert_eq!(r.patterns[0].pattern, "user:<num>");
        assert!((r.patterns.iter().map(|p| p.memory_share).sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(Report::from_json(&r.to_json()).unwrap(), r);
        let csv = r.to_csv().unwrap();
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.lines().nth(1).unwrap().starts_with("user:<num>,2,"));
        let html = r.to_html();
        assert!(html.contains("user:&lt;num&gt;") && html.contains("<svg"));
        assert!(!html.contains("<script"));
        let text = r.to_text();
        assert!(text.contains("user:<num>") && text.contains("(total)"));
    }
}
