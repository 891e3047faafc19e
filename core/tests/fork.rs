//! Fork safety, on real servers: a process whose threads are busy with a client forks 500
//! times; every child uses the same client (a dual-write MultiStore with an async queue over a
//! standalone old store and a 3-master cluster, with stats, the cross-slot validator and the
//! recorder all on) and must finish within a bound, with its writes on both stores.
//!
//! A child that inherits a lock some parent thread held at `fork()` waits for it forever (the
//! thread does not exist in the child); before the process-wide state went lock-free this hung
//! a few rounds in a hundred.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use slotshift::command::Cmd;
use slotshift::instrument::Recorder;
use slotshift::multistore::{FlagSource, MultiStore, MultiStoreOptions, Phase};
use slotshift::reply::Reply;
use slotshift::store::{Store, StoreOptions};
use slotshift::testing::{Cluster, Standalone};
use slotshift::validator::{self, Mode};

const ROUNDS: usize = 500;
/// How long one child may take before the test calls it hung.
const CHILD_BOUND: Duration = Duration::from_secs(10);

fn cmd(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

fn store(url: &str, name: &str) -> Store {
    let mut opts = StoreOptions::default();
    opts.name = name.to_owned();
    opts.instrument = true;
    Store::open_with_options(url, opts).unwrap()
}

/// What one child does with the inherited client; its exit code says what went wrong.
fn child(ms: &MultiStore, recorder: &Recorder, round: usize) -> i32 {
    let recorded = recorder.count();
    let key = format!("child:{round}");
    let value = format!("v{round}");
    if ms.call(&cmd(&["SET", &key, &value])).is_err() {
        return 10;
    }
    if ms.call(&cmd(&["INCR", &format!("{key}:n")])).is_err() {
        return 11;
    }
    match ms.call(&cmd(&["GET", &key])) {
        Ok(Reply::Bulk(v)) if v == value.as_bytes() => {}
        _ => return 12,
    }
    let batch = [cmd(&["SET", &format!("{key}:p"), "1"]), cmd(&["GET", &key])];
    if ms
        .pipeline(&batch)
        .map_or(true, |rs| rs.iter().any(Result::is_err))
    {
        return 13;
    }
    // The process-wide registries are read as a scrape would.
    if slotshift::instrument::render_prometheus().is_empty() {
        return 14;
    }
    // The recorder inherited from the forking thread goes on recording in the child.
    if recorder.count() <= recorded {
        return 16;
    }
    // The async queue's writes to the non-default store must leave before the child does.
    if !ms.drain(Duration::from_secs(5)) {
        return 15;
    }
    0
}

/// Waits for `pid` at most [`CHILD_BOUND`]; a child still running then is killed.
fn wait_bounded(pid: Pid) -> Result<i32, String> {
    let deadline = Instant::now() + CHILD_BOUND;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)).map_err(|e| e.to_string())? {
            WaitStatus::StillAlive => {}
            WaitStatus::Exited(_, code) => return Ok(code),
            other => return Err(format!("child ended as {other:?}")),
        }
        if Instant::now() > deadline {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return Err(format!("child still running after {CHILD_BOUND:?}: hung"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn forked_children_never_hang_and_their_writes_arrive() {
    let old = Standalone::start().unwrap();
    let new = Cluster::start(3, 0).unwrap();
    validator::set_mode(Mode::Count);
    let recorder = Recorder::start();

    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::InProcess(Phase::DualWriteSecondaryDefault.flags());
    opts.async_non_default_writes = true;
    let ms = Arc::new(
        MultiStore::new(
            "forking",
            store(&new.url(), "forking-new"),
            store(&old.url(), "forking-old"),
            opts,
        )
        .unwrap(),
    );

    // Parent threads keep every lock-prone path busy while the main thread forks.
    let stop = Arc::new(AtomicBool::new(false));
    let parent_ops = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (ms, stop, ops) = (ms.clone(), stop.clone(), parent_ops.clone());
            std::thread::spawn(move || {
                let recorder = Recorder::start();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("parent:{t}:{}", i % 64);
                    ms.call(&cmd(&["SET", &key, "x"])).unwrap();
                    ms.call(&cmd(&["GET", &key])).unwrap();
                    if i.is_multiple_of(16) {
                        // A cross-slot read, counted by the validator.
                        let other = format!("parent:{t}:{}", (i + 1) % 64);
                        ms.call(&cmd(&["MGET", &key, &other])).unwrap();
                        slotshift::instrument::render_prometheus();
                    }
                    i += 1;
                    ops.fetch_add(1, Ordering::Relaxed);
                }
                recorder.stop();
                recorder.count()
            })
        })
        .collect();
    while parent_ops.load(Ordering::Relaxed) < 100 {
        std::thread::sleep(Duration::from_millis(5));
    }

    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        // SAFETY: the child only runs the client under test and leaves with `_exit`, never
        // returning into the test harness or running the parent's destructors.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    child(&ms, &recorder, round)
                }))
                .unwrap_or(101);
                // SAFETY: `_exit` ends the child at once, as a forked child must.
                unsafe { nix::libc::_exit(code) };
            }
            ForkResult::Parent { child } => match wait_bounded(child) {
                Ok(0) => {}
                Ok(code) => failures.push(format!("round {round}: child exited {code}")),
                Err(e) => failures.push(format!("round {round}: {e}")),
            },
        }
        if failures.len() >= 3 {
            break; // enough to show the defect; do not wait out every hung child
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        assert!(
            w.join().unwrap() > 0,
            "a parent thread's recorder saw nothing"
        );
    }
    recorder.stop();
    assert!(
        failures.is_empty(),
        "{} rounds failed (of {ROUNDS}, stopping at 3): {failures:?}",
        failures.len()
    );

    // Every child's writes reached both stores (the cluster's through the child's own queue).
    let (old_store, new_store) = (
        Store::open(&old.url()).unwrap(),
        Store::open(&new.url()).unwrap(),
    );
    for round in 0..ROUNDS {
        let key = format!("child:{round}");
        let want = Reply::Bulk(format!("v{round}").into_bytes());
        for (side, s) in [("old", &old_store), ("new", &new_store)] {
            assert_eq!(
                s.call(&cmd(&["GET", &key])).unwrap(),
                want,
                "{key} on the {side} store"
            );
            assert_eq!(
                s.call(&cmd(&["GET", &format!("{key}:n")])).unwrap(),
                Reply::Bulk(b"1".to_vec()),
                "{key}:n on the {side} store"
            );
        }
    }
}
