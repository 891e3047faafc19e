//! `slotshift._slotshift`: the native layer of the Python wheel.
//!
//! It only converts types, releases the GIL around every network call, and maps core errors to
//! Python exceptions (one table, `tests/fixtures/errors.json`). The redis-py-shaped API — method
//! names, keyword options, reply conversions — lives in the typed Python package
//! (`python/slotshift/`) on top of this module.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;

/// The module's own allocations (commands, replies, plans, connection buffers) come from
/// mimalloc rather than glibc's malloc, which cost a quarter of a large cross-slot MGET in the
/// Ruby extension (perf). Python's objects keep Python's allocator; nothing allocated on one
/// side is freed on the other.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod aio;
mod analyze;
mod convert;
mod errors;
mod migrate;
mod multistore;
mod recorder;
mod session;
mod store;

/// The hash slot (0..16383) of `key` (bytes or str), hash tags included.
#[pyfunction]
fn key_slot(key: &Bound<'_, PyAny>) -> PyResult<u16> {
    let key = convert::key_bytes(key, "key")?;
    Ok(slotshift::slot::key_slot(&key).into())
}

/// The 16,384 slot numbers as Python ints, made once: `key_slots` hands out references
/// instead of allocating an int per key.
static SLOT_INTS: PyOnceLock<Vec<Py<PyAny>>> = PyOnceLock::new();

/// The hash slot of every key of `keys` (a sequence of bytes or str), in order.
#[pyfunction]
fn key_slots<'py>(py: Python<'py>, keys: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let ints = SLOT_INTS.get_or_try_init(py, || -> PyResult<Vec<Py<PyAny>>> {
        (0u16..16384)
            .map(|s| Ok(s.into_pyobject(py)?.into_any().unbind()))
            .collect()
    })?;
    // The slots first (plain numbers, no reference counting), then the list from the cached
    // ints in one pass. A list (the common case) is read in place; other sequences are
    // collected first.
    let slots = match keys.cast::<PyList>() {
        Ok(list) => slots_of_list(list)?,
        Err(_) => {
            let items = convert::sequence_items(keys, "keys")?;
            let n = items.len();
            slots_of(items.into_iter(), n)?
        }
    };
    PyList::new(py, slots.into_iter().map(|s| ints[s].bind(py)))
}

/// The slot of each key of `list`, its items read in place: borrowed references, without
/// counting them (the GIL is held and no Python code runs until the last is read, so the list
/// cannot change under the loop), and an exact `bytes` key's buffer by one call. Any other
/// item takes `convert::borrow_key`'s way.
fn slots_of_list(list: &Bound<'_, PyList>) -> PyResult<Vec<usize>> {
    use pyo3::ffi;

    let py = list.py();
    let n = list.len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // `n` came from the list (a Py_ssize_t) and nothing can shrink it during the loop.
        let Ok(index) = ffi::Py_ssize_t::try_from(i) else {
            break;
        };
        // SAFETY: `list` is a list and `index` is below its length; the item is a borrowed
        // reference the list keeps alive while no Python code runs.
        let item = unsafe { ffi::PyList_GetItem(list.as_ptr(), index) };
        if item.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `item` is a live object (above); reading its type is a field read.
        let exact_bytes =
            unsafe { ffi::Py_TYPE(item) == std::ptr::addr_of_mut!(ffi::PyBytes_Type) };
        let slot = if exact_bytes {
            let mut data: *mut std::ffi::c_char = std::ptr::null_mut();
            let mut len: ffi::Py_ssize_t = 0;
            // SAFETY: `item` is exactly a bytes object; the call fills `data`/`len` with its
            // buffer, which lives as long as the object (kept by the list, above).
            let key = unsafe {
                if ffi::PyBytes_AsStringAndSize(item, &mut data, &mut len) != 0 {
                    return Err(PyErr::fetch(py));
                }
                std::slice::from_raw_parts(data.cast::<u8>(), usize::try_from(len).unwrap_or(0))
            };
            slotshift::slot::key_slot(key)
        } else {
            // SAFETY: a borrowed reference to a live object (above), used only in this turn.
            let obj = unsafe { Borrowed::from_ptr(py, item) };
            slotshift::slot::key_slot(convert::borrow_key(&obj, i)?)
        };
        out.push(usize::from(u16::from(slot)));
    }
    Ok(out)
}

/// The slot of each key `items` yields (bytes or str; anything else is a `TypeError` naming
/// its position).
fn slots_of<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    len: usize,
) -> PyResult<Vec<usize>> {
    let mut out = Vec::with_capacity(len);
    for (i, item) in items.enumerate() {
        let key = convert::borrow_key(&item, i)?;
        out.push(usize::from(u16::from(slotshift::slot::key_slot(key))));
    }
    Ok(out)
}

/// Prometheus text exposition of every store's figures and every counter of this process.
#[pyfunction]
fn metrics_text() -> String {
    slotshift::instrument::metrics_text()
}

/// Opens one level of the cross-slot allow scope on this thread (pair with `allow_exit`).
#[pyfunction]
fn allow_enter() {
    slotshift::validator::enter_allow();
}

/// Closes one level of the cross-slot allow scope on this thread.
#[pyfunction]
fn allow_exit() {
    slotshift::validator::exit_allow();
}

/// Whether this thread is inside a cross-slot allow scope.
#[pyfunction]
fn allow_active() -> bool {
    slotshift::validator::is_allowed()
}

/// Passes the core's log records of `level` ("error" … "trace") and more severe to the queue
/// `next_log_record` reads (installed on first use); None stops passing them.
#[pyfunction]
fn log_enable(level: Option<&str>) -> PyResult<()> {
    use pyo3::exceptions::PyValueError;
    use slotshift::log_queue;
    let Some(level) = level else {
        log_queue::silence();
        return Ok(());
    };
    let level: log_queue::Level = level.parse().map_err(PyValueError::new_err)?;
    log_queue::install(level).map_err(PyValueError::new_err)
}

/// The next core log record as `(level, target, message)`, waiting at most `timeout` seconds
/// with the GIL released; None when none came.
#[pyfunction]
fn next_log_record(
    py: Python<'_>,
    timeout: f64,
) -> PyResult<Option<(&'static str, String, String)>> {
    use pyo3::exceptions::PyValueError;
    if !timeout.is_finite() || timeout < 0.0 {
        return Err(PyValueError::new_err(format!(
            "timeout must be seconds >= 0, got {timeout}"
        )));
    }
    let wait = std::time::Duration::from_secs_f64(timeout);
    let record = py
        .detach(|| slotshift::store::block_on(slotshift::log_queue::next_record_async(Some(wait))))
        .map_err(|e| crate::errors::to_py(py, e))?;
    Ok(record.map(|r| (r.level.as_str(), r.target, r.message)))
}

/// The native module.
#[pymodule(gil_used = false)]
fn _slotshift(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(key_slot, m)?)?;
    m.add_function(wrap_pyfunction!(key_slots, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_text, m)?)?;
    m.add_function(wrap_pyfunction!(allow_enter, m)?)?;
    m.add_function(wrap_pyfunction!(allow_exit, m)?)?;
    m.add_function(wrap_pyfunction!(allow_active, m)?)?;
    m.add_function(wrap_pyfunction!(log_enable, m)?)?;
    m.add_function(wrap_pyfunction!(next_log_record, m)?)?;
    m.add_function(wrap_pyfunction!(errors::error_class, m)?)?;
    m.add_function(wrap_pyfunction!(analyze::analyze, m)?)?;
    m.add_function(wrap_pyfunction!(migrate::diff, m)?)?;
    m.add_function(wrap_pyfunction!(migrate::migrate, m)?)?;
    m.add_class::<store::Store>()?;
    m.add_class::<store::Target>()?;
    m.add_class::<store::ScanIter>()?;
    m.add_class::<session::Session>()?;
    m.add_class::<session::Subscriber>()?;
    m.add_class::<session::Monitor>()?;
    m.add_class::<multistore::MultiStore>()?;
    m.add_class::<recorder::Recorder>()?;
    m.add_class::<analyze::Report>()?;
    m.add_class::<migrate::DiffReport>()?;
    m.add_class::<migrate::MigrateReport>()?;
    errors::register(m)?;
    Ok(())
}
