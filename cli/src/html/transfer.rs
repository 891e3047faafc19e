//! The pages of `slotshift migrate --html` and `slotshift diff --html`: what was copied (also
//! by Redis type, with the bytes moved), the differences by kind, the re-check rounds and the
//! final diff, drawn with [`chart`]. Keys are listed as the text report lists them (escaped
//! bytes, at most `--max-report`, none with `--summary`).

use slotshift::analyzer::human;
use slotshift::migrate::{DiffKind, DiffReport, MigrateReport};

use super::chart::{self, Bar};
use super::Page;

/// One bar per `(label, count)`, its count as the text.
fn counts(items: &[(&str, u64)]) -> Vec<Bar> {
    items
        .iter()
        .map(|(label, n)| Bar {
            label: (*label).to_owned(),
            value: *n as f64,
            text: n.to_string(),
            hot: false,
        })
        .collect()
}

/// The sections of one diff: the headline, differences found by kind, the re-check rounds,
/// what remains by kind and the listed keys. `id` prefixes the element ids (`diff`,
/// `final-diff`).
fn diff_sections(page: &mut Page, id: &str, d: &DiffReport, listed: usize) {
    let remain = d.total_differences();
    page.facts(
        &format!("{id}-facts"),
        &[
            ("source keys", d.source_keys.to_string(), ""),
            ("destination keys", d.destination_keys.to_string(), ""),
            (
                "slots checked key by key",
                d.reverse_exact_slots.to_string(),
                "",
            ),
            ("found in the passes", d.found.to_string(), ""),
            ("converged in re-checks", d.converged.to_string(), ""),
            ("re-check rounds", d.rounds.to_string(), ""),
            (
                "differences remain",
                remain.to_string(),
                if remain == 0 { "ok" } else { "bad" },
            ),
        ],
    );
    if !d.complete {
        page.para("bad", "Interrupted: not every key was looked at.");
    }
    page.chart(chart::bars(
        &format!("{id}-rounds"),
        "Re-check rounds: differences found, converged, remaining",
        &counts(&[
            ("found in the passes", d.found),
            ("converged", d.converged),
            ("remaining", remain),
        ]),
    ));
    let kinds: Vec<(&str, u64)> = DiffKind::ALL
        .iter()
        .map(|k| (k.name(), d.count(*k)))
        .collect();
    page.chart(chart::bars(
        &format!("{id}-kinds"),
        "Remaining differences by kind",
        &counts(&kinds),
    ));
    let rows: Vec<Vec<String>> = d
        .mismatches
        .iter()
        .take(listed)
        .map(|m| vec![m.key.clone(), m.kind.name().to_owned(), m.detail.clone()])
        .collect();
    if !rows.is_empty() {
        page.table(&format!("{id}-keys"), &["key", "kind", "detail"], &rows);
    }
    let more = d.mismatches.len().saturating_sub(listed);
    if more > 0 {
        page.para(
            "note",
            &format!("… and {more} more (all of them: --json, or --mismatches FILE)"),
        );
    }
}

/// The page of `slotshift diff --html`.
pub fn diff_page(d: &DiffReport, listed: usize) -> String {
    let mut page = Page::new(&format!("slotshift diff ({})", d.mode.name()));
    page.para(
        "note",
        &format!(
            "{:.1} s, {:.0} keys/s",
            d.elapsed_ms as f64 / 1000.0,
            d.keys_per_second()
        ),
    );
    diff_sections(&mut page, "diff", d, listed);
    page.finish()
}

/// The page of `slotshift migrate --html`.
pub fn migrate_page(m: &MigrateReport, listed: usize) -> String {
    let mut page = Page::new(if m.dry_run {
        "slotshift migrate (dry run)"
    } else {
        "slotshift migrate"
    });
    page.para(
        "note",
        &format!(
            "{} keys scanned in {:.1} s ({:.0} keys/s), method {}",
            m.keys_scanned,
            m.elapsed_ms as f64 / 1000.0,
            m.keys_per_second(),
            m.method
        ),
    );
    if !m.complete {
        page.para(
            "bad",
            "Interrupted: continue with --resume and the same --checkpoint.",
        );
    }
    page.heading("Copy");
    page.facts(
        "copy-facts",
        &[
            ("copied", m.copied().to_string(), ""),
            ("equal", m.equal.to_string(), ""),
            ("re-copied", m.recopied.to_string(), ""),
            ("re-check rounds", m.rounds.to_string(), ""),
            (
                "left after rounds",
                m.left_after_rounds.to_string(),
                if m.left_after_rounds == 0 {
                    "ok"
                } else {
                    "bad"
                },
            ),
        ],
    );
    page.chart(chart::bars(
        "copy",
        "What the copy pass did with each key",
        &counts(&[
            ("restored (DUMP/RESTORE)", m.restored),
            ("rewritten type by type", m.rewritten),
            ("equal, not written", m.equal),
            ("kept (--missing-only)", m.kept),
            ("deleted (--delete-extra)", m.deleted),
        ]),
    ));
    if !m.copied_by_type.is_empty() {
        let by_type: Vec<(&str, u64)> = m
            .copied_by_type
            .iter()
            .map(|(name, t)| (name.as_str(), t.keys))
            .collect();
        page.chart(chart::bars(
            "copy-types",
            "Keys written, by Redis type",
            &counts(&by_type),
        ));
        let rows: Vec<Vec<String>> = m
            .copied_by_type
            .iter()
            .map(|(name, t)| vec![name.clone(), t.keys.to_string(), human(t.bytes)])
            .collect();
        page.table("copy-types-table", &["type", "keys", "DUMP bytes"], &rows);
    }
    page.chart(chart::bars(
        "rounds",
        "Re-check rounds: keys copied again, keys still different",
        &counts(&[
            ("re-copied", m.recopied),
            ("left after the rounds", m.left_after_rounds),
        ]),
    ));
    page.heading("Final diff");
    match &m.final_diff {
        Some(d) => diff_sections(&mut page, "final-diff", d, listed),
        None => page.para("note", "No final diff (--no-final-diff, or interrupted)."),
    }
    page.finish()
}
