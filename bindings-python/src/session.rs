//! `Session` and `Subscriber`: connections of the caller's own (the core's
//! `slotshift::session`), for what the store's shared connections cannot carry — `WATCH` …
//! `MULTI`/`EXEC`, pub/sub.
//!
//! Every network wait releases the GIL. Waits without a bound (`next_message(None)`) go in
//! slices, checking for signals (Ctrl-C) between them. A session or subscriber belongs to the
//! process that opened it: after `os.fork()` the child's copy refuses every request (its
//! connection is the parent's), and the child opens its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use slotshift::net::NodeAddr;
use slotshift::session::{Subscription, Target};
use slotshift::slot::Slot;

use crate::errors::{new_err, to_py};
use crate::store::{seconds, Store};
use crate::{aio, convert};

/// The longest a wait goes without checking for signals.
const SLICE: Duration = Duration::from_millis(100);

/// The core target from the keywords (at most one of them; none: the default node).
fn target(
    key: Option<&Bound<'_, PyAny>>,
    slot: Option<u16>,
    node: Option<&str>,
) -> PyResult<Target> {
    use pyo3::exceptions::PyValueError;
    let given =
        usize::from(key.is_some()) + usize::from(slot.is_some()) + usize::from(node.is_some());
    if given > 1 {
        return Err(PyValueError::new_err(
            "give at most one of key=, slot= and node=",
        ));
    }
    if let Some(key) = key {
        return Ok(Target::Key(convert::key_bytes(key, "key")?.into_owned()));
    }
    if let Some(slot) = slot {
        let slot = Slot::new(slot)
            .ok_or_else(|| PyValueError::new_err(format!("slot must be 0..16383, got {slot}")))?;
        return Ok(Target::Slot(slot));
    }
    if let Some(node) = node {
        let addr = NodeAddr::parse_endpoint(node, "").ok_or_else(|| {
            PyValueError::new_err(format!("node must be 'host:port', got {node:?}"))
        })?;
        return Ok(Target::Node(addr));
    }
    Ok(Target::Default)
}

/// Opens a session or subscriber with `open` on the node the keywords name, the GIL released
/// while it connects; also gives the store's decode flag.
fn open_on<T: Send>(
    py: Python<'_>,
    store: &Store,
    (key, slot, node): (Option<&Bound<'_, PyAny>>, Option<u16>, Option<&str>),
    open: fn(&slotshift::store::Store, &Target) -> slotshift::Result<T>,
) -> PyResult<(T, bool)> {
    let target = target(key, slot, node)?;
    let core = store.core()?;
    let inner = py
        .detach(|| open(&core, &target))
        .map_err(|e| to_py(py, e))?;
    Ok((inner, store.decode_flag()))
}

/// What `next(slice)` gives, waited for in slices of at most `SLICE` with the GIL released and
/// signals (Ctrl-C) checked between them, for at most `timeout` seconds (`None`: until it
/// gives something); `Ok(None)` when nothing came in time.
fn wait_sliced<T: Send>(
    py: Python<'_>,
    timeout: Option<f64>,
    next: impl Fn(Duration) -> slotshift::Result<Option<T>> + Sync,
) -> PyResult<Option<T>> {
    let deadline = match timeout {
        Some(t) => Some(Instant::now() + seconds(t, "timeout")?),
        None => None,
    };
    loop {
        let wait = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
            None => SLICE,
        };
        if let Some(found) = py.detach(|| next(wait)).map_err(|e| to_py(py, e))? {
            return Ok(Some(found));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        py.check_signals()?;
    }
}

/// `ConnectionError` when used in a process other than the one that opened it.
fn check_pid(py: Python<'_>, pid: u32, what: &str) -> PyResult<()> {
    if std::process::id() == pid {
        Ok(())
    } else {
        Err(new_err(
            py,
            "connection",
            format!(
                "this {what} was opened by process {pid} before a fork; its connection is the \
                 parent's: open a new one in this process"
            ),
        ))
    }
}

/// A dedicated connection to one node: requests and replies in order, state kept on it
/// (`WATCH`, `SELECT`, `CLIENT SETNAME` …). Never reconnects: after a connection loss, a
/// timeout or `close()` every request raises `ConnectionError`; open a new one.
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct Session {
    inner: Arc<slotshift::session::Session>,
    decode: bool,
    pid: u32,
}

#[pymethods]
impl Session {
    /// Opens a dedicated connection on `store`'s deployment: to the master of `key`'s slot,
    /// of `slot`, to `node` (`"host:port"`), or by default the server (a cluster's master of
    /// slot 0).
    #[new]
    #[pyo3(signature = (store, *, key=None, slot=None, node=None))]
    fn new(
        py: Python<'_>,
        store: &Store,
        key: Option<&Bound<'_, PyAny>>,
        slot: Option<u16>,
        node: Option<&str>,
    ) -> PyResult<Session> {
        let (inner, decode) = open_on(
            py,
            store,
            (key, slot, node),
            slotshift::session::Session::open,
        )?;
        Ok(Session {
            inner: Arc::new(inner),
            decode,
            pid: std::process::id(),
        })
    }

    /// The node (`"host:port"`) this session is connected to.
    #[getter]
    fn node(&self) -> String {
        self.inner.node().to_string()
    }

    /// Whether replies are decoded to str.
    #[getter]
    fn decode(&self) -> bool {
        self.decode
    }

    /// Whether the connection is still open (false after a failure, a timeout or `close()`).
    #[getter]
    fn is_open(&self) -> bool {
        self.inner.is_open() && std::process::id() == self.pid
    }

    /// Sends one command (its name and arguments); an error reply raises `ResponseError` and
    /// leaves the session open.
    #[pyo3(signature = (*args))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        check_pid(py, self.pid, "session")?;
        let cmd = convert::cmd_from_iter(args.iter())?;
        match py.detach(|| self.inner.call(&cmd)) {
            Ok(reply) => convert::reply_to_py(py, reply, self.decode),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// Sends commands as one write and returns one result per command, failed ones as
    /// exception instances. `MULTI` … `EXEC` among them is a transaction as the server runs it
    /// (after a `WATCH` on this session, `EXEC` replies `None` when a watched key changed).
    fn pipeline<'py>(
        &self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        check_pid(py, self.pid, "session")?;
        let cmds = convert::cmds_from_py(commands)?;
        match py.detach(|| self.inner.pipeline(&cmds)) {
            Ok(results) => convert::results_to_py(py, results, self.decode),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// `call` for asyncio: an awaitable of the reply (cancelling it abandons the request,
    /// which closes the session: its next reply could not be told apart).
    #[pyo3(signature = (*args))]
    fn call_async<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        check_pid(py, self.pid, "session")?;
        aio::call(py, self.inner.clone(), args, self.decode)
    }

    /// `pipeline` for asyncio (an awaitable of the list of results).
    fn pipeline_async<'py>(
        &self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        check_pid(py, self.pid, "session")?;
        aio::pipeline(py, self.inner.clone(), commands, self.decode)
    }

    /// Closes the connection (the server drops what it held: a `WATCH`, the selected
    /// database); later requests raise `ConnectionError`.
    fn close(&self) {
        self.inner.close();
    }

    fn __repr__(&self) -> String {
        format!(
            "<slotshift Session node={:?} open={}>",
            self.inner.node().to_string(),
            self.is_open()
        )
    }
}

/// A pub/sub connection to one node (RESP3 on the wire, Redis 6 or later). Messages and
/// subscription confirmations come out of `next_message` one at a time, in order, shaped as
/// RESP2 sends them: `["message", channel, data]`, `["pmessage", pattern, channel, data]`,
/// `["subscribe", channel, count]` …
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct Subscriber {
    inner: Arc<slotshift::session::Subscriber>,
    decode: bool,
    pid: u32,
}

impl Subscriber {
    /// A subscription change (`subscribe` … `sunsubscribe`) of the names in `args`, the GIL
    /// released while the server confirms.
    fn change(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        run: fn(&slotshift::session::Subscriber, &[Vec<u8>]) -> slotshift::Result<()>,
    ) -> PyResult<()> {
        check_pid(py, self.pid, "subscriber")?;
        let n = names(args)?;
        py.detach(|| run(&self.inner, &n)).map_err(|e| to_py(py, e))
    }
}

fn names(args: &Bound<'_, PyTuple>) -> PyResult<Vec<Vec<u8>>> {
    args.iter()
        .enumerate()
        .map(|(i, a)| Ok(convert::key_bytes(&a, &format!("names[{i}]"))?.into_owned()))
        .collect()
}

#[pymethods]
impl Subscriber {
    /// Opens a pub/sub connection on `store`'s deployment (the same targets as `Session`). On
    /// a cluster, channels and patterns are heard from any node; a shard channel on the master
    /// of its slot (`key=` the channel).
    #[new]
    #[pyo3(signature = (store, *, key=None, slot=None, node=None))]
    fn new(
        py: Python<'_>,
        store: &Store,
        key: Option<&Bound<'_, PyAny>>,
        slot: Option<u16>,
        node: Option<&str>,
    ) -> PyResult<Subscriber> {
        let (inner, decode) = open_on(
            py,
            store,
            (key, slot, node),
            slotshift::session::Subscriber::open,
        )?;
        Ok(Subscriber {
            inner: Arc::new(inner),
            decode,
            pid: std::process::id(),
        })
    }

    /// The node (`"host:port"`) this subscriber is connected to.
    #[getter]
    fn node(&self) -> String {
        self.inner.node().to_string()
    }

    /// Whether replies and messages are decoded to str.
    #[getter]
    fn decode(&self) -> bool {
        self.decode
    }

    /// Whether the connection is still open.
    #[getter]
    fn is_open(&self) -> bool {
        self.inner.is_open() && std::process::id() == self.pid
    }

    /// Drops the connection at once, without ending the subscriptions first (the server
    /// forgets them when it sees the connection close), as a lost connection would. Messages
    /// already received can still be read, then `next_message` raises `ConnectionError`
    /// (slotshift's `PubSub` then connects again and subscribes again).
    fn disconnect(&self) {
        self.inner.disconnect();
    }

    /// Subscribes to channels (at least one); a confirmation per channel follows in the
    /// messages.
    #[pyo3(signature = (*channels))]
    fn subscribe(&self, py: Python<'_>, channels: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.change(py, channels, slotshift::session::Subscriber::subscribe)
    }

    /// Subscribes to glob-style patterns (at least one).
    #[pyo3(signature = (*patterns))]
    fn psubscribe(&self, py: Python<'_>, patterns: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.change(py, patterns, slotshift::session::Subscriber::psubscribe)
    }

    /// Subscribes to shard channels (Redis 7; at least one), which must hash to slots this
    /// node serves.
    #[pyo3(signature = (*channels))]
    fn ssubscribe(&self, py: Python<'_>, channels: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.change(py, channels, slotshift::session::Subscriber::ssubscribe)
    }

    /// Unsubscribes from channels; from every channel when none is given.
    #[pyo3(signature = (*channels))]
    fn unsubscribe(&self, py: Python<'_>, channels: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.change(py, channels, slotshift::session::Subscriber::unsubscribe)
    }

    /// Unsubscribes from patterns; from every pattern when none is given.
    #[pyo3(signature = (*patterns))]
    fn punsubscribe(&self, py: Python<'_>, patterns: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.change(py, patterns, slotshift::session::Subscriber::punsubscribe)
    }

    /// Unsubscribes from shard channels; from every shard channel when none is given.
    #[pyo3(signature = (*channels))]
    fn sunsubscribe(&self, py: Python<'_>, channels: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.change(py, channels, slotshift::session::Subscriber::sunsubscribe)
    }

    /// Sends another command on the pub/sub connection (`PING` …); its reply (RESP3-typed).
    #[pyo3(signature = (*args))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        check_pid(py, self.pid, "subscriber")?;
        let cmd = convert::cmd_from_iter(args.iter())?;
        match py.detach(|| self.inner.call(&cmd)) {
            Ok(reply) => convert::reply_to_py(py, reply, self.decode),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// The next message or confirmation, waiting at most `timeout` seconds (`None`: until one
    /// comes; Ctrl-C interrupts the wait); `None` when none came in time. After the connection
    /// is lost or closed, the messages received before, then `ConnectionError`.
    #[pyo3(signature = (timeout=None))]
    fn next_message<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        check_pid(py, self.pid, "subscriber")?;
        match wait_sliced(py, timeout, |wait| self.inner.next_message(Some(wait)))? {
            Some(reply) => convert::reply_to_py(py, reply, self.decode).map(Some),
            None => Ok(None),
        }
    }

    /// A subscription change for asyncio: `command` is `"subscribe"`, `"psubscribe"`,
    /// `"ssubscribe"`, `"unsubscribe"`, `"punsubscribe"` or `"sunsubscribe"` (any case), the
    /// names as for those methods; an awaitable that resolves (to `None`) once the server
    /// confirmed.
    #[pyo3(signature = (command, *names))]
    fn change_async<'py>(
        &self,
        py: Python<'py>,
        command: &str,
        names: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        use pyo3::exceptions::PyValueError;
        check_pid(py, self.pid, "subscriber")?;
        let (kind, subscribe) = Subscription::of_command(command).ok_or_else(|| {
            PyValueError::new_err(format!(
                "command must be one of subscribe, psubscribe, ssubscribe, unsubscribe, \
                 punsubscribe, sunsubscribe; got {command:?}"
            ))
        })?;
        let n = self::names(names)?;
        let inner = self.inner.clone();
        aio::done(
            py,
            async move { inner.change_async(kind, subscribe, n).await },
        )
    }

    /// `call` for asyncio (an awaitable of the reply, RESP3-typed).
    #[pyo3(signature = (*args))]
    fn call_async<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        check_pid(py, self.pid, "subscriber")?;
        aio::call(py, self.inner.clone(), args, self.decode)
    }

    /// `next_message` for asyncio: an awaitable of the next message or confirmation, `None`
    /// when none came within `timeout` seconds (`None`: waits until one comes). Cancel-safe:
    /// cancelling the wait loses no message.
    #[pyo3(signature = (timeout=None))]
    fn next_message_async<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        check_pid(py, self.pid, "subscriber")?;
        let limit = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        let (inner, decode) = (self.inner.clone(), self.decode);
        let source = self.inner.clone();
        aio::awaitable_giving_back(
            py,
            async move { inner.next_message_async(limit).await },
            move |py, message| match message {
                Some(reply) => convert::reply_to_py(py, reply, decode),
                None => Ok(py.None().into_bound(py)),
            },
            move |message| {
                if let Some(reply) = message {
                    source.unread(reply);
                }
            },
        )
    }

    /// Closes the connection for asyncio: ends every subscription (waiting for the server's
    /// confirmations), then closes; an awaitable of `None`.
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        aio::done(py, async move {
            inner.close_async().await;
            Ok(())
        })
    }

    /// Closes the connection (every subscription ends); messages already received can still
    /// be read.
    fn close(&self) {
        self.inner.close();
    }

    fn __repr__(&self) -> String {
        format!(
            "<slotshift Subscriber node={:?} open={}>",
            self.inner.node().to_string(),
            self.is_open()
        )
    }
}

/// A connection that runs `MONITOR` on one node: every command the node runs, one line at a
/// time, as the server writes it (`1733390400.123456 [0 127.0.0.1:50000] "SET" "k" "v"`).
/// Never reconnects. redis-py's `Monitor` parses the lines (`slotshift.Redis.monitor()`).
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct Monitor {
    inner: Arc<slotshift::session::Monitor>,
    pid: u32,
}

#[pymethods]
impl Monitor {
    /// Starts `MONITOR` on a connection of its own to the node the keywords name (the same
    /// targets as `Session`; none: the server, or a cluster's master of slot 0).
    #[new]
    #[pyo3(signature = (store, *, key=None, slot=None, node=None))]
    fn new(
        py: Python<'_>,
        store: &Store,
        key: Option<&Bound<'_, PyAny>>,
        slot: Option<u16>,
        node: Option<&str>,
    ) -> PyResult<Monitor> {
        let (inner, _) = open_on(
            py,
            store,
            (key, slot, node),
            slotshift::session::Monitor::open,
        )?;
        Ok(Monitor {
            inner: Arc::new(inner),
            pid: std::process::id(),
        })
    }

    /// The node (`"host:port"`) this monitor listens to.
    #[getter]
    fn node(&self) -> String {
        self.inner.node().to_string()
    }

    /// The next line, waiting at most `timeout` seconds (`None`: until one comes; Ctrl-C
    /// interrupts the wait); `None` when none came in time. A lost or closed connection is a
    /// `ConnectionError`.
    #[pyo3(signature = (timeout=None))]
    fn next_line(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<String>> {
        check_pid(py, self.pid, "monitor")?;
        wait_sliced(py, timeout, |wait| self.inner.next_line(Some(wait)))
    }

    /// `next_line` for asyncio: an awaitable of the next line, or of `None` when none came
    /// within `timeout` seconds (`None`: waits until one comes). Cancel-safe: cancelling the
    /// wait loses no line.
    #[pyo3(signature = (timeout=None))]
    fn next_line_async<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        check_pid(py, self.pid, "monitor")?;
        let limit = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        let inner = self.inner.clone();
        let source = self.inner.clone();
        aio::awaitable_giving_back(
            py,
            async move { inner.next_line_async(limit).await },
            |py, line| match line {
                Some(line) => Ok(pyo3::types::PyString::new(py, &line).into_any()),
                None => Ok(py.None().into_bound(py)),
            },
            move |line| {
                if let Some(line) = line {
                    source.unread(line);
                }
            },
        )
    }

    /// Closes the connection.
    fn close(&self) {
        self.inner.close();
    }

    fn __repr__(&self) -> String {
        format!(
            "<slotshift Monitor node={:?}>",
            self.inner.node().to_string()
        )
    }
}
