//! Pointer helpers shared by every module: checked casts between opaque handles and the Rust
//! values behind them, checked outputs, byte slices and commands from C arguments.

use std::ffi::{c_char, CStr};

use slotshift_core::command::Cmd;

use crate::error::slotshift_result;

/// An opaque C handle type and the Rust value a pointer to it really points to.
pub(crate) trait Castable {
    /// The Rust value behind the handle (always boxed, except borrowed replies).
    type Rust;
}

/// The value behind a `const` handle, or None for NULL.
pub(crate) fn try_ref<'a, C: Castable>(p: *const C) -> Option<&'a C::Rust> {
    // SAFETY: a non-NULL handle was made by `to_raw` for this type and is still alive (the
    // caller's contract in the header).
    unsafe { p.cast::<C::Rust>().as_ref() }
}

/// The options behind `p`, or for NULL the defaults, made in `defaults` (which the caller
/// keeps alive as long as it uses the reference).
pub(crate) fn ref_or_default<C: Castable>(p: *const C, defaults: &mut Option<C::Rust>) -> &C::Rust
where
    C::Rust: Default,
{
    match try_ref(p) {
        Some(o) => o,
        None => defaults.insert(C::Rust::default()),
    }
}

/// The value behind a mutable handle, or None for NULL.
pub(crate) fn try_mut<'a, C: Castable>(p: *mut C) -> Option<&'a mut C::Rust> {
    // SAFETY: as `try_ref`; the header forbids concurrent use of mutable handles.
    unsafe { p.cast::<C::Rust>().as_mut() }
}

/// Boxes `value` and hands it to C as a handle.
pub(crate) fn to_raw<C: Castable>(value: C::Rust) -> *mut C {
    Box::into_raw(Box::new(value)).cast()
}

/// Frees a handle made by `to_raw`; NULL is a no-op.
pub(crate) fn free_raw<C: Castable>(p: *mut C) {
    if !p.is_null() {
        // SAFETY: `p` came from `to_raw::<C>` and is freed once (the caller's contract).
        drop(unsafe { Box::from_raw(p.cast::<C::Rust>()) });
    }
}

/// A checked output pointer: written only by [`Out::set`], the last step of a successful call.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Writes the output (without reading or dropping what the caller's memory held).
    pub(crate) fn set(self, value: T) {
        // SAFETY: not NULL (checked by `try_out`), and the caller gives writable memory.
        unsafe { self.0.write(value) }
    }
}

/// An output pointer, or None for NULL.
pub(crate) fn try_out<T>(p: *mut T) -> Option<Out<T>> {
    (!p.is_null()).then_some(Out(p))
}

/// `len` bytes at `p`; NULL is allowed only with `len == 0` (the empty slice).
pub(crate) fn try_bytes<'a>(p: *const u8, len: usize) -> Option<&'a [u8]> {
    if p.is_null() {
        return (len == 0).then_some(&[]);
    }
    if len > isize::MAX as usize {
        return None;
    }
    // SAFETY: not NULL; the caller gives `len` readable bytes that outlive the call.
    Some(unsafe { std::slice::from_raw_parts(p, len) })
}

/// `n` elements at `p` (not NULL), or None when `n` elements of `T` cannot be one object
/// (more than `isize::MAX` bytes: no caller can own such an array; building the slice would be
/// undefined behaviour, and the standard library panics on it).
pub(crate) fn try_array<'a, T>(p: *const T, n: usize) -> Option<&'a [T]> {
    if p.is_null() || n > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return None;
    }
    // SAFETY: not NULL, within the size bound; the caller gives `n` elements that outlive
    // the call.
    Some(unsafe { std::slice::from_raw_parts(p, n) })
}

/// A wait in milliseconds from C: `None` (until something comes) for a negative value.
pub(crate) fn wait_of(timeout_ms: i64) -> Option<std::time::Duration> {
    u64::try_from(timeout_ms)
        .ok()
        .map(std::time::Duration::from_millis)
}

/// Why a C argument could not be converted: the code and a message naming the argument.
pub(crate) type ArgError = (slotshift_result, String);

/// A NUL-terminated UTF-8 string.
pub(crate) fn try_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, ArgError> {
    if p.is_null() {
        return Err((
            slotshift_result::NullParameter,
            format!("parameter `{what}` is NULL"),
        ));
    }
    // SAFETY: not NULL; the caller gives a NUL-terminated string.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|e| {
        (
            slotshift_result::InvalidUtf8,
            format!("parameter `{what}` is not UTF-8 (byte {})", e.valid_up_to()),
        )
    })
}

/// A command from `argc` arguments: `argv[i]` points to `argv_len[i]` bytes (binary-safe;
/// `argv[i]` may be NULL only when `argv_len[i]` is 0).
pub(crate) fn try_cmd(
    argv: *const *const u8,
    argv_len: *const usize,
    argc: usize,
) -> Result<Cmd, ArgError> {
    if argc == 0 {
        return Err((
            slotshift_result::InvalidArgument,
            "argc is 0: a command needs at least its name".into(),
        ));
    }
    let args = try_byte_list(argv, argv_len, argc, ["argv", "argv_len", "argc"])?;
    let mut cmd = Cmd::default();
    for arg in args {
        cmd.arg(arg);
    }
    Ok(cmd)
}

/// `n` byte strings: `ptrs[i]` points to `lens[i]` bytes (binary-safe; `ptrs[i]` may be NULL
/// only when `lens[i]` is 0). `names` are the three parameters' names, for the messages.
pub(crate) fn try_byte_list<'a>(
    ptrs: *const *const u8,
    lens: *const usize,
    n: usize,
    [ptrs_name, lens_name, n_name]: [&str; 3],
) -> Result<Vec<&'a [u8]>, ArgError> {
    if ptrs.is_null() || lens.is_null() {
        let which = if ptrs.is_null() { ptrs_name } else { lens_name };
        return Err((
            slotshift_result::NullParameter,
            format!("parameter `{which}` is NULL"),
        ));
    }
    let (Some(ptrs), Some(lens)) = (try_array(ptrs, n), try_array(lens, n)) else {
        return Err((
            slotshift_result::InvalidArgument,
            format!("{n_name} {n} is too large"),
        ));
    };
    ptrs.iter()
        .zip(lens)
        .enumerate()
        .map(|(i, (&p, &len))| {
            try_bytes(p, len).ok_or_else(|| {
                (
                    slotshift_result::NullParameter,
                    format!("{ptrs_name}[{i}] is NULL but {lens_name}[{i}] is {len}"),
                )
            })
        })
        .collect()
}
