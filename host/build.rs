//! Embeds the component.
//!
//! - Builds with the compiler embed the guest `.wasm`. By default this script
//!   builds it first (`cargo build -p attach-iot-policy-guest --target
//!   wasm32-wasip2 --profile guest`, a no-op when nothing changed), so a fresh
//!   clone's `cargo test` needs no `make`; `ATTACH_IOT_POLICY_GUEST_WASM`
//!   names another `.wasm` instead.
//! - `ATTACH_IOT_POLICY_CWASM` adds a component that `precompile` made; the
//!   host then loads it without compiling. The Lambda bootstrap, built
//!   without the compiler, has only that.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(precompiled)");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let compiler = std::env::var_os("CARGO_FEATURE_COMPILER").is_some();

    println!("cargo:rerun-if-env-changed=ATTACH_IOT_POLICY_CWASM");
    match std::env::var_os("ATTACH_IOT_POLICY_CWASM") {
        Some(cwasm) => {
            embed(Path::new(&cwasm), &out.join("guest.cwasm"), "`make package` or `make build` makes it");
            println!("cargo:rustc-cfg=precompiled");
        }
        None if !compiler => fail(
            "a build without the compiler embeds a precompiled component: set ATTACH_IOT_POLICY_CWASM \
             (`make package` does)",
        ),
        None => {}
    }
    if compiler {
        println!("cargo:rerun-if-env-changed=ATTACH_IOT_POLICY_GUEST_WASM");
        let wasm = match std::env::var_os("ATTACH_IOT_POLICY_GUEST_WASM") {
            Some(path) => PathBuf::from(path),
            None => build_guest(),
        };
        embed(&wasm, &out.join("guest.wasm"), "`make guest` builds it");
    }
}

fn embed(from: &Path, to: &Path, how: &str) {
    println!("cargo:rerun-if-changed={}", from.display());
    if let Err(e) = std::fs::copy(from, to) {
        fail(&format!("the component {} is missing ({e}); {how}", from.display()));
    }
}

/// Builds the guest with the workspace's own cargo, into the workspace's
/// target directory, exactly as `make guest` does.
fn build_guest() -> PathBuf {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.parent().unwrap().to_path_buf();
    for input in ["guest/src", "guest/Cargo.toml", "guest/build.rs", "ids/src", "ids/Cargo.toml", "wit"] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "-p", "attach-iot-policy-guest", "--target", "wasm32-wasip2", "--profile", "guest"])
        .arg("--target-dir")
        .arg(&target_dir);
    // What cargo sets for this build script is not meant for the guest's build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key.starts_with("RUSTC") || key == "RUSTFLAGS" {
            command.env_remove(&*key);
        }
    }
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(_) => fail(
            "building the guest failed (see above). Is the wasm32-wasip2 target installed? \
             `rustup target add wasm32-wasip2`, or `make guest`",
        ),
        Err(e) => fail(&format!("could not run cargo to build the guest: {e}")),
    }
    target_dir.join("wasm32-wasip2/guest/attach_iot_policy_guest.wasm")
}

fn fail(message: &str) -> ! {
    // cargo shows a build script's stderr only when it fails: one clear line.
    eprintln!("error: {message}");
    std::process::exit(1);
}
