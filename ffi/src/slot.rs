//! Hash slots: CRC16 of the key (or of its hash tag) modulo 16384.

use slotshift_core::slot::key_slot;

use crate::error::slotshift_result;
use crate::ffi::{try_array, try_bytes};
use crate::panic::guard;

/// The number of hash slots of a Redis Cluster; every slot is below it.
pub const SLOTSHIFT_SLOT_COUNT: u16 = 16384;

/// The hash slot of `key` (`len` bytes, binary-safe), as the cluster computes it: CRC16 of the
/// hash tag (the bytes between the first `{` and the next `}`, if not empty) or of the whole
/// key, modulo 16384.
///
/// `key` may be NULL when `len` is 0 (the empty key, slot 0). A NULL `key` with `len > 0`
/// returns 65535, which is never a slot. Thread-safe; never blocks; allocates nothing.
#[no_mangle]
pub extern "C" fn slotshift_key_slot(key: *const u8, len: usize) -> u16 {
    guard(|| match try_bytes(key, len) {
        Some(k) => key_slot(k).get(),
        None => u16::MAX,
    })
}

/// The hash slots of `n` keys: `keys[i]` points to `lens[i]` bytes; `out_slots` (room for `n`
/// values) receives the slots in order. All arrays may be NULL only when `n` is 0.
///
/// Returns `SLOTSHIFT_RESULT_NULL_PARAMETER` if an array is NULL, or if `keys[i]` is NULL with
/// `lens[i] > 0`; `out_slots` is then untouched. Thread-safe; never blocks.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_key_slots(
    keys: *const *const u8,
    lens: *const usize,
    n: usize,
    out_slots: *mut u16,
) -> slotshift_result {
    guard(|| {
        if n == 0 {
            return slotshift_result::Ok;
        }
        if keys.is_null() || lens.is_null() || out_slots.is_null() {
            return slotshift_result::NullParameter;
        }
        let (Some(ptrs), Some(lens)) = (try_array(keys, n), try_array(lens, n)) else {
            return slotshift_result::InvalidArgument;
        };
        let mut slots = Vec::with_capacity(n);
        for (&p, &len) in ptrs.iter().zip(lens) {
            match try_bytes(p, len) {
                Some(k) => slots.push(key_slot(k).get()),
                None => return slotshift_result::NullParameter,
            }
        }
        // SAFETY: `out_slots` is not NULL and has room for `n` values.
        unsafe { std::ptr::copy_nonoverlapping(slots.as_ptr(), out_slots, n) };
        slotshift_result::Ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_of_keys() {
        assert_eq!(slotshift_key_slot(b"123456789".as_ptr(), 9), 12739);
        assert_eq!(slotshift_key_slot(std::ptr::null(), 0), 0);
        assert_eq!(slotshift_key_slot(std::ptr::null(), 3), u16::MAX);
        let keys = [b"{a}x".as_ptr(), b"{a}y".as_ptr(), std::ptr::null()];
        let lens = [4usize, 4, 0];
        let mut out = [7u16; 3];
        let r = slotshift_key_slots(keys.as_ptr(), lens.as_ptr(), 3, out.as_mut_ptr());
        assert_eq!(r, slotshift_result::Ok);
        assert_eq!(out[0], out[1]);
        assert_eq!(out[2], 0);
        let bad = [3usize, 4, 1];
        let mut untouched = [7u16; 3];
        let r = slotshift_key_slots(keys.as_ptr(), bad.as_ptr(), 3, untouched.as_mut_ptr());
        assert_eq!(r, slotshift_result::NullParameter);
        assert_eq!(untouched, [7, 7, 7]);
    }
}
