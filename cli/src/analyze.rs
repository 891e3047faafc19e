//! `slotshift analyze`: the keyspace analyzer (see `docs/analyzer.md`).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use slotshift::analyzer::{analyze, load_rules, AnalyzeOptions, ProgressInfo};
use slotshift::migrate::analyze_shared;

/// Report formats.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// A table for the terminal.
    Text,
    /// JSON (the full report).
    Json,
    /// One CSV row per pattern.
    Csv,
    /// A self-contained HTML page with charts (the page `--html` writes).
    Html,
}

/// Arguments of `slotshift analyze`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    connect: crate::target::Connect,
    /// SCAN COUNT, and keys probed per pipeline.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Only keys matching this Redis glob (SCAN MATCH).
    #[arg(long = "match", value_name = "PATTERN")]
    match_pattern: Option<String>,
    /// Only keys of this type (SCAN TYPE): string, list, set, zset, hash, stream.
    #[arg(long = "type", value_name = "TYPE")]
    key_type: Option<String>,
    /// MEMORY USAGE SAMPLES (0 = every element; the server's default is 5).
    #[arg(long)]
    samples: Option<u32>,
    /// Keys per second, all masters together (protects production).
    #[arg(long, value_name = "KEYS_PER_S")]
    rate: Option<u64>,
    /// A YAML file of extra rules: `rules: [{match: REGEX, replace: "<name>"}]`.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Show raw keys in the report (default: keyed digests).
    #[arg(long)]
    show_keys: bool,
    /// Biggest keys shown per pattern.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write a self-contained HTML page with charts here (memory and keys by pattern,
    /// type and TTL mix, keys and memory per master).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Save progress here (atomically, every 100,000 keys and on Ctrl-C).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Continue from --checkpoint.
    #[arg(long, requires = "checkpoint")]
    resume: bool,
    /// Share the analysis with other processes (`--coordinator`, `--job`, …).
    #[command(flatten)]
    shared: crate::coordinator::Flags,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let store = args.connect.open()?;
    let mut opts = AnalyzeOptions::default();
    opts.count = args.count;
    opts.match_pattern = args.match_pattern.map(String::into_bytes);
    opts.key_type = args.key_type;
    opts.samples = args.samples;
    opts.rate = args.rate;
    if let Some(path) = &args.rules {
        opts.rules = load_rules(path)?;
    }
    opts.show_keys = args.show_keys;
    opts.top = args.top;
    opts.checkpoint = args.checkpoint.clone();
    opts.resume = args.resume;

    // Ctrl-C once: stop cleanly (checkpoint saved); twice: exit at once.
    let cancel = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register_conditional_shutdown(
        signal_hook::consts::SIGINT,
        130,
        cancel.clone(),
    )?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, cancel.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, cancel.clone())?;
    opts.cancel = Some(cancel);

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        bar.set_style(ProgressStyle::with_template(
            "{bar:30} {pos}/{len} keys  {msg}",
        )?);
        bar
    };
    let shown = bar.clone();
    opts.progress = Some(Arc::new(move |p: &ProgressInfo| {
        shown.set_length(p.total.max(p.keys));
        shown.set_position(p.keys);
        let eta = p
            .eta
            .map(|d| format!("ETA {}", fmt_duration(d)))
            .unwrap_or_default();
        shown.set_message(format!("{:.0} keys/s  {eta}", p.keys_per_sec));
    }));

    let report = match args.shared.open()? {
        Some((coordinator, shared)) => analyze_shared(&store, &coordinator, &opts, &shared),
        None => analyze(&store, &opts),
    };
    bar.finish_and_clear();
    let report = report?;
    let wants_html = matches!(args.format, Format::Html) || args.html.is_some();
    let html = wants_html.then(|| {
        // The load per master is asked after the scan (DBSIZE, INFO memory); a server that
        // refuses INFO still gets its page, without that section.
        let masters = crate::html::keyspace::master_loads(&store).unwrap_or_else(|e| {
            log::warn!("no per-master section in the HTML report: {e}");
            Vec::new()
        });
        crate::html::keyspace::page(&report, &masters)
    });
    let text = match (args.format, &html) {
        (Format::Html, Some(page)) => page.clone(),
        (Format::Json, _) => report.to_json() + "\n",
        (Format::Csv, _) => report.to_csv()?,
        (Format::Text | Format::Html, _) => report.to_text(),
    };
    match &args.output {
        Some(path) => write(path, &text)?,
        None => print!("{text}"),
    }
    if let (Some(path), Some(page)) = (&args.html, &html) {
        write(path, page)?;
    }
    if !report.complete {
        match &args.checkpoint {
            None if args.shared.coordinator.is_some() => {
                eprintln!("{}", crate::coordinator::INTERRUPTED);
            }
            Some(cp) => eprintln!(
                "slotshift: interrupted after {} keys; continue with --resume --checkpoint {}",
                report.total.keys,
                cp.display()
            ),
            None => eprintln!(
                "slotshift: interrupted after {} keys (no --checkpoint: a new run starts over)",
                report.total.keys
            ),
        }
        std::process::exit(crate::exit::INTERRUPTED);
    }
    Ok(())
}

fn write(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
