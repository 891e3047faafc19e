//! `diff --html` and `migrate --html`: the page's SVG charts hold the counts the report has
//! (differences by kind, what was copied, the re-check rounds, the final diff), keys are
//! escaped and listed only as the text report lists them; against real servers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use slotshift::command::Cmd;
use slotshift::store::Store;
use slotshift::testing::Standalone;

mod common;

/// The text of the bar labelled `label` in the chart `chart` (`<g … data-label="…">…</g>`).
fn bar(html: &str, chart: &str, label: &str) -> Option<String> {
    let start = html.find(&format!("data-chart=\"{chart}\""))?;
    let svg = &html[start..start + html[start..].find("</svg>")?];
    let g = &svg[svg.find(&format!("data-label=\"{label}\""))?..];
    let g = &g[..g.find("</g>")?];
    // The last text of the group is the value.
    let value = g.rsplit("\">").next()?;
    Some(value.trim_end_matches("</text>").to_owned())
}

fn fact(html: &str, label: &str) -> Option<String> {
    let at = html.find(&format!("data-fact=\"{label}\"><b>"))?;
    let rest = &html[at..];
    let rest = &rest[rest.find("<b>")? + 3..];
    Some(rest[..rest.find("</b>")?].to_owned())
}

#[test]
fn diff_and_migrate_pages_chart_what_the_reports_count() {
    let source = Standalone::start().unwrap();
    let destination = Standalone::start().unwrap();
    let (src, dst) = (
        Store::open(&source.url()).unwrap(),
        Store::open(&destination.url()).unwrap(),
    );
    for i in 0..7 {
        src.call(&Cmd::from_args(["SET", &format!("html:{i}"), "v"]))
            .unwrap();
    }
    src.call(&Cmd::from_args(["SET", "<b>tag&key", "v"]))
        .unwrap();
    src.call(&Cmd::from_args(["HSET", "html:h", "f", "v"]))
        .unwrap();
    src.call(&Cmd::from_args(["ZADD", "html:z", "1", "m"]))
        .unwrap();
    src.call(&Cmd::from_args(["SET", "html:typed", "v"]))
        .unwrap();
    dst.call(&Cmd::from_args(["RPUSH", "html:typed", "v"]))
        .unwrap();
    src.call(&Cmd::from_args(["SET", "html:value", "a"]))
        .unwrap();
    dst.call(&Cmd::from_args(["SET", "html:value", "b"]))
        .unwrap();
    dst.call(&Cmd::from_args(["SET", "html:extra", "v"]))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("diff.html");
    let (s, d, p) = (source.url(), destination.url(), page.display().to_string());
    let ends = [
        "--source",
        s.as_str(),
        "--destination",
        d.as_str(),
        "--quiet",
    ];

    let mut args = vec!["diff", "--html", &p];
    args.extend(ends);
    let (code, out) = common::slotshift(&args, &[]);
    assert_eq!(code, 1, "{out}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        bar(&html, "diff-kinds", "missing").as_deref(),
        Some("10"),
        "{html}"
    );
    assert_eq!(bar(&html, "diff-kinds", "type").as_deref(), Some("1"));
    assert_eq!(bar(&html, "diff-kinds", "value").as_deref(), Some("1"));
    assert_eq!(bar(&html, "diff-kinds", "extra").as_deref(), Some("1"));
    assert_eq!(bar(&html, "diff-kinds", "ttl").as_deref(), Some("0"));
    assert_eq!(
        bar(&html, "diff-rounds", "remaining").as_deref(),
        Some("13")
    );
    assert_eq!(fact(&html, "differences remain").as_deref(), Some("13"));
    // The key listed, escaped: no markup of its own.
    assert!(html.contains("&lt;b&gt;tag&amp;key"), "{html}");
    assert!(!html.contains("<b>tag"), "{html}");

    // --summary: counts only, no key.
    let mut args = vec!["diff", "--summary", "--html", &p];
    args.extend(ends);
    common::slotshift(&args, &[]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("html:") && !html.contains("tag&amp;key"),
        "{html}"
    );
    assert_eq!(bar(&html, "diff-kinds", "missing").as_deref(), Some("10"));

    let mut args = vec!["migrate", "--delete-extra", "--html", &p];
    args.extend(ends);
    let (code, out) = common::slotshift(&args, &[]);
    assert_eq!(code, 0, "{out}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        bar(&html, "copy", "restored (DUMP/RESTORE)").as_deref(),
        Some("12"),
        "{html}"
    );
    // What was written, by Redis type (from the DUMP payloads), and their bytes.
    assert_eq!(bar(&html, "copy-types", "string").as_deref(), Some("10"));
    assert_eq!(bar(&html, "copy-types", "hash").as_deref(), Some("1"));
    assert_eq!(bar(&html, "copy-types", "zset").as_deref(), Some("1"));
    assert_eq!(bar(&html, "copy-types", "list"), None);
    assert!(
        html.contains("<table id=\"copy-types-table\"><tr><th>type</th><th>keys</th><th>DUMP bytes</th></tr>\n<tr><td>hash</td><td>1</td>"),
        "{html}"
    );
    assert_eq!(
        bar(&html, "copy", "deleted (--delete-extra)").as_deref(),
        Some("1")
    );
    assert_eq!(
        bar(&html, "rounds", "left after the rounds").as_deref(),
        Some("0")
    );
    assert_eq!(
        bar(&html, "final-diff-kinds", "missing").as_deref(),
        Some("0")
    );
    assert!(html.contains("data-chart=\"final-diff-rounds\""));
    assert_eq!(fact(&html, "differences remain").as_deref(), Some("0"));
    assert!(html.contains("class=\"fact ok\" data-fact=\"differences remain\""));
}
