//! The diff and migrate error family.

use thiserror::Error as ThisError;

/// What went wrong in [`diff`](super::diff) or [`migrate`](super::migrate).
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum MigrateError {
    /// An option has a value that cannot be used.
    #[error("invalid {name} {value:?}: {reason}")]
    InvalidOption {
        /// The option (`rate`, `slots`, `batch`, …).
        name: &'static str,
        /// The value given.
        value: String,
        /// What is expected.
        reason: String,
    },
    /// Source and destination reach the same server and database.
    #[error("source and destination are the same store (same server run id and database); refusing to copy a store onto itself")]
    SameStore,
    /// A destination master answers `ROLE` as a replica: writes would be refused.
    #[error("destination {node} is a read-only replica; give the master (or any cluster master) as the destination")]
    ReadOnlyDestination {
        /// `host:port` of that node.
        node: String,
    },
    /// A checkpoint could not be read or written.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A checkpoint was saved with other settings than this run's.
    #[error(
        "cannot resume from checkpoint {path}: its {setting} is {saved:?}, this run's is {now:?}; \
         run without --resume, or delete the file, to start a new run"
    )]
    ResumeMismatch {
        /// The checkpoint file.
        path: String,
        /// The setting that differs.
        setting: String,
        /// The checkpoint's value.
        saved: String,
        /// This run's value.
        now: String,
    },
    /// A checkpoint of a run that finished: there is nothing to resume (a run for keys left
    /// over is a new run).
    #[error(
        "checkpoint {path} is of a {job} that finished; run without --resume, or delete the \
         file, to start a new run"
    )]
    CheckpointFinished {
        /// The checkpoint file.
        path: String,
        /// `diff` or `migrate`.
        job: String,
    },
    /// A shared job's coordinator refused or failed (see [`shared`](super::shared)).
    #[error("shared job {job:?}: {reason}")]
    Shared {
        /// The job's name.
        job: String,
        /// What failed.
        reason: String,
    },
    /// A process joined a shared job that other processes run with other settings.
    #[error(
        "cannot join shared job {job:?}: its {setting} is {saved:?}, this process's is {now:?}; \
         run with the job's settings, or give another job name to start a new job"
    )]
    SharedMismatch {
        /// The job's name.
        job: String,
        /// The setting that differs.
        setting: String,
        /// The job's value.
        saved: String,
        /// This process's value.
        now: String,
    },
    /// The destination refused a key's `RESTORE` or rewrite.
    #[error("copy of key {key} to the destination failed: {reason}")]
    Copy {
        /// The key, escaped.
        key: String,
        /// The server's answer.
        reason: String,
    },
    /// A reply had an unexpected shape.
    #[error("unexpected reply to {command}: {detail}")]
    Reply {
        /// The command.
        command: &'static str,
        /// What came back.
        detail: String,
    },
    /// The keyspace walk failed (a slot that kept moving, a malformed listing, a resume that
    /// does not fit the store).
    #[error(transparent)]
    Walk(#[from] crate::keyspace::WalkError),
    /// A reply that should have come back did not (a pipeline returned fewer replies than
    /// commands sent).
    #[error("no reply to {command} (a pipeline returned fewer replies than commands)")]
    MissingReply {
        /// The command.
        command: &'static str,
    },
    /// The mismatch log could not be written.
    #[error("mismatch log {path}: {reason}")]
    MismatchLog {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
}

impl MigrateError {
    pub(crate) fn invalid(name: &'static str, value: impl ToString, reason: &str) -> MigrateError {
        MigrateError::InvalidOption {
            name,
            value: value.to_string(),
            reason: reason.to_owned(),
        }
    }
}
