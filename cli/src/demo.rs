//! `slotshift demo`: the main job, live, on an embedded topology.
//!
//! Starts a standalone server (the "old" store) and a 3-master cluster (the "new" store),
//! drives a multi-threaded workload through a [`MultiStore`], and walks every phase: old only
//! → dual-write → backfill with `migrate` → diff = 0 → new as default → new only, moving
//! slots between the cluster's masters while the workload runs. Every acknowledged write is
//! kept in a ledger; at the end every ledger key is read back from the new cluster, so "keys
//! lost" is counted key by key, not estimated. Writes `report.txt` and `report.html`, and
//! exits non-zero if a key was lost or an operation failed.
//!
//! `report.html` draws the run (see [`html_report`]): the proof first, then the load per
//! second with the phase boundaries and the reshards marked, latency histograms per phase, and
//! the analyzer's view of the new cluster.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use latency::Lat;
use load::Load;
use rand::{Rng, SeedableRng};
use slotshift::analyzer::{analyze, AnalyzeOptions, Report};
use slotshift::command::Cmd;
use slotshift::migrate::{diff, migrate, DiffOptions, MigrateOptions};
use slotshift::multistore::{MultiStore, MultiStoreOptions, Phase};
use slotshift::store::{Store, StoreOptions};
use slotshift::testing::{Cluster, Standalone};

use crate::html::chart::{self, Marker, Series};
use crate::html::{keyspace, Page};

mod load;

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
    load: Load,
    ledger: HashMap<String, Expect>,
}

fn work(
    t: usize,
    keys: usize,
    ms: &MultiStore,
    phase: &AtomicUsize,
    stop: &AtomicBool,
    ops_cap: u64,
    t0: Instant,
) -> Worker {
    let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64 + 1);
    let mut w = Worker {
        lat: vec![Lat::default(); PHASES.len()],
        load: Load::new(PHASES.len()),
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
        let second = usize::try_from(t0.elapsed().as_secs()).unwrap_or(usize::MAX);
        w.load.add(second, p, micros, ok);
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
    events: &mut Vec<Marker>,
    t0: Instant,
) {
    phase.store(p, Ordering::Relaxed);
    events.push(Marker {
        x: t0.elapsed().as_secs_f64(),
        until: None,
        kind: "phase",
        label: format!("phase {}", PHASES[p]),
    });
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
    let mut events: Vec<Marker> = Vec::new();

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

    // The workload's clock: the charts' x axis and the phase log start here, servers up.
    let t0 = Instant::now();
    let phase = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..threads {
        let (ms, phase, stop) = (ms.clone(), phase.clone(), stop.clone());
        handles.push(std::thread::spawn(move || {
            work(t, keys, &ms, &phase, &stop, 50_000_000, t0)
        }));
    }
    let masters = cluster.masters()?;
    let moved = AtomicU64::new(0);

    set_phase(
        &ms,
        &phase,
        0,
        Phase::SecondaryOnly,
        &mut log,
        &mut events,
        t0,
    );
    std::thread::sleep(dwell);
    set_phase(
        &ms,
        &phase,
        1,
        Phase::DualWriteSecondaryDefault,
        &mut log,
        &mut events,
        t0,
    );
    std::thread::sleep(dwell);

    // Backfill while dual-writing, and reshard the new cluster under it.
    set_phase(
        &ms,
        &phase,
        2,
        Phase::DualWriteSecondaryDefault,
        &mut log,
        &mut events,
        t0,
    );
    let mut mopts = MigrateOptions::default();
    mopts.final_diff = false;
    // Under dual-write the new store's copy of what the workload wrote is the newer.
    mopts.missing_only = true;
    let (copy, reshard) = std::thread::scope(|s| {
        let h = s.spawn(|| -> Result<(usize, f64, f64), String> {
            let from = t0.elapsed().as_secs_f64();
            let n = cluster
                .move_slots(if short { 64 } else { 512 }, masters[0], masters[1])
                .map_err(|e| e.to_string())?;
            Ok((n.len(), from, t0.elapsed().as_secs_f64()))
        });
        let copy = migrate(&old, &new, &mopts);
        (copy, h.join())
    });
    let copy = copy?;
    let (n, from, until) = reshard.map_err(|_| "reshard thread panicked")??;
    moved.fetch_add(n as u64, Ordering::Relaxed);
    events.push(reshard_marker(n, masters[0], masters[1], from, until));
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
        &mut events,
        t0,
    );
    let mut dopts = DiffOptions::default();
    dopts.round_interval = Duration::from_millis(300);
    let mut diff_report = diff(&old, &new, &dopts)?;
    let mut attempts = 1;
    while diff_report.total_differences() > 0 && attempts < 5 {
        // What still differs was being copied while written: copy it again from the old
        // store (the default, so the truth, in this phase), diff again.
        let mut repair = mopts.clone();
        repair.missing_only = false;
        migrate(&old, &new, &repair)?;
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
        &mut events,
        t0,
    );
    let from = t0.elapsed().as_secs_f64();
    let back = cluster
        .move_slots(if short { 32 } else { 256 }, masters[1], masters[2])
        .map_err(|e| e.to_string())?;
    moved.fetch_add(back.len() as u64, Ordering::Relaxed);
    events.push(reshard_marker(
        back.len(),
        masters[1],
        masters[2],
        from,
        t0.elapsed().as_secs_f64(),
    ));
    let _ = writeln!(
        log,
        "  resharded {} slots from {} to {}",
        back.len(),
        masters[1].addr(),
        masters[2].addr()
    );
    std::thread::sleep(dwell);
    set_phase(
        &ms,
        &phase,
        5,
        Phase::PrimaryOnly,
        &mut log,
        &mut events,
        t0,
    );
    std::thread::sleep(dwell);
    stop.store(true, Ordering::Relaxed);
    let run_seconds = t0.elapsed().as_secs_f64();

    let mut lat = vec![Lat::default(); PHASES.len()];
    let mut load = Load::new(PHASES.len());
    let mut ledger = HashMap::new();
    for h in handles {
        let w = h.join().map_err(|_| "workload thread panicked")?;
        for (a, b) in lat.iter_mut().zip(&w.lat) {
            a.merge(b);
        }
        load.merge(&w.load);
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

    let masters = keyspace::master_loads(&new)?;
    let html = html_report(&Run {
        short,
        ops,
        errors,
        lost,
        checked,
        moved: moved.load(Ordering::Relaxed),
        differences: diff_report.total_differences() as u64,
        cross_slot: validator.cross_slot,
        refused: validator.refused,
        seconds: run_seconds,
        load: &load,
        events: &events,
        rows: &rows,
        analysis: &analysis,
        masters: &masters,
        log: &log,
    });

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

fn reshard_marker(
    n: usize,
    from: &slotshift::testing::Node,
    to: &slotshift::testing::Node,
    start: f64,
    end: f64,
) -> Marker {
    Marker {
        x: start,
        until: Some(end),
        kind: "reshard",
        label: format!("reshard {n} slots :{} → :{}", from.port(), to.port()),
    }
}

/// A phase's row of the latency table: name, ops, errors, p50, p99, max (ms).
type PhaseRow = (&'static str, u64, u64, f64, f64, f64);

/// The figures of a finished run that `report.html` shows.
struct Run<'a> {
    short: bool,
    ops: u64,
    errors: u64,
    lost: u64,
    checked: u64,
    moved: u64,
    differences: u64,
    cross_slot: u64,
    refused: u64,
    /// Seconds from the start to the end of the workload.
    seconds: f64,
    load: &'a Load,
    events: &'a [Marker],
    rows: &'a [PhaseRow],
    analysis: &'a Report,
    masters: &'a [keyspace::MasterLoad],
    log: &'a str,
}

/// `report.html`: the proof, the load per second with the phases and reshards marked, latency
/// histograms per phase, the analyzer's view of the new cluster, the phase log.
fn html_report(run: &Run) -> String {
    let mut page = Page::new(if run.short {
        "slotshift demo (short run)"
    } else {
        "slotshift demo"
    });
    let good = run.lost == 0 && run.errors == 0 && run.differences == 0;
    let class = |bad: bool| if bad { "bad" } else { "ok" };
    page.facts(
        "proof",
        &[
            (
                "verdict",
                if good {
                    "0 keys lost, 0 errors".into()
                } else {
                    "FAILED".into()
                },
                class(!good),
            ),
            ("keys checked", run.checked.to_string(), ""),
            ("keys lost", run.lost.to_string(), class(run.lost > 0)),
            (
                "final diff (differences)",
                run.differences.to_string(),
                class(run.differences > 0),
            ),
            ("errors", run.errors.to_string(), class(run.errors > 0)),
            ("operations", run.ops.to_string(), ""),
            ("slots moved under load", run.moved.to_string(), ""),
        ],
    );
    page.para(
        "note",
        &format!(
            "Every acknowledged write was kept in a ledger and read back key by key from the new cluster. Validator (new store, count mode): {} cross-slot commands split by the batcher, {} refused.",
            run.cross_slot, run.refused
        ),
    );

    page.heading("Load during the demo");
    // Each second's point sits in its middle; the last, partial second is scaled to a rate.
    let points = |f: &dyn Fn(&load::Second) -> f64| -> Vec<(f64, f64)> {
        run.load
            .seconds
            .iter()
            .enumerate()
            .map(|(i, sec)| (i as f64 + 0.5, f(sec)))
            .collect()
    };
    let rate = |i: f64| 1.0 / (run.seconds - (i - 0.5)).clamp(0.05, 1.0);
    let series = |name: &str, f: &dyn Fn(&load::Second) -> f64, per_second: bool| Series {
        name: name.to_owned(),
        points: points(f)
            .into_iter()
            .map(|(x, y)| (x, if per_second { y * rate(x) } else { y }))
            .collect(),
    };
    page.chart(chart::timeline(
        "timeline-throughput",
        "Operations and errors per second, with the phase boundaries and reshards",
        "per second",
        &[
            series("ops/s", &|s| s.ops as f64, true),
            series("errors/s", &|s| s.errors as f64, true),
        ],
        run.events,
        run.seconds,
    ));
    page.chart(chart::timeline(
        "timeline-latency",
        "Latency per second (p50, p99), with the phase boundaries and reshards",
        "ms",
        &[
            series("p50 ms", &|s| s.hist.quantile_ms(0.5), false),
            series("p99 ms", &|s| s.hist.quantile_ms(0.99), false),
        ],
        run.events,
        run.seconds,
    ));

    page.heading("Latency per phase");
    page.table(
        "latency-per-phase",
        &["phase", "ops", "errors", "p50 ms", "p99 ms", "max ms"],
        &run.rows
            .iter()
            .map(|r| {
                vec![
                    r.0.to_owned(),
                    r.1.to_string(),
                    r.2.to_string(),
                    format!("{:.3}", r.3),
                    format!("{:.3}", r.4),
                    format!("{:.3}", r.5),
                ]
            })
            .collect::<Vec<_>>(),
    );
    // One x axis for every phase (the octaves any phase used), so the shapes compare.
    let octaves: Vec<Vec<u64>> = run.load.phases.iter().map(load::Hist::octaves).collect();
    let used = |g: &usize| octaves.iter().any(|o| o[*g] > 0);
    let first = (0..octaves[0].len()).find(used).unwrap_or(0);
    let last = (0..octaves[0].len())
        .rev()
        .find(used)
        .unwrap_or(0)
        .max(first);
    let histograms = octaves.iter().enumerate().map(|(p, o)| {
        let bins: Vec<(String, u64)> = (first..=last)
            .map(|g| (load::octave_label(g), o[g]))
            .collect();
        chart::histogram(
            &format!("latency-histogram-{}", p + 1),
            &format!("{}: operations by latency", PHASES[p]),
            &bins,
            p,
        )
    });
    page.row(histograms);

    page.heading("The analyzer's view of the new cluster");
    keyspace::sections(&mut page, run.analysis, run.masters);
    page.heading("Phases");
    page.pre(run.log);
    page.finish()
}
