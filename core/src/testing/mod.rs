//! Real redis-server topologies on loopback (being built: see issue 2).

/// Errors starting or driving embedded servers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// `redis-server` is not installed.
    #[error("redis-server not found")]
    NotInstalled,
}
