//! The exit-code table (`cli/src/exit.rs`, `docs/cli.md`), subcommand by subcommand, against
//! real servers: 0 done and nothing found, 1 something found, 2 usage, 3 the run failed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::io::Write;
use std::process::{Command, Stdio};

use slotshift::testing::Standalone;

/// Runs `slotshift args…` with `stdin`; its exit code and stderr.
fn slotshift(args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slotshift"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A usage error exits before reading its input: a closed pipe is not the test's failure.
    let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    if let Err(e) = written {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {e}"
        );
    }
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().expect("exited, not killed");
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn code(args: &[&str], stdin: &str) -> i32 {
    slotshift(args, stdin).0
}

#[test]
fn validate_exits_1_when_it_finds_cross_slot_commands() {
    let clean = "\"GET\" \"user:1\"\n\"MGET\" \"{u1}:a\" \"{u1}:b\"\n";
    assert_eq!(code(&["validate"], clean), 0);
    let found = "\"MGET\" \"user:1\" \"user:2\"\n";
    assert_eq!(code(&["validate"], found), 1);
    assert_eq!(code(&["validate", "--format", "json"], found), 1);
    assert_eq!(code(&["validate", "--format", "yaml"], found), 2);
    let (c, err) = slotshift(&["validate", "--file", "/nonexistent/capture"], "");
    assert_eq!(c, 3, "{err}");
}

#[test]
fn pipe_exits_1_on_error_replies_and_unreadable_lines() {
    let server = Standalone::start().unwrap();
    let url = server.url();
    assert_eq!(code(&["pipe", "--url", &url], "SET a 1\nINCR a\n"), 0);
    assert_eq!(code(&["pipe", "--url", &url], "SET s x\nINCR s\n"), 1);
    assert_eq!(code(&["pipe", "--url", &url], "SET \"unbalanced 1\n"), 1);
    assert_eq!(code(&["pipe", "--url", &url, "--batch-limit", "0"], ""), 2);
}

#[test]
fn diff_exits_1_on_differences_and_analyze_2_on_bad_options() {
    let a = Standalone::start().unwrap();
    let b = Standalone::start().unwrap();
    let (src, dst) = (a.url(), b.url());
    let diff = ["diff", "--source", &src, "--destination", &dst, "--quiet"];
    assert_eq!(code(&diff, ""), 0);
    assert_eq!(code(&["pipe", "--url", &src], "SET only:here 1\n"), 0);
    assert_eq!(code(&diff, ""), 1);
    assert_eq!(
        code(
            &[
                "migrate",
                "--source",
                &src,
                "--destination",
                &dst,
                "--quiet"
            ],
            ""
        ),
        0
    );
    assert_eq!(code(&diff, ""), 0);

    // Usage: clap's own, a missing endpoint, a bad value the core refuses, an invalid URL.
    assert_eq!(code(&["diff", "--bogus-flag"], ""), 2);
    let (c, err) = slotshift(&["diff", "--destination", &dst], "");
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("--source"), "{err}");
    assert_eq!(code(&["analyze", "--url", &src, "--type", "bogus"], ""), 2);
    assert_eq!(code(&["analyze", "--url", "http://nope"], ""), 2);

    // The run failed: nothing listens there.
    let (c, err) = slotshift(&["analyze", "--url", "redis://127.0.0.1:1"], "");
    assert_eq!(c, 3, "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
}
