//! Instrumentation: Prometheus text of every store, and the command recorder.

use std::ffi::{c_char, CString};

use slotshift_core::instrument::{self, Recorder};
use slotshift_core::request::RequestScope;

use crate::error::slotshift_result;
use crate::ffi::{free_raw, to_raw, try_bytes, try_out, try_ref, try_str, Castable, Out};
use crate::panic::guard;

/// Hands a Rust string to C as an owned NUL-terminated string (`slotshift_string_free()`).
pub(crate) fn give_string(text: String, out: Out<*mut c_char>, out_len: Out<usize>) {
    let len = text.len();
    // Prometheus text and JSON never contain NUL; replace one rather than fail.
    let c = CString::new(text.replace('\0', " ")).unwrap_or_default();
    out.set(c.into_raw());
    out_len.set(len);
}

/// One web request's or job's figures (`slotshift::request`): counts the calls the thread
/// that began it makes until `slotshift_request_scope_end()`. Thread-bound: use and end it on
/// the thread that began it, inner scopes before outer ones.
pub struct slotshift_request_scope {
    _private: [u8; 0],
}

impl Castable for slotshift_request_scope {
    type Rust = RequestScope;
}

/// Starts counting this thread's calls (GitLab's per-request Redis accumulators). NULL only
/// on a caught panic. End it with `slotshift_request_scope_end()` on the same thread.
#[no_mangle]
pub extern "C" fn slotshift_request_scope_begin() -> *mut slotshift_request_scope {
    guard(|| to_raw(RequestScope::begin()))
}

/// The scope's structured log fields so far as a JSON object (`{"redis_calls":3,
/// "redis_cache_calls":3,"redis_duration_s":0.0012,…}`; zero fields left out). On success
/// `*out` is an owned NUL-terminated string of `*out_len` bytes (`slotshift_string_free()`).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_request_scope_fields_json(
    scope: *const slotshift_request_scope,
    out: *mut *mut c_char,
    out_len: *mut usize,
) -> slotshift_result {
    guard(|| {
        let (Some(scope), Some(out), Some(out_len)) =
            (try_ref(scope), try_out(out), try_out(out_len))
        else {
            return slotshift_result::NullParameter;
        };
        let fields = serde_json::Value::Object(scope.log_fields()).to_string();
        give_string(fields, out, out_len);
        slotshift_result::Ok
    })
}

/// Ends the scope (and any inner one left open) and frees it. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_request_scope_end(scope: *mut slotshift_request_scope) {
    guard(|| free_raw(scope))
}

/// The Prometheus text exposition of every store's stats and counters (calls, durations,
/// bytes, redirections, cross-slot counts) in this process. On success `*out` is an owned
/// NUL-terminated string of `*out_len` bytes, freed with `slotshift_string_free()`.
/// Thread-safe; never blocks on the network.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_metrics_text(
    out: *mut *mut c_char,
    out_len: *mut usize,
) -> slotshift_result {
    guard(|| {
        let (Some(out), Some(out_len)) = (try_out(out), try_out(out_len)) else {
            return slotshift_result::NullParameter;
        };
        give_string(instrument::metrics_text(), out, out_len);
        slotshift_result::Ok
    })
}

/// Frees a string returned by this library (`slotshift_metrics_text()`,
/// `slotshift_multistore_metrics_text()`). NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_string_free(s: *mut c_char) {
    guard(|| {
        if !s.is_null() {
            // SAFETY: `s` came from `CString::into_raw` in `give_string`, freed once.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

/// A command recorder: captures every command the **thread that started it** sends through any
/// client or MultiStore — single calls and each command of a pipeline or transaction — until
/// stopped, to catch N+1 patterns in tests. Recorders nest. Owned by the caller
/// (`slotshift_recorder_free()`, which also stops it); start, stop and free it on the same
/// thread. Reading counts from another thread is safe.
pub struct slotshift_recorder {
    _private: [u8; 0],
}

impl Castable for slotshift_recorder {
    type Rust = Recorder;
}

/// Starts recording on the calling thread. With `pattern` (a Redis glob over keys, `len`
/// bytes), only commands with a matching key are recorded; `pattern` NULL (with `len` 0)
/// records every command.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_recorder_start(
    pattern: *const u8,
    len: usize,
    out: *mut *mut slotshift_recorder,
) -> slotshift_result {
    guard(|| {
        let Some(out) = try_out(out) else {
            return slotshift_result::NullParameter;
        };
        let recorder = if pattern.is_null() {
            if len != 0 {
                return slotshift_result::NullParameter;
            }
            Recorder::start()
        } else {
            match try_bytes(pattern, len) {
                Some(p) => Recorder::start_with_pattern(p),
                None => return slotshift_result::InvalidArgument,
            }
        };
        out.set(to_raw(recorder));
        slotshift_result::Ok
    })
}

/// Stops recording (what was recorded stays readable). Idempotent.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_recorder_stop(recorder: *const slotshift_recorder) -> slotshift_result {
    guard(|| match try_ref(recorder) {
        Some(r) => {
            r.stop();
            slotshift_result::Ok
        }
        None => slotshift_result::NullParameter,
    })
}

/// The number of commands recorded (0 for NULL).
#[no_mangle]
pub extern "C" fn slotshift_recorder_count(recorder: *const slotshift_recorder) -> usize {
    guard(|| try_ref(recorder).map_or(0, Recorder::count))
}

/// The number of recorded commands named `name` (NUL-terminated, any case: `get`, `GET`).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_recorder_count_command(
    recorder: *const slotshift_recorder,
    name: *const c_char,
    out: *mut usize,
) -> slotshift_result {
    guard(|| {
        let (Some(r), Some(out)) = (try_ref(recorder), try_out(out)) else {
            return slotshift_result::NullParameter;
        };
        match try_str(name, "name") {
            Ok(n) => {
                out.set(r.by_command(n).len());
                slotshift_result::Ok
            }
            Err((code, _)) => code,
        }
    })
}

/// The number of recorded commands with a key matching the glob `pattern` (`len` bytes).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_recorder_count_key(
    recorder: *const slotshift_recorder,
    pattern: *const u8,
    len: usize,
    out: *mut usize,
) -> slotshift_result {
    guard(|| {
        let (Some(r), Some(out), Some(p)) =
            (try_ref(recorder), try_out(out), try_bytes(pattern, len))
        else {
            return slotshift_result::NullParameter;
        };
        out.set(r.by_key(p).len());
        slotshift_result::Ok
    })
}

/// Stops and frees a recorder. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_recorder_free(recorder: *mut slotshift_recorder) {
    guard(|| free_raw(recorder))
}
