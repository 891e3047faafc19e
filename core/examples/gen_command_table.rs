//! Regenerates `core/src/command/table.rs`, the committed key table, from a real redis-server.
//!
//! ```text
//! cargo run -p slotshift --features embedded --example gen_command_table            # write
//! cargo run -p slotshift --features embedded --example gen_command_table -- --check # compare
//! cargo run -p slotshift --features embedded --example gen_command_table -- --url redis://127.0.0.1:6379 [PATH]
//! ```
//!
//! Without `--url` it starts its own redis-server (`slotshift::testing::Standalone`) on a free
//! loopback port and stops it afterwards. The table is read with `KeyTable::from_server`, the
//! same code a running application uses to refresh the table, and rendered as static Rust data.

use slotshift::command::KeyTable;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gen_command_table: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut url = None;
    let mut check = false;
    let mut path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/command/table.rs");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--url" => url = Some(args.next().ok_or("--url needs a value")?),
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: gen_command_table [--url URL] [--check] [PATH]");
                return Ok(ExitCode::SUCCESS);
            }
            p if !p.starts_with('-') => path = PathBuf::from(p),
            other => return Err(format!("unknown option '{other}'").into()),
        }
    }

    let table = match url {
        Some(url) => {
            let mut conn = redis::Client::open(url.as_str())?.get_connection()?;
            KeyTable::from_server(&mut conn)?
        }
        None => {
            let server = slotshift::testing::Standalone::start()?;
            let mut conn = server.client().get_connection()?;
            KeyTable::from_server(&mut conn)?
        }
    };
    let source = table.to_rust_source();

    if check {
        let current = std::fs::read_to_string(&path)?;
        if current == source {
            println!(
                "{} is up to date (Redis {})",
                path.display(),
                table.server_version()
            );
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "{} differs from the table of Redis {}: regenerate it",
            path.display(),
            table.server_version()
        );
        return Ok(ExitCode::FAILURE);
    }
    std::fs::write(&path, source)?;
    println!(
        "wrote {} ({} commands, Redis {})",
        path.display(),
        table.commands().len(),
        table.server_version()
    );
    Ok(ExitCode::SUCCESS)
}
