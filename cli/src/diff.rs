//! `slotshift diff`: compare two deployments both ways (see `docs/migrate.md`).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use slotshift::migrate::{diff, diff_shared, DiffMode, DiffOptions, KeyFilter, ProgressFn};
use slotshift::store::Store;

use crate::exit::{self, Labelled, Outcome};
use crate::target::{self, PasswordFlags};
use crate::{html, progress};

/// Where the data comes from and goes to, and which keys: shared by `diff` and `migrate`.
#[derive(clap::Args)]
pub struct Endpoints {
    /// The source: a server, Sentinel or cluster URL (`redis://`, `rediss://`,
    /// `redis+sentinel://`); any node of a cluster.
    #[arg(long, value_name = "URL", required_unless_present = "source_config")]
    source: Option<String>,
    /// The source as a YAML file (`url:` or `nodes:` + `username:` / `password:`).
    #[arg(long, value_name = "FILE", conflicts_with = "source")]
    source_config: Option<PathBuf>,
    /// The destination URL.
    #[arg(
        long,
        value_name = "URL",
        required_unless_present = "destination_config"
    )]
    destination: Option<String>,
    /// The destination as a YAML file.
    #[arg(long, value_name = "FILE", conflicts_with = "destination")]
    destination_config: Option<PathBuf>,
    /// The source's password from this environment variable (keeps it out of `ps`).
    #[arg(long, value_name = "NAME", conflicts_with = "source_password_file")]
    source_password_env: Option<String>,
    /// The source's password from this file (one line; keep it mode 600).
    #[arg(long, value_name = "FILE")]
    source_password_file: Option<PathBuf>,
    /// The destination's password from this environment variable.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "destination_password_file"
    )]
    destination_password_env: Option<String>,
    /// The destination's password from this file.
    #[arg(long, value_name = "FILE")]
    destination_password_file: Option<PathBuf>,
    /// Only keys matching this Redis glob (SCAN MATCH).
    #[arg(long = "match", value_name = "PATTERN")]
    pub match_pattern: Option<String>,
    /// Only keys of this type (SCAN TYPE): string, list, set, zset, hash, stream.
    #[arg(long = "type", value_name = "TYPE")]
    pub key_type: Option<String>,
    /// Only keys whose hash slot is in A-B: split one job across several machines.
    #[arg(long, value_name = "A-B")]
    pub slots: Option<String>,
    /// SCAN COUNT and keys per batch.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Keys per second (protects production); a positive integer.
    #[arg(long, value_name = "KEYS_PER_S")]
    pub rate: Option<u64>,
    /// TTLs that differ by at most this many milliseconds are equal.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub ttl_tolerance: u64,
    /// Re-check rounds for keys that differed.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Save progress here (atomically, every second and on Ctrl-C).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Continue from --checkpoint.
    #[arg(long, requires = "checkpoint")]
    pub resume: bool,
    /// Share the job with other processes (`--coordinator`, `--job`, …).
    #[command(flatten)]
    pub shared: crate::coordinator::Flags,
    /// Write the remaining differences here as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub mismatches: Option<PathBuf>,
    /// Also write the report as a self-contained HTML page with charts here (keys listed as
    /// the text report lists them).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print the report as JSON (every difference).
    #[arg(long)]
    pub json: bool,
    /// List at most N differences in the text report (the counts are always complete).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100,
        conflicts_with = "summary"
    )]
    pub max_report: usize,
    /// Only the counts in the text report, no key listed (as --max-report 0).
    #[arg(long)]
    pub summary: bool,
    /// No progress display (as --progress none).
    #[arg(long)]
    pub quiet: bool,
    /// How progress shows on stderr: auto (a bar on a terminal, else a text line a second),
    /// bar, text, json (one JSON object a line, a second apart) or none.
    #[arg(long, value_enum, default_value = "auto", value_name = "MODE")]
    pub progress: progress::Mode,
}

/// Opens one side: its URL or config file, with the password its flags give (`REDISCLI_AUTH`
/// does not apply: the two sides rarely share one).
pub(crate) fn open(
    url: &Option<String>,
    file: &Option<PathBuf>,
    password: &PasswordFlags<'_>,
    what: &'static str,
) -> Result<Store, Box<dyn std::error::Error>> {
    let urls: Vec<String> = url.iter().cloned().collect();
    let url_flag = format!("--{what}");
    let deployment = target::deployment(&urls, file.as_deref(), password, &url_flag)?;
    target::connect(&deployment).map_err(|error| Labelled { label: what, error }.into())
}

impl Endpoints {
    /// Opens both stores.
    pub fn open(&self) -> Result<(Store, Store), Box<dyn std::error::Error>> {
        let src = open(
            &self.source,
            &self.source_config,
            &PasswordFlags {
                env: self.source_password_env.as_deref(),
                file: self.source_password_file.as_deref(),
                flag: "--source-password",
                redis_cli_auth: false,
            },
            "source",
        )?;
        let dst = open(
            &self.destination,
            &self.destination_config,
            &PasswordFlags {
                env: self.destination_password_env.as_deref(),
                file: self.destination_password_file.as_deref(),
                flag: "--destination-password",
                redis_cli_auth: false,
            },
            "destination",
        )?;
        Ok((src, dst))
    }

    /// How many differences the text report lists.
    pub fn listed(&self) -> usize {
        if self.summary {
            0
        } else {
            self.max_report
        }
    }

    /// Starts the progress display these flags ask for.
    pub fn progress(&self) -> Result<(progress::Display, ProgressFn), Box<dyn std::error::Error>> {
        progress::Display::start(if self.quiet {
            progress::Mode::None
        } else {
            self.progress
        })
    }

    /// Writes the HTML page `page` builds to `--html`'s file, if asked for.
    pub fn write_html(&self, page: impl FnOnce(usize) -> String) -> Result<(), String> {
        match &self.html {
            Some(path) => std::fs::write(path, page(self.listed()))
                .map_err(|e| format!("cannot write {}: {e}", path.display())),
            None => Ok(()),
        }
    }

    /// The key filter.
    pub fn filter(&self) -> Result<KeyFilter, slotshift::Error> {
        let mut f = KeyFilter::default();
        f.pattern.clone_from(&self.match_pattern);
        f.key_type.clone_from(&self.key_type);
        if let Some(s) = &self.slots {
            f.slots = Some(KeyFilter::parse_slots(s)?);
        }
        Ok(f)
    }
}

/// Ctrl-C once: stop cleanly (checkpoint saved); twice: exit at once.
pub fn cancel_flag() -> Result<Arc<AtomicBool>, std::io::Error> {
    let cancel = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register_conditional_shutdown(
        signal_hook::consts::SIGINT,
        130,
        cancel.clone(),
    )?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, cancel.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, cancel.clone())?;
    Ok(cancel)
}

/// After a Ctrl-C: says how to continue (the command line again, with `--resume`, when there
/// is a checkpoint) and exits 130.
pub fn interrupted(e: &Endpoints) -> ! {
    match &e.checkpoint {
        None if e.shared.coordinator.is_some() => {
            eprintln!("{}", crate::coordinator::INTERRUPTED);
        }
        Some(_) => {
            let args: Vec<String> = std::env::args().collect();
            eprintln!(
                "slotshift: interrupted; continue with: {}",
                resume_command(&args, e.resume)
            );
        }
        None => eprintln!("slotshift: interrupted (no --checkpoint: a new run starts over)"),
    }
    std::process::exit(exit::INTERRUPTED);
}

/// `args` quoted for a shell, `--resume` added unless `resumed`; a password in a URL is shown
/// as `***` (the line goes to logs: pass passwords with `--*-password-env` to get a line that
/// runs as printed).
fn resume_command(args: &[String], resumed: bool) -> String {
    let mut words: Vec<String> = args
        .iter()
        .map(|a| {
            let start = a.find("://").map_or(a.len(), |i| i + 3);
            let rest = &a[start..];
            match (rest.rfind('@'), rest.find(':')) {
                (Some(at), Some(colon)) if colon < at => {
                    format!("{}{}:***{}", &a[..start], &rest[..colon], &rest[at..])
                }
                _ => a.clone(),
            }
        })
        .collect();
    if !resumed {
        words.push("--resume".into());
    }
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// Arguments of `slotshift diff`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    ends: Endpoints,
    /// full (type, TTL, value), length (type, TTL, length) or outline (type, TTL).
    #[arg(long, default_value = "full")]
    mode: String,
    /// Do not scan the destination for keys the source lacks.
    #[arg(long)]
    no_reverse: bool,
}

pub fn run(args: Args) -> Result<Outcome, Box<dyn std::error::Error>> {
    let e = &args.ends;
    let mut opts = DiffOptions::default();
    opts.mode = DiffMode::parse(&args.mode)?;
    opts.filter = e.filter()?;
    opts.reverse = !args.no_reverse;
    opts.batch = e.batch;
    opts.workers = e.workers;
    opts.rate = e.rate;
    opts.ttl_tolerance = Duration::from_millis(e.ttl_tolerance);
    opts.rounds = e.rounds;
    opts.checkpoint.clone_from(&e.checkpoint);
    opts.resume = e.resume;
    opts.mismatch_log.clone_from(&e.mismatches);
    let (src, dst) = e.open()?;
    opts.cancel = Some(cancel_flag()?);
    let (display, progress) = e.progress()?;
    opts.progress = Some(progress);
    let report = match e.shared.open()? {
        Some((coordinator, shared)) => diff_shared(&src, &dst, &coordinator, &opts, &shared),
        None => diff(&src, &dst, &opts),
    };
    display.finish();
    let report = report?;
    e.write_html(|listed| html::transfer::diff_page(&report, listed))?;
    if e.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text_listing(e.listed()));
    }
    if !report.complete {
        interrupted(e);
    }
    Ok(Outcome::found_if(report.total_differences() > 0))
}

#[cfg(test)]
mod tests {
    use super::resume_command;

    #[test]
    fn the_resume_command_adds_resume_once_quotes_and_hides_url_passwords() {
        let args: Vec<String> = [
            "slotshift",
            "migrate",
            "--source",
            "redis://app:s3cret@old:6379/0",
            "--match",
            "user:* x",
            "--checkpoint",
            "cp",
        ]
        .map(String::from)
        .to_vec();
        let line = resume_command(&args, false);
        assert_eq!(
            line,
            "slotshift migrate --source 'redis://app:***@old:6379/0' --match 'user:* x' \
             --checkpoint cp --resume"
        );
        assert!(!resume_command(&args, true).contains("--resume"));
    }
}
