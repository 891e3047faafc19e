//! Test-only exports (cargo feature `test-hooks`; `SLOTSHIFT_TEST_HOOKS` in the header). Never
//! in an installed library.

use crate::error::slotshift_result;
use crate::panic::guard;

/// TEST ONLY (built with the `test-hooks` feature; declared when `SLOTSHIFT_TEST_HOOKS` is
/// defined): panics inside the guard of an exported function, to show that the panic comes
/// back as `SLOTSHIFT_RESULT_PANIC` and the process lives.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_test_panic() -> slotshift_result {
    guard(|| {
        let v: Vec<u8> = Vec::new();
        // A real out-of-bounds index, not just `panic!`, as a bug would.
        let i = std::hint::black_box(3usize);
        if v[i] == 0 {
            return slotshift_result::Ok;
        }
        slotshift_result::Ok
    })
}
