//! `slotshift slot [--json] KEY…`

/// Arguments of `slotshift slot`.
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON: [{"key": ..., "slot": ...}, ...].
    #[arg(long)]
    json: bool,
    /// The keys.
    #[arg(required = true)]
    keys: Vec<String>,
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.json {
        let rows: Vec<_> = args
            .keys
            .iter()
            .map(|k| serde_json::json!({"key": k, "slot": slotshift::key_slot(k.as_bytes()).get()}))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for k in &args.keys {
            println!("{}\t{}", slotshift::key_slot(k.as_bytes()), k);
        }
    }
    Ok(())
}
