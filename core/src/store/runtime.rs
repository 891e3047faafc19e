//! The internal runtime behind the blocking façade: one tokio runtime per process, created on
//! first use and shared by every store. After `fork()` the child sees a new pid, leaves the
//! parent's runtime alone (its threads do not exist in the child) and builds its own.

use std::future::Future;
use std::sync::Arc;

use crate::cluster::NodeAddr;
use crate::lockfree::AppendList;
use crate::store::{ConnectionError, ConnectionErrorKind};

/// The runtimes this process image has had, newest first, each with the pid that built it: at
/// most one per process of a fork chain. A grow-only lock-free list rather than a mutex: every
/// `block_on` reads it, and a mutex held by a parent thread at `fork()` would stay held in the
/// child forever. Entries are never dropped — an inherited runtime's threads exist only in
/// the parent, so dropping it in the child would wait for them.
static RUNTIMES: AppendList<(u32, Arc<tokio::runtime::Runtime>)> = AppendList::new();

/// This process's runtime.
pub(crate) fn runtime() -> Result<Arc<tokio::runtime::Runtime>, ConnectionError> {
    let pid = std::process::id();
    if let Some((_, rt)) = RUNTIMES.iter().find(|(owner, _)| *owner == pid) {
        return Ok(rt.clone());
    }
    // Another thread of this process may build one at the same time: the first published
    // wins and the other is dropped (it belongs to this process, so that is safe).
    let rt = Arc::new(build()?);
    let entry = RUNTIMES.get_or_insert_with(|(owner, _)| *owner == pid, || (pid, rt));
    Ok(entry.1.clone())
}

fn build() -> Result<tokio::runtime::Runtime, ConnectionError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("slotshift-io")
        .enable_all()
        .build()
        .map_err(|e| {
            ConnectionError::new(
                &NodeAddr::new("local", 0),
                ConnectionErrorKind::Io,
                format!("cannot start the I/O runtime: {e}"),
            )
        })
}

/// Runs `future` to completion from blocking code.
///
/// Must not be called from inside an async runtime (tokio forbids nested `block_on`); such
/// callers get a clear error instead of a panic.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, ConnectionError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(ConnectionError::new(
            &NodeAddr::new("local", 0),
            ConnectionErrorKind::Io,
            "the blocking Store API was called from inside an async runtime; call it from a \
             blocking thread (e.g. tokio::task::spawn_blocking)"
                .into(),
        ));
    }
    Ok(runtime()?.block_on(future))
}
