//! Connection-level failures: what failed below the protocol, naming the node, never a secret.

use std::fmt;

use crate::net::NodeAddr;

/// What kind of connection failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionErrorKind {
    /// The connection could not be opened (refused, unknown host, TLS handshake).
    Connect,
    /// The server refused the credentials (`WRONGPASS`, `NOAUTH`, `NOPERM` at connect).
    Auth,
    /// No reply within the timeout.
    Timeout,
    /// The connection broke.
    Io,
    /// The server sent bytes that are not RESP, or too many/few replies.
    Protocol,
}

impl fmt::Display for ConnectionErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionErrorKind::Connect => "connect failed",
            ConnectionErrorKind::Auth => "authentication failed",
            ConnectionErrorKind::Timeout => "timed out",
            ConnectionErrorKind::Io => "connection lost",
            ConnectionErrorKind::Protocol => "protocol error",
        })
    }
}

/// A connection-level failure, naming the node (never a password).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{node}: {kind}: {message}{}", if *.outcome_unknown { " (the command may have run)" } else { "" })]
#[non_exhaustive]
pub struct ConnectionError {
    /// The node's address.
    pub node: String,
    /// What failed.
    pub kind: ConnectionErrorKind,
    /// Details from the I/O layer.
    pub message: String,
    /// True when the command may have reached the server before the failure.
    pub outcome_unknown: bool,
}

impl ConnectionError {
    pub(crate) fn new(
        node: &NodeAddr,
        kind: ConnectionErrorKind,
        message: String,
    ) -> ConnectionError {
        ConnectionError {
            node: node.to_string(),
            kind,
            message,
            outcome_unknown: false,
        }
    }

    pub(crate) fn outcome_unknown(mut self) -> ConnectionError {
        self.outcome_unknown = !matches!(
            self.kind,
            ConnectionErrorKind::Connect | ConnectionErrorKind::Auth
        );
        self
    }

    pub(crate) fn from_redis(
        node: &NodeAddr,
        e: &redis::RedisError,
        connecting: bool,
    ) -> ConnectionError {
        let code = e.code().unwrap_or_default();
        let kind = if matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
            || matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM")
        {
            ConnectionErrorKind::Auth
        } else if e.is_timeout() {
            ConnectionErrorKind::Timeout
        } else if matches!(e.kind(), redis::ErrorKind::Parse) {
            ConnectionErrorKind::Protocol
        } else if connecting {
            ConnectionErrorKind::Connect
        } else {
            ConnectionErrorKind::Io
        };
        ConnectionError::new(node, kind, e.to_string())
    }
}

/// The last failure of a command that is being retried: what the command ends with when the
/// retry deadline passes.
#[derive(Debug, Clone)]
pub(crate) enum LastFailure {
    /// Its connection failed (could not connect, was lost, timed out).
    Connection(ConnectionError),
    /// The server answered with a retryable refusal (TRYAGAIN, LOADING, CLUSTERDOWN …), or
    /// its redirects did not settle.
    Refused(String),
}

impl LastFailure {
    /// The error a command ends with after `elapsed` of retries. A connection failure stays a
    /// connection error, saying how long it was retried: a server that cannot be reached is a
    /// connection failure to the caller however long the core tried (and callers, redis-rb's
    /// and redis-py's rescues among them, tell failures apart by that class). Anything else is
    /// a [`RoutingError::DeadlineExceeded`](crate::cluster::RoutingError::DeadlineExceeded).
    pub(crate) fn gave_up(self, elapsed: std::time::Duration) -> crate::Error {
        match self {
            LastFailure::Connection(mut c) => {
                c.message = format!(
                    "{} (retried for {elapsed:.0?}: the retry deadline)",
                    c.message
                );
                crate::Error::Connection(c)
            }
            LastFailure::Refused(last) => {
                crate::Error::Routing(crate::cluster::RoutingError::DeadlineExceeded {
                    elapsed,
                    last,
                })
            }
        }
    }
}
