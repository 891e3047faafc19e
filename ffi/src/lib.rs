//! The C ABI of slotshift: `libslotshift.so`, `libslotshift.a` and `include/slotshift.h`.
//!
//! No logic lives here: every function converts C types to core types, calls the core inside a
//! panic guard ([`panic::guard`]), and maps the result back. The conventions (shared with
//! rustls-ffi) are stated once in the header preamble (`ffi/cbindgen.toml`) and in
//! `docs/c.md`:
//!
//! - every symbol starts with `slotshift_`; types are opaque, lower snake case, no `_t`;
//! - the object first, then inputs, then outputs; outputs are written only on success;
//! - every fallible function returns a [`slotshift_result`] (bands per error family, as
//!   `tests/fixtures/errors.json` lists them) and takes an optional `slotshift_error **` for
//!   the runtime detail;
//! - every pointer is checked (`SLOTSHIFT_RESULT_NULL_PARAMETER`); keys and values are
//!   `(const uint8_t *, size_t)`;
//! - a panic never crosses the boundary: it becomes `SLOTSHIFT_RESULT_PANIC` (or NULL / 0).
//!
//! The module layout follows the header's sections: [`error`], [`slot`], [`reply`],
//! [`client`], [`multistore`], [`validator`], [`instrument`], [`analyzer`], [`migrate`].
#![allow(non_camel_case_types)]
// Every export checks its pointers before dereferencing them; the `# Safety` of each is the
// caller's contract stated in the header (valid, live handles; buffers of the given length).
#![allow(clippy::missing_safety_doc)]
// The exports are safe `extern "C" fn`s taking raw pointers, as in rustls-ffi: for C the
// `unsafe` marker means nothing, the pointer contract is the header's, and every pointer is
// checked for NULL before it is read.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod analyzer;
pub mod client;
pub mod error;
mod ffi;
pub mod instrument;
pub mod log;
pub mod migrate;
pub mod multistore;
pub mod panic;
pub mod reply;
pub mod session;
pub mod slot;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
pub mod validator;

pub use error::slotshift_result;

/// Major version of the library this header belongs to (checked against `Cargo.toml`).
pub const SLOTSHIFT_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const SLOTSHIFT_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const SLOTSHIFT_VERSION_PATCH: u32 = 0;
/// `MAJOR << 16 | MINOR << 8 | PATCH`, for `#if SLOTSHIFT_VERSION_NUMBER >= …` checks.
pub const SLOTSHIFT_VERSION_NUMBER: u32 = 0x000100;

/// The library's version, `"MAJOR.MINOR.PATCH"`, as a static NUL-terminated string (never
/// freed). Compare it with the `SLOTSHIFT_VERSION_*` macros to detect a header/library mismatch.
#[no_mangle]
pub extern "C" fn slotshift_version() -> *const std::ffi::c_char {
    panic::guard(|| VERSION.as_ptr().cast())
}

const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_match_cargo_toml() {
        let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
        let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
        let patch: u32 = env!("CARGO_PKG_VERSION_PATCH").parse().unwrap();
        assert_eq!(SLOTSHIFT_VERSION_MAJOR, major);
        assert_eq!(SLOTSHIFT_VERSION_MINOR, minor);
        assert_eq!(SLOTSHIFT_VERSION_PATCH, patch);
        assert_eq!(
            SLOTSHIFT_VERSION_NUMBER,
            (major << 16) | (minor << 8) | patch
        );
        let v = unsafe { std::ffi::CStr::from_ptr(slotshift_version()) };
        assert_eq!(v.to_str().unwrap(), format!("{major}.{minor}.{patch}"));
    }

    /// The header's macros are what the Rust constants say (the header is generated from them,
    /// but a stale committed header would not be).
    #[test]
    fn header_macros_match_cargo_toml() {
        let header = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../include/slotshift.h"
        ))
        .unwrap();
        let value = |name: &str| -> u32 {
            let line = header
                .lines()
                .find(|l| l.starts_with(&format!("#define {name} ")))
                .unwrap_or_else(|| panic!("{name} missing from the header"));
            let v = line.split_whitespace().nth(2).unwrap();
            match v.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                None => v.parse().unwrap(),
            }
        };
        let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
        let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
        let patch: u32 = env!("CARGO_PKG_VERSION_PATCH").parse().unwrap();
        assert_eq!(value("SLOTSHIFT_VERSION_MAJOR"), major);
        assert_eq!(value("SLOTSHIFT_VERSION_MINOR"), minor);
        assert_eq!(value("SLOTSHIFT_VERSION_PATCH"), patch);
        assert_eq!(
            value("SLOTSHIFT_VERSION_NUMBER"),
            (major << 16) | (minor << 8) | patch
        );
    }
}
