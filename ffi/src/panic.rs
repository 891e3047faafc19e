//! The panic boundary: every exported function runs its body through [`guard`].
//!
//! Since Rust 1.81 a panic unwinding out of an `extern "C"` function aborts the process; the
//! guard turns it into `SLOTSHIFT_RESULT_PANIC` for fallible functions and into a documented
//! fallback (NULL, 0, false, an invalid slot) for the others, chosen by [`PanicDefault`]. The
//! guard wraps the body, not the signature, so cbindgen sees plain `extern "C"` functions.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::client::slotshift_deployment_kind;
use crate::error::slotshift_result;
use crate::reply::slotshift_value_type;
use crate::validator::slotshift_validation_mode;

/// What an exported function returns when its body panicked.
pub trait PanicDefault {
    /// The value returned instead of unwinding.
    fn panic_default() -> Self;
}

impl PanicDefault for slotshift_result {
    fn panic_default() -> Self {
        slotshift_result::Panic
    }
}

impl<T> PanicDefault for *mut T {
    fn panic_default() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> PanicDefault for *const T {
    fn panic_default() -> Self {
        std::ptr::null()
    }
}

impl PanicDefault for u16 {
    /// 65535 is never a hash slot.
    fn panic_default() -> Self {
        u16::MAX
    }
}

impl PanicDefault for usize {
    fn panic_default() -> Self {
        0
    }
}

impl PanicDefault for u64 {
    fn panic_default() -> Self {
        0
    }
}

impl PanicDefault for bool {
    fn panic_default() -> Self {
        false
    }
}

impl PanicDefault for () {
    fn panic_default() -> Self {}
}

impl PanicDefault for slotshift_value_type {
    fn panic_default() -> Self {
        slotshift_value_type::Unknown
    }
}

impl PanicDefault for slotshift_deployment_kind {
    fn panic_default() -> Self {
        slotshift_deployment_kind::Unknown
    }
}

impl PanicDefault for slotshift_validation_mode {
    /// Off: a panic while reading the mode reports the mode that refuses nothing.
    fn panic_default() -> Self {
        slotshift_validation_mode::Off
    }
}

/// Runs `body`; a panic inside becomes `R::panic_default()` instead of crossing the boundary.
///
/// The unwind-safety assertion is sound here because a panicking body leaves no half-updated
/// state visible to C: outputs are written only as the body's last step, on success.
#[inline(always)]
pub fn guard<R: PanicDefault>(body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(_) => R::panic_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_default() {
        let r: slotshift_result = guard(|| panic!("boom"));
        assert_eq!(r, slotshift_result::Panic);
        let p: *mut u8 = guard(|| panic!("boom"));
        assert!(p.is_null());
        let s: u16 = guard(|| panic!("boom"));
        assert_eq!(s, u16::MAX);
        assert_eq!(guard(|| 7usize), 7);
    }
}
