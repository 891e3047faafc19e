//! `Recorder`: captures the commands this thread sends while it is active.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use slotshift::instrument::{Recorded, Via};

use crate::convert;

/// Records every command sent on the thread that created it (calls, pipelines,
/// transactions) until `stop()`.
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct Recorder {
    inner: slotshift::instrument::Recorder,
}

fn via_name(via: Via) -> &'static str {
    match via {
        Via::Call => "call",
        Via::Pipeline => "pipeline",
        Via::Transaction => "transaction",
        _ => "other",
    }
}

fn entries<'py>(py: Python<'py>, log: Vec<Recorded>) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for r in log {
        let args = PyList::empty(py);
        for a in &r.args {
            args.append(PyBytes::new(py, a))?;
        }
        list.append(PyTuple::new(
            py,
            [
                r.store.into_pyobject(py)?.into_any(),
                args.into_any(),
                via_name(r.via).into_pyobject(py)?.into_any(),
            ],
        )?)?;
    }
    Ok(list)
}

#[pymethods]
impl Recorder {
    /// Starts recording; with `pattern` (a Redis glob) only commands with a matching key.
    #[new]
    #[pyo3(signature = (pattern=None))]
    fn new(pattern: Option<&Bound<'_, PyAny>>) -> PyResult<Recorder> {
        let inner = match pattern {
            Some(p) => slotshift::instrument::Recorder::start_with_pattern(convert::key_bytes(
                p, "pattern",
            )?),
            None => slotshift::instrument::Recorder::start(),
        };
        Ok(Recorder { inner })
    }

    /// Stops recording (what was recorded stays).
    fn stop(&self) {
        self.inner.stop();
    }

    /// Whether it is still recording.
    #[getter]
    fn active(&self) -> bool {
        self.inner.is_active()
    }

    /// How many commands were recorded.
    #[getter]
    fn count(&self) -> usize {
        self.inner.count()
    }

    /// Every recorded command as `(store, [args…], via)`.
    fn log<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        entries(py, self.inner.log())
    }

    /// The recorded commands named `name` (any case).
    fn by_command<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyList>> {
        entries(py, self.inner.by_command(name))
    }

    /// The recorded commands with a key matching `pattern` (Redis glob).
    fn by_key<'py>(
        &self,
        py: Python<'py>,
        pattern: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let p = convert::key_bytes(pattern, "pattern")?.into_owned();
        entries(py, self.inner.by_key(p))
    }

    /// Forgets what was recorded.
    fn clear(&self) {
        self.inner.clear();
    }
}
