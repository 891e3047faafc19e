//! Connections of the caller's own, for what the store's shared, multiplexed connections
//! cannot carry:
//!
//! - [`Session`]: requests and replies on one dedicated connection to one node, for state
//!   that lives on a connection (`WATCH` … `MULTI`/`EXEC`, `SELECT`, `CLIENT SETNAME`,
//!   `CLIENT TRACKING`), and for blocking commands the caller may abandon;
//! - [`Subscriber`]: pub/sub (`SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` and their opposites),
//!   its messages and confirmations read one at a time, with a timeout;
//! - [`Monitor`]: a server's command log (`MONITOR`), one line at a time, with a timeout.
//!
//! Both open with the store's connection settings (address, auth, database, TLS, timeouts)
//! and go to the node a [`Target`] names. Commands pass the store's validator and are counted
//! by its instrumentation, as the store's own calls are.
//!
//! Neither reconnects on its own: what the connection held (a `WATCH`, the selected database,
//! subscriptions) would be silently gone on a new one. After a connection loss, a timeout, or a
//! request abandoned halfway (its future dropped, e.g. an interrupted blocking pop), the
//! connection is closed — the server drops whatever it held for it, a pending blocking pop
//! included — and every later request fails with an error that says why. Open a new one.
//!
//! ```no_run
//! use slotshift::command::Cmd;
//! use slotshift::session::{Session, Target};
//! use slotshift::store::Store;
//!
//! # fn main() -> slotshift::Result<()> {
//! let store = Store::open("redis://127.0.0.1:6379")?;
//! let session = Session::open(&store, &Target::Key(b"balance".to_vec()))?;
//! session.call(&Cmd::from_args(&["WATCH", "balance"]))?;
//! let balance = session.call(&Cmd::from_args(&["GET", "balance"]))?;
//! // … compute, then write only if nobody else did in between:
//! let replies = session.pipeline(&[
//!     Cmd::from_args(&["MULTI"]),
//!     Cmd::from_args(&["SET", "balance", "42"]),
//!     Cmd::from_args(&["EXEC"]),
//! ])?;
//! # let _ = (balance, replies);
//! # Ok(())
//! # }
//! ```

mod monitor;
mod subscriber;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;

use crate::command::Cmd;
use crate::instrument::Via;
use crate::net::node::{NodeConn, PushSender};
use crate::net::{ConnectionError, ConnectionErrorKind, NodeAddr};
use crate::reply::{Reply, ServerError};
use crate::slot::{key_slot, Slot};
use crate::store::Store;
use crate::{Error, Result};

pub use monitor::Monitor;
pub use subscriber::{Subscriber, Subscription};

/// Which node a session or subscriber connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// The server (standalone), the master Sentinel names, or on a cluster the master that
    /// serves slot 0 (pub/sub `SUBSCRIBE`/`PUBLISH` reach every node of a cluster).
    Default,
    /// The master that serves this key's slot (the one server when not a cluster).
    Key(Vec<u8>),
    /// The master that serves this slot (the one server when not a cluster).
    Slot(Slot),
    /// This node, which must be the server or a node of the cluster's map.
    Node(NodeAddr),
}

impl Target {
    async fn node(&self, store: &Store) -> Result<Arc<NodeConn>> {
        match self {
            Target::Default => store.node_for_slot(Slot::MIN).await,
            Target::Key(key) => store.node_for_slot(key_slot(key)).await,
            Target::Slot(slot) => store.node_for_slot(*slot).await,
            Target::Node(addr) => store.node_at(addr).await,
        }
    }
}

/// The connection of a [`Session`] or [`Subscriber`]: open, or closed with the reason; with
/// the store whose settings and hooks it uses.
struct Line {
    store: Store,
    addr: NodeAddr,
    response_timeout: Duration,
    state: Mutex<std::result::Result<MultiplexedConnection, String>>,
}

impl Line {
    /// Opens a dedicated connection to the node `target` names (RESP3 with `push` given).
    async fn open(store: &Store, target: &Target, push: Option<PushSender>) -> Result<Line> {
        let node = target.node(store).await?;
        let conn = node.open_dedicated(None, push).await?;
        Ok(Line {
            store: store.clone(),
            addr: node.addr.clone(),
            response_timeout: store.options().response_timeout,
            state: Mutex::new(Ok(conn)),
        })
    }

    /// `name { node, open }`, for the Debug of a session or subscriber (no secret in it).
    fn debug_as(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("node", &self.addr)
            .field("open", &self.is_open())
            .finish()
    }

    /// The open connection, or the error that says why it is closed.
    fn conn(&self) -> Result<MultiplexedConnection> {
        match &*self.state.lock() {
            Ok(conn) => Ok(conn.clone()),
            Err(why) => Err(Error::Connection(ConnectionError::new(
                &self.addr,
                ConnectionErrorKind::Io,
                format!("this session is closed ({why}); open a new one"),
            ))),
        }
    }

    /// Closes the connection (the server drops what it held for it) and keeps `why`.
    fn close(&self, why: String) {
        let mut state = self.state.lock();
        if state.is_ok() {
            *state = Err(why);
        }
    }

    fn is_open(&self) -> bool {
        self.state.lock().is_ok()
    }

    /// Runs one request on the connection within `timeout` (`None`: no limit). A timeout, a
    /// connection failure, or the request's future dropped before it finished closes the
    /// connection: its replies are out of step from then on.
    async fn request<T>(
        &self,
        timeout: Option<Duration>,
        what: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T> {
        let mut armed = CloseUnlessDone {
            line: self,
            done: false,
        };
        let outcome = match timeout {
            Some(limit) => tokio::time::timeout(limit, what).await.ok(),
            None => Some(what.await),
        };
        armed.done = true;
        match outcome {
            Some(result) => result.map_err(|e| self.failed(&e)),
            None => {
                let limit = timeout.unwrap_or_default();
                let e = ConnectionError::new(
                    &self.addr,
                    ConnectionErrorKind::Timeout,
                    format!("no reply within {limit:?}"),
                )
                .outcome_unknown();
                self.close(e.to_string());
                Err(Error::Connection(e))
            }
        }
    }

    /// A failed request's error: a server's error reply as [`Error::Server`] (the connection
    /// stays open); anything else closes the connection.
    fn failed(&self, e: &redis::RedisError) -> Error {
        if let (Some(code), false) = (e.code(), e.is_io_error() || e.is_unrecoverable_error()) {
            return Error::Server(ServerError::new(code, e.detail().unwrap_or_default()));
        }
        let e = ConnectionError::from_redis(&self.addr, e, false).outcome_unknown();
        self.close(e.to_string());
        Error::Connection(e)
    }
}

/// Closes the line when a request's future is dropped before the request finished.
struct CloseUnlessDone<'a> {
    line: &'a Line,
    done: bool,
}

impl Drop for CloseUnlessDone<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.line
                .close("a request was abandoned before its reply came".into());
        }
    }
}

/// A reply as the caller gets it: an error reply is `Err(Error::Server)`.
fn final_reply(value: redis::Value) -> Result<Reply> {
    match Reply::from_value(value) {
        Reply::Error(e) => Err(Error::Server(e)),
        reply => Ok(reply),
    }
}

/// Requests and replies on one dedicated connection to one node (see the [module](self)).
/// Safe to share between threads; requests from several threads go out in turn on the one
/// connection, so state set by one (a `WATCH`) is seen by the others.
pub struct Session {
    line: Line,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.line.debug_as("Session", f)
    }
}

impl Session {
    /// Opens a connection of its own to the node `target` names.
    pub fn open(store: &Store, target: &Target) -> Result<Session> {
        crate::store::block_on(Session::open_async(store, target))?
    }

    /// [`Session::open`] for async callers.
    pub async fn open_async(store: &Store, target: &Target) -> Result<Session> {
        Ok(Session {
            line: Line::open(store, target, None).await?,
        })
    }

    /// The node this session is connected to.
    pub fn node(&self) -> &NodeAddr {
        &self.line.addr
    }

    /// Whether the connection is still open (false after a failure, a timeout, an abandoned
    /// request or [`Session::close`]).
    pub fn is_open(&self) -> bool {
        self.line.is_open()
    }

    /// Closes the connection; later requests fail.
    pub fn close(&self) {
        self.line.close("closed by the caller".into());
    }

    /// How long a reply to `cmds` may take: the response timeout, plus the longest wait a
    /// blocking command among them asks for (`None`: one of them may block for ever).
    fn timeout_for(&self, cmds: &[Cmd]) -> Option<Duration> {
        let mut wait = Duration::ZERO;
        for cmd in cmds {
            match crate::net::unit::blocking_wait(cmd) {
                Some(None) => return None,
                Some(Some(w)) => wait = wait.max(w),
                None => {}
            }
        }
        Some(self.line.response_timeout.saturating_add(wait))
    }

    /// Sends one command; an error reply is `Err(Error::Server)` and leaves the session open.
    pub fn call(&self, cmd: &Cmd) -> Result<Reply> {
        crate::store::block_on(std::pin::pin!(self.call_async(cmd)))?
    }

    /// [`Session::call`] for async callers.
    pub async fn call_async(&self, cmd: &Cmd) -> Result<Reply> {
        let hooks = self.line.store.hooks();
        let probe = hooks.before(std::slice::from_ref(cmd), Via::Call)?;
        let result = self.send(cmd).await;
        hooks.after_call(probe, cmd, &result);
        result
    }

    async fn send(&self, cmd: &Cmd) -> Result<Reply> {
        let mut conn = self.line.conn()?;
        let packed = cmd.to_redis();
        let timeout = self.timeout_for(std::slice::from_ref(cmd));
        final_reply(
            self.line
                .request(timeout, conn.send_packed_command(&packed))
                .await?,
        )
    }

    /// Sends `cmds` as one write and reads one reply for each, in order; an error reply is an
    /// `Err` in its place. `MULTI` … `EXEC` inside `cmds` is a transaction as the server runs
    /// it (after a `WATCH` on this session, `EXEC` replies nil when a watched key changed).
    pub fn pipeline(&self, cmds: &[Cmd]) -> Result<Vec<Result<Reply>>> {
        crate::store::block_on(std::pin::pin!(self.pipeline_async(cmds)))?
    }

    /// [`Session::pipeline`] for async callers.
    pub async fn pipeline_async(&self, cmds: &[Cmd]) -> Result<Vec<Result<Reply>>> {
        let hooks = self.line.store.hooks();
        let probe = hooks.before(cmds, Via::Pipeline)?;
        let result = self.send_all(cmds).await;
        hooks.after_pipeline(probe, cmds, &result);
        result
    }

    async fn send_all(&self, cmds: &[Cmd]) -> Result<Vec<Result<Reply>>> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.line.conn()?;
        let mut pipe = redis::Pipeline::with_capacity(cmds.len());
        for cmd in cmds {
            pipe.add_command(cmd.to_redis());
        }
        let timeout = self.timeout_for(cmds);
        let values = self
            .line
            .request(timeout, conn.send_packed_commands(&pipe, 0, cmds.len()))
            .await?;
        if values.len() != cmds.len() {
            let e = ConnectionError::new(
                &self.line.addr,
                ConnectionErrorKind::Protocol,
                format!("expected {} replies, got {}", cmds.len(), values.len()),
            )
            .outcome_unknown();
            self.line.close(e.to_string());
            return Err(Error::Connection(e));
        }
        Ok(values.into_iter().map(final_reply).collect())
    }
}
