//! The exception hierarchy and the one mapping from core error families to it
//! (`tests/fixtures/errors.json`).

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;

create_exception!(
    slotshift,
    SlotshiftError,
    PyException,
    "Base class of every error slotshift raises."
);
create_exception!(slotshift, SlotError, SlotshiftError, "A hash slot out of range.");
create_exception!(
    slotshift,
    InvalidCommandError,
    SlotshiftError,
    "An unknown command, a wrong number of arguments, a malformed numkeys."
);
create_exception!(
    slotshift,
    ConfigError,
    SlotshiftError,
    "A bad URL, seed list, config file or environment value."
);
create_exception!(
    slotshift,
    ResponseError,
    SlotshiftError,
    "An error reply from the server (WRONGTYPE, NOPERM, ...), as redis-py names it."
);
create_exception!(
    slotshift,
    ConnectionError,
    SlotshiftError,
    "A connection could not be opened, broke, or timed out (names the node)."
);
create_exception!(
    slotshift,
    RoutingError,
    SlotshiftError,
    "Redirect loops, unknown nodes, uncovered slots, cross-slot transactions."
);
create_exception!(
    slotshift,
    PipelineError,
    SlotshiftError,
    "A bad batch limit, an unsplittable cross-slot command, a partial failure."
);
create_exception!(
    slotshift,
    CrossSlotError,
    SlotshiftError,
    "The cross-slot validator refused a command (mode raise)."
);
create_exception!(
    slotshift,
    AnalyzerError,
    SlotshiftError,
    "Analyzer options, rules or checkpoints."
);
create_exception!(
    slotshift,
    MultiStoreError,
    SlotshiftError,
    "An unknown command in strict mode, bad flags or options."
);
create_exception!(
    slotshift,
    EmbeddedServerError,
    SlotshiftError,
    "Embedded test servers could not start."
);

/// The exception class of a core error family (the fixture's `python` column).
fn class_of<'py>(py: Python<'py>, family: &str) -> Option<Bound<'py, PyType>> {
    Some(match family {
        "slot" => py.get_type::<SlotError>(),
        "command" => py.get_type::<InvalidCommandError>(),
        "config" => py.get_type::<ConfigError>(),
        "server" => py.get_type::<ResponseError>(),
        "connection" => py.get_type::<ConnectionError>(),
        "routing" => py.get_type::<RoutingError>(),
        "pipeline" => py.get_type::<PipelineError>(),
        "validator" => py.get_type::<CrossSlotError>(),
        "analyzer" => py.get_type::<AnalyzerError>(),
        "multistore" => py.get_type::<MultiStoreError>(),
        "embedded" => py.get_type::<EmbeddedServerError>(),
        _ => return None,
    })
}

/// The exception class slotshift raises for core error family `family` (`"server"`,
/// `"routing"`, …); `ValueError` for a name that is not a family.
#[pyfunction]
pub fn error_class<'py>(py: Python<'py>, family: &str) -> PyResult<Bound<'py, PyType>> {
    class_of(py, family)
        .ok_or_else(|| PyValueError::new_err(format!("no error family named {family:?}")))
}

/// A core error as the Python exception of its family.
pub fn to_py(py: Python<'_>, e: slotshift::Error) -> PyErr {
    let message = e.to_string();
    match class_of(py, e.family().name()) {
        Some(class) => PyErr::from_type(class, message),
        None => SlotshiftError::new_err(message),
    }
}

/// Adds the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SlotshiftError", py.get_type::<SlotshiftError>())?;
    for family in slotshift::error::ErrorFamily::ALL {
        if let Some(class) = class_of(py, family.name()) {
            m.add(class.name()?, class)?;
        }
    }
    Ok(())
}
