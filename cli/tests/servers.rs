//! `slotshift servers up`: run the built binary, read its JSON line, use the servers, stop it
//! with a signal, check every server is gone.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Kills the command if a test fails before it stopped it.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn up(args: &[&str]) -> (Guard, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slotshift"))
        .args(["servers", "up"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("slotshift servers up printed nothing");
    let value: serde_json::Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("not one JSON line: {line:?}: {e}"));
    (guard, value)
}

fn ping(url: &str) -> redis::RedisResult<String> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection_with_timeout(Duration::from_secs(2))?;
    redis::cmd("PING").query(&mut con)
}

fn stop(mut guard: Guard, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(guard.0.id()).unwrap());
    kill(pid, signal).unwrap();
    let status = guard.0.wait().unwrap();
    assert!(
        status.success(),
        "slotshift exited with {status} after {signal}"
    );
}

#[test]
fn servers_up_cluster_json_then_sigterm_stops_everything() {
    let (guard, value) = up(&["--cluster", "3x0", "--json"]);
    let object = value.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), vec!["cluster"]);
    let urls: Vec<String> = value["cluster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert_eq!(urls.len(), 3);
    assert_eq!(ping(&urls[0]).unwrap(), "PONG");
    let client = redis::Client::open(urls[0].as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains("cluster_state:ok"), "{info}");
    drop(con);

    stop(guard, Signal::SIGTERM);
    for url in &urls {
        assert!(ping(url).is_err(), "{url} still answers after SIGTERM");
    }
}

#[test]
fn servers_up_defaults_to_a_standalone_and_stops_on_sigint() {
    let (guard, value) = up(&["--json", "--password", "cli-canary"]);
    let url = value["standalone"].as_str().unwrap().to_string();
    assert!(value.get("cluster").is_none() && value.get("sentinel").is_none());
    assert!(url.starts_with("redis://:cli-canary@127.0.0.1:"), "{url}");
    assert_eq!(ping(&url).unwrap(), "PONG");
    stop(guard, Signal::SIGINT);
    assert!(ping(&url).is_err());
}

#[test]
fn servers_up_sentinel_json_shape() {
    let (guard, value) = up(&["--sentinel", "--json"]);
    let sentinel = &value["sentinel"];
    assert_eq!(sentinel["master_name"], "mymaster");
    assert_eq!(sentinel["sentinels"].as_array().unwrap().len(), 3);
    assert_eq!(sentinel["replicas"].as_array().unwrap().len(), 1);
    let master = sentinel["master"].as_str().unwrap().to_string();
    assert_eq!(ping(&master).unwrap(), "PONG");
    let addr = sentinel["sentinels"][0].as_str().unwrap();
    let sentinel_url = format!("redis://{addr}");
    assert_eq!(ping(&sentinel_url).unwrap(), "PONG");
    stop(guard, Signal::SIGTERM);
    assert!(ping(&master).is_err());
    assert!(ping(&sentinel_url).is_err());
}

#[test]
fn servers_die_with_the_command_even_when_it_is_killed() {
    // SIGKILL gives the command no chance to clean up: the kernel's parent-death signal must
    // take the servers down.
    let (mut guard, value) = up(&["--cluster", "1x1", "--json"]);
    let urls: Vec<String> = value["cluster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert_eq!(urls.len(), 2);
    assert_eq!(ping(&urls[1]).unwrap(), "PONG");
    guard.0.kill().unwrap();
    guard.0.wait().unwrap();
    for url in &urls {
        // Delivery of the death signal is asynchronous: wait (bounded) for the port to close.
        let gone = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            ping(url).is_err()
        });
        assert!(gone, "{url} still answers after slotshift was killed");
    }
}

#[test]
fn servers_up_text_output_lists_the_urls() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slotshift"))
        .args(["servers", "up", "--standalone"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut guard = Guard(child);
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(
        first.starts_with("standalone  redis://127.0.0.1:"),
        "{first:?}"
    );
    let url = first.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(ping(&url).unwrap(), "PONG");
    let pid = Pid::from_raw(i32::try_from(guard.0.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    assert!(guard.0.wait().unwrap().success());
    assert!(ping(&url).is_err());
}

#[test]
fn servers_up_rejects_a_bad_cluster_shape() {
    let output = Command::new(env!("CARGO_BIN_EXE_slotshift"))
        .args(["servers", "up", "--cluster", "3by1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3by1"), "{stderr}");
}

#[test]
fn a_missing_redis_server_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_slotshift"))
        .args(["servers", "up", "--json"])
        .env("SLOTSHIFT_REDIS_SERVER", "/nonexistent/redis-server")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "the run failed: exit 3");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("apt-get install redis-server redis-tools"),
        "{stderr}"
    );
}

#[test]
fn directories_of_a_killed_command_are_removed_by_the_next_start() {
    let (mut guard, _) = up(&["--json"]);
    let pid = guard.0.id();
    let owned_by = |pid: u32| {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("slotshift-"))
            .filter(|e| {
                std::fs::read_to_string(e.path().join("owner.pid"))
                    .is_ok_and(|p| p.trim() == pid.to_string())
            })
            .count()
    };
    assert_eq!(owned_by(pid), 1);
    // SIGKILL: the command cannot remove its directory; the next start (here, or in any other
    // process) must.
    guard.0.kill().unwrap();
    guard.0.wait().unwrap();
    let (guard, _) = up(&["--json"]);
    assert_eq!(owned_by(pid), 0);
    stop(guard, Signal::SIGTERM);
}
