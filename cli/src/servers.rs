//! `slotshift servers up …` (being built: see issue 2).

/// Arguments of `slotshift servers`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<(), Box<dyn std::error::Error>> {
    Err("slotshift servers: not built yet".into())
}
