//! Python values to command arguments, replies to Python values.

use std::borrow::Cow;

use pyo3::exceptions::{PyTypeError, PyUnicodeDecodeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PySequence, PyString,
};
use slotshift::command::Cmd;
use slotshift::reply::Reply;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Appends one argument the way redis-py encodes it: bytes as they are, str as UTF-8, int in
/// decimal, float by `repr`. Anything else (None, bool, lists …) is redis-py's `DataError`
/// (slotshift's subclass is also a `TypeError`).
pub fn push_arg(cmd: &mut Cmd, obj: &Bound<'_, PyAny>) -> PyResult<()> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        cmd.arg(b.as_bytes());
    } else if let Ok(s) = obj.cast::<PyString>() {
        cmd.arg(s.to_str()?);
    } else if obj.is_instance_of::<PyBool>() {
        return Err(invalid_input(obj));
    } else if let Ok(i) = obj.cast::<PyInt>() {
        match i.extract::<i64>() {
            Ok(v) => cmd.arg(v.to_string()),
            Err(_) => cmd.arg(i.str()?.to_str()?),
        };
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        cmd.arg(f.repr()?.to_str()?);
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        cmd.arg(b.to_vec());
    } else if let Ok(m) = obj.cast::<pyo3::types::PyMemoryView>() {
        let bytes = m.call_method0("tobytes")?;
        cmd.arg(bytes.cast::<PyBytes>()?.as_bytes());
    } else {
        return Err(invalid_input(obj));
    }
    Ok(())
}

/// redis-py's `DataError` (slotshift's subclass, also a `TypeError`), with redis-py's text.
fn invalid_input(obj: &Bound<'_, PyAny>) -> PyErr {
    crate::errors::data_error(
        obj.py(),
        format!(
            "Invalid input of type: '{}'. Convert to a bytes, string, int or float first.",
            type_name(obj)
        ),
    )
}

/// A command from Python arguments (the name first).
pub fn cmd_from_iter<'py>(args: impl Iterator<Item = Bound<'py, PyAny>>) -> PyResult<Cmd> {
    let mut cmd = Cmd::default();
    for a in args {
        push_arg(&mut cmd, &a)?;
    }
    if cmd.is_empty() {
        return Err(PyValueError::new_err("a command needs at least its name"));
    }
    Ok(cmd)
}

/// Commands from a sequence of sequences of arguments.
pub fn cmds_from_py(commands: &Bound<'_, PyAny>) -> PyResult<Vec<Cmd>> {
    let items = sequence_items(commands, "commands")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if item.is_instance_of::<PyString>() || item.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(format!(
                "commands[{i}] must be a sequence of arguments, not {}",
                type_name(item)
            )));
        }
        let args = sequence_items(item, "command")?;
        out.push(cmd_from_iter(args.into_iter())?);
    }
    Ok(out)
}

/// The items of a list, tuple or other sequence (`TypeError` naming `what` otherwise).
pub fn sequence_items<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if let Ok(list) = obj.cast::<PyList>() {
        return Ok(list.iter().collect());
    }
    if let Ok(t) = obj.cast::<pyo3::types::PyTuple>() {
        return Ok(t.iter().collect());
    }
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence, not {}",
            type_name(obj)
        )));
    }
    match obj.cast::<PySequence>() {
        Ok(seq) => seq.try_iter()?.collect(),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be a sequence, not {}",
            type_name(obj)
        ))),
    }
}

/// The bytes of a key given as bytes or str.
pub fn key_bytes<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(Cow::Borrowed(b.as_bytes()))
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Cow::Borrowed(s.to_str()?.as_bytes()))
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        Ok(Cow::Owned(b.to_vec()))
    } else {
        Err(PyTypeError::new_err(format!(
            "{what} must be bytes or str, not {}",
            type_name(obj)
        )))
    }
}

/// Item `i` of a key list as borrowed bytes.
pub fn borrow_key<'a>(obj: &'a Bound<'_, PyAny>, i: usize) -> PyResult<&'a [u8]> {
    // Exactly bytes first: a pointer comparison, where the subclass check is a call into
    // the interpreter under the stable ABI.
    if let Ok(b) = obj.cast_exact::<PyBytes>() {
        Ok(b.as_bytes())
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(b.as_bytes())
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(s.to_str()?.as_bytes())
    } else {
        Err(PyTypeError::new_err(format!(
            "keys[{i}] must be bytes or str, not {}",
            type_name(obj)
        )))
    }
}

fn text<'py>(py: Python<'py>, bytes: &[u8], decode: bool) -> PyResult<Bound<'py, PyAny>> {
    if decode {
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(PyString::new(py, s).into_any()),
            Err(e) => Err(PyUnicodeDecodeError::new_err_from_utf8(py, bytes, e)),
        }
    } else {
        Ok(PyBytes::new(py, bytes).into_any())
    }
}

/// An error reply as a `ResponseError` instance (inside arrays and pipelines it is a value).
pub fn response_error<'py>(
    py: Python<'py>,
    e: &slotshift::reply::ServerError,
) -> Bound<'py, PyAny> {
    crate::errors::response_error(py, e.to_string())
}

/// A reply as a Python value: nil → None, integers → int, bulk and simple strings → bytes (str
/// with `decode`), arrays → list, maps → dict, sets → set, doubles → float, booleans → bool,
/// error replies → `ResponseError` instances.
pub fn reply_to_py(py: Python<'_>, reply: Reply, decode: bool) -> PyResult<Bound<'_, PyAny>> {
    Ok(match reply {
        Reply::Nil => py.None().into_bound(py),
        Reply::Int(i) => i.into_pyobject(py)?.into_any(),
        Reply::Bulk(b) => text(py, &b, decode)?,
        Reply::Status(s) => text(py, s.as_bytes(), decode)?,
        Reply::Array(items) => {
            let converted = items
                .into_iter()
                .map(|item| reply_to_py(py, item, decode))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, converted)?.into_any()
        }
        Reply::Map(pairs) => {
            let dict = PyDict::new(py);
            for (k, v) in pairs {
                dict.set_item(reply_to_py(py, k, decode)?, reply_to_py(py, v, decode)?)?;
            }
            dict.into_any()
        }
        Reply::Set(items) => {
            let set = pyo3::types::PySet::empty(py)?;
            for item in items {
                set.add(reply_to_py(py, item, decode)?)?;
            }
            set.into_any()
        }
        Reply::Double(d) => PyFloat::new(py, d).into_any(),
        Reply::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Reply::Verbatim { text: t, .. } => text(py, t.as_bytes(), decode)?,
        Reply::BigNumber(digits) => {
            let s = String::from_utf8_lossy(&digits).into_owned();
            py.get_type::<PyInt>().call1((s,))?
        }
        Reply::Error(e) => response_error(py, &e),
        _ => py.None().into_bound(py),
    })
}

/// A pipeline's results as a list: values, and `ResponseError` (or the family's exception)
/// instances in place of the commands that failed.
pub fn results_to_py(
    py: Python<'_>,
    results: Vec<slotshift::Result<Reply>>,
    decode: bool,
) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for r in results {
        match r {
            Ok(reply) => list.append(reply_to_py(py, reply, decode)?)?,
            Err(e) => list.append(crate::errors::to_py(py, e).into_value(py))?,
        }
    }
    Ok(list)
}
