//! Embeds the guest component that `make build` built for wasm32-wasip2.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=ATTACH_IOT_POLICY_GUEST_WASM");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let wasm = std::env::var_os("ATTACH_IOT_POLICY_GUEST_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target/wasm32-wasip2/guest/attach_iot_policy_guest.wasm"));
    println!("cargo:rerun-if-changed={}", wasm.display());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("guest.wasm");
    if let Err(e) = std::fs::copy(&wasm, &out) {
        panic!(
            "the guest component {} is missing ({e}); build it first with `make build`, or \
             `cargo build -p attach-iot-policy-guest --target wasm32-wasip2 --profile guest`",
            wasm.display()
        );
    }
}
