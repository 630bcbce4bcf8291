//! Embeds the component: the `.wasm` that `make guest` built, for builds with
//! the compiler; the `.cwasm` that `precompile` made, for the Lambda bootstrap.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("component.bin");
    let (variable, default, how) = if std::env::var_os("CARGO_FEATURE_COMPILER").is_some() {
        (
            "ATTACH_IOT_POLICY_GUEST_WASM",
            Some(manifest.join("../target/wasm32-wasip2/guest/attach_iot_policy_guest.wasm")),
            "build it with `make guest`",
        )
    } else {
        ("ATTACH_IOT_POLICY_CWASM", None, "a build without the compiler embeds a precompiled component: `make package`")
    };
    println!("cargo:rerun-if-env-changed={variable}");
    let Some(path) = std::env::var_os(variable).map(PathBuf::from).or(default) else {
        panic!("{variable} is not set; {how}");
    };
    println!("cargo:rerun-if-changed={}", path.display());
    if let Err(e) = std::fs::copy(&path, &out) {
        panic!("the component {} is missing ({e}); {how}", path.display());
    }
}
