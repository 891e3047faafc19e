//! Errors: one `#[non_exhaustive]` enum per family under the umbrella [`Error`].
//!
//! The families map one-to-one onto the C result bands and the Ruby and Python exception
//! classes, so a new family is a new row in every binding's mapping table.

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
    Connection(#[from] crate::store::ConnectionError),
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
    /// Embedded test servers could not be started or driven.
    #[cfg(feature = "embedded")]
    #[error(transparent)]
    Embedded(#[from] crate::testing::EmbeddedError),
}
