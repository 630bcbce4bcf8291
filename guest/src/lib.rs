//! The attach-iot-policy decision logic.
//!
//! A pipeline read top to bottom: [`config`] checks what the host passed,
//! [`event`] reads the event, [`decide`]
//! validates the caller and plans, [`flow`] calls the AWS imports, and
//! [`response`] answers. Everything reaches the outside through [`Host`], so
//! the whole pipeline runs natively in tests and as a component in any host.
//!
//! The component is `no_std` (with `alloc`): nothing here needs an operating
//! system, and without std it imports nothing from WASI, which makes it
//! smaller and cheaper to instantiate. Native builds (tests, the host's
//! native comparison) keep std.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

pub mod config;
pub mod decide;
pub mod event;
pub mod flow;
pub mod ids;
pub mod response;
pub mod types;

#[cfg(target_arch = "wasm32")]
mod component;

/// What std's prelude would bring; every module starts with `use crate::prelude::*`.
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::format;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

#[cfg(target_arch = "wasm32")]
mod allocator;

/// A panic is a trap: the host answers 500 and the next invocation runs.
#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

pub use types::{Attribute, AttributeValue, AwsError, Config, Context, Host, Level, Response};

use decide::{Decision, Refusal};
use prelude::*;

/// Handles one invocation: the whole of the component's `handle` export.
pub fn handle(event: &str, context: &Context, config: &Config, host: &mut impl Host) -> Response {
    if let Err(why) = config::check(config) {
        host.log(Level::Error, why);
        return response::invalid_config(why, config);
    }
    let parsed = match event::parse(event, context.cognito_identity.as_deref()) {
        Ok(parsed) => parsed,
        Err(event::EventError::Invalid(why)) => {
            host.log(Level::Warn, &format!("refused: {why}"));
            return response::refusal(&Refusal::InvalidEvent(why), config);
        }
    };
    match decide::decide(&parsed, config) {
        Decision::Preflight => response::preflight(config),
        Decision::Refuse(refusal) => {
            host.log(Level::Warn, &format!("refused: {refusal:?}"));
            response::refusal(&refusal, config)
        }
        Decision::Attach(plan) => {
            let outcome = flow::attach(&plan, config, host);
            response::outcome(&outcome, &plan, config)
        }
        Decision::Detach(plan) => {
            let outcome = flow::detach(&plan, config, host);
            response::detached(&outcome, &plan, config)
        }
    }
}
