//! Link settings for the shippable `mobiquant` library.
//!
//! Android 15 devices may use 16 KiB memory pages; a shared library whose LOAD segments are aligned
//! to 4 KiB fails to load there. Every 64-bit Android build of the cdylib is therefore linked with
//! a 16 KiB maximum page size.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let pointer_width = std::env::var("CARGO_CFG_TARGET_POINTER_WIDTH").unwrap_or_default();
    if os == "android" && pointer_width == "64" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,max-page-size=16384");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
