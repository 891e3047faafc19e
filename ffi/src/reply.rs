//! Replies: `slotshift_reply` (one reply, walkable) and `slotshift_replies` (the results of a
//! pipeline, each a reply or an error).

use std::ffi::c_char;

use slotshift_core::reply::Reply;
use slotshift_core::Error;

use crate::error::{fail, fail_with, null, slotshift_error, slotshift_result};
use crate::ffi::{free_raw, try_out, try_ref, Castable};
use crate::panic::guard;

/// The type of a reply (RESP2 and RESP3).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum slotshift_value_type {
    /// The null reply (missing key, nil bulk or array).
    Nil = 0,
    /// An integer: `slotshift_reply_integer()`.
    Integer = 1,
    /// A bulk string, binary-safe: `slotshift_reply_bytes()`.
    Bulk = 2,
    /// A simple string such as `OK`: `slotshift_reply_bytes()`.
    Status = 3,
    /// An array: `slotshift_reply_len()` and `slotshift_reply_element()`.
    Array = 4,
    /// A RESP3 map: `slotshift_reply_len()` is twice the number of pairs; element `2i` is the
    /// key of pair `i`, element `2i + 1` its value.
    Map = 5,
    /// A RESP3 set: walked like an array.
    Set = 6,
    /// A RESP3 double: `slotshift_reply_double()`.
    Double = 7,
    /// A RESP3 boolean: `slotshift_reply_boolean()`.
    Boolean = 8,
    /// A RESP3 verbatim string: `slotshift_reply_bytes()` gives the text.
    Verbatim = 9,
    /// A RESP3 big number: `slotshift_reply_bytes()` gives its decimal digits.
    BigNumber = 10,
    /// An error reply inside an array (e.g. in a transaction's result):
    /// `slotshift_reply_error()`.
    Error = 11,
    /// A reply type this version of the C API does not know (or a NULL reply).
    Unknown = 255,
}

/// One reply from a server. Immutable: it may be read from several threads at once.
///
/// Ownership: a reply returned through a `slotshift_reply **` output is owned by the caller and
/// freed with `slotshift_reply_free()`. Elements (`slotshift_reply_element()`) and entries of a
/// `slotshift_replies` are **borrowed**: they are valid until their parent is freed, and must
/// never be passed to `slotshift_reply_free()`.
pub struct slotshift_reply {
    _private: [u8; 0],
}

impl Castable for slotshift_reply {
    type Rust = Reply;
}

/// The results of a pipeline, in the order the commands were added: each entry is a reply or
/// the error of that one command. Owned by the caller (`slotshift_replies_free()`); immutable,
/// may be read from several threads at once.
pub struct slotshift_replies {
    _private: [u8; 0],
}

impl Castable for slotshift_replies {
    type Rust = Vec<Result<Reply, Error>>;
}

/// A reply as a borrowed handle.
pub(crate) fn borrow(reply: &Reply) -> *const slotshift_reply {
    (reply as *const Reply).cast()
}

/// The type of `reply`; `SLOTSHIFT_VALUE_TYPE_UNKNOWN` for NULL.
#[no_mangle]
pub extern "C" fn slotshift_reply_type(reply: *const slotshift_reply) -> slotshift_value_type {
    guard(|| {
        use slotshift_value_type as T;
        match try_ref(reply) {
            None => T::Unknown,
            Some(r) => match r {
                Reply::Nil => T::Nil,
                Reply::Int(_) => T::Integer,
                Reply::Bulk(_) => T::Bulk,
                Reply::Status(_) => T::Status,
                Reply::Array(_) => T::Array,
                Reply::Map(_) => T::Map,
                Reply::Set(_) => T::Set,
                Reply::Double(_) => T::Double,
                Reply::Bool(_) => T::Boolean,
                Reply::Verbatim { .. } => T::Verbatim,
                Reply::BigNumber(_) => T::BigNumber,
                Reply::Error(_) => T::Error,
                _ => T::Unknown,
            },
        }
    })
}

/// Reads an integer reply into `*out`. `SLOTSHIFT_RESULT_REPLY_WRONG_TYPE` for any other type.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_reply_integer(
    reply: *const slotshift_reply,
    out: *mut i64,
) -> slotshift_result {
    guard(|| {
        let (Some(r), Some(out)) = (try_ref(reply), try_out(out)) else {
            return slotshift_result::NullParameter;
        };
        match r {
            Reply::Int(v) => {
                out.set(*v);
                slotshift_result::Ok
            }
            _ => slotshift_result::ReplyWrongType,
        }
    })
}

/// Reads a double reply into `*out`. `SLOTSHIFT_RESULT_REPLY_WRONG_TYPE` for any other type.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_reply_double(
    reply: *const slotshift_reply,
    out: *mut f64,
) -> slotshift_result {
    guard(|| {
        let (Some(r), Some(out)) = (try_ref(reply), try_out(out)) else {
            return slotshift_result::NullParameter;
        };
        match r {
            Reply::Double(v) => {
                out.set(*v);
                slotshift_result::Ok
            }
            _ => slotshift_result::ReplyWrongType,
        }
    })
}

/// Reads a boolean reply into `*out`. `SLOTSHIFT_RESULT_REPLY_WRONG_TYPE` for any other type.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_reply_boolean(
    reply: *const slotshift_reply,
    out: *mut bool,
) -> slotshift_result {
    guard(|| {
        let (Some(r), Some(out)) = (try_ref(reply), try_out(out)) else {
            return slotshift_result::NullParameter;
        };
        match r {
            Reply::Bool(v) => {
                out.set(*v);
                slotshift_result::Ok
            }
            _ => slotshift_result::ReplyWrongType,
        }
    })
}

/// The bytes of a bulk string, simple string, verbatim string or big number: `*ptr` points to
/// `*len` bytes **owned by the reply** (valid until the reply's owner is freed; not
/// NUL-terminated; may contain NUL). `SLOTSHIFT_RESULT_REPLY_WRONG_TYPE` for any other type
/// (a nil reply included).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_reply_bytes(
    reply: *const slotshift_reply,
    ptr: *mut *const u8,
    len: *mut usize,
) -> slotshift_result {
    guard(|| {
        let (Some(r), Some(ptr), Some(len)) = (try_ref(reply), try_out(ptr), try_out(len)) else {
            return slotshift_result::NullParameter;
        };
        let bytes: &[u8] = match r {
            Reply::Bulk(b) | Reply::BigNumber(b) => b,
            Reply::Status(s) => s.as_bytes(),
            Reply::Verbatim { text, .. } => text.as_bytes(),
            _ => return slotshift_result::ReplyWrongType,
        };
        ptr.set(bytes.as_ptr());
        len.set(bytes.len());
        slotshift_result::Ok
    })
}

/// The code (`WRONGTYPE`) and detail (the rest of the line) of an error reply, as bytes owned
/// by the reply. `SLOTSHIFT_RESULT_REPLY_WRONG_TYPE` for any other type.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_reply_error(
    reply: *const slotshift_reply,
    code: *mut *const c_char,
    code_len: *mut usize,
    detail: *mut *const c_char,
    detail_len: *mut usize,
) -> slotshift_result {
    guard(|| {
        let (Some(r), Some(code), Some(code_len), Some(detail), Some(detail_len)) = (
            try_ref(reply),
            try_out(code),
            try_out(code_len),
            try_out(detail),
            try_out(detail_len),
        ) else {
            return slotshift_result::NullParameter;
        };
        let Reply::Error(e) = r else {
            return slotshift_result::ReplyWrongType;
        };
        code.set(e.code().as_ptr().cast());
        code_len.set(e.code().len());
        detail.set(e.detail().as_ptr().cast());
        detail_len.set(e.detail().len());
        slotshift_result::Ok
    })
}

fn element_count(r: &Reply) -> Option<usize> {
    match r {
        Reply::Array(v) | Reply::Set(v) => Some(v.len()),
        Reply::Map(pairs) => Some(pairs.len() * 2),
        _ => None,
    }
}

/// The number of elements of an array or set, twice the number of pairs of a map; 0 for any
/// other type and for NULL.
#[no_mangle]
pub extern "C" fn slotshift_reply_len(reply: *const slotshift_reply) -> usize {
    guard(|| try_ref(reply).and_then(element_count).unwrap_or(0))
}

/// Element `index` of an array, set or map (see `SLOTSHIFT_VALUE_TYPE_MAP`), **borrowed**
/// from `reply`: valid while `reply`'s owner lives; never free it.
/// `SLOTSHIFT_RESULT_OUT_OF_RANGE` past the end, `SLOTSHIFT_RESULT_REPLY_WRONG_TYPE` for a
/// reply that has no elements.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_reply_element(
    reply: *const slotshift_reply,
    index: usize,
    out: *mut *const slotshift_reply,
) -> slotshift_result {
    guard(|| {
        let (Some(r), Some(out)) = (try_ref(reply), try_out(out)) else {
            return slotshift_result::NullParameter;
        };
        let element = match r {
            Reply::Array(v) | Reply::Set(v) => v.get(index),
            Reply::Map(pairs) => {
                pairs
                    .get(index / 2)
                    .map(|(k, v)| if index.is_multiple_of(2) { k } else { v })
            }
            _ => return slotshift_result::ReplyWrongType,
        };
        match element {
            Some(e) => {
                out.set(borrow(e));
                slotshift_result::Ok
            }
            None => slotshift_result::OutOfRange,
        }
    })
}

/// Frees a reply returned through a `slotshift_reply **` output, with all its elements. NULL is
/// a no-op. Never pass an element or an entry of a `slotshift_replies` (they are borrowed).
#[no_mangle]
pub extern "C" fn slotshift_reply_free(reply: *mut slotshift_reply) {
    guard(|| free_raw(reply))
}

/// The number of results (the number of commands sent); 0 for NULL.
#[no_mangle]
pub extern "C" fn slotshift_replies_len(replies: *const slotshift_replies) -> usize {
    guard(|| try_ref(replies).map_or(0, Vec::len))
}

/// Result `index` of a pipeline. On success `*out` is that command's reply, **borrowed** from
/// `replies`. If that one command failed, returns its error code (a server error reply is
/// `SLOTSHIFT_RESULT_SERVER…`) with the detail in `*err`, and `*out` is untouched.
/// `SLOTSHIFT_RESULT_OUT_OF_RANGE` past the end.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_replies_get(
    replies: *const slotshift_replies,
    index: usize,
    out: *mut *const slotshift_reply,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        let Some(replies) = try_ref(replies) else {
            return null(err, "slotshift_replies_get", "replies");
        };
        let Some(out) = try_out(out) else {
            return null(err, "slotshift_replies_get", "out");
        };
        match replies.get(index) {
            None => fail(
                err,
                slotshift_result::OutOfRange,
                format!(
                    "slotshift_replies_get: index {index} past the end ({} results)",
                    replies.len()
                ),
            ),
            Some(Ok(r)) => {
                out.set(borrow(r));
                slotshift_result::Ok
            }
            Some(Err(e)) => fail_with(err, e),
        }
    })
}

/// Frees the results of a pipeline and every reply in them. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_replies_free(replies: *mut slotshift_replies) {
    guard(|| free_raw(replies))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::to_raw;

    #[test]
    fn walk_a_nested_reply() {
        let reply = to_raw::<slotshift_reply>(Reply::Array(vec![
            Reply::Int(7),
            Reply::Bulk(b"a\0b".to_vec()),
            Reply::Nil,
            Reply::Map(vec![(Reply::Status("k".into()), Reply::Bool(true))]),
        ]));
        assert_eq!(slotshift_reply_type(reply), slotshift_value_type::Array);
        assert_eq!(slotshift_reply_len(reply), 4);
        let mut e: *const slotshift_reply = std::ptr::null();
        assert_eq!(
            slotshift_reply_element(reply, 0, &mut e),
            slotshift_result::Ok
        );
        let mut v = 0i64;
        assert_eq!(slotshift_reply_integer(e, &mut v), slotshift_result::Ok);
        assert_eq!(v, 7);
        let (mut p, mut n) = (std::ptr::null(), 0usize);
        assert_eq!(
            slotshift_reply_bytes(e, &mut p, &mut n),
            slotshift_result::ReplyWrongType
        );
        assert_eq!(
            slotshift_reply_element(reply, 1, &mut e),
            slotshift_result::Ok
        );
        assert_eq!(
            slotshift_reply_bytes(e, &mut p, &mut n),
            slotshift_result::Ok
        );
        assert_eq!(unsafe { std::slice::from_raw_parts(p, n) }, b"a\0b");
        assert_eq!(
            slotshift_reply_element(reply, 3, &mut e),
            slotshift_result::Ok
        );
        assert_eq!(slotshift_reply_len(e), 2);
        let mut b = false;
        let mut val: *const slotshift_reply = std::ptr::null();
        assert_eq!(
            slotshift_reply_element(e, 1, &mut val),
            slotshift_result::Ok
        );
        assert_eq!(slotshift_reply_boolean(val, &mut b), slotshift_result::Ok);
        assert!(b);
        assert_eq!(
            slotshift_reply_element(reply, 4, &mut e),
            slotshift_result::OutOfRange
        );
        slotshift_reply_free(reply);
        slotshift_reply_free(std::ptr::null_mut());
    }
}
