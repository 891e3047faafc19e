//! The internal runtime behind the blocking façade: one tokio runtime per process, created on
//! first use and shared by every store. After `fork()` the child sees a new pid, leaves the
//! parent's runtime alone (its threads do not exist in the child) and builds its own.

use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::cluster::NodeAddr;
use crate::store::{ConnectionError, ConnectionErrorKind};

static RUNTIME: Mutex<Option<(u32, Arc<tokio::runtime::Runtime>)>> = Mutex::new(None);

/// This process's runtime.
pub(crate) fn runtime() -> Result<Arc<tokio::runtime::Runtime>, ConnectionError> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock();
    if let Some((owner, rt)) = slot.as_ref() {
        if *owner == pid {
            return Ok(rt.clone());
        }
    }
    if let Some((_, inherited)) = slot.take() {
        // Inherited from the parent: dropping it would try to stop threads that only exist
        // there. Leak it on purpose.
        std::mem::forget(inherited);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
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
        })?;
    let rt = Arc::new(rt);
    *slot = Some((pid, rt.clone()));
    Ok(rt)
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
