//! The `slotshift` command. One module per subcommand; `main` only dispatches.

use clap::{Parser, Subcommand};

mod demo;
mod servers;
mod slot;

/// slotshift: move Redis data between deployments with zero downtime.
#[derive(Parser)]
#[command(name = "slotshift", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the main job on an embedded topology.
    Demo(demo::Args),
    /// Print the hash slot of each key.
    Slot(slot::Args),
    /// Start embedded redis-server topologies on loopback (for tests, demos and experiments).
    Servers(servers::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Slot(args) => slot::run(args),
        Command::Servers(args) => servers::run(args),
    };
    if let Err(e) = result {
        eprintln!("slotshift: {e}");
        std::process::exit(1);
    }
}
