//! `--progress json` and the text lines `diff` and `migrate` print when stderr is not a
//! terminal: one record a second on stderr, against real servers (`--rate` stretches the run
//! over a few seconds).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::process::{Command, Stdio};
use std::time::Instant;

use slotshift::testing::Standalone;

const KEYS: u64 = 6_000;

fn load(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("SET").arg(format!("lines:{i}")).arg(i).ignore();
    }
    let () = pipe.query(&mut con).unwrap();
}

/// Runs `slotshift args…` with stderr piped; exit code, stderr, wall seconds.
fn run(args: &[&str]) -> (i32, String, f64) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_slotshift"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed().as_secs_f64(),
    )
}

#[test]
fn json_lines_once_a_second_then_text_lines_when_stderr_is_a_pipe() {
    let source = Standalone::start().unwrap();
    let destination = Standalone::start().unwrap();
    load(&source.url());
    let (src, dst) = (source.url(), destination.url());
    let ends = ["--source", &src, "--destination", &dst, "--rate", "4000"];

    let mut args = vec!["migrate", "--progress", "json"];
    args.extend(ends);
    let (code, err, secs) = run(&args);
    assert_eq!(code, 0, "{err}");
    let records: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(
        records.len() as f64 >= secs.floor() - 1.0 && records.len() >= 2,
        "{} records in {secs:.1} s: {err}",
        records.len()
    );
    for r in &records {
        for field in [
            "stage",
            "keys",
            "keys_per_s",
            "copied",
            "differences",
            "elapsed_s",
        ] {
            assert!(!r[field].is_null(), "{field} missing: {r}");
        }
    }
    let copy: Vec<&serde_json::Value> = records.iter().filter(|r| r["stage"] == "copy").collect();
    assert!(!copy.is_empty(), "{err}");
    assert_eq!(copy[0]["total"].as_u64(), Some(KEYS), "{err}");
    assert!(copy[0]["eta_s"].as_f64().is_some(), "{err}");
    let keys: Vec<u64> = copy.iter().map(|r| r["keys"].as_u64().unwrap()).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
    let elapsed: Vec<f64> = records
        .iter()
        .map(|r| r["elapsed_s"].as_f64().unwrap())
        .collect();
    assert!(elapsed.windows(2).all(|w| w[0] <= w[1]), "{elapsed:?}");
    assert!(elapsed[0] < elapsed[elapsed.len() - 1], "{elapsed:?}");

    // The default on a pipe: plain text lines, no bar.
    let mut args = vec!["diff"];
    args.extend(ends);
    let (code, err, secs) = run(&args);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines.len() as f64 >= secs.floor() - 1.0 && lines.len() >= 2,
        "{} lines in {secs:.1} s: {err}",
        lines.len()
    );
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("slotshift: ") && l.contains("keys/s")),
        "{err}"
    );
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");

    // --quiet: nothing.
    let mut args = vec!["diff", "--quiet"];
    args.extend(ends);
    let (code, err, _) = run(&args);
    assert_eq!((code, err.as_str()), (0, ""));
}
