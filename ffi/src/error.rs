//! Result codes and error details.
//!
//! Codes below 1000 belong to the boundary itself (NULL, panic, bad argument, buffer too small,
//! a reply accessor used on the wrong type). From 1000 on, each core error family has a band of
//! 100 codes, exactly as `tests/fixtures/errors.json` lists them (`c_band`): the band's first
//! code is the family's generic code, more specific codes follow it. A value, once given, is
//! never reused: a retired code stays here as a comment.

use std::ffi::{c_char, CString};

use slotshift_core::error::ErrorFamily;
use slotshift_core::store::ConnectionErrorKind;
use slotshift_core::Error;

use crate::ffi::{free_raw, try_out, try_ref, ArgError, Castable};
use crate::panic::guard;

/// What a fallible function did: `SLOTSHIFT_RESULT_OK` (0) or why not.
///
/// `slotshift_result_message()` gives each code's text; an optional `slotshift_error **`
/// argument gives the runtime detail of one failure.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum slotshift_result {
    /// Success.
    Ok = 0,
    /// A pointer argument was NULL (the detail names it).
    NullParameter = 1,
    /// A panic inside the library was caught at the boundary; the process goes on. A bug:
    /// please report it.
    Panic = 2,
    /// An argument is out of its domain (the detail says which and why).
    InvalidArgument = 3,
    /// A text argument is not UTF-8.
    InvalidUtf8 = 4,
    /// The caller's buffer is too small; nothing was written.
    BufferTooSmall = 5,
    /// A reply accessor was used on a reply of another type (e.g. `_integer` on a bulk).
    ReplyWrongType = 6,
    /// An index past the end of an array reply or a list of replies.
    OutOfRange = 7,
    /// An error of a family this version of the C API does not know yet.
    Unknown = 999,

    /// A hash slot out of range.
    Slot = 1000,

    /// An unknown command, wrong arity, malformed numkeys.
    Command = 1100,

    /// A bad URL, seed list, config file or environment value.
    Config = 1200,

    /// An error reply from the server; the detail is the server's text.
    Server = 1300,
    /// `WRONGTYPE`: the key holds another type.
    ServerWrongtype = 1301,
    /// `NOPERM`: the ACL user may not run this command or touch this key.
    ServerNoperm = 1302,
    /// `NOSCRIPT`: no script with that SHA1.
    ServerNoscript = 1303,
    /// `READONLY`: a write sent to a replica.
    ServerReadonly = 1304,
    /// `OOM`: the server is over `maxmemory`.
    ServerOom = 1305,
    /// `BUSY`: a script is running.
    ServerBusy = 1306,
    /// `CROSSSLOT`: the server refused keys in different slots.
    ServerCrossslot = 1307,
    /// `EXECABORT`: a transaction was discarded because of an earlier error.
    ServerExecabort = 1308,

    /// Connecting, I/O or a timeout; the detail names the node.
    Connection = 1400,
    /// The connection could not be opened (refused, unknown host, TLS handshake).
    ConnectionConnect = 1401,
    /// The server refused the credentials.
    ConnectionAuth = 1402,
    /// No reply within the timeout.
    ConnectionTimeout = 1403,
    /// The connection broke.
    ConnectionIo = 1404,
    /// The server sent bytes that are not RESP.
    ConnectionProtocol = 1405,

    /// A command could not be routed (redirect loops, unknown nodes, uncovered slots,
    /// cross-slot transactions, retry deadline).
    Routing = 1500,

    /// The CrossSlot batcher: bad batch limit, unsplittable cross-slot command, partial
    /// failure of a split command.
    Pipeline = 1600,

    /// The cross-slot validator refused a command (mode raise); nothing was sent.
    Validator = 1700,

    /// The keyspace analyzer: options, rules, checkpoints.
    Analyzer = 1800,

    /// The MultiStore: unknown command in strict mode, bad flags, options or name.
    Multistore = 1900,

    /// Embedded test servers could not be started.
    Embedded = 2000,

    /// Diff and migrate: options, the same store on both sides, a read-only destination,
    /// checkpoints, refused copies.
    Migrate = 2100,
}

impl slotshift_result {
    /// Every code, for tests and for `slotshift_result_message`.
    pub const ALL: &'static [slotshift_result] = &[
        slotshift_result::Ok,
        slotshift_result::NullParameter,
        slotshift_result::Panic,
        slotshift_result::InvalidArgument,
        slotshift_result::InvalidUtf8,
        slotshift_result::BufferTooSmall,
        slotshift_result::ReplyWrongType,
        slotshift_result::OutOfRange,
        slotshift_result::Unknown,
        slotshift_result::Slot,
        slotshift_result::Command,
        slotshift_result::Config,
        slotshift_result::Server,
        slotshift_result::ServerWrongtype,
        slotshift_result::ServerNoperm,
        slotshift_result::ServerNoscript,
        slotshift_result::ServerReadonly,
        slotshift_result::ServerOom,
        slotshift_result::ServerBusy,
        slotshift_result::ServerCrossslot,
        slotshift_result::ServerExecabort,
        slotshift_result::Connection,
        slotshift_result::ConnectionConnect,
        slotshift_result::ConnectionAuth,
        slotshift_result::ConnectionTimeout,
        slotshift_result::ConnectionIo,
        slotshift_result::ConnectionProtocol,
        slotshift_result::Routing,
        slotshift_result::Pipeline,
        slotshift_result::Validator,
        slotshift_result::Analyzer,
        slotshift_result::Multistore,
        slotshift_result::Embedded,
        slotshift_result::Migrate,
    ];

    /// The code's fixed description.
    pub fn message(self) -> &'static str {
        use slotshift_result as R;
        match self {
            R::Ok => "ok",
            R::NullParameter => "a pointer argument was NULL",
            R::Panic => "a panic was caught at the C boundary (a bug in slotshift)",
            R::InvalidArgument => "invalid argument",
            R::InvalidUtf8 => "a text argument is not valid UTF-8",
            R::BufferTooSmall => "the buffer is too small",
            R::ReplyWrongType => "the reply is not of the type this accessor reads",
            R::OutOfRange => "index out of range",
            R::Unknown => "an error of an unknown family",
            R::Slot => "hash slot out of range",
            R::Command => "invalid command",
            R::Config => "invalid configuration (URL, seed list, config file or environment)",
            R::Server => "the server replied with an error",
            R::ServerWrongtype => "WRONGTYPE: the key holds a value of another type",
            R::ServerNoperm => "NOPERM: the user has no permission for this command or key",
            R::ServerNoscript => "NOSCRIPT: no script with this SHA1",
            R::ServerReadonly => "READONLY: a write was sent to a replica",
            R::ServerOom => "OOM: the server is over maxmemory",
            R::ServerBusy => "BUSY: the server is running a script",
            R::ServerCrossslot => "CROSSSLOT: the keys hash to different slots",
            R::ServerExecabort => "EXECABORT: the transaction was discarded",
            R::Connection => "connection error",
            R::ConnectionConnect => "could not connect",
            R::ConnectionAuth => "authentication failed",
            R::ConnectionTimeout => "timed out",
            R::ConnectionIo => "connection lost",
            R::ConnectionProtocol => "protocol error",
            R::Routing => "the command could not be routed in the cluster",
            R::Pipeline => "CrossSlot pipeline error",
            R::Validator => "cross-slot command refused by the validator",
            R::Analyzer => "keyspace analyzer error",
            R::Multistore => "MultiStore error",
            R::Embedded => "embedded test servers could not be started",
            R::Migrate => "diff/migrate error",
        }
    }

    /// The generic code of a core error family: the first code of its band.
    pub fn of_family(family: ErrorFamily) -> slotshift_result {
        use slotshift_result as R;
        match family {
            ErrorFamily::Slot => R::Slot,
            ErrorFamily::Command => R::Command,
            ErrorFamily::Config => R::Config,
            ErrorFamily::Server => R::Server,
            ErrorFamily::Connection => R::Connection,
            ErrorFamily::Routing => R::Routing,
            ErrorFamily::Pipeline => R::Pipeline,
            ErrorFamily::Validator => R::Validator,
            ErrorFamily::Analyzer => R::Analyzer,
            ErrorFamily::MultiStore => R::Multistore,
            ErrorFamily::Embedded => R::Embedded,
            ErrorFamily::Migrate => R::Migrate,
            _ => R::Unknown,
        }
    }

    /// The code of a core error: its family's band, refined where the C API has a more
    /// specific code.
    pub fn of_error(e: &Error) -> slotshift_result {
        use slotshift_result as R;
        match e {
            Error::Server(s) => match s.code() {
                "WRONGTYPE" => R::ServerWrongtype,
                "NOPERM" => R::ServerNoperm,
                "NOSCRIPT" => R::ServerNoscript,
                "READONLY" => R::ServerReadonly,
                "OOM" => R::ServerOom,
                "BUSY" => R::ServerBusy,
                "CROSSSLOT" => R::ServerCrossslot,
                "EXECABORT" => R::ServerExecabort,
                _ => R::Server,
            },
            Error::Connection(c) => match c.kind {
                ConnectionErrorKind::Connect => R::ConnectionConnect,
                ConnectionErrorKind::Auth => R::ConnectionAuth,
                ConnectionErrorKind::Timeout => R::ConnectionTimeout,
                ConnectionErrorKind::Io => R::ConnectionIo,
                ConnectionErrorKind::Protocol => R::ConnectionProtocol,
                _ => R::Connection,
            },
            _ => slotshift_result::of_family(e.family()),
        }
    }
}

/// The runtime detail of one failure: its code and a message (the core error's text, never a
/// password). Owned by the caller, who frees it with `slotshift_error_free()`. Immutable: may be
/// read from any thread.
pub struct slotshift_error {
    _private: [u8; 0],
}

impl Castable for slotshift_error {
    type Rust = ErrorDetail;
}

/// What a `slotshift_error` pointer really points to.
pub(crate) struct ErrorDetail {
    result: slotshift_result,
    message: CString,
}

impl ErrorDetail {
    fn new(result: slotshift_result, message: String) -> ErrorDetail {
        // An interior NUL (a server's text may hold one) would cut the C string; show it.
        let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
        ErrorDetail { result, message }
    }
}

/// Writes a detail to `err` (when `err` is not NULL) and returns `result`.
pub(crate) fn fail(
    err: *mut *mut slotshift_error,
    result: slotshift_result,
    message: impl Into<String>,
) -> slotshift_result {
    if !err.is_null() {
        let detail =
            crate::ffi::to_raw::<slotshift_error>(ErrorDetail::new(result, message.into()));
        // SAFETY: `err` is not NULL and the caller gives a writable `slotshift_error *`.
        unsafe { err.write(detail) };
    }
    result
}

/// [`fail`] for a core error.
pub(crate) fn fail_with(err: *mut *mut slotshift_error, e: &Error) -> slotshift_result {
    fail(err, slotshift_result::of_error(e), e.to_string())
}

/// [`fail`] for an argument that could not be converted, naming the function.
pub(crate) fn fail_arg(
    err: *mut *mut slotshift_error,
    function: &str,
    (result, message): ArgError,
) -> slotshift_result {
    fail(err, result, format!("{function}: {message}"))
}

/// [`fail`] for a NULL parameter, naming it.
pub(crate) fn null(
    err: *mut *mut slotshift_error,
    function: &str,
    param: &str,
) -> slotshift_result {
    fail(
        err,
        slotshift_result::NullParameter,
        format!("{function}: parameter `{param}` is NULL"),
    )
}

/// Writes the fixed description of `result` into `buf` (UTF-8, **not** NUL-terminated) and its
/// length into `*out_n`.
///
/// - `buf` may be NULL only with `len == 0`: then only `*out_n` is written, with the length
///   the text needs (a size query), and the result is OK.
/// - If `len` is smaller than the text, nothing is written and the result is
///   `SLOTSHIFT_RESULT_BUFFER_TOO_SMALL`.
/// - An unknown code gives the text "unknown result code".
///
/// Thread-safe; never blocks.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_result_message(
    result: u32,
    buf: *mut u8,
    len: usize,
    out_n: *mut usize,
) -> slotshift_result {
    guard(|| {
        let Some(out_n) = try_out(out_n) else {
            return slotshift_result::NullParameter;
        };
        let text = slotshift_result::ALL
            .iter()
            .find(|r| **r as u32 == result)
            .map_or("unknown result code", |r| r.message());
        if buf.is_null() {
            if len != 0 {
                return slotshift_result::NullParameter;
            }
            out_n.set(text.len());
            return slotshift_result::Ok;
        }
        if len < text.len() {
            return slotshift_result::BufferTooSmall;
        }
        // SAFETY: `buf` is not NULL and the caller gives `len >= text.len()` writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf, text.len()) };
        out_n.set(text.len());
        slotshift_result::Ok
    })
}

/// The code of the failure `err` describes (`SLOTSHIFT_RESULT_NULL_PARAMETER` for NULL).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_error_result(err: *const slotshift_error) -> slotshift_result {
    guard(|| match try_ref(err) {
        Some(d) => d.result,
        None => slotshift_result::NullParameter,
    })
}

/// The detail of the failure: a NUL-terminated UTF-8 string owned by `err`, valid until
/// `slotshift_error_free(err)`. NULL for a NULL `err`.
#[no_mangle]
pub extern "C" fn slotshift_error_message(err: *const slotshift_error) -> *const c_char {
    guard(|| match try_ref(err) {
        Some(d) => d.message.as_ptr(),
        None => std::ptr::null(),
    })
}

/// Frees an error detail. NULL is a no-op; freeing twice is undefined behaviour.
#[no_mangle]
pub extern "C" fn slotshift_error_free(err: *mut slotshift_error) {
    guard(|| free_raw(err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_distinct_and_all_listed() {
        let values: HashSet<u32> = slotshift_result::ALL.iter().map(|r| *r as u32).collect();
        assert_eq!(values.len(), slotshift_result::ALL.len());
        // Every family's code, in its band.
        for f in ErrorFamily::ALL {
            let r = slotshift_result::of_family(*f);
            assert_ne!(r, slotshift_result::Unknown, "{f:?}");
            assert!(slotshift_result::ALL.contains(&r));
        }
    }

    /// The one mapping table: every row of tests/fixtures/errors.json is the band of its family
    /// here, and every specific code lies inside its family's band.
    #[test]
    fn bands_match_the_fixture() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/errors.json");
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let rows = doc["families"].as_array().unwrap();
        assert_eq!(rows.len(), ErrorFamily::ALL.len());
        let mut bands = Vec::new();
        for (row, family) in rows.iter().zip(ErrorFamily::ALL) {
            assert_eq!(row["family"].as_str().unwrap(), family.name());
            let band = row["c_band"].as_u64().unwrap() as u32;
            assert_eq!(slotshift_result::of_family(*family) as u32, band, "{row}");
            bands.push(band);
        }
        for r in slotshift_result::ALL {
            let v = *r as u32;
            if v < 1000 {
                continue;
            }
            let band = v / 100 * 100;
            assert!(bands.contains(&band), "{r:?} = {v} is in no family's band");
        }
    }

    #[test]
    fn core_errors_map_to_specific_codes() {
        let e = Error::from(slotshift_core::reply::ServerError::parse(
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ));
        assert_eq!(
            slotshift_result::of_error(&e),
            slotshift_result::ServerWrongtype
        );
        let e = Error::from(slotshift_core::reply::ServerError::parse("ERR something"));
        assert_eq!(slotshift_result::of_error(&e), slotshift_result::Server);
        let e = Error::from(slotshift_core::slot::Slot::try_from(99_999u32).unwrap_err());
        assert_eq!(slotshift_result::of_error(&e), slotshift_result::Slot);
    }

    #[test]
    fn result_message_protocol() {
        let mut n = 0usize;
        let r = slotshift_result_message(
            slotshift_result::NullParameter as u32,
            std::ptr::null_mut(),
            0,
            &mut n,
        );
        assert_eq!(r, slotshift_result::Ok);
        assert_eq!(n, "a pointer argument was NULL".len());
        let mut small = [0u8; 4];
        let mut m = 99usize;
        let r = slotshift_result_message(1, small.as_mut_ptr(), small.len(), &mut m);
        assert_eq!(r, slotshift_result::BufferTooSmall);
        assert_eq!(m, 99, "outputs are written only on success");
        let mut buf = [0u8; 128];
        let r = slotshift_result_message(1, buf.as_mut_ptr(), buf.len(), &mut m);
        assert_eq!(r, slotshift_result::Ok);
        assert_eq!(&buf[..m], b"a pointer argument was NULL");
        let r = slotshift_result_message(123_456, buf.as_mut_ptr(), buf.len(), &mut m);
        assert_eq!(r, slotshift_result::Ok);
        assert_eq!(&buf[..m], b"unknown result code");
    }

    #[test]
    fn error_detail_round_trip() {
        let mut err: *mut slotshift_error = std::ptr::null_mut();
        let r = fail(&mut err, slotshift_result::InvalidArgument, "bad\0value");
        assert_eq!(r, slotshift_result::InvalidArgument);
        assert_eq!(
            slotshift_error_result(err),
            slotshift_result::InvalidArgument
        );
        let msg = unsafe { std::ffi::CStr::from_ptr(slotshift_error_message(err)) };
        assert_eq!(msg.to_str().unwrap(), "bad\\0value");
        slotshift_error_free(err);
        slotshift_error_free(std::ptr::null_mut());
        assert!(slotshift_error_message(std::ptr::null()).is_null());
    }
}
