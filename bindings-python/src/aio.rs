//! Python awaitables over the core's futures (what `slotshift.asyncio` awaits).
//!
//! A core future (`Store::call_async` …) runs as a task on the core's own tokio runtime
//! (`slotshift::store::runtime_handle`, the runtime that also drives the store's connections);
//! pyo3-async-runtimes hands the caller an `asyncio.Future` of the running loop and completes
//! it from that runtime (`call_soon_threadsafe`, on a thread of the runtime's blocking pool,
//! which takes the GIL for that moment only). No thread waits per call, and no GIL is held
//! while the future runs. Cancelling the asyncio future (or the task awaiting it) drops the
//! core future at its next poll; the core discards a reply that comes after.
//!
//! The runtime is pyo3-async-runtimes' `generic::Runtime` over the core's handle rather than
//! the global runtime of its `tokio-runtime` feature (enabled for its tokio `JoinError` glue):
//! that one is built once per process image, so after `os.fork()` a child would spawn on the
//! parent's runtime, whose threads do not exist there; the core's handle is per process.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{self, ContextExt, Runtime};
use pyo3_async_runtimes::TaskLocals;

use pyo3::types::PyTuple;
use slotshift::command::Cmd;
use slotshift::reply::Reply;
use slotshift::session::{Session, Subscriber};

use crate::convert;
use crate::errors::to_py;

/// The core's runtime as pyo3-async-runtimes sees it. Its `spawn`s run inside that runtime's
/// context (`awaitable` enters it first; the tasks it spawns run on its threads).
struct CoreRuntime;

impl Runtime for CoreRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        // pyo3-async-runtimes completes the asyncio future here, with the GIL (see `drain`).
        COMPLETING.fetch_add(1, Ordering::SeqCst);
        tokio::task::spawn_blocking(move || {
            let _done = Completed;
            f()
        })
    }
}

/// Completions of asyncio futures scheduled or running on the runtime's blocking threads.
static COMPLETING: AtomicUsize = AtomicUsize::new(0);

/// Counts a completion as done when dropped (after it released the GIL).
struct Completed;

impl Drop for Completed {
    fn drop(&mut self) {
        COMPLETING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The longest `drain` waits at exit.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Waits (the GIL released) until no completion runs, at most `DRAIN_LIMIT`: registered with
/// `atexit`. A completion wakes the loop from a runtime thread (`call_soon_threadsafe`), which
/// releases the GIL inside and needs it back to return; the main thread may meanwhile finish
/// the program, and a thread that wants the GIL while the interpreter finalizes is made to
/// exit in the middle of Rust code (a crash). Waiting here, before finalization, lets it end.
#[pyfunction]
fn drain(py: Python<'_>) {
    py.detach(|| {
        let deadline = Instant::now() + DRAIN_LIMIT;
        while COMPLETING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Registers `drain` with `atexit` (at module import).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let f = wrap_pyfunction!(drain, m)?;
    m.py().import("atexit")?.call_method1("register", (f,))?;
    Ok(())
}

tokio::task_local! {
    /// The asyncio loop (and context) of the call a task runs for.
    static LOCALS: TaskLocals;
}

impl ContextExt for CoreRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        Box::pin(LOCALS.scope(locals, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        LOCALS.try_with(TaskLocals::clone).ok()
    }
}

/// What a finished core future gives back, made into a Python object (or raised) on the
/// event loop's side, with the GIL.
pub struct Outcome(Box<MakeObject>);

/// What `Outcome` holds: makes the Python object (or the exception) with the GIL.
type MakeObject = dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send;

impl<'py> IntoPyObject<'py> for Outcome {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (self.0)(py).map(|obj| obj.into_bound(py))
    }
}

/// An awaitable of the running asyncio loop that resolves to `convert(value)` when `fut`
/// succeeds, and raises the core error's Python exception when it fails. Needs a running loop
/// (`RuntimeError` otherwise).
pub fn awaitable<'py, F, T>(
    py: Python<'py>,
    fut: F,
    convert: impl for<'a> FnOnce(Python<'a>, T) -> PyResult<Bound<'a, PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = slotshift::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let handle = slotshift::store::runtime_handle().map_err(|e| to_py(py, e))?;
    let locals = TaskLocals::with_running_loop(py)?.copy_context(py)?;
    let _context = handle.enter();
    generic::future_into_py_with_locals::<CoreRuntime, _, _>(py, locals, async move {
        let result = fut.await;
        Ok(Outcome(Box::new(move |py| match result {
            Ok(value) => convert(py, value).map(Bound::unbind),
            Err(e) => Err(to_py(py, e)),
        })))
    })
}

/// A handle that sends commands (a store, a session, a subscriber), owned by the future that
/// sends.
pub trait Sender: Send + 'static {
    /// Sends one command.
    fn send(self, cmd: Cmd) -> impl Future<Output = slotshift::Result<Reply>> + Send + 'static;
}

/// A handle that also sends pipelines.
pub trait PipelineSender: Sender {
    /// Sends commands as one pipeline.
    fn send_all(
        self,
        cmds: Vec<Cmd>,
    ) -> impl Future<Output = slotshift::Result<Vec<slotshift::Result<Reply>>>> + Send + 'static;
}

impl Sender for slotshift::store::Store {
    async fn send(self, cmd: Cmd) -> slotshift::Result<Reply> {
        self.call_async(&cmd).await
    }
}

impl PipelineSender for slotshift::store::Store {
    async fn send_all(self, cmds: Vec<Cmd>) -> slotshift::Result<Vec<slotshift::Result<Reply>>> {
        self.pipeline_async(&cmds).await
    }
}

impl Sender for Arc<Session> {
    async fn send(self, cmd: Cmd) -> slotshift::Result<Reply> {
        self.call_async(&cmd).await
    }
}

impl PipelineSender for Arc<Session> {
    async fn send_all(self, cmds: Vec<Cmd>) -> slotshift::Result<Vec<slotshift::Result<Reply>>> {
        self.pipeline_async(&cmds).await
    }
}

impl Sender for Arc<Subscriber> {
    async fn send(self, cmd: Cmd) -> slotshift::Result<Reply> {
        self.call_async(&cmd).await
    }
}

/// `call_async` of the native classes: an awaitable of the reply to the command `args`
/// (its name and arguments), sent by `to` (str where `decode`).
pub fn call<'py>(
    py: Python<'py>,
    to: impl Sender,
    args: &Bound<'py, PyTuple>,
    decode: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let cmd = convert::cmd_from_iter(args.iter())?;
    awaitable(py, to.send(cmd), move |py, reply| {
        convert::reply_to_py(py, reply, decode)
    })
}

/// `pipeline_async` of the native classes: an awaitable of the list of results of
/// `commands` (failed ones as exception instances).
pub fn pipeline<'py>(
    py: Python<'py>,
    to: impl PipelineSender,
    commands: &Bound<'py, PyAny>,
    decode: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let cmds = convert::cmds_from_py(commands)?;
    awaitable(py, to.send_all(cmds), move |py, results| {
        Ok(convert::results_to_py(py, results, decode)?.into_any())
    })
}

/// An awaitable of `None`, once `fut` succeeded.
pub fn done<'py>(
    py: Python<'py>,
    fut: impl Future<Output = slotshift::Result<()>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>> {
    awaitable(py, fut, |py, ()| Ok(py.None().into_bound(py)))
}
