//! `MultiStore`: one client over two stores, driven by the two migration flags.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use slotshift::multistore::{Counter, FlagSource, FlagState, MultiStoreOptions, Side};

use crate::errors::to_py;
use crate::store::{exec_to_py, seconds, Store};
use crate::{aio, convert};

/// A MultiStore over a primary (new) and a secondary (old) store.
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct MultiStore {
    inner: slotshift::multistore::MultiStore,
    decode: bool,
}

fn phase_name(phase: slotshift::multistore::Phase) -> &'static str {
    phase.as_str()
}

#[pymethods]
impl MultiStore {
    /// Builds the MultiStore (reads the flags once; checks whether both stores are one server).
    #[new]
    #[pyo3(signature = (name, primary, secondary, *, decode=false, dual_write=false,
        primary_default=false, flags_from_env=false, flags_key=None, flags_cache_ttl=1.0,
        strict=false, async_non_default_writes=false, queue_capacity=None,
        primary_read_percentage=0, fallback_reads=false, shadow_read_ratio=0.0,
        metrics_prefix=None, non_default_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: &str,
        primary: &Store,
        secondary: &Store,
        decode: bool,
        dual_write: bool,
        primary_default: bool,
        flags_from_env: bool,
        flags_key: Option<String>,
        flags_cache_ttl: f64,
        strict: bool,
        async_non_default_writes: bool,
        queue_capacity: Option<i64>,
        primary_read_percentage: i64,
        fallback_reads: bool,
        shadow_read_ratio: f64,
        metrics_prefix: Option<String>,
        non_default_timeout: Option<f64>,
    ) -> PyResult<MultiStore> {
        let mut opts = MultiStoreOptions::default();
        let (p, s) = (primary.core()?, secondary.core()?);
        opts.flags = match (flags_from_env, flags_key) {
            (true, Some(_)) => {
                return Err(PyValueError::new_err(
                    "give flags_from_env or flags_key, not both",
                ))
            }
            (true, None) => FlagSource::Env,
            (false, Some(key)) => FlagSource::SharedKey {
                store: s.clone(),
                key,
                cache_ttl: seconds(flags_cache_ttl, "flags_cache_ttl")?,
            },
            (false, None) => FlagSource::InProcess(FlagState::new(dual_write, primary_default)),
        };
        opts.strict = strict;
        opts.async_non_default_writes = async_non_default_writes;
        if let Some(c) = queue_capacity {
            opts.queue_capacity = usize::try_from(c).map_err(|_| {
                PyValueError::new_err(format!("queue_capacity must be positive, got {c}"))
            })?;
        }
        opts.primary_read_percentage = u8::try_from(primary_read_percentage)
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "primary_read_percentage must be 0 to 100, got {primary_read_percentage}"
                ))
            })?;
        opts.fallback_reads = fallback_reads;
        opts.shadow_read_ratio = shadow_read_ratio;
        if let Some(prefix) = metrics_prefix {
            opts.metrics_prefix = prefix;
        }
        if let Some(t) = non_default_timeout {
            opts.non_default_timeout = Some(seconds(t, "non_default_timeout")?);
        }
        let inner = py
            .detach(|| slotshift::multistore::MultiStore::new(name, p, s, opts))
            .map_err(|e| to_py(py, e))?;
        Ok(MultiStore { inner, decode })
    }

    /// The same MultiStore with replies decoded to str (`True`) or left as bytes.
    fn with_decode(&self, decode: bool) -> MultiStore {
        MultiStore {
            inner: self.inner.clone(),
            decode,
        }
    }

    /// Whether replies are decoded to str.
    #[getter]
    fn decode(&self) -> bool {
        self.decode
    }

    /// The instance name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// The primary (new) store.
    #[getter]
    fn primary(&self) -> Store {
        Store::wrap(self.inner.primary().clone(), self.decode)
    }

    /// The secondary (old) store.
    #[getter]
    fn secondary(&self) -> Store {
        Store::wrap(self.inner.secondary().clone(), self.decode)
    }

    /// `(dual_write, primary_default)`.
    #[getter]
    fn flags(&self, py: Python<'_>) -> (bool, bool) {
        let f = py.detach(|| self.inner.flags());
        (f.dual_write, f.primary_default)
    }

    /// The migration phase: `secondary_only`, `dual_write_secondary_default`,
    /// `dual_write_primary_default` or `primary_only`.
    #[getter]
    fn phase(&self, py: Python<'_>) -> &'static str {
        phase_name(py.detach(|| self.inner.phase()))
    }

    /// Sets the flags (in process; or the shared key). A flag left `None` keeps its value.
    #[pyo3(signature = (dual_write=None, primary_default=None))]
    fn set_flags(
        &self,
        py: Python<'_>,
        dual_write: Option<bool>,
        primary_default: Option<bool>,
    ) -> PyResult<()> {
        py.detach(|| {
            let now = self.inner.flags();
            self.inner.set_flags(FlagState::new(
                dual_write.unwrap_or(now.dual_write),
                primary_default.unwrap_or(now.primary_default),
            ))
        })
        .map_err(|e| to_py(py, e))
    }

    /// Whether both stores are the same server (dual-write is then off).
    #[getter]
    fn same_server(&self, py: Python<'_>) -> bool {
        py.detach(|| self.inner.same_server())
    }

    /// Sends one command by the MultiStore's rules; errors are the default store's.
    #[pyo3(signature = (*args))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cmd = convert::cmd_from_iter(args.iter())?;
        match py.detach(|| self.inner.call(&cmd)) {
            Ok(reply) => convert::reply_to_py(py, reply, self.decode),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// A pipeline (compared on both stores while dual-write is on and it writes).
    fn pipeline<'py>(
        &self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let cmds = convert::cmds_from_py(commands)?;
        match py.detach(|| self.inner.pipeline(&cmds)) {
            Ok(results) => convert::results_to_py(py, results, self.decode),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// MULTI/EXEC on the default store (and the other while dual-write is on): EXEC's list,
    /// or `None` when it was aborted.
    fn transaction<'py>(
        &self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cmds = convert::cmds_from_py(commands)?;
        match py.detach(|| self.inner.transaction(&cmds)) {
            Ok(replies) => exec_to_py(py, replies, self.decode),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// `call` for asyncio: an awaitable of the reply, awaited on the core's runtime (no
    /// thread per call).
    #[pyo3(signature = (*args))]
    fn call_async<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        aio::call(py, self.inner.clone(), args, self.decode)
    }

    /// `pipeline` for asyncio (an awaitable of the list of results).
    fn pipeline_async<'py>(
        &self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        aio::pipeline(py, self.inner.clone(), commands, self.decode)
    }

    /// `transaction` for asyncio (an awaitable of EXEC's list, or `None` when aborted).
    fn transaction_async<'py>(
        &self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        aio::transaction(py, commands, self.decode, move |cmds| async move {
            inner.transaction_async(&cmds).await
        })
    }

    /// The counters: `{"counters": {metric: {command: n}}, "hits": {"primary": n,
    /// "secondary": n}, "misses": {...}, "shadow_reads": n}`.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let snap = self.inner.metrics();
        let counters = PyDict::new(py);
        for counter in Counter::ALL {
            counters.set_item(counter.metric(), PyDict::new(py))?;
        }
        for ((counter, command), n) in &snap.counters {
            if let Some(d) = counters.get_item(counter.metric())? {
                d.set_item(command, n)?;
            }
        }
        let out = PyDict::new(py);
        out.set_item("counters", counters)?;
        let hits = PyDict::new(py);
        hits.set_item("primary", snap.hits(Side::Primary))?;
        hits.set_item("secondary", snap.hits(Side::Secondary))?;
        let misses = PyDict::new(py);
        misses.set_item("primary", snap.misses(Side::Primary))?;
        misses.set_item("secondary", snap.misses(Side::Secondary))?;
        out.set_item("hits", hits)?;
        out.set_item("misses", misses)?;
        out.set_item("shadow_reads", snap.shadow_reads)?;
        Ok(out)
    }

    /// This MultiStore's counters as Prometheus text.
    fn metrics_text(&self) -> String {
        self.inner.metrics_text()
    }

    /// Non-default writes waiting in the async queue.
    #[getter]
    fn queued(&self) -> usize {
        self.inner.queued()
    }

    /// Waits up to `timeout` seconds for the async queue to empty; whether it did.
    fn drain(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let t: Duration = seconds(timeout, "timeout")?;
        Ok(py.detach(|| self.inner.drain(t)))
    }

    fn __repr__(&self) -> String {
        format!("<slotshift MultiStore name={:?}>", self.inner.name())
    }
}
