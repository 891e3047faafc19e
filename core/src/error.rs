//! Errors: one `#[non_exhaustive]` enum per family under the umbrella [`Error`].
//!
//! The families map one-to-one onto the C result bands and the Ruby and Python exception
//! classes. That mapping is one table, `tests/fixtures/errors.json`, which every binding's
//! suite reads and checks: a new family is a new [`ErrorFamily`] variant and a new row there.

use thiserror::Error as ThisError;

/// The result type used throughout slotshift.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error slotshift returns.
#[derive(Debug, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// A hash slot value out of range.
    #[error(transparent)]
    Slot(#[from] crate::slot::SlotError),
    /// An unknown or malformed command.
    #[error(transparent)]
    Command(#[from] crate::command::CommandError),
    /// A bad URL, seed list or config file.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// An error reply from a server (`WRONGTYPE …`, `NOPERM …`), with its code and text.
    #[error(transparent)]
    Server(#[from] crate::reply::ServerError),
    /// A connection could not be opened, broke, or timed out (names the node).
    #[error(transparent)]
    Connection(#[from] crate::net::ConnectionError),
    /// A command could not be routed: redirect loops, unknown nodes, uncovered slots,
    /// cross-slot transactions, retry deadline, malformed topology.
    #[error(transparent)]
    Routing(#[from] crate::cluster::RoutingError),
    /// The CrossSlot batcher: a bad batch limit, a command that cannot be split across slots,
    /// a split command of which some parts failed.
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    /// The cross-slot validator refused a command (mode `raise`).
    #[error(transparent)]
    Validator(#[from] crate::validator::CrossSlotError),
    /// The keyspace analyzer: bad options, rules, checkpoints or replies.
    #[error(transparent)]
    Analyzer(#[from] crate::analyzer::AnalyzerError),
    /// The MultiStore: unknown commands in strict mode, bad flag values, options, names.
    #[error(transparent)]
    MultiStore(#[from] crate::multistore::MultiStoreError),
    /// Diff and migrate: bad options, same store on both sides, read-only destination,
    /// checkpoints, refused copies.
    #[error(transparent)]
    Migrate(#[from] crate::migrate::MigrateError),
    /// Embedded test servers could not be started or driven.
    #[cfg(feature = "embedded")]
    #[error(transparent)]
    Embedded(#[from] crate::testing::EmbeddedError),
}

/// The family of an [`Error`]: the stable name each binding maps to its own error type
/// (C result band, Python exception class, Ruby exception class — see
/// `tests/fixtures/errors.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorFamily {
    /// [`Error::Slot`]
    Slot,
    /// [`Error::Command`]
    Command,
    /// [`Error::Config`]
    Config,
    /// [`Error::Server`]
    Server,
    /// [`Error::Connection`]
    Connection,
    /// [`Error::Routing`]
    Routing,
    /// [`Error::Pipeline`]
    Pipeline,
    /// [`Error::Validator`]
    Validator,
    /// [`Error::Analyzer`]
    Analyzer,
    /// [`Error::MultiStore`]
    MultiStore,
    /// [`Error::Migrate`]
    Migrate,
    /// `Error::Embedded` (feature `embedded`)
    Embedded,
}

impl ErrorFamily {
    /// Every family, in the order of `tests/fixtures/errors.json`.
    pub const ALL: &'static [ErrorFamily] = &[
        ErrorFamily::Slot,
        ErrorFamily::Command,
        ErrorFamily::Config,
        ErrorFamily::Server,
        ErrorFamily::Connection,
        ErrorFamily::Routing,
        ErrorFamily::Pipeline,
        ErrorFamily::Validator,
        ErrorFamily::Analyzer,
        ErrorFamily::MultiStore,
        ErrorFamily::Embedded,
        ErrorFamily::Migrate,
    ];

    /// The family's stable name, as the fixture and the bindings spell it.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorFamily::Slot => "slot",
            ErrorFamily::Command => "command",
            ErrorFamily::Config => "config",
            ErrorFamily::Server => "server",
            ErrorFamily::Connection => "connection",
            ErrorFamily::Routing => "routing",
            ErrorFamily::Pipeline => "pipeline",
            ErrorFamily::Validator => "validator",
            ErrorFamily::Analyzer => "analyzer",
            ErrorFamily::MultiStore => "multistore",
            ErrorFamily::Embedded => "embedded",
            ErrorFamily::Migrate => "migrate",
        }
    }
}

impl Error {
    /// The family this error belongs to.
    pub fn family(&self) -> ErrorFamily {
        match self {
            Error::Slot(_) => ErrorFamily::Slot,
            Error::Command(_) => ErrorFamily::Command,
            Error::Config(_) => ErrorFamily::Config,
            Error::Server(_) => ErrorFamily::Server,
            Error::Connection(_) => ErrorFamily::Connection,
            Error::Routing(_) => ErrorFamily::Routing,
            Error::Pipeline(_) => ErrorFamily::Pipeline,
            Error::Validator(_) => ErrorFamily::Validator,
            Error::Analyzer(_) => ErrorFamily::Analyzer,
            Error::MultiStore(_) => ErrorFamily::MultiStore,
            Error::Migrate(_) => ErrorFamily::Migrate,
            #[cfg(feature = "embedded")]
            Error::Embedded(_) => ErrorFamily::Embedded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mapping table every binding reads names exactly the families the core has.
    #[test]
    fn fixture_lists_every_family_once() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/errors.json");
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let rows = doc["families"].as_array().unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r["family"].as_str().unwrap()).collect();
        let ours: Vec<&str> = ErrorFamily::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names, ours);
        let mut bands: Vec<u64> = rows.iter().map(|r| r["c_band"].as_u64().unwrap()).collect();
        bands.dedup();
        assert_eq!(bands.len(), rows.len(), "C bands are distinct");
        for r in rows {
            for field in ["python", "ruby"] {
                assert!(r[field].as_str().is_some_and(|s| !s.is_empty()), "{r}");
            }
        }
    }

    #[test]
    fn family_of_an_error() {
        let e = Error::from(crate::slot::SlotError(99_999));
        assert_eq!(e.family(), ErrorFamily::Slot);
        assert_eq!(e.family().name(), "slot");
    }
}
