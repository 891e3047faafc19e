//! `slotshift demo`: the main job, live, on an embedded topology.
//!
//! Starts a standalone server (the "old" store) and a 3-master cluster (the "new" store),
//! drives a multi-threaded workload through a [`MultiStore`], and walks every phase: old only
//! → dual-write → backfill with `migrate` → diff = 0 → new as default → new only, moving
//! slots between the cluster's masters while the workload runs. Every acknowledged write is
//! kept in a ledger; at the end every ledger key is read back from the new cluster, so "keys
//! lost" is counted key by key, not estimated. Writes `report.txt` and `report.html`, and
//! exits non-zero if a key was lost or an operation failed.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use latency::Lat;
use rand::{Rng, SeedableRng};
use slotshift::analyzer::{analyze, AnalyzeOptions};
use slotshift::command::Cmd;
use slotshift::migrate::{diff, migrate, DiffOptions, MigrateOptions};
use slotshift::multistore::{MultiStore, MultiStoreOptions, Phase};
use slotshift::store::{Store, StoreOptions};
use slotshift::testing::{Cluster, Standalone};

/// Arguments of `slotshift demo`.
#[derive(clap::Args)]
pub struct Args {
    /// A short run (a few seconds per phase, fewer keys): what `make test` runs. Also
    /// `SLOTSHIFT_DEMO_SHORT=1`.
    #[arg(long)]
    short: bool,
    /// Workload threads.
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds per phase.
    #[arg(long)]
    phase_seconds: Option<f64>,
    /// Keys per thread and kind.
    #[arg(long)]
    keys: Option<usize>,
    /// Replicas per master in the embedded cluster.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Where report.txt and report.html go.
    #[arg(long, default_value = "target/demo")]
    report_dir: PathBuf,
}

/// Latency samples, bounded per thread and phase.
mod latency {
    /// Microsecond samples of one phase.
    #[derive(Default, Clone)]
    pub struct Lat {
        pub samples: Vec<u32>,
        pub ops: u64,
        pub errors: u64,
    }

    impl Lat {
        pub fn add(&mut self, micros: u64, ok: bool) {
            self.ops += 1;
            if !ok {
                self.errors += 1;
            }
            if self.samples.len() < 200_000 {
                self.samples.push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
        }

        pub fn merge(&mut self, other: &Lat) {
            self.ops += other.ops;
            self.errors += other.errors;
            self.samples.extend_from_slice(&other.samples);
        }

        pub fn pct(&mut self, p: f64) -> f64 {
            if self.samples.is_empty() {
                return 0.0;
            }
            self.samples.sort_unstable();
            let i = ((self.samples.len() - 1) as f64 * p).round() as usize;
            f64::from(self.samples[i]) / 1000.0
        }
    }
}

const PHASES: [&str; 6] = [
    "1 old only",
    "2 dual-write",
    "3 backfill (migrate) + reshard",
    "4 diff = 0",
    "5 new as default + reshard",
    "6 new only",
];

#[derive(Clone, Debug, PartialEq)]
enum Expect {
    Value(String),
    Count(i64),
    Field(String),
    Gone,
}

struct Worker {
    lat: Vec<Lat>,
    ledger: HashMap<String, Expect>,
}

fn work(
    t: usize,
    keys: usize,
    ms: &MultiStore,
    phase: &AtomicUsize,
    stop: &AtomicBool,
    ops_cap: u64,
) -> Worker {
    let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64 + 1);
    let mut w = Worker {
        lat: vec![Lat::default(); PHASES.len()],
        ledger: HashMap::new(),
    };
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) && seq < ops_cap {
        seq += 1;
        let i = rng.gen_range(0..keys);
        let roll = rng.gen_range(0..100);
        let (cmd, effect) = if roll < 45 {
            let k = format!("demo:t{t}:s{i}");
            let v = format!("v{seq}");
            (
                Cmd::new("SET").with_arg(&k).with_arg(&v),
                Some((k, Expect::Value(v))),
            )
        } else if roll < 60 {
            let k = format!("demo:t{t}:c{i}");
            (Cmd::new("INCR").with_arg(&k), Some((k, Expect::Count(1))))
        } else if roll < 75 {
            let k = format!("demo:t{t}:h{i}");
            let v = format!("f{seq}");
            (
                Cmd::new("HSET").with_arg(&k).with_arg("f").with_arg(&v),
                Some((k, Expect::Field(v))),
            )
        } else if roll < 80 {
            let k = format!("demo:t{t}:s{i}");
            (Cmd::new("DEL").with_arg(&k), Some((k, Expect::Gone)))
        } else if roll < 85 {
            let j = rng.gen_range(0..keys);
            (
                Cmd::new("MGET")
                    .with_arg(format!("demo:t{t}:s{i}"))
                    .with_arg(format!("demo:t{t}:s{j}")),
                None,
            )
        } else {
            (Cmd::new("GET").with_arg(format!("demo:t{t}:s{i}")), None)
        };
        let p = phase.load(Ordering::Relaxed).min(PHASES.len() - 1);
        let start = Instant::now();
        let result = ms.call(&cmd);
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let ok = result.is_ok();
        w.lat[p].add(micros, ok);
        if let Err(e) = &result {
            log::warn!("demo: {e}");
        }
        if let (true, Some((k, e))) = (ok, effect) {
            match e {
                Expect::Count(_) => {
                    let n = match w.ledger.get(&k) {
                        Some(Expect::Count(n)) => n + 1,
                        _ => 1,
                    };
                    w.ledger.insert(k, Expect::Count(n));
                }
                other => {
                    w.ledger.insert(k, other);
                }
            }
        }
    }
    w
}

/// Checks every ledger key on the new cluster; returns (keys checked, keys lost, examples).
fn verify(
    new: &Store,
    ledger: &HashMap<String, Expect>,
) -> Result<(u64, u64, Vec<String>), slotshift::Error> {
    let entries: Vec<(&String, &Expect)> = ledger.iter().collect();
    let mut lost = 0;
    let mut examples = Vec::new();
    for chunk in entries.chunks(1000) {
        let cmds: Vec<Cmd> = chunk
            .iter()
            .map(|(k, e)| match e {
                Expect::Field(_) => Cmd::new("HGET").with_arg(k).with_arg("f"),
                Expect::Gone => Cmd::new("EXISTS").with_arg(k),
                _ => Cmd::new("GET").with_arg(k),
            })
            .collect();
        for ((k, e), r) in chunk.iter().zip(new.pipeline(&cmds)?) {
            let r = r?;
            let good = match e {
                Expect::Value(v) | Expect::Field(v) => r.as_bytes() == Some(v.as_bytes()),
                Expect::Count(n) => r.as_int() == Some(*n),
                Expect::Gone => r.as_int() == Some(0),
            };
            if !good {
                lost += 1;
                if examples.len() < 10 {
                    examples.push(format!("{k}: expected {e:?}, found {r:?}"));
                }
            }
        }
    }
    Ok((entries.len() as u64, lost, examples))
}

fn set_phase(
    ms: &MultiStore,
    phase: &AtomicUsize,
    p: usize,
    flags: Phase,
    log: &mut String,
    t0: Instant,
) {
    phase.store(p, Ordering::Relaxed);
    let r = ms.set_flags(flags.flags());
    let line = format!(
        "[{:>6.1}s] phase {} — flags {}{}",
        t0.elapsed().as_secs_f64(),
        PHASES[p],
        flags.as_str(),
        r.err()
            .map(|e| format!(" (error: {e})"))
            .unwrap_or_default()
    );
    println!("{line}");
    let _ = writeln!(log, "{line}");
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let short = args.short || std::env::var("SLOTSHIFT_DEMO_SHORT").is_ok_and(|v| v == "1");
    let threads = args.threads.unwrap_or(if short { 4 } else { 8 });
    let keys = args.keys.unwrap_or(if short { 300 } else { 5000 });
    let dwell =
        Duration::from_secs_f64(args.phase_seconds.unwrap_or(if short { 1.5 } else { 5.0 }));
    let replicas = if short { 0 } else { args.replicas };
    let started = Instant::now();
    let mut log = String::new();

    println!("slotshift demo{}: starting the old store (standalone) and the new store (3 masters x {replicas} replicas)…", if short { " (short)" } else { "" });
    let old_server = Standalone::start()?;
    let cluster = Cluster::builder().masters(3).replicas(replicas).start()?;
    let mut old_opts = StoreOptions::default();
    old_opts.name = "old".into();
    let mut new_opts = StoreOptions::default();
    new_opts.name = "new".into();
    new_opts.cross_slot_validation = Some(slotshift::validator::Mode::Count);
    new_opts.retry_deadline = Duration::from_secs(20);
    let old = Store::connect(
        &slotshift::config::Deployment::parse(&old_server.url())?,
        old_opts,
    )?;
    let new = Store::connect(
        &slotshift::config::Deployment::parse(&cluster.url())?,
        new_opts,
    )?;
    let ms = Arc::new(MultiStore::new(
        "demo",
        new.clone(),
        old.clone(),
        MultiStoreOptions::default(),
    )?);

    let phase = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..threads {
        let (ms, phase, stop) = (ms.clone(), phase.clone(), stop.clone());
        handles.push(std::thread::spawn(move || {
            work(t, keys, &ms, &phase, &stop, 50_000_000)
        }));
    }
    let masters = cluster.masters()?;
    let moved = AtomicU64::new(0);

    set_phase(&ms, &phase, 0, Phase::SecondaryOnly, &mut log, started);
    std::thread::sleep(dwell);
    set_phase(
        &ms,
        &phase,
        1,
        Phase::DualWriteSecondaryDefault,
        &mut log,
        started,
    );
    std::thread::sleep(dwell);

    // Backfill while dual-writing, and reshard the new cluster under it.
    set_phase(
        &ms,
        &phase,
        2,
        Phase::DualWriteSecondaryDefault,
        &mut log,
        started,
    );
    let mut mopts = MigrateOptions::default();
    mopts.final_diff = false;
    let (copy, reshard) = std::thread::scope(|s| {
        let h = s.spawn(|| -> Result<usize, String> {
            let n = cluster
                .move_slots(if short { 64 } else { 512 }, masters[0], masters[1])
                .map_err(|e| e.to_string())?;
            Ok(n.len())
        });
        let copy = migrate(&old, &new, &mopts);
        (copy, h.join())
    });
    let copy = copy?;
    let n = reshard.map_err(|_| "reshard thread panicked")??;
    moved.fetch_add(n as u64, Ordering::Relaxed);
    let _ = writeln!(
        log,
        "  backfill: {}",
        copy.to_text().trim_end().replace('\n', "\n  ")
    );
    let _ = writeln!(
        log,
        "  resharded {n} slots from {} to {}",
        masters[0].addr(),
        masters[1].addr()
    );
    println!(
        "  backfill copied {} keys; {n} slots moved under the workload",
        copy.copied()
    );

    // diff = 0 (live writes keep going; re-check rounds let in-flight writes converge).
    set_phase(
        &ms,
        &phase,
        3,
        Phase::DualWriteSecondaryDefault,
        &mut log,
        started,
    );
    let mut dopts = DiffOptions::default();
    dopts.round_interval = Duration::from_millis(300);
    let mut diff_report = diff(&old, &new, &dopts)?;
    let mut attempts = 1;
    while diff_report.total_differences() > 0 && attempts < 5 {
        // What still differs was being copied while written: copy it again, diff again.
        migrate(&old, &new, &mopts)?;
        diff_report = diff(&old, &new, &dopts)?;
        attempts += 1;
    }
    let _ = writeln!(
        log,
        "  diff after {attempts} attempt(s): {}",
        diff_report.to_text().trim_end().replace('\n', "\n  ")
    );
    println!(
        "  diff: {} differences after {attempts} attempt(s)",
        diff_report.total_differences()
    );
    std::thread::sleep(dwell);

    set_phase(
        &ms,
        &phase,
        4,
        Phase::DualWritePrimaryDefault,
        &mut log,
        started,
    );
    let back = cluster
        .move_slots(if short { 32 } else { 256 }, masters[1], masters[2])
        .map_err(|e| e.to_string())?;
    moved.fetch_add(back.len() as u64, Ordering::Relaxed);
    let _ = writeln!(
        log,
        "  resharded {} slots from {} to {}",
        back.len(),
        masters[1].addr(),
        masters[2].addr()
    );
    std::thread::sleep(dwell);
    set_phase(&ms, &phase, 5, Phase::PrimaryOnly, &mut log, started);
    std::thread::sleep(dwell);
    stop.store(true, Ordering::Relaxed);

    let mut lat = vec![Lat::default(); PHASES.len()];
    let mut ledger = HashMap::new();
    for h in handles {
        let w = h.join().map_err(|_| "workload thread panicked")?;
        for (a, b) in lat.iter_mut().zip(&w.lat) {
            a.merge(b);
        }
        ledger.extend(w.ledger);
    }
    let (checked, lost, examples) = verify(&new, &ledger)?;
    let ops: u64 = lat.iter().map(|l| l.ops).sum();
    let errors: u64 = lat.iter().map(|l| l.errors).sum();
    let mut aopts = AnalyzeOptions::default();
    aopts.top = 3;
    let analysis = analyze(&new, &aopts)?;
    let validator = slotshift::validator::counts("new");
    let metrics = ms.metrics_text();

    // The report.
    let mut txt = String::new();
    let _ = writeln!(
        txt,
        "slotshift demo report{}",
        if short { " (short run)" } else { "" }
    );
    let _ = writeln!(
        txt,
        "old store: standalone {} · new store: 3-master cluster ({replicas} replica(s) each)",
        old_server.addr()
    );
    let _ = writeln!(
        txt,
        "workload: {threads} threads through one MultiStore; {:.1} s in all\n",
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(txt, "operations served: {ops}");
    let _ = writeln!(txt, "errors: {errors}");
    let _ = writeln!(
        txt,
        "keys lost: {lost} (of {checked} acknowledged keys checked one by one on the new cluster)"
    );
    let _ = writeln!(
        txt,
        "slots moved while the workload ran: {}",
        moved.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        txt,
        "final diff old vs new: {} differences",
        diff_report.total_differences()
    );
    for e in &examples {
        let _ = writeln!(txt, "  lost: {e}");
    }
    let _ = writeln!(txt, "\nlatency per phase (ms):");
    let _ = writeln!(
        txt,
        "  {:<34} {:>9} {:>7} {:>8} {:>8} {:>8}",
        "phase", "ops", "errors", "p50", "p99", "max"
    );
    let mut rows = Vec::new();
    for (i, l) in lat.iter_mut().enumerate() {
        let row = (
            PHASES[i],
            l.ops,
            l.errors,
            l.pct(0.5),
            l.pct(0.99),
            l.pct(1.0),
        );
        let _ = writeln!(
            txt,
            "  {:<34} {:>9} {:>7} {:>8.3} {:>8.3} {:>8.3}",
            row.0, row.1, row.2, row.3, row.4, row.5
        );
        rows.push(row);
    }
    let _ = writeln!(txt, "\nvalidator (new store, mode count): {} cross-slot commands (MGET of two keys in different slots: the batcher split them), {} refused", validator.cross_slot, validator.refused);
    let _ = writeln!(txt, "\nphases:\n{log}");
    let _ = writeln!(
        txt,
        "analyzer's view of the new cluster:\n{}",
        analysis.to_text()
    );
    let _ = writeln!(txt, "MultiStore metrics:\n{metrics}");

    let mut html = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>slotshift demo</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th:first-child,td:first-child{text-align:left}.ok{color:#070}.bad{color:#b00}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>");
    let verdict = if lost == 0 && errors == 0 {
        ("ok", "0 keys lost, 0 errors")
    } else {
        ("bad", "FAILED")
    };
    let _ = write!(html, "<h1>slotshift demo</h1><p class=\"{}\"><b>{}</b></p><ul><li>operations served: {ops}</li><li>errors: {errors}</li><li>keys lost: {lost} of {checked} checked</li><li>slots moved under load: {}</li><li>final diff: {} differences</li><li>validator: {} cross-slot commands, {} refused</li></ul>", verdict.0, verdict.1, moved.load(Ordering::Relaxed), diff_report.total_differences(), validator.cross_slot, validator.refused);
    html.push_str("<h2>Latency per phase (ms)</h2><table><tr><th>phase</th><th>ops</th><th>errors</th><th>p50</th><th>p99</th><th>max</th></tr>");
    for r in &rows {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            r.0, r.1, r.2, r.3, r.4, r.5
        );
    }
    html.push_str("</table><h2>Phases</h2><pre>");
    html.push_str(&escape(&log));
    html.push_str("</pre><h2>The analyzer's view of the new cluster</h2><pre>");
    html.push_str(&escape(&analysis.to_text()));
    html.push_str("</pre></body></html>\n");

    std::fs::create_dir_all(&args.report_dir)?;
    std::fs::write(args.report_dir.join("report.txt"), &txt)?;
    std::fs::write(args.report_dir.join("report.html"), &html)?;
    println!("\n{}", txt.lines().take(8).collect::<Vec<_>>().join("\n"));
    println!(
        "\nreport: {}/report.txt and report.html",
        args.report_dir.display()
    );
    drop(ms);
    drop(new);
    drop(old);
    drop(cluster);
    drop(old_server);
    if lost > 0 || errors > 0 {
        return Err(format!("demo failed: {lost} keys lost, {errors} errors").into());
    }
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
