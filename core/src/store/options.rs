//! Store options and connection errors.

use std::fmt;
use std::time::Duration;

use crate::cluster::NodeAddr;

/// How a store connects, times out and retries. Start from `StoreOptions::default()` and set
/// the fields you need.
///
/// ```
/// use std::time::Duration;
/// let mut opts = slotshift::store::StoreOptions::default();
/// opts.response_timeout = Duration::from_millis(500);
/// opts.read_from_replicas = true;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Time allowed to open a connection (TCP, TLS, AUTH/HELLO). Default 2 s.
    pub connect_timeout: Duration,
    /// Time allowed for a reply (a whole pipeline's replies) once sent. Default 2 s.
    pub response_timeout: Duration,
    /// Total time a command may spend being retried (TRYAGAIN, CLUSTERDOWN, LOADING, connection
    /// loss, failover). Default 10 s.
    pub retry_deadline: Duration,
    /// Redirects (MOVED, ASK) followed per command before giving up. Default 16.
    pub max_redirects: usize,
    /// A topology refresh is not repeated sooner than this (MOVED storms, CLUSTERDOWN). Default
    /// 100 ms.
    pub min_refresh_interval: Duration,
    /// First backoff pause; it doubles each round up to `backoff_max`. Default 10 ms.
    pub backoff_base: Duration,
    /// Longest backoff pause. Default 400 ms.
    pub backoff_max: Duration,
    /// Send read-only commands to replicas (which get `READONLY`). Default false.
    pub read_from_replicas: bool,
    /// Treat every write as safe to send twice: after a connection loss where the command may
    /// have reached the server, re-send it instead of returning an "outcome unknown" error.
    /// Right for SET-style workloads, wrong for INCR/LPUSH. Default false.
    pub idempotent_writes: bool,
    /// The store's name: the `instance_name` label of its metrics, the key of its validator
    /// counts, shown in cross-slot errors (`cache`, `shared_state`). Default `default`.
    pub name: String,
    /// Count calls, durations, bytes, errors per command ([`crate::instrument`]). Off, a call
    /// reads no clock and counts nothing. Default true.
    pub instrument: bool,
    /// Commands per batch the CrossSlot batcher sends to one node; `None`: the environment
    /// ([`crate::pipeline::resolve_batch_limit`]), else 1000.
    pub batch_limit: Option<usize>,
    /// This store's cross-slot validation mode; `None`: the global mode
    /// ([`crate::validator::mode`]).
    pub cross_slot_validation: Option<crate::validator::Mode>,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            retry_deadline: Duration::from_secs(10),
            max_redirects: 16,
            min_refresh_interval: Duration::from_millis(100),
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(400),
            read_from_replicas: false,
            idempotent_writes: false,
            name: "default".to_owned(),
            instrument: true,
            batch_limit: None,
            cross_slot_validation: None,
        }
    }
}

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
