//! The one mapping from core errors to Python exceptions.
//!
//! The classes live in the Python module `slotshift.exceptions`, where each is also a subclass of
//! redis-py's matching class (`except redis.RedisError` catches every slotshift error). Which
//! class a core error family maps to is `tests/fixtures/errors.json` (compiled in): one row per
//! family, named by its `python` column; a row naming a class that `slotshift.exceptions` lacks
//! is an import-time error, so the table and the classes cannot drift apart. Within a family:
//! an error reply is classified by redis-py's own parser (`slotshift.exceptions.server_error`),
//! and a connection failure that is a timeout or refused credentials raises `TimeoutError` /
//! `AuthenticationError`; a cross-slot transaction refused before sending raises
//! `CrossSlotTransactionError` (a `RoutingError`, and redis-py's class of that name); a slot
//! no node serves raises `SlotNotServedError` (a `RoutingError`, and redis-py's
//! `ClusterDownError`, which redis-py raises for the server's `CLUSTERDOWN` in that case).

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use slotshift::cluster::RoutingError;
use slotshift::net::ConnectionErrorKind;

/// The mapping table every binding reads.
const TABLE: &str = include_str!("../../tests/fixtures/errors.json");

/// The module the classes live in.
const MODULE: &str = "slotshift.exceptions";

struct Classes {
    /// family name → class.
    by_family: HashMap<String, Py<PyType>>,
    /// (class name, class), in table order.
    ordered: Vec<(String, Py<PyType>)>,
    base: Py<PyType>,
    timeout: Py<PyType>,
    auth: Py<PyType>,
    data: Py<PyType>,
    cross_slot_transaction: Py<PyType>,
    slot_not_served: Py<PyType>,
    /// `server_error(text) -> exception instance`.
    server_error: Py<PyAny>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn class(module: &Bound<'_, PyModule>, name: &str) -> PyResult<Py<PyType>> {
    let obj = module.getattr(name).map_err(|_| {
        PyValueError::new_err(format!(
            "errors.json names the class {name:?}, which {MODULE} does not define"
        ))
    })?;
    Ok(obj.cast_into::<PyType>()?.unbind())
}

fn build(py: Python<'_>) -> PyResult<Classes> {
    let table: serde_json::Value = serde_json::from_str(TABLE)
        .map_err(|e| PyValueError::new_err(format!("errors.json: {e}")))?;
    let rows = table["families"]
        .as_array()
        .ok_or_else(|| PyValueError::new_err("errors.json: no `families` array"))?;
    let module = py.import(MODULE)?;
    let base_name = table["python_base"].as_str().unwrap_or("SlotshiftError");
    let mut classes = Classes {
        by_family: HashMap::new(),
        ordered: Vec::new(),
        base: class(&module, base_name)?,
        timeout: class(&module, "TimeoutError")?,
        auth: class(&module, "AuthenticationError")?,
        data: class(&module, "DataError")?,
        cross_slot_transaction: class(&module, "CrossSlotTransactionError")?,
        slot_not_served: class(&module, "SlotNotServedError")?,
        server_error: module.getattr("server_error")?.unbind(),
    };
    for row in rows {
        let (Some(family), Some(name)) = (row["family"].as_str(), row["python"].as_str()) else {
            return Err(PyValueError::new_err(format!("errors.json: bad row {row}")));
        };
        let class = class(&module, name)?;
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

fn from_class(py: Python<'_>, class: &Py<PyType>, message: String) -> PyErr {
    PyErr::from_type(class.bind(py).clone(), message)
}

/// A core error as the Python exception of its family (or the finer class within it).
pub fn to_py(py: Python<'_>, e: slotshift::Error) -> PyErr {
    let c = match classes(py) {
        Ok(c) => c,
        Err(err) => return err,
    };
    match &e {
        slotshift::Error::Server(se) => {
            // A transaction discarded at EXEC: the refused command's own error, as redis-py
            // raises it, with that command's index among the transaction's commands.
            if let Some((index, cause)) = se.refused_at_queue() {
                let value = server_error_value(py, cause.to_string());
                if let Err(err) = value.setattr("command_index", index) {
                    return err;
                }
                return PyErr::from_value(value);
            }
            return PyErr::from_value(server_error_value(py, se.to_string()));
        }
        slotshift::Error::Connection(ce) => match ce.kind {
            ConnectionErrorKind::Timeout => return from_class(py, &c.timeout, e.to_string()),
            ConnectionErrorKind::Auth => return from_class(py, &c.auth, e.to_string()),
            _ => {}
        },
        slotshift::Error::Routing(RoutingError::CrossSlotTransaction { .. }) => {
            return from_class(py, &c.cross_slot_transaction, e.to_string());
        }
        slotshift::Error::Routing(RoutingError::SlotNotServed { .. }) => {
            return from_class(py, &c.slot_not_served, e.to_string());
        }
        _ => {}
    }
    let message = e.to_string();
    match c.by_family.get(e.family().name()) {
        Some(class) => from_class(py, class, message),
        None => from_class(py, &c.base, message),
    }
}

/// The class of family `family` (for raising from the binding itself).
pub fn new_err(py: Python<'_>, family: &str, message: String) -> PyErr {
    match error_class(py, family) {
        Ok(class) => PyErr::from_type(class, message),
        Err(e) => e,
    }
}

/// redis-py's `DataError` (as slotshift's subclass, also a `TypeError`): an argument that
/// cannot be sent.
pub fn data_error(py: Python<'_>, message: String) -> PyErr {
    match classes(py) {
        Ok(c) => from_class(py, &c.data, message),
        Err(e) => e,
    }
}

fn server_error_value(py: Python<'_>, text: String) -> Bound<'_, PyAny> {
    let made = classes(py).and_then(|c| c.server_error.bind(py).call1((text,)));
    match made {
        Ok(v) => v,
        Err(e) => e.into_value(py).into_bound(py).into_any(),
    }
}

/// An error reply as an exception instance (inside arrays and pipelines it is a value), of
/// the class redis-py's parser gives it.
pub fn response_error(py: Python<'_>, message: String) -> Bound<'_, PyAny> {
    server_error_value(py, message)
}

/// Adds the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let c = classes(py)?;
    m.add("SlotshiftError", c.base.bind(py))?;
    for (name, class) in &c.ordered {
        m.add(name.as_str(), class.bind(py))?;
    }
    Ok(())
}
