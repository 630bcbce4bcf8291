//! Link settings for the component.
//!
//! - The shadow stack is 128 KiB instead of Rust's default 1 MiB. It sits at
//!   the bottom of linear memory, so a smaller one means less memory for the
//!   host to reset between invocations. The parser's recursion limit (128
//!   levels) keeps the guest's use of it far below this.
//! - The guest is `no_std`, so nothing links the C library that std brings;
//!   `malloc` (see `src/allocator.rs`), `memcmp` and friends come from
//!   wasi-libc's `libc.a`, shipped with the target. None of them imports
//!   anything from WASI (`tests/all/component.rs` checks the component's imports).

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=131072");
        println!("cargo:rustc-link-arg-cdylib=-lc");
    }
}
