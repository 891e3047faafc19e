//! The error family of the embedded test servers.

use std::time::Duration;

/// Errors starting or driving embedded `redis-server` topologies.
///
/// Messages name what was being done (the port, the command, the condition awaited). They never
/// contain a password: passwords are scrubbed from server log excerpts before they are attached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// `redis-server` could not be found.
    #[error(
        "redis-server not found on PATH (or in $SLOTSHIFT_REDIS_SERVER): install it, e.g. \
         `apt-get install redis-server redis-tools` (Debian/Ubuntu) or `brew install redis` (macOS)"
    )]
    NotInstalled,
    /// A process could not be spawned.
    #[error("could not spawn `{program}`: {source}")]
    Spawn {
        /// The program that was run.
        program: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file-system or signal operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A server exited while it was starting.
    #[error("redis-server on port {port} exited during start-up; end of its log:\n{log_tail}")]
    Exited {
        /// The port the server was given.
        port: u16,
        /// The last lines of its log and console output (passwords replaced by `***`).
        log_tail: String,
    },
    /// No free loopback port was found.
    #[error(
        "no free loopback port found after {attempts} attempts (cluster bus port needed: {bus})"
    )]
    NoFreePort {
        /// How many ports were tried.
        attempts: usize,
        /// Whether port + 10000 had to be free too.
        bus: bool,
    },
    /// A condition was not reached in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited, and what was last seen.
        what: String,
        /// How long it was awaited.
        after: Duration,
    },
    /// A command sent to a server failed.
    #[error("{what}: {source}")]
    Redis {
        /// The command and the node it was sent to.
        what: String,
        /// The client's or the server's error.
        #[source]
        source: redis::RedisError,
    },
    /// A server answered something the harness did not expect.
    #[error("unexpected reply: {0}")]
    Unexpected(String),
    /// The topology was asked for something it cannot do (bad option, unknown node, dead node).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl EmbeddedError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        EmbeddedError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn redis(what: impl Into<String>, source: redis::RedisError) -> Self {
        EmbeddedError::Redis {
            what: what.into(),
            source,
        }
    }
}
