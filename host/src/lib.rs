//! The attach-iot-policy host: runs any component of the WIT world `attacher`
//! in wasmtime and gives it the AWS calls. It shares only the WIT with the
//! guest.
//!
//! - [`engine`]: the wasmtime engine, its pool and the epoch ticker; precompiling.
//! - [`limits`]: what one invocation may use.
//! - [`runner`]: a fresh `Store` per invocation, `handle`, a trap becoming a 500.
//! - [`imports`]: the WIT imports, delegating to a backend.
//! - [`aws`]: the backends: the real client, the simulated account, and the
//!   guarded and recording layers.
//! - [`drain`]: detaching a policy from every target (`detach-all`, the
//!   stack's custom resource).
//! - [`settings`]: every setting, read once at start.
//! - [`function`]: what init builds once; [`lambda`], [`call`] and `main.rs`
//!   are the entry points.

#![warn(missing_docs)]

pub mod aws;
pub mod bindings;
pub mod call;
pub mod config;
pub mod custom_resource;
pub mod drain;
pub mod engine;
pub mod function;
pub mod imports;
pub mod lambda;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod response;
pub mod runner;
pub mod settings;
pub mod teardown;

/// The built-in guest `.wasm`, in builds with the compiler.
#[cfg(feature = "compiler")]
pub static GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));

/// The built-in guest, precompiled by `precompile` for the machine this binary
/// runs on, when the build was given one (`ATTACH_IOT_POLICY_CWASM`).
#[cfg(precompiled)]
pub static GUEST_CWASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.cwasm"));
