//! The host's integration tests: one binary, as wasmtime's `tests/all`, so
//! that wasmtime and Cranelift are linked once. Each module is one area;
//! `support` is the library they share with the bench. The slow ones (moto,
//! fun, jco, the packages) are `#[ignore]`d: `make test` runs them.

mod component;
#[cfg(feature = "credential-chain")]
mod credentials;
mod custom_resource;
mod drain;
mod faults;
mod fixtures;
mod hardening;
mod lambda;
mod moto;
mod node_lambda;
mod other_components;
mod runtime_api;
mod tls;
