//! The MultiStore: one client over two stores (primary = new, secondary = old) with GitLab's two
//! migration flags.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;
use std::time::Duration;

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
        let flags = FlagSource::InProcess(FlagState::new(dual_write, primary_default));
        build(
            "slotshift_multistore_new",
            name,
            primary,
            secondary,
            flags,
            out,
            err,
        )
    })
}

/// The application's answer to "is this flag on?" for `slotshift_multistore_new_with_flag_callback()`:
/// called with the `user_data` given there and a flag's name (NUL-terminated, e.g.
/// `use_primary_and_secondary_stores_for_sessions`); writes the answer to `*enabled` and returns
/// 0, or returns non-zero when it cannot say (the MultiStore then keeps its last answers).
/// Called from the threads that use the MultiStore, one at a time; it must not call the
/// MultiStore itself.
pub type slotshift_flag_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, flag: *const c_char, enabled: *mut bool) -> i32,
>;

/// The C callback and its `user_data`, callable from any thread (the caller's contract in the
/// header: the callback is thread-safe and `user_data` outlives the MultiStore).
struct CFlags {
    callback: unsafe extern "C" fn(*mut c_void, *const c_char, *mut bool) -> i32,
    user_data: *mut c_void,
}

// SAFETY: see `CFlags`: the header makes thread safety and lifetime the caller's contract.
unsafe impl Send for CFlags {}
// SAFETY: as above.
unsafe impl Sync for CFlags {}

impl CFlags {
    fn ask(&self, flag: &str) -> Result<bool, String> {
        let name = CString::new(flag).map_err(|_| "a flag name with a NUL byte".to_owned())?;
        let mut enabled = false;
        // SAFETY: the callback is the caller's, called with their user_data, a valid
        // NUL-terminated name that outlives the call, and a valid bool to write.
        let status = unsafe { (self.callback)(self.user_data, name.as_ptr(), &mut enabled) };
        if status == 0 {
            Ok(enabled)
        } else {
            Err(format!("the C callback returned {status}"))
        }
    }
}

/// [`slotshift_multistore_new`] with its flags asked of the application: `callback` is called
/// for both flag names now (a failure is this call's error, `SLOTSHIFT_RESULT_MULTISTORE`) and
/// again when its answers are older than `cache_ttl_ms` (0: before every operation).
/// `slotshift_multistore_set_flags()` is refused on such a MultiStore: the flags are the
/// application's. `user_data` must stay valid until `slotshift_multistore_free()`.
#[no_mangle]
#[must_use]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn slotshift_multistore_new_with_flag_callback(
    name: *const c_char,
    primary: *const slotshift_client,
    secondary: *const slotshift_client,
    callback: slotshift_flag_callback,
    user_data: *mut c_void,
    cache_ttl_ms: u64,
    out: *mut *mut slotshift_multistore,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_multistore_new_with_flag_callback";
        let Some(callback) = callback else {
            return null(err, F, "callback");
        };
        let c = CFlags {
            callback,
            user_data,
        };
        let flags = FlagSource::Callback {
            ask: Arc::new(move |flag: &str| c.ask(flag)),
            cache_ttl: Duration::from_millis(cache_ttl_ms),
        };
        build(F, name, primary, secondary, flags, out, err)
    })
}

/// The body of both constructors.
fn build(
    function: &str,
    name: *const c_char,
    primary: *const slotshift_client,
    secondary: *const slotshift_client,
    flags: FlagSource,
    out: *mut *mut slotshift_multistore,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    let name = match try_str(name, "name") {
        Ok(n) => n,
        Err(e) => return fail_arg(err, function, e),
    };
    let Some(primary) = try_ref(primary) else {
        return null(err, function, "primary");
    };
    let Some(secondary) = try_ref(secondary) else {
        return null(err, function, "secondary");
    };
    let Some(out) = try_out(out) else {
        return null(err, function, "out");
    };
    let mut opts = MultiStoreOptions::default();
    opts.flags = flags;
    match MultiStore::new(name, primary.clone(), secondary.clone(), opts) {
        Ok(ms) => {
            out.set(to_raw(ms));
            slotshift_result::Ok
        }
        Err(e) => fail_with(err, &e),
    }
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
