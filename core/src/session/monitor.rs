//! [`Monitor`]: a connection that runs `MONITOR`.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};

use super::Target;
use crate::net::{ConnectionError, ConnectionErrorKind, NodeAddr};
use crate::store::Store;
use crate::{Error, Result};

type Lines = Pin<Box<dyn Stream<Item = String> + Send + Sync>>;

/// A connection of the caller's own that runs `MONITOR` on one node: every command the node
/// runs, as the server logs it (`1733390400.123456 [0 127.0.0.1:50000] "SET" "k" "v"`), one
/// line at a time. Opened with the store's connection settings on the node a [`Target`]
/// names; never reconnects (lines missed while it was away would be silently gone).
///
/// `MONITOR` costs the server: every command it runs is written to each monitor. Use it to
/// look, not to collect.
///
/// ```no_run
/// use std::time::Duration;
/// use slotshift::session::{Monitor, Target};
/// use slotshift::store::Store;
///
/// # fn main() -> slotshift::Result<()> {
/// let store = Store::open("redis://127.0.0.1:6379")?;
/// let monitor = Monitor::open(&store, &Target::Default)?;
/// while let Some(line) = monitor.next_line(Some(Duration::from_secs(1)))? {
///     println!("{line}");
/// }
/// # Ok(())
/// # }
/// ```
pub struct Monitor {
    addr: NodeAddr,
    lines: tokio::sync::Mutex<Option<Lines>>,
    /// Lines a caller read but gave back ([`Monitor::unread`]), the next one last.
    unread: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").field("node", &self.addr).finish()
    }
}

impl Monitor {
    /// Opens a connection to the node `target` names and starts `MONITOR` on it.
    pub fn open(store: &Store, target: &Target) -> Result<Monitor> {
        crate::store::block_on(Monitor::open_async(store, target))?
    }

    /// [`Monitor::open`] for async callers.
    pub async fn open_async(store: &Store, target: &Target) -> Result<Monitor> {
        let node = target.node(store).await?;
        let monitor = node.open_monitor().await?;
        let lines: Lines = Box::pin(monitor.into_on_message::<String>());
        Ok(Monitor {
            addr: node.addr.clone(),
            lines: tokio::sync::Mutex::new(Some(lines)),
            unread: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The node this monitor listens to.
    pub fn node(&self) -> &NodeAddr {
        &self.addr
    }

    /// The next line, waiting at most `timeout` (`None`: until one comes); `Ok(None)` when none
    /// came in time. A lost or closed connection is an error.
    pub fn next_line(&self, timeout: Option<Duration>) -> Result<Option<String>> {
        crate::store::block_on(self.next_line_async(timeout))?
    }

    /// [`Monitor::next_line`] for async callers. Cancel-safe: dropping the future loses no
    /// line.
    pub async fn next_line_async(&self, timeout: Option<Duration>) -> Result<Option<String>> {
        let mut guard = self.lines.lock().await;
        if let Some(line) = self.take_unread() {
            return Ok(Some(line));
        }
        let lines = guard
            .as_mut()
            .ok_or_else(|| self.closed("closed by the caller"))?;
        let next = match timeout {
            Some(limit) => match tokio::time::timeout(limit, lines.next()).await {
                Ok(next) => next,
                Err(_) => return Ok(None),
            },
            None => lines.next().await,
        };
        match next {
            Some(line) => Ok(Some(line)),
            None => {
                *guard = None;
                Err(self.closed("the server closed the connection"))
            }
        }
    }

    /// Gives back a line read but not delivered (a binding whose caller cancelled the wait
    /// after the line came): the next read returns it first.
    pub fn unread(&self, line: String) {
        self.unread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }

    fn take_unread(&self) -> Option<String> {
        self.unread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
    }

    /// Closes the connection (the server stops writing to it); later reads fail.
    pub async fn close_async(&self) {
        self.lines.lock().await.take();
    }

    /// [`Monitor::close_async`] for blocking callers.
    pub fn close(&self) {
        let _ = crate::store::block_on(self.close_async());
    }

    fn closed(&self, why: &str) -> Error {
        Error::Connection(ConnectionError::new(
            &self.addr,
            ConnectionErrorKind::Io,
            format!("this monitor is closed ({why}); open a new one"),
        ))
    }
}
