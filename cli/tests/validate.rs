//! `slotshift validate` on a real `MONITOR` capture: a redis-server started by the suite,
//! `redis-cli monitor` recording while a client sends single-slot, cross-slot, hash-tagged,
//! movable-key and transaction commands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slotshift::testing::Standalone;

#[test]
fn monitor_capture_is_reported_by_pattern() {
    let server = Standalone::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("monitor.txt");
    let mut monitor = Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "monitor"])
        .stdout(std::fs::File::create(&capture).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-cli must be installed (scripts/setup.sh)");
    // Wait until MONITOR is on (its first line is OK).
    let start = Instant::now();
    while std::fs::read_to_string(&capture).unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "MONITOR did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut con = server.client().get_connection().unwrap();
    let q = |con: &mut redis::Connection, args: &[&str]| {
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        let _: redis::Value = c.query(con).unwrap();
    };
    for i in 0..5 {
        q(
            &mut con,
            &["MGET", &format!("user:{i}"), &format!("user:{}", i + 100)],
        );
        q(&mut con, &["GET", &format!("user:{i}")]);
        q(
            &mut con,
            &[
                "MGET",
                &format!("{{user:{i}}}:a"),
                &format!("{{user:{i}}}:b"),
            ],
        );
    }
    q(&mut con, &["EVAL", "return 1", "2", "cart:1", "order:2"]);
    q(&mut con, &["SET", "with \"quote\"\n", "1"]);
    let mut tx = redis::pipe();
    tx.atomic()
        .cmd("SET")
        .arg("a")
        .arg("1")
        .cmd("SET")
        .arg("b")
        .arg("2");
    let _: redis::Value = tx.query(&mut con).unwrap();
    q(&mut con, &["PING"]);
    // Let MONITOR write the last line, then stop it.
    let start = Instant::now();
    while !std::fs::read_to_string(&capture)
        .unwrap()
        .contains("\"PING\"")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "PING never reached MONITOR"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    monitor.kill().unwrap();
    monitor.wait().unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_slotshift"))
        .args(["validate", "--format", "json", "--file"])
        .arg(&capture)
        .output()
        .unwrap();
    // Cross-slot commands found: exit 1 (docs/cli.md).
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["unreadable_lines"], 0);
    assert_eq!(report["cross_slot_commands"], 7);
    let groups: Vec<(String, String, u64)> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["command"].as_str().unwrap().to_owned(),
                g["key_pattern"].as_str().unwrap().to_owned(),
                g["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(groups.len(), 3, "{groups:?}");
    assert_eq!(groups[0].0, "MGET");
    assert_eq!(groups[0].2, 5);
    assert!(
        !groups[0].1.contains("100"),
        "ids are masked: {}",
        groups[0].1
    );
    assert!(groups.iter().any(|g| g.0 == "EVAL" && g.2 == 1));
    assert!(groups
        .iter()
        .any(|g| g.0 == "MULTI/EXEC" && g.2 == 1 && g.1 == "a, b"));

    // Text output of the same capture (read from stdin) says the same.
    let text = Command::new(env!("CARGO_BIN_EXE_slotshift"))
        .arg("validate")
        .stdin(std::fs::File::open(&capture).unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with("7 cross-slot command(s) in 3 groups"),
        "{text}"
    );
}
