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
        // The crate's text for a timeout is "timed out" again: say which timeout instead.
        let message = match kind {
            ConnectionErrorKind::Timeout if connecting => {
                "no answer within the connect timeout".to_owned()
            }
            ConnectionErrorKind::Timeout => "no reply within the response timeout".to_owned(),
            _ => e.to_string(),
        };
        ConnectionError::new(node, kind, message)
    }
}
