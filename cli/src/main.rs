//! The `slotshift` command.

use clap::{Parser, Subcommand};

/// slotshift: move Redis data between deployments with zero downtime.
#[derive(Parser)]
#[command(name = "slotshift", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the hash slot of each key.
    Slot {
        /// Print JSON: [{"key": ..., "slot": ...}, ...].
        #[arg(long)]
        json: bool,
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Slot { json, keys } => slot(json, &keys),
    };
    std::process::exit(code);
}

fn slot(json: bool, keys: &[String]) -> i32 {
    if json {
        let rows: Vec<_> = keys
            .iter()
            .map(|k| serde_json::json!({"key": k, "slot": slotshift::key_slot(k.as_bytes()).get()}))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for k in keys {
            println!("{}\t{}", slotshift::key_slot(k.as_bytes()), k);
        }
    }
    0
}
