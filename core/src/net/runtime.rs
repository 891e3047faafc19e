//! The runtimes behind the transport.
//!
//! - The **shared runtime**: one multi-thread tokio runtime per process, created on first use.
//!   It runs the async API's callers, the connections that outlive a call (sessions,
//!   subscribers, monitors, blocked commands) and background work (topology refreshes, the
//!   MultiStore's write queue).
//! - A **caller-thread runtime** per thread that uses the blocking API ([`block_on`]): a
//!   current-thread runtime that runs the call *and its connections' I/O* on the calling
//!   thread. A blocking call then costs one write and one read on the caller's own thread, as
//!   a synchronous client's would, instead of two wake-ups of other threads (hand the request
//!   to an I/O thread, be woken with the reply). The connections it uses are the caller
//!   thread's own ([`super::node`] keeps them per thread), since their I/O only progresses
//!   while that thread is inside [`block_on`].
//!
//! Both survive `fork()`: a child sees a new pid, leaves the parent's runtimes alone (their
//! threads and event loop belong to the parent; even dropping one would deregister the
//! parent's sockets from an epoll instance the two processes share) and builds its own.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;

use crate::lockfree::AppendList;
use crate::net::{ConnectionError, ConnectionErrorKind, NodeAddr};

/// The shared runtimes this process image has had, newest first, each with the pid that built
/// it: at most one per process of a fork chain. A grow-only lock-free list rather than a mutex:
/// every blocking call may read it, and a mutex held by a parent thread at `fork()` would stay
/// held in the child forever. Entries are never dropped — an inherited runtime's threads exist
/// only in the parent, so dropping it in the child would wait for them.
static SHARED: AppendList<(u32, Arc<tokio::runtime::Runtime>)> = AppendList::new();

thread_local! {
    /// This thread's caller-thread runtime and the pid that built it.
    static CALLER: RefCell<Option<(u32, Rc<tokio::runtime::Runtime>)>> = const { RefCell::new(None) };
    /// While this thread is inside [`block_on`] on its caller-thread runtime: the process id,
    /// read once for the call ([`pid`]); 0 outside one ([`on_caller_thread`]).
    static CALL_PID: Cell<u32> = const { Cell::new(0) };
    /// This thread's [`Interrupter`] socket pair and the pid that made it.
    static WAKE: RefCell<Option<(u32, Rc<Wake>)>> = const { RefCell::new(None) };
}

/// This process's shared runtime.
pub(crate) fn shared() -> Result<Arc<tokio::runtime::Runtime>, ConnectionError> {
    let pid = std::process::id();
    if let Some((_, rt)) = SHARED.iter().find(|(owner, _)| *owner == pid) {
        return Ok(rt.clone());
    }
    // Another thread of this process may build one at the same time: the first published
    // wins and the other is dropped (it belongs to this process, so that is safe).
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("slotshift-io")
            .enable_all()
            .build()
            .map_err(cannot_start)?,
    );
    let entry = SHARED.get_or_insert_with(|(owner, _)| *owner == pid, || (pid, rt));
    Ok(entry.1.clone())
}

/// An error of this process's own machinery (no node involved).
fn local_error(detail: String) -> ConnectionError {
    ConnectionError::new(&NodeAddr::new("local", 0), ConnectionErrorKind::Io, detail)
}

fn cannot_start(e: std::io::Error) -> ConnectionError {
    local_error(format!("cannot start the I/O runtime: {e}"))
}

/// This process's id. Inside a blocking call it is read once per call (no process forks in the
/// middle of one of its own calls), which saves a system call per check on the hot path.
pub(crate) fn pid() -> u32 {
    match CALL_PID.try_with(Cell::get) {
        Ok(pid) if pid != 0 => pid,
        _ => std::process::id(),
    }
}

/// Whether the running code is a blocking call on its caller thread's runtime (so connections
/// it opens must be that thread's own, or be opened on the shared runtime).
pub(crate) fn on_caller_thread() -> bool {
    CALL_PID.try_with(Cell::get).is_ok_and(|pid| pid != 0)
}

/// This thread's caller-thread runtime, built on first use (and again in a forked child).
/// `None` while the thread is being torn down (its thread-locals are gone).
fn caller_runtime(pid: u32) -> Option<Result<Rc<tokio::runtime::Runtime>, ConnectionError>> {
    CALLER
        .try_with(|slot| {
            this_process(slot, pid, || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(cannot_start)
            })
        })
        .ok()
}

/// A thread's value for this process: `slot`'s own when process `pid` made it, else a new one
/// from `build`. One inherited from a parent (made before `fork()`) is forgotten, never
/// dropped: it belongs to the parent's event loop (see the module documentation).
fn this_process<T>(
    slot: &RefCell<Option<(u32, Rc<T>)>>,
    pid: u32,
    build: impl FnOnce() -> Result<T, ConnectionError>,
) -> Result<Rc<T>, ConnectionError> {
    let mut slot = slot.borrow_mut();
    if let Some((owner, value)) = slot.as_ref() {
        if *owner == pid {
            return Ok(value.clone());
        }
    }
    if let Some(inherited) = slot.take() {
        std::mem::forget(inherited);
    }
    let value = Rc::new(build()?);
    *slot = Some((pid, value.clone()));
    Ok(value)
}

/// The error of a thread that is ending (its thread-locals are gone).
fn thread_ending() -> ConnectionError {
    local_error("the thread is ending: its event loop is gone".into())
}

/// Marks the thread as running a blocking call on its caller-thread runtime, in process
/// `pid`, until dropped (also on unwind).
struct OnCaller;

impl OnCaller {
    fn enter(pid: u32) -> OnCaller {
        CALL_PID.with(|p| p.set(pid));
        OnCaller
    }
}

impl Drop for OnCaller {
    fn drop(&mut self) {
        let _ = CALL_PID.try_with(|p| p.set(0));
    }
}

/// Runs `future` to completion from blocking code, on the calling thread's own runtime (on
/// the shared one while the thread is being torn down).
///
/// Must not be called from inside an async runtime (tokio forbids nested `block_on`); such
/// callers get a clear error instead of a panic.
///
/// A call's future is kilobytes (10 KB for [`crate::store::Store::call`], 30 KB for a
/// MultiStore call) and every move copies all of it: hot paths pass it pinned where it is
/// built, `block_on(std::pin::pin!(store.call_async(cmd)))`, so only a pointer moves. Copying
/// it was a fifth of a MultiStore read's CPU with 64 callers.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, ConnectionError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(local_error(
            "the blocking Store API was called from inside an async runtime; call it from a \
             blocking thread (e.g. tokio::task::spawn_blocking)"
                .into(),
        ));
    }
    // tokio's block_on moves what it is given through several frames: give it a pointer.
    let mut future = std::pin::pin!(future);
    let pid = pid();
    match caller_runtime(pid) {
        Some(rt) => {
            let rt = rt?;
            let _on = OnCaller::enter(pid);
            Ok(rt.block_on(future.as_mut()))
        }
        None => Ok(shared()?.block_on(future.as_mut())),
    }
}

/// Lets this thread's caller-thread runtime run what is ready (outside a blocking call), so
/// that connections just dropped close their sockets now rather than at the thread's next
/// call. Does nothing inside a call or another runtime (the running loop does it), or on a
/// thread that never made a blocking call.
pub(crate) fn settle() {
    if on_caller_thread() || tokio::runtime::Handle::try_current().is_ok() {
        return;
    }
    let pid = pid();
    let rt = CALLER
        .try_with(|slot| match slot.borrow().as_ref() {
            Some((owner, rt)) if *owner == pid => Some(rt.clone()),
            _ => None,
        })
        .ok()
        .flatten();
    if let Some(rt) = rt {
        let _on = OnCaller::enter(pid);
        rt.block_on(async {
            // A dropped connection's I/O task ends within a poll or two.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        });
    }
}

/// Runs `future` on the shared runtime and waits for it: for what must outlive the current
/// call (a connection another thread may use later), or run whether or not this thread calls
/// again. Runs it in place when already there.
pub(crate) async fn on_shared<T, F>(future: F) -> Result<T, ConnectionError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, ConnectionError>> + Send + 'static,
{
    if !on_caller_thread() {
        return future.await;
    }
    shared()?.spawn(future).await.map_err(|e| {
        local_error(format!(
            "a task on the I/O runtime ended without an answer: {e}"
        ))
    })?
}

/// Starts `future` on the shared runtime without waiting for it (background work).
pub(crate) fn spawn_shared<F>(future: F) -> Result<(), ConnectionError>
where
    F: Future<Output = ()> + Send + 'static,
{
    shared()?.spawn(future);
    Ok(())
}

/// Ends a blocking call's wait on its thread from anywhere: another thread, or a signal
/// handler — [`Interrupter::interrupt`] only writes one byte to a socket, which is
/// async-signal-safe. For bindings whose interrupt hook may run in a signal handler (Ruby's
/// unblocking function for the main thread). The blocking call races its work against
/// [`Interrupter::wait`].
#[derive(Clone, Copy, Debug)]
pub struct Interrupter {
    /// The writing end of this thread's socket pair (open for the thread's life).
    fd: RawFd,
}

/// The socket pair behind a thread's [`Interrupter`]: the reading end is registered with the
/// thread's caller-thread runtime.
struct Wake {
    write: UnixStream,
    read: tokio::net::UnixStream,
}

impl Interrupter {
    /// The calling thread's interrupter, made on first use (with the thread's caller-thread
    /// runtime; again in a forked child).
    pub fn for_this_thread() -> Result<Interrupter, ConnectionError> {
        Ok(Interrupter {
            fd: this_threads_wake()?.write.as_raw_fd(),
        })
    }

    /// Wakes the thread's [`Interrupter::wait`] (at once if it is waiting, else the next time
    /// it waits). Async-signal-safe: one `send` of one byte, no lock, no allocation.
    pub fn interrupt(self) {
        // SAFETY: `fd` is the writing end kept open by its thread's `Wake` for the thread's
        // life, and `ManuallyDrop` never closes it here.
        let stream = std::mem::ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(self.fd) });
        // A full socket already holds a wake-up; nothing else can fail that matters here.
        let _ = (&*stream).write(&[1]);
    }

    /// Completes when the interrupter fires, and consumes what fired it. Await it only on the
    /// thread it belongs to, inside [`crate::store::block_on`]; elsewhere it never completes.
    pub async fn wait(self) {
        let Ok(wake) = this_threads_wake() else {
            return std::future::pending().await;
        };
        if wake.write.as_raw_fd() != self.fd {
            return std::future::pending().await;
        }
        let mut buf = [0u8; 64];
        loop {
            if wake.read.readable().await.is_err() {
                return std::future::pending().await;
            }
            match wake.read.try_read(&mut buf) {
                Ok(n) if n > 0 => return,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                _ => return std::future::pending().await,
            }
        }
    }
}

fn this_threads_wake() -> Result<Rc<Wake>, ConnectionError> {
    let pid = pid();
    WAKE.try_with(|slot| {
        this_process(slot, pid, || {
            let rt = caller_runtime(pid).ok_or_else(thread_ending)??;
            let (write, read) = UnixStream::pair().map_err(cannot_start)?;
            write.set_nonblocking(true).map_err(cannot_start)?;
            read.set_nonblocking(true).map_err(cannot_start)?;
            let _in_runtime = rt.enter();
            let read = tokio::net::UnixStream::from_std(read).map_err(cannot_start)?;
            Ok(Wake { write, read })
        })
    })
    .map_err(|_| thread_ending())?
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
    }

    #[test]
    fn a_blocking_call_runs_on_the_callers_thread() {
        let caller = std::thread::current().id();
        let (ran_on, flagged) =
            block_on(async { (std::thread::current().id(), on_caller_thread()) }).unwrap();
        assert_eq!(ran_on, caller);
        assert!(flagged);
        assert!(!on_caller_thread(), "the flag ends with the call");
    }

    #[test]
    fn on_shared_runs_on_an_io_thread_and_returns_its_answer() {
        let name = block_on(on_shared(async {
            Ok(std::thread::current().name().map(str::to_owned))
        }))
        .unwrap()
        .unwrap();
        assert_eq!(name.as_deref(), Some("slotshift-io"));
    }

    #[test]
    fn a_thread_that_ends_closes_its_runtime() {
        // Warm the shared runtime and this test's counters first.
        block_on(async {}).unwrap();
        let before = open_fds();
        for _ in 0..20 {
            std::thread::spawn(|| block_on(async { tokio::time::sleep(Duration::ZERO).await }))
                .join()
                .unwrap()
                .unwrap();
        }
        // Each thread's runtime holds an event loop and a waker fd while it lives; twenty
        // threads that ended leave none behind (other tests may open a few meanwhile).
        assert!(
            open_fds() < before + 10,
            "{} fds after, {before} before",
            open_fds()
        );
    }

    #[test]
    fn an_interrupter_ends_a_wait_on_its_thread_from_another_thread() {
        let me = Interrupter::for_this_thread().unwrap();
        let poker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            me.interrupt();
        });
        let started = std::time::Instant::now();
        let waited = block_on(async {
            tokio::select! {
                _ = me.wait() => "interrupted",
                _ = tokio::time::sleep(Duration::from_secs(30)) => "not interrupted",
            }
        })
        .unwrap();
        poker.join().unwrap();
        assert_eq!(waited, "interrupted");
        assert!(started.elapsed() < Duration::from_secs(30));
        // What fired it was consumed: the next wait waits again.
        let next = block_on(async {
            tokio::select! {
                _ = me.wait() => "interrupted",
                _ = tokio::time::sleep(Duration::from_millis(20)) => "waited",
            }
        })
        .unwrap();
        assert_eq!(next, "waited");
    }

    #[test]
    fn nested_blocking_calls_are_refused() {
        let inner = block_on(async { block_on(async {}).map(|_| ()) }).unwrap();
        assert!(inner
            .unwrap_err()
            .to_string()
            .contains("inside an async runtime"));
    }
}
