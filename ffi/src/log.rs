//! The core's log records for a C program: `slotshift_log_enable()` starts queueing them (a
//! MultiStore's failed non-default writes and same-server guard, the validator's count mode,
//! migrate's skipped keys …), `slotshift_log_next()` takes them one at a time — from a thread
//! of the program's own, into its own logging. At most 1,024 records wait; more are dropped.

use std::ffi::c_char;

use slotshift_core::log_queue::{self, Level};
use slotshift_core::reply::Reply;

use crate::error::{fail, fail_arg, null, slotshift_error, slotshift_result};
use crate::ffi::{to_raw, try_out, try_str, wait_of};
use crate::panic::guard;
use crate::reply::slotshift_reply;

/// Queues the core's log records of `level` (`"error"`, `"warn"`, `"info"`, `"debug"`,
/// `"trace"`) and more severe for `slotshift_log_next()`; NULL stops queueing. Fails with
/// `SLOTSHIFT_RESULT_INVALID_ARGUMENT` for another level, and with
/// `SLOTSHIFT_RESULT_CONFIG…` when the process installed another Rust logger first.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_log_enable(
    level: *const c_char,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_log_enable";
        if level.is_null() {
            log_queue::silence();
            return slotshift_result::Ok;
        }
        let level: Level = match try_str(level, "level") {
            Ok(text) => match text.parse() {
                Ok(level) => level,
                Err(why) => {
                    return fail(
                        err,
                        slotshift_result::InvalidArgument,
                        format!("{F}: {why}"),
                    )
                }
            },
            Err(e) => return fail_arg(err, F, e),
        };
        match log_queue::install(level) {
            Ok(()) => slotshift_result::Ok,
            Err(why) => fail(err, slotshift_result::Config, format!("{F}: {why}")),
        }
    })
}

/// The next log record, waiting at most `timeout_ms` milliseconds (a negative value: until
/// one comes). On success `*out` is an array reply of three strings — level, target (where
/// in the core), message — (owned: `slotshift_reply_free()`), or NULL when none came in time.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_log_next(
    timeout_ms: i64,
    out: *mut *mut slotshift_reply,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        let Some(out) = try_out(out) else {
            return null(err, "slotshift_log_next", "out");
        };
        let timeout = wait_of(timeout_ms);
        let record = match slotshift_core::store::block_on(log_queue::next_record_async(timeout)) {
            Ok(record) => record,
            Err(e) => return crate::error::fail_with(err, &e),
        };
        out.set(record.map_or(std::ptr::null_mut(), |r| {
            to_raw(Reply::Array(vec![
                Reply::Bulk(r.level.as_str().as_bytes().to_vec()),
                Reply::Bulk(r.target.into_bytes()),
                Reply::Bulk(r.message.into_bytes()),
            ]))
        }));
        slotshift_result::Ok
    })
}
