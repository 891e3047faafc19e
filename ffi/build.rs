//! Gives libslotshift.so its SONAME on Linux: `libslotshift.so.<major>` from 1.0 on, and
//! `libslotshift.so.0.<minor>` before (in 0.x a minor release may break the ABI), as cargo-c
//! names them. A program linked against the library records that name and loads only a
//! compatible build; `make install` puts the full version's file behind the two links.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default();
    let abi = if major == "0" {
        format!("0.{minor}")
    } else {
        major
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libslotshift.so.{abi}");
}
