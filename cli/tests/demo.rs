//! `slotshift demo --short`: the main job end to end on real servers. It must finish with 0
//! keys lost and 0 errors, and its text and HTML reports must say so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::process::Command;

#[test]
fn short_demo_loses_no_key_and_reports_it() {
    let dir = std::env::temp_dir().join(format!("slotshift-demo-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_slotshift"))
        .args(["demo", "--short", "--report-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let txt = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(txt.contains("\nerrors: 0\n"), "{txt}");
    assert!(txt.contains("\nkeys lost: 0 (of "), "{txt}");
    assert!(
        txt.contains("final diff old vs new: 0 differences"),
        "{txt}"
    );
    // Every phase served operations.
    for phase in [
        "1 old only",
        "2 dual-write",
        "3 backfill",
        "4 diff = 0",
        "5 new as default",
        "6 new only",
    ] {
        let line = txt
            .lines()
            .find(|l| l.trim_start().starts_with(phase))
            .unwrap();
        let ops: u64 = line
            .split_whitespace()
            .rev()
            .nth(4)
            .unwrap()
            .parse()
            .unwrap();
        assert!(ops > 0, "{line}");
    }
    // Slots really moved under the workload.
    let moved = txt.lines().find(|l| l.starts_with("slots moved")).unwrap();
    assert!(!moved.ends_with(": 0"), "{moved}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("0 keys lost, 0 errors"), "{html}");
    std::fs::remove_dir_all(&dir).unwrap();
}
