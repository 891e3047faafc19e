//! `slotshift migrate`: copy what is missing or different, then diff (see `docs/migrate.md`).

use std::time::Duration;

use slotshift::migrate::{migrate, migrate_shared, CopyMethod, MigrateOptions};

use crate::diff::{cancel_flag, interrupted, Endpoints};
use crate::exit::Outcome;

/// Arguments of `slotshift migrate`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    ends: Endpoints,
    /// auto (DUMP/RESTORE, type-by-type rewrite if the destination refuses the format), dump,
    /// or rewrite.
    #[arg(long, default_value = "auto")]
    method: String,
    /// Copy every scanned key without comparing first (fastest into an empty destination).
    #[arg(long)]
    no_compare: bool,
    /// Delete destination keys the source does not have.
    #[arg(long)]
    delete_extra: bool,
    /// Write only keys the destination lacks; keep what it has (a backfill under dual-write:
    /// the destination's copy is the newer, and a copy in flight never overwrites it).
    #[arg(long)]
    missing_only: bool,
    /// Write nothing; report what would be copied.
    #[arg(long)]
    dry_run: bool,
    /// Skip the final diff.
    #[arg(long)]
    no_final_diff: bool,
}

pub fn run(args: Args) -> Result<Outcome, Box<dyn std::error::Error>> {
    let e = &args.ends;
    let mut opts = MigrateOptions::default();
    opts.method = match args.method.as_str() {
        "auto" => CopyMethod::Auto,
        "dump" => CopyMethod::Dump,
        "rewrite" => CopyMethod::Rewrite,
        other => {
            return Err(
                format!("invalid --method {other:?}: expected auto, dump or rewrite").into(),
            )
        }
    };
    opts.filter = e.filter()?;
    opts.compare = !args.no_compare;
    opts.delete_extra = args.delete_extra;
    opts.missing_only = args.missing_only;
    opts.dry_run = args.dry_run;
    opts.final_diff = !args.no_final_diff;
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
        Some((coordinator, shared)) => migrate_shared(&src, &dst, &coordinator, &opts, &shared),
        None => migrate(&src, &dst, &opts),
    };
    display.finish();
    let report = report?;
    e.write_html(|listed| crate::html::transfer::migrate_page(&report, listed))?;
    if e.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text_listing(e.listed()));
    }
    if !report.complete {
        interrupted(e);
    }
    Ok(Outcome::found_if(
        report
            .final_diff
            .as_ref()
            .is_some_and(|d| d.total_differences() > 0),
    ))
}
