//! The cross-slot validator: its global mode, the per-thread allow scope, and counts per store.

use std::ffi::c_char;

use slotshift_core::validator::{self, Mode};

use crate::error::slotshift_result;
use crate::ffi::{try_out, try_str};
use crate::panic::guard;

/// What the validator does with a multi-key command (or MULTI/EXEC) whose keys span slots.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum slotshift_validation_mode {
    /// Do nothing.
    Off = 0,
    /// Count and log it, then send it (production).
    Count = 1,
    /// Refuse it before it is sent: `SLOTSHIFT_RESULT_VALIDATOR` (development, tests).
    Raise = 2,
}

/// A mode from a C value (C may pass any integer; only the three values are accepted).
pub(crate) fn mode_from_u32(v: u32) -> Option<Mode> {
    match v {
        0 => Some(Mode::Off),
        1 => Some(Mode::Count),
        2 => Some(Mode::Raise),
        _ => None,
    }
}

/// Sets the global validation mode (a `slotshift_validation_mode` value; clients created with
/// their own mode keep it). `SLOTSHIFT_RESULT_INVALID_ARGUMENT` for any other value.
/// Thread-safe: takes effect for every thread.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_validator_set_mode(mode: u32) -> slotshift_result {
    guard(|| match mode_from_u32(mode) {
        Some(m) => {
            validator::set_mode(m);
            slotshift_result::Ok
        }
        None => slotshift_result::InvalidArgument,
    })
}

/// The global validation mode: as set, else `SLOTSHIFT_CROSS_SLOT_VALIDATION` from the
/// environment (`raise`, `count`, `off`), else off.
#[no_mangle]
pub extern "C" fn slotshift_validator_mode() -> slotshift_validation_mode {
    guard(|| match validator::mode() {
        Mode::Raise => slotshift_validation_mode::Raise,
        Mode::Count => slotshift_validation_mode::Count,
        _ => slotshift_validation_mode::Off,
    })
}

/// Opens one level of allow scope **on the calling thread**: until the matching
/// `slotshift_validator_allow_exit()`, cross-slot commands this thread sends are allowed (sent,
/// counted as allowed). Levels nest. Pair every enter with an exit on the same thread.
#[no_mangle]
pub extern "C" fn slotshift_validator_allow_enter() {
    guard(validator::enter_allow)
}

/// Closes one level of the calling thread's allow scope (no effect when none is open).
#[no_mangle]
pub extern "C" fn slotshift_validator_allow_exit() {
    guard(validator::exit_allow)
}

/// Whether the calling thread is inside an allow scope.
#[no_mangle]
pub extern "C" fn slotshift_validator_is_allowed() -> bool {
    guard(validator::is_allowed)
}

/// The cross-slot counts of the store(s) named `store` (NUL-terminated; a client's name is set
/// with `slotshift_client_options_set_name()`, default `default`): violations outside an allow
/// scope, inside one, and refused. Zero for a name never seen. Every output is required.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_validator_counts(
    store: *const c_char,
    cross_slot: *mut u64,
    allowed: *mut u64,
    refused: *mut u64,
) -> slotshift_result {
    guard(|| {
        let (Some(c), Some(a), Some(r)) = (try_out(cross_slot), try_out(allowed), try_out(refused))
        else {
            return slotshift_result::NullParameter;
        };
        let name = match try_str(store, "store") {
            Ok(n) => n,
            Err((code, _)) => return code,
        };
        let counts = validator::counts(name);
        c.set(counts.cross_slot);
        a.set(counts.allowed);
        r.set(counts.refused);
        slotshift_result::Ok
    })
}
