//! The attach-iot-policy host: runs the decision component in wasmtime and
//! gives it the AWS calls.
//!
//! - [`runner`]: engine, `InstancePre`, a `Store` per invocation, limits.
//! - [`aws`]: the AWS calls, and the simulated account.
//! - [`config`]: the environment, validated once.

pub mod aws;
pub mod bindings;
pub mod call;
pub mod config;
pub mod response;
pub mod runner;

pub mod lambda;
pub mod logging;

/// The component embedded at build time: the guest `.wasm` when the host has
/// the compiler, otherwise a `.cwasm` precompiled for this architecture.
pub static EMBEDDED_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/component.bin"));

/// The guest `.wasm`, in builds with the compiler.
#[cfg(feature = "compiler")]
pub static GUEST_COMPONENT: &[u8] = EMBEDDED_COMPONENT;
