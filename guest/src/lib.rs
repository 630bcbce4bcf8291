//! The attach-iot-policy decision logic.
//!
//! A pipeline read top to bottom: [`event`] reads the event, [`decide`]
//! validates the caller and plans, [`flow`] calls the AWS imports, and
//! [`response`] answers. Everything reaches the outside through [`Host`], so
//! the whole pipeline runs natively in tests and as a component in any host.

pub mod decide;
pub mod event;
pub mod flow;
pub mod ids;
pub mod response;
pub mod types;

#[cfg(target_arch = "wasm32")]
mod component;

pub use types::{Attribute, AwsError, Config, Context, Host, Level, Response};

use decide::{Decision, Refusal};

/// Handles one invocation: the whole of the component's `handle` export.
pub fn handle(event: &str, context: &Context, config: &Config, host: &mut impl Host) -> Response {
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
            let outcome = flow::run(&plan, config, host);
            response::outcome(&outcome, &plan, config)
        }
    }
}
