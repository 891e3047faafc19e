//! The CLI's logger: the core logs through `log` (config warnings such as an unknown key in a
//! config file, the validator's count mode, MultiStore failures); this prints those records on
//! stderr.
//!
//! Level: warnings and errors by default; `-v` info, `-vv` debug, `-vvv` trace (slotshift's
//! own records); `RUST_LOG` (env_logger's syntax, e.g. `RUST_LOG=slotshift=debug`) replaces
//! the default when set. The `redis` crate's records stay at info and below whatever is asked:
//! its debug and trace output is about connections and commands, and a command can carry a
//! password (`AUTH`).

use log::LevelFilter;

/// Installs the logger; `verbose` is how many times `-v` was given.
pub fn init(verbose: u8) {
    let own = match verbose {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let mut builder = env_logger::Builder::new();
    match std::env::var("RUST_LOG") {
        Ok(spec) => {
            builder.parse_filters(&spec);
        }
        Err(_) => {
            builder.filter_level(LevelFilter::Warn);
            builder.filter_module("slotshift", own);
        }
    }
    builder.filter_module("redis", LevelFilter::Info.min(own.max(LevelFilter::Warn)));
    builder.format_timestamp(None).format_target(false);
    // A second logger (a test harness's) is not an error.
    let _ = builder.try_init();
}
