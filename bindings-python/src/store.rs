//! `Store`: one deployment (standalone, Sentinel or cluster) behind the blocking core API.

use std::sync::{Mutex, RwLock};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use slotshift::config::Deployment;
use slotshift::keyspace::ScanOptions;
use slotshift::store::{StoreKind, StoreOptions};

use crate::errors::{new_err, to_py};
use crate::{aio, convert};
use slotshift::reply::Reply;

/// Seconds (a Python number) as a `Duration`; `ValueError` naming `what` if negative or not finite.
pub fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds, got {value}"
        ))
    })
}

/// Store options from keyword arguments (`None`: the core's default, or the URL's value).
#[derive(Default)]
pub struct OptionArgs {
    pub connect_timeout: Option<f64>,
    pub response_timeout: Option<f64>,
    pub retry_deadline: Option<f64>,
    pub name: Option<String>,
    pub read_from_replicas: bool,
    pub idempotent_writes: bool,
    pub instrument: bool,
    pub batch_limit: Option<i64>,
    pub cross_slot_validation: Option<String>,
}

impl OptionArgs {
    fn apply(self, deployment: &Deployment) -> PyResult<StoreOptions> {
        let mut opts = StoreOptions::default();
        // The timeouts the URL states first (as `Store::open` reads them), then the keywords.
        if let Some(server) = deployment.servers().first() {
            opts.apply_url_timeouts(server);
        }
        if let Some(t) = self.connect_timeout {
            opts.connect_timeout = seconds(t, "connect_timeout")?;
        }
        if let Some(t) = self.response_timeout {
            opts.response_timeout = seconds(t, "response_timeout")?;
        }
        if let Some(t) = self.retry_deadline {
            opts.retry_deadline = seconds(t, "retry_deadline")?;
        }
        if let Some(name) = self.name {
            opts.name = name;
        }
        opts.read_from_replicas = self.read_from_replicas;
        opts.idempotent_writes = self.idempotent_writes;
        opts.instrument = self.instrument;
        if let Some(n) = self.batch_limit {
            if n < 1 {
                return Err(PyValueError::new_err(format!(
                    "batch_limit must be a positive integer, got {n}"
                )));
            }
            opts.batch_limit = Some(n as usize);
        }
        if let Some(mode) = self.cross_slot_validation {
            opts.cross_slot_validation = Some(mode.parse().map_err(|_| {
                PyValueError::new_err(format!(
                    "cross_slot_validation must be 'raise', 'count' or 'off', got {mode:?}"
                ))
            })?);
        }
        Ok(opts)
    }
}

/// Where a client connects: a deployment parsed from a URL or seed list and the store options,
/// checked but not connected (redis-py connects on the first command; `slotshift.Redis` does
/// too, through this). Passwords stay here, in native memory: `repr` shows the URL masked.
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct Target {
    deployment: Deployment,
    opts: StoreOptions,
}

impl Target {
    /// `url` (a str, or a sequence of str seeds) parsed and `args` applied; the error of the
    /// first thing wrong, without touching the network.
    fn parse(py: Python<'_>, url: &Bound<'_, PyAny>, args: OptionArgs) -> PyResult<Target> {
        let deployment = if let Ok(url) = url.cast::<pyo3::types::PyString>() {
            Deployment::parse(url.to_str()?).map_err(|e| to_py(py, e.into()))?
        } else {
            let items = convert::sequence_items(url, "urls")?;
            let mut urls = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                urls.push(
                    item.extract::<String>()
                        .map_err(|_| PyTypeError::new_err(format!("urls[{i}] must be a str")))?,
                );
            }
            Deployment::from_urls(&urls).map_err(|e| to_py(py, e.into()))?
        };
        let opts = args.apply(&deployment)?;
        opts.check_environment().map_err(|e| to_py(py, e))?;
        Ok(Target { deployment, opts })
    }
}

#[pymethods]
impl Target {
    /// Parses and checks `url` (`redis://`, `rediss://`, `unix://`, `redis+sentinel://`, a
    /// cluster seed list or a sequence of seed URLs) and the store options; raises for a bad
    /// URL or option, and never connects. `open` connects.
    #[new]
    #[pyo3(signature = (url, *, connect_timeout=None, response_timeout=None,
        retry_deadline=None, name=None, read_from_replicas=false, idempotent_writes=false,
        instrument=true, batch_limit=None, cross_slot_validation=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: &Bound<'_, PyAny>,
        connect_timeout: Option<f64>,
        response_timeout: Option<f64>,
        retry_deadline: Option<f64>,
        name: Option<String>,
        read_from_replicas: bool,
        idempotent_writes: bool,
        instrument: bool,
        batch_limit: Option<i64>,
        cross_slot_validation: Option<String>,
    ) -> PyResult<Target> {
        let args = OptionArgs {
            connect_timeout,
            response_timeout,
            retry_deadline,
            name,
            read_from_replicas,
            idempotent_writes,
            instrument,
            batch_limit,
            cross_slot_validation,
        };
        Target::parse(py, url, args)
    }

    /// Connects (the GIL released meanwhile): a new `Store`, replies decoded to str where
    /// `decode`.
    #[pyo3(signature = (decode=false))]
    fn open(&self, py: Python<'_>, decode: bool) -> PyResult<Store> {
        let store = py
            .detach(|| slotshift::store::Store::connect(&self.deployment, self.opts.clone()))
            .map_err(|e| to_py(py, e))?;
        Ok(Store::wrap(store, decode))
    }

    /// `open` for asyncio: an awaitable of the new `Store`, connected on the core's runtime
    /// (the event loop is not blocked).
    #[pyo3(signature = (decode=false))]
    fn open_async<'py>(&self, py: Python<'py>, decode: bool) -> PyResult<Bound<'py, PyAny>> {
        let (deployment, opts) = (self.deployment.clone(), self.opts.clone());
        aio::awaitable(
            py,
            async move { slotshift::store::Store::connect_async(&deployment, opts).await },
            move |py, store| Ok(Bound::new(py, Store::wrap(store, decode))?.into_any()),
        )
    }

    /// The URL with any password masked.
    fn __repr__(&self) -> String {
        format!("<slotshift Target {}>", self.deployment)
    }
}

/// A connection to one deployment (the kind is detected from a single URL). Thread-safe;
/// every network call releases the GIL. Survives `os.fork()`: a child opens its own
/// connections.
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct Store {
    inner: RwLock<Option<slotshift::store::Store>>,
    decode: bool,
}

impl Store {
    pub fn wrap(store: slotshift::store::Store, decode: bool) -> Store {
        Store {
            inner: RwLock::new(Some(store)),
            decode,
        }
    }

    /// Whether this handle decodes replies to str.
    pub fn decode_flag(&self) -> bool {
        self.decode
    }

    /// The core store (a cheap clone), or `ConnectionError` once closed.
    pub fn core(&self) -> PyResult<slotshift::store::Store> {
        match self.inner.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
        .ok_or_else(|| {
            Python::attach(|py| new_err(py, "connection", "this client is closed".to_owned()))
        })
    }
}

#[pymethods]
impl Store {
    /// The same connections, with replies decoded to str (`True`) or left as bytes.
    fn with_decode(&self, decode: bool) -> PyResult<Store> {
        Ok(Store::wrap(self.core()?, decode))
    }

    /// Whether replies are decoded to str.
    #[getter]
    fn decode(&self) -> bool {
        self.decode
    }

    /// `"standalone"`, `"sentinel"` or `"cluster"`.
    #[getter]
    fn kind(&self) -> PyResult<&'static str> {
        Ok(match self.core()?.kind() {
            StoreKind::Standalone => "standalone",
            StoreKind::Sentinel => "sentinel",
            StoreKind::Cluster => "cluster",
            _ => "unknown",
        })
    }

    /// The store's name (metrics label).
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.core()?.options().name.clone())
    }

    /// Sends one command (its name and arguments); an error reply raises `ResponseError`.
    #[pyo3(signature = (*args))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cmd = convert::cmd_from_iter(args.iter())?;
        let store = self.core()?;
        match py.detach(|| store.call(&cmd)) {
            Ok(reply) => convert::reply_to_py(py, reply, self.decode),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// Sends commands as a pipeline (per node on a cluster, through the CrossSlot batcher);
    /// returns one result per command, failed ones as exception instances.
    fn pipeline<'py>(
        &self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let cmds = convert::cmds_from_py(commands)?;
        let store = self.core()?;
        match py.detach(|| store.pipeline(&cmds)) {
            Ok(results) => convert::results_to_py(py, results, self.decode),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// Runs commands in MULTI/EXEC; `None` when the transaction was aborted.
    fn transaction<'py>(
        &self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cmds = convert::cmds_from_py(commands)?;
        let store = self.core()?;
        match py.detach(|| store.transaction(&cmds)) {
            Ok(replies) => exec_to_py(py, replies, self.decode),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// `call` for asyncio: an awaitable of the running loop, resolved from the core's runtime
    /// (no thread waits for it); cancelling it drops the core's future.
    #[pyo3(signature = (*args))]
    fn call_async<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        aio::call(py, self.core()?, args, self.decode)
    }

    /// `pipeline` for asyncio (an awaitable of the list of results).
    fn pipeline_async<'py>(
        &self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        aio::pipeline(py, self.core()?, commands, self.decode)
    }

    /// `transaction` for asyncio (an awaitable of EXEC's list, or `None` when aborted).
    fn transaction_async<'py>(
        &self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = self.core()?;
        aio::transaction(py, commands, self.decode, move |cmds| async move {
            store.transaction_async(&cmds).await
        })
    }

    /// The node (`(host, port)`) that answers the command `args` when it goes to one node,
    /// as `call` routes it; nothing is sent. `None` on a cluster for a keyless command
    /// (it goes to any master, or to several). See `Store::node_for`.
    #[pyo3(signature = (*args))]
    fn node_for(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<Option<(String, u16)>> {
        let cmd = convert::cmd_from_iter(args.iter())?;
        let store = self.core()?;
        let node = py
            .detach(|| store.node_for(&cmd))
            .map_err(|e| to_py(py, e))?;
        Ok(node.map(|n| (n.host.to_string(), n.port)))
    }

    /// The database the store's connections select (0 on a cluster).
    #[getter]
    fn database(&self) -> PyResult<i64> {
        Ok(self.core()?.database())
    }

    /// The cluster's slot map as the core routes by it (no command is sent once connected):
    /// per shard its slot ranges, its master and its online replicas, each `(host, port)`.
    /// `None` for a single server.
    #[allow(clippy::type_complexity)]
    fn shards(
        &self,
        py: Python<'_>,
    ) -> PyResult<Option<Vec<(Vec<(u16, u16)>, (String, u16), Vec<(String, u16)>)>>> {
        let store = self.core()?;
        let topology = py.detach(|| store.topology()).map_err(|e| to_py(py, e))?;
        let node = |a: &slotshift::net::NodeAddr| (a.host.to_string(), a.port);
        Ok(topology.map(|t| {
            t.shards()
                .iter()
                .map(|s| {
                    (
                        s.ranges.clone(),
                        node(&s.master),
                        s.replicas.iter().map(node).collect(),
                    )
                })
                .collect()
        }))
    }

    /// The masters (`host:port`): every slot-serving master of a cluster, the server otherwise.
    fn masters(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let store = self.core()?;
        let masters = py.detach(|| store.masters()).map_err(|e| to_py(py, e))?;
        Ok(masters.iter().map(|m| m.to_string()).collect())
    }

    /// Iterates over batches of keys of every master (SCAN).
    #[pyo3(signature = (r#match=None, count=None, _type=None))]
    fn scan(
        &self,
        py: Python<'_>,
        r#match: Option<&Bound<'_, PyAny>>,
        count: Option<i64>,
        _type: Option<String>,
    ) -> PyResult<ScanIter> {
        let mut options = ScanOptions::default();
        if let Some(m) = r#match {
            options.pattern = Some(convert::key_bytes(m, "match")?.into_owned());
        }
        if let Some(c) = count {
            if c < 1 {
                return Err(PyValueError::new_err(format!(
                    "count must be a positive integer, got {c}"
                )));
            }
            options.count = Some(c as usize);
        }
        options.key_type = _type;
        let store = self.core()?;
        let scan = py
            .detach(|| store.scan(options))
            .map_err(|e| to_py(py, e))?;
        Ok(ScanIter {
            scan: Mutex::new(scan),
            decode: self.decode,
        })
    }

    /// Drops this handle's connections (other handles on the same store keep theirs). Later
    /// calls raise `ConnectionError`.
    fn close(&self) {
        let taken = match self.inner.write() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        drop(taken);
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        match self.inner.read() {
            Ok(g) => g.is_none(),
            Err(p) => p.into_inner().is_none(),
        }
    }

    fn __repr__(&self) -> String {
        match self.core() {
            Ok(s) => format!(
                "<slotshift Store kind={:?} name={:?}>",
                format!("{:?}", s.kind()).to_lowercase(),
                s.options().name
            ),
            Err(_) => "<slotshift Store (closed)>".to_owned(),
        }
    }
}

/// EXEC's replies as a list, `None` when the transaction was aborted.
pub(crate) fn exec_to_py(
    py: Python<'_>,
    replies: Option<Vec<Reply>>,
    decode: bool,
) -> PyResult<Bound<'_, PyAny>> {
    let Some(replies) = replies else {
        return Ok(py.None().into_bound(py));
    };
    let list = PyList::empty(py);
    for r in replies {
        list.append(convert::reply_to_py(py, r, decode)?)?;
    }
    Ok(list.into_any())
}

/// Batches of keys from `Store.scan`, master after master.
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct ScanIter {
    scan: Mutex<slotshift::keyspace::Scan>,
    decode: bool,
}

#[pymethods]
impl ScanIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let next = py.detach(|| match self.scan.lock() {
            Ok(mut s) => s.next(),
            Err(p) => p.into_inner().next(),
        });
        match next {
            None => Ok(None),
            Some(Err(e)) => Err(to_py(py, e)),
            Some(Ok(keys)) => {
                let list = PyList::empty(py);
                for k in keys {
                    list.append(convert::reply_to_py(
                        py,
                        slotshift::reply::Reply::Bulk(k),
                        self.decode,
                    )?)?;
                }
                Ok(Some(list))
            }
        }
    }
}
