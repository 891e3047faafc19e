//! The flags of a job shared by several processes (`--coordinator URL --job NAME …`), for
//! `migrate`, `diff` and `analyze` (see `docs/migrate.md`, "One job, several processes").

use std::time::Duration;

use slotshift::migrate::SharedOptions;
use slotshift::store::Store;

use crate::target::PasswordFlags;

/// What an interrupted process of a shared job says (the ranges it finished are recorded).
pub const INTERRUPTED: &str = "slotshift: interrupted; the ranges done are recorded: run the \
                               same command again to continue the shared job";

/// Flags that make this process one of several sharing a job.
#[derive(clap::Args)]
pub struct Flags {
    /// Share the job with other processes (on this machine or others) through this Redis:
    /// each leases slot ranges from it, and every process prints the merged report. Any Redis
    /// will do, the destination included. Run the same command line in each process.
    #[arg(
        long,
        value_name = "URL",
        visible_alias = "workers-from",
        requires = "job",
        conflicts_with = "checkpoint"
    )]
    pub coordinator: Option<String>,
    /// The shared job's name: processes with the same name share one job (letters, digits,
    /// '.', '_', '-'). Run again with the same name to continue after a stop; a new run takes a
    /// new name.
    #[arg(long, value_name = "NAME", requires = "coordinator")]
    pub job: Option<String>,
    /// Ranges a shared job cuts the slots into (the first process decides): default 64 for a
    /// cluster, 8 for a single server (each range of a single server scans it whole).
    #[arg(long, value_name = "N", requires = "coordinator")]
    pub ranges: Option<u16>,
    /// Ranges this process works on at once: default 4 for a cluster (on different masters),
    /// 1 for a single server.
    #[arg(long, value_name = "N", requires = "coordinator")]
    pub ranges_at_once: Option<usize>,
    /// Seconds a shared job's range stays leased to a process that stopped renewing it.
    #[arg(long, value_name = "S", default_value_t = 30, requires = "coordinator")]
    pub lease: u64,
    /// The coordinator's password from this environment variable.
    #[arg(long, value_name = "NAME", requires = "coordinator")]
    pub coordinator_password_env: Option<String>,
}

impl Flags {
    /// The coordinator and this process's part in the job, when `--coordinator` asks for one.
    pub fn open(&self) -> Result<Option<(Store, SharedOptions)>, Box<dyn std::error::Error>> {
        let (Some(url), Some(job)) = (&self.coordinator, &self.job) else {
            return Ok(None);
        };
        let store = crate::diff::open(
            &Some(url.clone()),
            &None,
            &PasswordFlags {
                env: self.coordinator_password_env.as_deref(),
                file: None,
                flag: "--coordinator-password",
                redis_cli_auth: false,
            },
            "coordinator",
        )?;
        let mut opts = SharedOptions::new(job.clone());
        opts.ranges = self.ranges;
        opts.at_once = self.ranges_at_once;
        opts.lease = Duration::from_secs(self.lease);
        Ok(Some((store, opts)))
    }
}
