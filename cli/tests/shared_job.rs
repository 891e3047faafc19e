//! `slotshift migrate --coordinator URL --job NAME` as four real processes on a 4-master
//! cluster source, one of them killed mid-job: the other three finish the job, every survivor
//! prints the same merged JSON report, the destination holds every key, and a shared
//! `slotshift diff` afterwards finds nothing, and a shared `slotshift analyze` counts every
//! key. Bad flags are refused by name.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::process::{Command, Stdio};
use std::time::Duration;

use slotshift::command::Cmd;
use slotshift::store::Store;
use slotshift::testing::{Cluster, Standalone};

mod common;

const N: usize = 40_000;

fn job(kind: &str, src: &str, dst: &str, coordinator: &str, name: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slotshift"));
    cmd.args([
        kind,
        "--quiet",
        "--json",
        "--source",
        src,
        "--destination",
        dst,
    ])
    .args([
        "--coordinator",
        coordinator,
        "--job",
        name,
        "--ranges",
        "32",
        "--lease",
        "1",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

#[test]
fn four_processes_one_killed_finish_one_migration_with_one_report() {
    let a = Cluster::start(4, 0).unwrap();
    let b = Cluster::start(3, 0).unwrap();
    let coord = Standalone::start().unwrap();
    let src = Store::open(&a.url()).unwrap();
    let cmds: Vec<Cmd> = (0..N)
        .map(|i| Cmd::from_args(["SET", &format!("key:{i}"), &format!("value-{i}")]))
        .collect();
    for chunk in cmds.chunks(5000) {
        for r in src.pipeline(chunk).unwrap() {
            r.unwrap();
        }
    }
    let (s, d, c) = (a.url(), b.url(), coord.url());

    // Held to 4,000 keys/s, each process is still busy when one of them is killed.
    let mut procs: Vec<_> = (0..4)
        .map(|_| {
            job("migrate", &s, &d, &c, "move")
                .args(["--rate", "4000"])
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let mut killed = procs.remove(0);
    killed.kill().unwrap();
    killed.wait().unwrap();
    let outputs: Vec<_> = procs
        .into_iter()
        .map(|p| p.wait_with_output().unwrap())
        .collect();
    let reports: Vec<serde_json::Value> = outputs
        .iter()
        .map(|o| {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            serde_json::from_slice(&o.stdout).unwrap()
        })
        .collect();
    for r in &reports {
        assert_eq!(r, &reports[0], "every process prints the one merged report");
    }
    let r = &reports[0];
    assert_eq!(r["complete"], true, "{r}");
    assert_eq!(r["keys_scanned"], N as u64, "{r}");
    // Every key was copied or found equal once: a range the killed process had half done is
    // compared again whole by another, which copies only what the first did not.
    let (restored, equal) = (
        r["restored"].as_u64().unwrap(),
        r["equal"].as_u64().unwrap(),
    );
    assert_eq!(restored + equal, N as u64, "{r}");
    assert_eq!(r["final_diff"]["source_keys"], N as u64, "{r}");
    let total: u64 = r["final_diff"]["differences"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 0, "{r}");

    // A shared diff by two processes agrees: nothing differs, exit 0.
    let diffs: Vec<_> = (0..2)
        .map(|_| job("diff", &s, &d, &c, "check").spawn().unwrap())
        .collect();
    for p in diffs {
        let o = p.wait_with_output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["complete"], true);
        assert_eq!(r["source_keys"], N as u64);
        assert_eq!(r["destination_keys"], N as u64);
    }

    // A shared analysis of the source by two processes: one report, every key in it.
    let analyses: Vec<_> = (0..2)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_slotshift"))
                .args(["analyze", "--quiet", "--format", "json", "--url", &s])
                .args(["--coordinator", &c, "--job", "keys"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut totals = Vec::new();
    for p in analyses {
        let o = p.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["complete"], true);
        totals.push(r["total"].clone());
    }
    assert_eq!(totals[0]["keys"], N as u64);
    assert_eq!(totals[0], totals[1]);

    // Flags that belong to one process's run, and a job name that is not one, are refused.
    let refused = |extra: &[&str]| {
        let mut args = vec![
            "migrate",
            "--source",
            &s,
            "--destination",
            &d,
            "--coordinator",
            &c,
        ];
        args.extend_from_slice(extra);
        let (code, out) = common::slotshift(&args, &[]);
        assert_ne!(code, 0, "{out}");
        (code, out)
    };
    let (code, out) = refused(&["--job", "x", "--checkpoint", "/tmp/cp.json"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--checkpoint"), "{out}");
    let (code, out) = refused(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--job"), "{out}");
    let (_, out) = refused(&["--job", "no way"]);
    assert!(out.contains("invalid job \"no way\""), "{out}");
}
