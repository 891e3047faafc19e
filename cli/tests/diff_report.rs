//! `diff --max-report N` / `--summary`: the text report lists at most N differences (the counts
//! stay complete), `--json` keeps every one; against real servers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::process::Command;

use slotshift::command::Cmd;
use slotshift::store::Store;
use slotshift::testing::Standalone;

fn diff(src: &str, dst: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slotshift"))
        .args(["diff", "--quiet", "--source", src, "--destination", dst])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn listed(text: &str) -> usize {
    text.lines().filter(|l| l.contains("report:")).count()
}

#[test]
fn the_text_report_lists_at_most_max_report_differences() {
    let source = Standalone::start().unwrap();
    let destination = Standalone::start().unwrap();
    let store = Store::open(&source.url()).unwrap();
    for i in 0..5 {
        store
            .call(&Cmd::from_args(["SET", &format!("report:{i}"), "v"]))
            .unwrap();
    }
    let (src, dst) = (source.url(), destination.url());

    let (code, text) = diff(&src, &dst, &["--max-report", "2"]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(listed(&text), 2, "{text}");
    assert!(text.contains("… and 3 more"), "{text}");
    assert!(
        text.contains("missing  5"),
        "the counts stay complete: {text}"
    );

    let (_, text) = diff(&src, &dst, &["--summary"]);
    assert_eq!(listed(&text), 0, "{text}");
    assert!(text.contains("… and 5 more"), "{text}");

    let (_, text) = diff(&src, &dst, &[]);
    assert_eq!(listed(&text), 5, "the default (100) lists all five: {text}");
    assert!(!text.contains("more"), "{text}");

    let (_, json) = diff(&src, &dst, &["--json", "--max-report", "1"]);
    assert_eq!(json.matches("report:").count(), 5, "{json}");
}
