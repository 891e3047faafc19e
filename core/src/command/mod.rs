//! Commands and the key table (being built: see issue 2).

/// Errors about a command: unknown name, wrong number of arguments.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command is not in the key table.
    #[error("unknown command '{0}'")]
    Unknown(String),
}
