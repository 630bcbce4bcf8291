//! The attach-iot-policy host: runs the decision component in wasmtime and
//! gives it the AWS calls.
//!
//! - [`runner`]: engine, `InstancePre`, a `Store` per invocation, limits.
//! - [`aws`]: the AWS calls, and the simulated account.
//! - [`config`]: the environment, validated once.

pub mod aws;
pub mod bindings;
pub mod config;
pub mod response;
pub mod runner;

/// The guest component, built by `make build` and embedded at compile time.
pub static GUEST_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));
