//! The MultiStore: one client over two stores (primary = new, secondary = old) with GitLab's two
//! migration flags.

use std::ffi::c_char;

use slotshift_core::multistore::{FlagSource, FlagState, MultiStore, MultiStoreOptions};

use crate::client::{call_with, pipeline_with, slotshift_client, slotshift_pipeline};
use crate::error::{fail_arg, fail_with, null, slotshift_error, slotshift_result};
use crate::ffi::{free_raw, to_raw, try_out, try_ref, try_str, Castable};
use crate::instrument::give_string;
use crate::panic::guard;
use crate::reply::{slotshift_replies, slotshift_reply};

/// A MultiStore over two clients.
///
/// - Routing: while dual-write is on, writes go to both stores **concurrently** and the caller
///   gets the default store's reply (a failure on the other store is counted and logged, not
///   returned); reads go to the default store (the secondary unless primary-as-default).
/// - Thread safety: may be used from many threads at once; flags may be flipped under load.
/// - Blocking: `_new`, `_call` and `_pipeline` block on the network.
/// - Ownership and shutdown: the MultiStore holds its own references to both clients' connections,
///   so the clients may be freed before or after it. `slotshift_multistore_free()` must be the
///   last call on it: it waits (up to 5 s) for queued writes to the non-default store.
pub struct slotshift_multistore {
    _private: [u8; 0],
}

impl Castable for slotshift_multistore {
    type Rust = MultiStore;
}

/// Creates a MultiStore named `name` (NUL-terminated; its flags are
/// `use_primary_and_secondary_stores_for_<name>` and `use_primary_store_as_default_for_<name>`)
/// over `primary` (the new store) and `secondary` (the old one), with its two flags held in
/// process, starting at `dual_write` and `primary_default`. The clients are borrowed, not
/// consumed. Errors: `SLOTSHIFT_RESULT_MULTISTORE` (bad name), connection errors. Blocks while
/// it checks whether both clients reach the same server.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_multistore_new(
    name: *const c_char,
    primary: *const slotshift_client,
    secondary: *const slotshift_client,
    dual_write: bool,
    primary_default: bool,
    out: *mut *mut slotshift_multistore,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_multistore_new";
        let name = match try_str(name, "name") {
            Ok(n) => n,
            Err(e) => return fail_arg(err, F, e),
        };
        let Some(primary) = try_ref(primary) else {
            return null(err, F, "primary");
        };
        let Some(secondary) = try_ref(secondary) else {
            return null(err, F, "secondary");
        };
        let Some(out) = try_out(out) else {
            return null(err, F, "out");
        };
        let mut opts = MultiStoreOptions::default();
        opts.flags = FlagSource::InProcess(FlagState::new(dual_write, primary_default));
        match MultiStore::new(name, primary.clone(), secondary.clone(), opts) {
            Ok(ms) => {
                out.set(to_raw(ms));
                slotshift_result::Ok
            }
            Err(e) => fail_with(err, &e),
        }
    })
}

/// Sets both flags at once (atomically; safe under load).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_multistore_set_flags(
    ms: *const slotshift_multistore,
    dual_write: bool,
    primary_default: bool,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        let Some(ms) = try_ref(ms) else {
            return null(err, "slotshift_multistore_set_flags", "ms");
        };
        match ms.set_flags(FlagState::new(dual_write, primary_default)) {
            Ok(()) => slotshift_result::Ok,
            Err(e) => fail_with(err, &e),
        }
    })
}

/// Reads both flags.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_multistore_flags(
    ms: *const slotshift_multistore,
    dual_write: *mut bool,
    primary_default: *mut bool,
) -> slotshift_result {
    guard(|| {
        let (Some(ms), Some(d), Some(p)) =
            (try_ref(ms), try_out(dual_write), try_out(primary_default))
        else {
            return slotshift_result::NullParameter;
        };
        let f = ms.flags();
        d.set(f.dual_write);
        p.set(f.primary_default);
        slotshift_result::Ok
    })
}

/// Sends one command through the MultiStore (arguments and reply as for
/// `slotshift_client_call()`).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_multistore_call(
    ms: *const slotshift_multistore,
    argv: *const *const u8,
    argv_len: *const usize,
    argc: usize,
    out: *mut *mut slotshift_reply,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_multistore_call";
        let Some(ms) = try_ref(ms) else {
            return null(err, F, "ms");
        };
        call_with(F, |cmd| ms.call(cmd), argv, argv_len, argc, out, err)
    })
}

/// Sends a pipeline through the MultiStore: on both stores when dual-write is on and a command
/// writes (results compared command by command), the default store's results in `*out`.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_multistore_pipeline(
    ms: *const slotshift_multistore,
    pipeline: *const slotshift_pipeline,
    out: *mut *mut slotshift_replies,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_multistore_pipeline";
        let Some(ms) = try_ref(ms) else {
            return null(err, F, "ms");
        };
        pipeline_with(F, |cmds| ms.pipeline(cmds), pipeline, out, err)
    })
}

/// This MultiStore's counters (dual writes, failures, fallbacks, pipeline mismatches) as
/// Prometheus text. On success `*out` is an owned NUL-terminated string of `*out_len` bytes
/// (`slotshift_string_free()`).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_multistore_metrics_text(
    ms: *const slotshift_multistore,
    out: *mut *mut c_char,
    out_len: *mut usize,
) -> slotshift_result {
    guard(|| {
        let (Some(ms), Some(out), Some(out_len)) = (try_ref(ms), try_out(out), try_out(out_len))
        else {
            return slotshift_result::NullParameter;
        };
        give_string(ms.metrics_text(), out, out_len);
        slotshift_result::Ok
    })
}

/// Frees a MultiStore, after waiting (up to 5 s) for its queued writes. NULL is a no-op. No
/// other thread may use it during or after this call.
#[no_mangle]
pub extern "C" fn slotshift_multistore_free(ms: *mut slotshift_multistore) {
    guard(|| free_raw(ms))
}
