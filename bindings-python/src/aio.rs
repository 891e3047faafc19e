//! Python awaitables over the core's futures (what `slotshift.asyncio` awaits).
//!
//! A core future (`Store::call_async` …) runs as a task on the core's own tokio runtime
//! (`slotshift::store::runtime_handle`, the runtime that also drives the store's connections);
//! the caller gets an `asyncio.Future` of the running loop. When the task ends it does not
//! touch Python: it puts the outcome on its loop's [`Completions`] queue and, when the queue
//! was empty, writes one byte to a socket the loop watches (`loop.add_reader`). The loop then
//! runs [`Completions::__call__`] on its own thread, with the GIL it already holds: every
//! finished future's reply is made into Python objects there and set as its result. So an
//! awaited command costs one wake-up of the loop per batch of replies, no thread of the
//! runtime ever waits for the GIL, and none is left needing it when the interpreter exits.
//!
//! Cancelling the asyncio future (or the task awaiting it) aborts the core task: its future is
//! dropped at its next poll, and the core discards a reply that comes after (a cancelled BLPOP
//! closes its own connection, so the next command does not read its reply). A cancel-safe read
//! (a monitor line, a pub/sub message) that had already finished when its future was cancelled
//! gives what it read back to its source ([`awaitable_giving_back`]): the next read gets it.
//!
//! Each process has its own queue per loop (a forked child makes new ones, on its own runtime).

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use pyo3::types::PyTuple;
use slotshift::command::Cmd;
use slotshift::reply::Reply;
use slotshift::session::{Session, Subscriber};

use crate::convert;
use crate::errors::to_py;

/// What a finished core future left for its asyncio future.
trait Outcome: Send {
    /// The Python result (or exception), made with the GIL on the loop's thread.
    fn make(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>>;
    /// The asyncio future was cancelled after the core future finished: what it read goes
    /// back where it came from, for reads that promise to lose nothing.
    fn unclaimed(self: Box<Self>);
}

/// A core future's result, how to make it a Python object, and how to give it back.
struct Done<T, C, G> {
    result: slotshift::Result<T>,
    convert: C,
    give_back: G,
}

impl<T, C, G> Outcome for Done<T, C, G>
where
    T: Send,
    C: for<'a> FnOnce(Python<'a>, T) -> PyResult<Bound<'a, PyAny>> + Send,
    G: FnOnce(T) + Send,
{
    fn make(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.result {
            Ok(value) => (self.convert)(py, value).map(Bound::unbind),
            Err(e) => Err(to_py(py, e)),
        }
    }

    fn unclaimed(self: Box<Self>) {
        if let Ok(value) = self.result {
            (self.give_back)(value);
        }
    }
}

/// A finished core future waiting for its loop: the asyncio future and what completes it.
struct Finished {
    future: Py<PyAny>,
    outcome: Box<dyn Outcome>,
}

/// One loop's finished futures, shared with the runtime's tasks (which never take the GIL).
struct Queue {
    finished: Mutex<Vec<Finished>>,
    /// The writing end of the loop's wake-up socket.
    wake: UnixStream,
}

impl Queue {
    /// Queues a finished future; the first one of a batch wakes the loop.
    fn push(&self, finished: Finished) {
        let first = {
            let mut queue = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            queue.push(finished);
            queue.len() == 1
        };
        if first {
            // A full socket already holds a wake-up; nothing else can fail that matters.
            let _ = (&self.wake).write(&[1]);
        }
    }
}

/// One event loop's completions: registered with the loop as the reader of its wake-up
/// socket, it completes every queued future when called.
#[pyclass(frozen)]
pub struct Completions {
    queue: Arc<Queue>,
    /// The reading end of the wake-up socket (the loop watches it).
    read: UnixStream,
    /// The process that made it (a forked child makes its own).
    pid: u32,
}

#[pymethods]
impl Completions {
    /// Completes every future queued so far (the loop calls this when the socket is readable).
    fn __call__(&self, py: Python<'_>) {
        // The wake-up bytes first, then the queue: a future queued after this read either is
        // in the batch taken below or writes a byte that brings the loop back.
        let mut bytes = [0u8; 256];
        while matches!((&self.read).read(&mut bytes), Ok(n) if n == bytes.len()) {}
        let batch = std::mem::take(
            &mut *self
                .queue
                .finished
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for Finished { future, outcome } in batch {
            let future = future.bind(py);
            // A cancelled future is done already (what its core future read goes back); every
            // other one gets its outcome, and one that cannot be set (it never happens on the
            // loop's thread) must not stop the rest.
            if future
                .call_method0(intern!(py, "done"))
                .and_then(|d| d.is_truthy())
                .unwrap_or(true)
            {
                outcome.unclaimed();
                continue;
            }
            let _ = match outcome.make(py) {
                Ok(value) => future.call_method1(intern!(py, "set_result"), (value,)),
                Err(e) => future.call_method1(intern!(py, "set_exception"), (e.into_value(py),)),
            };
        }
    }
}

/// Aborts a core task when its asyncio future is done (a no-op unless it was cancelled: a
/// task that completed has nothing left to abort).
#[pyclass(frozen)]
struct AbortOnDone(tokio::task::AbortHandle);

#[pymethods]
impl AbortOnDone {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        self.0.abort();
    }
}

/// `asyncio.get_running_loop`, and the loops' completions (weakly keyed by loop: a closed and
/// dropped loop takes its completions along).
static RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static BY_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The running loop's completions, made and registered with the loop on first use.
fn completions<'py>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, Completions>> {
    let by_loop = BY_LOOP
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py
                .import("weakref")?
                .call_method0("WeakKeyDictionary")?
                .unbind())
        })?
        .bind(py);
    let pid = std::process::id();
    if let Some(found) = by_loop
        .call_method1(intern!(py, "get"), (event_loop,))?
        .cast_into::<Completions>()
        .ok()
        .filter(|c| c.get().pid == pid)
    {
        return Ok(found);
    }
    let io_error = |e: std::io::Error| {
        pyo3::exceptions::PyOSError::new_err(format!("cannot make the loop's wake-up socket: {e}"))
    };
    let (read, wake) = UnixStream::pair().map_err(io_error)?;
    read.set_nonblocking(true).map_err(io_error)?;
    wake.set_nonblocking(true).map_err(io_error)?;
    let fd = read.as_raw_fd();
    let made = Bound::new(
        py,
        Completions {
            queue: Arc::new(Queue {
                finished: Mutex::new(Vec::new()),
                wake,
            }),
            read,
            pid,
        },
    )?;
    event_loop.call_method1(intern!(py, "add_reader"), (fd, &made))?;
    by_loop.set_item(event_loop, &made)?;
    Ok(made)
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
    awaitable_giving_back(py, fut, convert, drop)
}

/// [`awaitable`] for a cancel-safe read (the next monitor line, the next pub/sub message):
/// when the asyncio future is cancelled after the read finished but before the loop set its
/// result, `give_back` returns the value to its source, so the next read gets it.
pub fn awaitable_giving_back<'py, F, T>(
    py: Python<'py>,
    fut: F,
    convert: impl for<'a> FnOnce(Python<'a>, T) -> PyResult<Bound<'a, PyAny>> + Send + 'static,
    give_back: impl FnOnce(T) + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = slotshift::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let handle = slotshift::store::runtime_handle().map_err(|e| to_py(py, e))?;
    let event_loop = RUNNING_LOOP
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
        })?
        .bind(py)
        .call0()?;
    let queue = Arc::clone(&completions(py, &event_loop)?.get().queue);
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    let finished = future.clone().unbind();
    let task = handle.spawn(async move {
        let result = fut.await;
        queue.push(Finished {
            future: finished,
            outcome: Box::new(Done {
                result,
                convert,
                give_back,
            }),
        });
    });
    let abort = Bound::new(py, AbortOnDone(task.abort_handle()))?;
    future.call_method1(intern!(py, "add_done_callback"), (abort,))?;
    Ok(future)
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

impl Sender for slotshift::multistore::MultiStore {
    async fn send(self, cmd: Cmd) -> slotshift::Result<Reply> {
        self.call_async(&cmd).await
    }
}

impl PipelineSender for slotshift::multistore::MultiStore {
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

/// `transaction_async` of the native classes: an awaitable of EXEC's list of the replies to
/// `commands`, or `None` when the transaction was aborted; `run` sends them.
pub fn transaction<'py, F>(
    py: Python<'py>,
    commands: &Bound<'py, PyAny>,
    decode: bool,
    run: impl FnOnce(Vec<Cmd>) -> F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = slotshift::Result<Option<Vec<Reply>>>> + Send + 'static,
{
    let cmds = convert::cmds_from_py(commands)?;
    awaitable(py, run(cmds), move |py, replies| {
        crate::store::exec_to_py(py, replies, decode)
    })
}

/// An awaitable of `None`, once `fut` succeeded.
pub fn done<'py>(
    py: Python<'py>,
    fut: impl Future<Output = slotshift::Result<()>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>> {
    awaitable(py, fut, |py, ()| Ok(py.None().into_bound(py)))
}
