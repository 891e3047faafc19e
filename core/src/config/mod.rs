//! Connection configuration (being built: see issue 2).

/// Errors in URLs, seed lists and config files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL that cannot be parsed.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
}
