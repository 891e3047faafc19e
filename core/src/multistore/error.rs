//! The MultiStore's error family.

/// What the MultiStore itself refuses (errors of the stores it wraps are returned as they are:
/// [`Error::Server`](crate::Error::Server), [`Error::Connection`](crate::Error::Connection),
/// [`Error::Routing`](crate::Error::Routing)).
///
/// Messages name the instance, the command name, the variable or the option, never a key or a
/// value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MultiStoreError {
    /// Strict mode: a command the key table does not know, so the MultiStore cannot tell whether
    /// it writes (and must go to both stores) or reads.
    #[error(
        "multistore '{instance}': unknown command '{command}' (strict mode); unknown commands \
         go to the default store only, which would not dual-write it"
    )]
    UnknownCommand {
        /// The instance name.
        instance: String,
        /// The command name as given (upper-cased).
        command: String,
    },
    /// An environment variable holds something that is not a boolean.
    #[error(
        "environment variable {variable}={value:?} is not a boolean (use true/false, 1/0, \
         yes/no, on/off)"
    )]
    InvalidFlagValue {
        /// The variable (`USE_PRIMARY_AND_SECONDARY_STORES_FOR_SESSIONS`).
        variable: String,
        /// The value found (shortened to 64 characters).
        value: String,
    },
    /// The flags key in Redis holds a field that is not a boolean.
    #[error("multistore flags key '{key}': field {field}={value:?} is not a boolean")]
    InvalidSharedFlag {
        /// The flags key.
        key: String,
        /// The hash field (the flag's name).
        field: String,
        /// The value found (shortened to 64 characters).
        value: String,
    },
    /// The flags key in Redis could not be read or written.
    #[error("multistore flags key '{key}' could not be {action}: {source}")]
    SharedFlags {
        /// The flags key.
        key: String,
        /// `read` or `written`.
        action: &'static str,
        /// What the store answered.
        #[source]
        source: Box<crate::Error>,
    },
    /// The application's flag callback ([`FlagSource::Callback`](super::FlagSource::Callback))
    /// failed or panicked while the MultiStore was being built, or the flags were set on a
    /// MultiStore whose flags belong to the application.
    #[error("multistore flag {flag}: {reason}")]
    FlagCallback {
        /// The flag's name.
        flag: String,
        /// What went wrong.
        reason: String,
    },
    /// An option is out of range.
    #[error("multistore option {option}={value} is invalid: {reason}")]
    InvalidOption {
        /// The option's name (`primary_read_percentage`).
        option: &'static str,
        /// The value given.
        value: String,
        /// The allowed range.
        reason: &'static str,
    },
    /// The instance name is empty, has no letter or digit to build flag names from, or has a
    /// character other than ASCII letters, digits, `_`, `-` and `.`.
    #[error("multistore instance name {0:?} is invalid: use ASCII letters, digits, '_', '-' or '.', with at least one letter or digit")]
    InvalidName(String),
}

/// Shortens a value quoted in an error (at most 64 characters).
pub(crate) fn shorten(value: &str) -> String {
    crate::text::shorten(value, 64)
}
