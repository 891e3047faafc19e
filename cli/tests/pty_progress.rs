//! `slotshift migrate` under a pseudo-terminal, as an operator runs it: the bar redraws at least
//! once a second, Ctrl-C typed into the terminal at about half way stops it (exit 130) and it
//! prints the `--resume` command; that command finishes the job with a final diff of 0
//! differences and copies no key the first run had copied.
//!
//! 60,000 keys in `make test`; `make pty-million` runs the same test with 1,000,000
//! (`SLOTSHIFT_PTY_KEYS`). A debug build copies about 6,600 keys/s and diffs about 25,000
//! keys/s on 2 cores, so a million keys take about four minutes; 60,000 keep the test near
//! 25 s. The terminal is util-linux `script`, whose stdin carries the Ctrl-C byte to the
//! terminal's line discipline, which sends SIGINT to the foreground process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slotshift::testing::{Cluster, Standalone};

/// Keys in the source: `SLOTSHIFT_PTY_KEYS`, 60,000 when unset.
fn keys() -> u64 {
    match std::env::var("SLOTSHIFT_PTY_KEYS") {
        Ok(v) => {
            v.parse().ok().filter(|&n| n >= 1_000).unwrap_or_else(|| {
                panic!("SLOTSHIFT_PTY_KEYS={v:?}: a whole number of at least 1000")
            })
        }
        Err(_) => 60_000,
    }
}

/// The terminal's text without escape sequences, split into what each redraw printed.
fn renders(raw: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            plain.push('\n');
        } else {
            plain.push(if c == '\r' { '\n' } else { c });
        }
    }
    plain
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("keys/s"))
        .map(str::to_owned)
        .collect()
}

/// `pos/len keys` of a bar render.
fn position(render: &str) -> Option<(u64, u64)> {
    let word = render
        .split_whitespace()
        .find(|w| w.contains('/') && w.starts_with(|c: char| c.is_ascii_digit()))?;
    let (pos, len) = word.split_once('/')?;
    Some((pos.parse().ok()?, len.parse().ok()?))
}

fn load(url: &str, keys: u64) {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    for chunk in 0..keys.div_ceil(10_000) {
        let mut pipe = redis::pipe();
        for i in chunk * 10_000..((chunk + 1) * 10_000).min(keys) {
            pipe.cmd("SET")
                .arg(format!("pty:{i}"))
                .arg(format!("value-{i}"))
                .ignore();
        }
        let () = pipe.query(&mut con).unwrap();
    }
}

#[test]
fn migrate_under_a_terminal_redraws_stops_on_ctrl_c_and_resumes() {
    let source = Standalone::start().unwrap();
    let destination = Cluster::start(3, 0).unwrap();
    let keys = keys();
    load(&source.url(), keys);
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("cp.json");
    let bin = env!("CARGO_BIN_EXE_slotshift");
    let args = [
        "migrate".to_owned(),
        "--source".into(),
        source.url(),
        "--destination".into(),
        destination.url(),
        "--checkpoint".into(),
        checkpoint.display().to_string(),
        "--json".into(),
    ];
    let line = format!("stty cols 200 rows 40; exec {bin} {}", args.join(" "));
    let started = Instant::now();
    let mut term = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("util-linux script runs");
    let seen = Arc::new(Mutex::new(String::new()));
    let mut out = term.stdout.take().unwrap();
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let mut stdin = term.stdin.take().unwrap();
    // Half the copy at the slowest rate seen (about 6,600 keys/s, debug build), with room.
    let deadline = Instant::now() + Duration::from_secs(120 + keys / 3_000);
    let mut interrupted_at = None;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let text = seen.lock().unwrap().clone();
        let last = renders(&text)
            .iter()
            .rev()
            .filter(|r| r.starts_with("copy"))
            .find_map(|r| position(r));
        if let Some((pos, len)) = last {
            if len > 0 && pos * 2 >= len {
                stdin.write_all(b"\x03").unwrap();
                stdin.flush().unwrap();
                interrupted_at = Some(pos);
                break;
            }
        }
        if term.try_wait().unwrap().is_some() {
            break;
        }
    }
    let interrupted_at = interrupted_at.expect("the bar reached 50 %");
    let status = term.wait().unwrap();
    let ran = started.elapsed();
    drop(stdin);
    reader.join().unwrap();
    let text = seen.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{text}");

    // What the operator saw: a redraw at least once a second, averaged over the run.
    let distinct = renders(&text).into_iter().collect::<BTreeSet<_>>().len();
    let seconds = ran.as_secs_f64().floor();
    eprintln!("{distinct} distinct bar renders in {ran:?}");
    assert!(
        distinct as f64 >= seconds - 1.0,
        "{distinct} distinct renders in {ran:?}: {text}"
    );

    // The command to continue with.
    let resume = text
        .lines()
        .find_map(|l| {
            l.split_once("continue with: ")
                .map(|(_, c)| c.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no resume command: {text}"));
    let words = shlex::split(&resume).unwrap();
    assert!(words.contains(&"--resume".to_owned()), "{resume}");
    assert_eq!(words[0], bin, "{resume}");

    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    let counter = |n: &str| saved["counters"][n].as_u64().unwrap_or(0);
    let copied_before = counter("restored") + counter("rewritten");
    assert!(
        copied_before >= interrupted_at / 2 && copied_before < keys,
        "stopped near half way: {copied_before} of {keys} copied ({interrupted_at} seen)"
    );

    let out = Command::new(&words[0])
        .args(&words[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let copied = report["restored"].as_u64().unwrap() + report["rewritten"].as_u64().unwrap();
    // The report counts from the checkpoint on: what the resumed run copied is the rest, no
    // key of the first run's again.
    assert_eq!(
        copied - copied_before,
        keys - copied_before,
        "the resumed run copied only what the first had not: {stdout}"
    );
    let fd = &report["final_diff"];
    assert_eq!(fd["source_keys"].as_u64(), Some(keys), "{stdout}");
    eprintln!(
        "{keys} keys: interrupted at {interrupted_at} ({copied_before} copied), the resumed run \
         copied {}, final diff 0 differences",
        copied - copied_before
    );
    let kinds = fd["differences"].as_object().unwrap();
    assert_eq!(kinds.len(), 5, "{stdout}");
    for (kind, n) in kinds {
        assert_eq!(n.as_u64(), Some(0), "{kind}: {stdout}");
    }
}
