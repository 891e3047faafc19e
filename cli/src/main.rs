//! The `slotshift` command. One module per subcommand; `main` only dispatches.

use clap::{Parser, Subcommand};

mod analyze;
mod coordinator;
#[cfg(feature = "servers")]
mod demo;
mod diff;
mod exit;
mod html;
mod logging;
mod migrate;
mod pipe;
mod progress;
#[cfg(feature = "servers")]
mod servers;
mod slot;
mod status;
mod target;
mod validate;

/// slotshift: move Redis data between deployments with zero downtime.
#[derive(Parser)]
#[command(name = "slotshift", version, about)]
struct Cli {
    /// More log output on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Keyspace patterns, memory, types and TTLs of a whole deployment (keys masked).
    Analyze(analyze::Args),
    /// Run the main job on an embedded topology (builds with the `servers` feature).
    #[cfg(feature = "servers")]
    Demo(demo::Args),
    /// Compare two deployments both ways: missing, extra, type, value, TTL (exit 1 on differences).
    Diff(diff::Args),
    /// Copy what is missing or different (DUMP/RESTORE ABSTTL), re-check, then diff.
    Migrate(migrate::Args),
    /// Send commands from stdin through the router (mass insertion into a cluster).
    Pipe(pipe::Args),
    /// Print the hash slot of each key.
    Slot(slot::Args),
    /// The health of a deployment: every cluster node's view, disagreements, shard sizes.
    Status(status::Args),
    /// Report the commands of a capture (MONITOR output or one per line) that a cluster would refuse as cross-slot.
    Validate(validate::Args),
    /// Start embedded redis-server topologies on loopback (for tests, demos and experiments;
    /// builds with the `servers` feature).
    #[cfg(feature = "servers")]
    Servers(servers::Args),
}

/// Exit codes: 0 done, 1 something found, 2 usage, 3 the run failed, 130 interrupted (see
/// [`exit`]).
fn main() {
    use exit::Outcome;
    let cli = Cli::parse();
    logging::init(cli.verbose);
    let clean = |r: Result<(), Box<dyn std::error::Error>>| r.map(|()| Outcome::Clean);
    let result = match cli.command {
        Command::Analyze(args) => clean(analyze::run(args)),
        #[cfg(feature = "servers")]
        Command::Demo(args) => clean(demo::run(args)),
        Command::Diff(args) => diff::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Pipe(args) => pipe::run(args),
        Command::Slot(args) => clean(slot::run(args)),
        Command::Status(args) => clean(status::run(args)),
        #[cfg(feature = "servers")]
        Command::Servers(args) => clean(servers::run(args)),
        Command::Validate(args) => validate::run(args),
    };
    if let Err(e) = &result {
        eprintln!("slotshift: {e}");
    }
    std::process::exit(exit::code(&result));
}
