//! The analyzer's sections of an HTML report: memory and keys by pattern, the type and TTL mix
//! per pattern, the load per master, the biggest keys and the table. `slotshift analyze --html`
//! is these sections alone; the demo's report shows them for the new cluster.
//!
//! Only what the core's [`Report`] holds is written: patterns (masked by construction) and the
//! biggest keys as the report shows them (keyed digests unless `--show-keys`). Node addresses
//! come from the topology, never from the URL the user typed (it may carry a password).

use slotshift::analyzer::{human, PatternReport, Report, TYPES};
use slotshift::command::Cmd;
use slotshift::store::Store;

use super::chart::{bars, stacked, Bar};
use super::Page;

/// The TTL buckets' names as the page shows them (the order of [`slotshift::analyzer::TTL_BUCKETS`]).
const TTL_LABELS: [&str; 6] = [
    "no TTL", "< 1 min", "< 1 hour", "< 1 day", "< 1 week", "longer",
];

/// A master whose keys exceed the masters' mean by this factor is drawn as hot.
const HOT_FACTOR: f64 = 1.5;

/// What one master holds, asked live.
pub struct MasterLoad {
    /// `host:port`.
    pub node: String,
    /// `DBSIZE`.
    pub keys: u64,
    /// `used_memory` of `INFO memory`.
    pub memory: u64,
    /// Hash slots it owns (cluster only).
    pub slots: Option<u32>,
}

/// Every master's keys, memory and slots (one `DBSIZE` and one `INFO memory` each).
pub fn master_loads(store: &Store) -> Result<Vec<MasterLoad>, slotshift::Error> {
    let topology = store.topology()?;
    let mut loads = Vec::new();
    for addr in store.masters()? {
        let keys = store
            .call_on(&addr, &Cmd::from_args(["DBSIZE"]))?
            .as_int()
            .unwrap_or(0);
        let info = store.call_on(&addr, &Cmd::from_args(["INFO", "memory"]))?;
        let info = info
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let memory = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let slots = topology.as_ref().and_then(|t| {
            t.shards().iter().find(|s| s.master == addr).map(|s| {
                s.ranges
                    .iter()
                    .map(|(a, b)| u32::from(b - a) + 1)
                    .sum::<u32>()
            })
        });
        loads.push(MasterLoad {
            node: addr.to_string(),
            keys: u64::try_from(keys).unwrap_or(0),
            memory,
            slots,
        });
    }
    Ok(loads)
}

/// The whole `slotshift analyze --html` page.
pub fn page(report: &Report, masters: &[MasterLoad]) -> String {
    let mut page = Page::new("slotshift keyspace report");
    page.facts(
        "summary",
        &[
            ("keys", report.total.keys.to_string(), ""),
            ("memory", human(report.total.memory.total), ""),
            ("patterns", report.patterns.len().to_string(), ""),
            (
                "masters",
                format!("{} ({})", report.scope.masters, report.scope.kind),
                "",
            ),
            (
                "scan",
                if report.complete {
                    "complete".into()
                } else {
                    "INCOMPLETE (interrupted)".into()
                },
                if report.complete { "ok" } else { "bad" },
            ),
        ],
    );
    sections(&mut page, report, masters);
    page.finish()
}

/// The analyzer's charts and tables, appended to `page`.
pub fn sections(page: &mut Page, report: &Report, masters: &[MasterLoad]) {
    page.para(
        "note",
        // The text report's own summary line, so the two say the same.
        &format!(
            "{}; sample keys shown as {}.",
            report.to_text().lines().next().unwrap_or_default(),
            report.scope.key_display
        ),
    );
    let per_pattern = |value: fn(&PatternReport) -> (f64, String)| -> Vec<Bar> {
        report
            .patterns
            .iter()
            .map(|p| {
                let (value, text) = value(p);
                Bar {
                    label: p.pattern.clone(),
                    value,
                    text,
                    hot: false,
                }
            })
            .collect()
    };
    page.heading("Memory by pattern");
    page.chart(bars(
        "memory-by-pattern",
        "Memory by pattern (MEMORY USAGE), largest first",
        &per_pattern(|p| {
            (
                p.memory.total as f64,
                format!("{} ({:.1}%)", human(p.memory.total), p.memory_share * 100.0),
            )
        }),
    ));
    page.heading("Keys by pattern");
    page.chart(bars(
        "keys-by-pattern",
        "Keys by pattern, most first",
        &per_pattern(|p| {
            (
                p.keys as f64,
                format!("{} ({:.1}%)", p.keys, p.key_share * 100.0),
            )
        }),
    ));
    page.heading("Type and TTL mix per pattern");
    let rows = |counts: fn(&PatternReport) -> Vec<u64>| -> Vec<(String, Vec<u64>)> {
        report
            .patterns
            .iter()
            .map(|p| (p.pattern.clone(), counts(p)))
            .collect()
    };
    page.chart(stacked(
        "types-by-pattern",
        "Types per pattern (share of its keys)",
        &TYPES,
        &rows(|p| {
            TYPES
                .iter()
                .map(|t| p.types.get(*t).copied().unwrap_or(0))
                .collect()
        }),
    ));
    page.chart(stacked(
        "ttl-by-pattern",
        "Time to live per pattern (share of its keys)",
        &TTL_LABELS,
        &rows(|p| p.ttl.as_array().to_vec()),
    ));
    if !masters.is_empty() {
        master_sections(page, masters);
    }
    page.heading("Biggest keys");
    page.table(
        "biggest-keys",
        &["key (as the report shows it)", "memory"],
        &report
            .total
            .top_keys
            .iter()
            .map(|t| vec![t.key.clone(), human(t.memory)])
            .collect::<Vec<_>>(),
    );
    page.heading("Patterns");
    let mut header = vec![
        "pattern", "keys", "keys %", "memory", "memory %", "mean", "max",
    ];
    header.extend(TTL_LABELS);
    header.push("biggest keys");
    let table: Vec<Vec<String>> = report
        .patterns
        .iter()
        .chain(std::iter::once(&report.total))
        .map(|r| {
            let mut row = vec![
                r.pattern.clone(),
                r.keys.to_string(),
                format!("{:.1}", r.key_share * 100.0),
                human(r.memory.total),
                format!("{:.1}", r.memory_share * 100.0),
                human(r.memory.mean.round() as u64),
                human(r.memory.max),
            ];
            row.extend(r.ttl.as_array().iter().map(u64::to_string));
            row.push(
                r.top_keys
                    .iter()
                    .take(3)
                    .map(|t| format!("{} {}", t.key, human(t.memory)))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            row
        })
        .collect();
    page.table("patterns", &header, &table);
}

/// Keys and memory per master, a hot one (keys over 1.5 × the mean) drawn apart.
fn master_sections(page: &mut Page, masters: &[MasterLoad]) {
    let mean = masters.iter().map(|m| m.keys as f64).sum::<f64>() / masters.len() as f64;
    let hot = |m: &MasterLoad| masters.len() > 1 && m.keys as f64 > mean * HOT_FACTOR;
    page.heading("Per master");
    if masters.iter().any(hot) {
        page.para(
            "bad",
            &format!(
                "hot shard: {} hold(s) more than {HOT_FACTOR} × the mean of {mean:.0} keys",
                masters
                    .iter()
                    .filter(|m| hot(m))
                    .map(|m| m.node.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let per_master = |value: fn(&MasterLoad) -> (f64, String)| -> Vec<Bar> {
        masters
            .iter()
            .map(|m| {
                let (value, text) = value(m);
                Bar {
                    label: m.node.clone(),
                    value,
                    text,
                    hot: hot(m),
                }
            })
            .collect()
    };
    page.chart(bars(
        "keys-by-master",
        "Keys per master (DBSIZE)",
        &per_master(|m| (m.keys as f64, format!("{} keys", m.keys))),
    ));
    page.chart(bars(
        "memory-by-master",
        "Memory per master (used_memory)",
        &per_master(|m| (m.memory as f64, human(m.memory))),
    ));
    page.table(
        "masters",
        &["master", "keys", "used memory", "slots"],
        &masters
            .iter()
            .map(|m| {
                vec![
                    m.node.clone(),
                    m.keys.to_string(),
                    human(m.memory),
                    m.slots.map(|s| s.to_string()).unwrap_or_else(|| "—".into()),
                ]
            })
            .collect::<Vec<_>>(),
    );
}
