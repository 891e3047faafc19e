//! The exception hierarchy and the one mapping from core error families to it.
//!
//! The classes are made from `tests/fixtures/errors.json` itself (compiled in): one class per
//! row, named by its `python` column, all under `SlotshiftError`. A family the core adds gets
//! its class from the table's new row, with no second list to keep in step.

use std::collections::HashMap;
use std::ffi::CString;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

create_exception!(
    slotshift,
    SlotshiftError,
    PyException,
    "Base class of every error slotshift raises."
);

/// The mapping table every binding reads.
const TABLE: &str = include_str!("../../tests/fixtures/errors.json");

struct Classes {
    /// family name → class.
    by_family: HashMap<String, Py<PyType>>,
    /// (class name, class), in table order.
    ordered: Vec<(String, Py<PyType>)>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn build(py: Python<'_>) -> PyResult<Classes> {
    let table: serde_json::Value = serde_json::from_str(TABLE)
        .map_err(|e| PyValueError::new_err(format!("errors.json: {e}")))?;
    let rows = table["families"]
        .as_array()
        .ok_or_else(|| PyValueError::new_err("errors.json: no `families` array"))?;
    let base = py.get_type::<SlotshiftError>();
    let mut classes = Classes {
        by_family: HashMap::new(),
        ordered: Vec::new(),
    };
    for row in rows {
        let (Some(family), Some(name)) = (row["family"].as_str(), row["python"].as_str()) else {
            return Err(PyValueError::new_err(format!("errors.json: bad row {row}")));
        };
        let what = row["what"].as_str().unwrap_or_default();
        let qualified = CString::new(format!("slotshift.{name}"))
            .map_err(|_| PyValueError::new_err(format!("errors.json: bad class name {name:?}")))?;
        let doc = CString::new(format!("Core error family `{family}`: {what}."))
            .map_err(|_| PyValueError::new_err(format!("errors.json: bad text for {name:?}")))?;
        let class = PyErr::new_type(py, &qualified, Some(&doc), Some(&base), None)?;
        classes
            .by_family
            .insert(family.to_owned(), class.clone_ref(py));
        classes.ordered.push((name.to_owned(), class));
    }
    Ok(classes)
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || build(py))
}

/// The exception class slotshift raises for core error family `family` (`"server"`,
/// `"routing"`, …); `ValueError` for a name that is not a family.
#[pyfunction]
pub fn error_class<'py>(py: Python<'py>, family: &str) -> PyResult<Bound<'py, PyType>> {
    classes(py)?
        .by_family
        .get(family)
        .map(|c| c.bind(py).clone())
        .ok_or_else(|| PyValueError::new_err(format!("no error family named {family:?}")))
}

/// A core error as the Python exception of its family.
pub fn to_py(py: Python<'_>, e: slotshift::Error) -> PyErr {
    let message = e.to_string();
    match classes(py).map(|c| c.by_family.get(e.family().name())) {
        Ok(Some(class)) => PyErr::from_type(class.bind(py).clone(), message),
        _ => SlotshiftError::new_err(message),
    }
}

/// The class of family `family` (for raising from the binding itself).
pub fn new_err(py: Python<'_>, family: &str, message: String) -> PyErr {
    match error_class(py, family) {
        Ok(class) => PyErr::from_type(class, message),
        Err(_) => SlotshiftError::new_err(message),
    }
}

/// An error reply as a `ResponseError` instance (inside arrays and pipelines it is a value).
pub fn response_error<'py>(py: Python<'py>, message: String) -> Bound<'py, PyAny> {
    new_err(py, "server", message)
        .into_value(py)
        .into_bound(py)
        .into_any()
}

/// Adds the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SlotshiftError", py.get_type::<SlotshiftError>())?;
    for (name, class) in &classes(py)?.ordered {
        m.add(name.as_str(), class.bind(py))?;
    }
    Ok(())
}
