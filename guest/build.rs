//! The component's shadow stack: 128 KiB instead of Rust's default 1 MiB.
//! The stack sits at the bottom of linear memory, so a smaller one means a
//! smaller memory for the host to reset between invocations. The parser's
//! recursion limit (128 levels) keeps the guest's use of it far below this.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=131072");
    }
}
