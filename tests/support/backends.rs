//! The example configuration and account, and AWS backends that misbehave
//! on purpose.

use std::sync::Arc;
use std::time::Duration;

use attach_iot_policy::aws::simulated::{AccountState, SimulatedAccount};
use attach_iot_policy::aws::{Answer, Aws, AwsCall, AwsError, CallContext, PolicyVersion, TargetsPage};
use attach_iot_policy::config::Config;

pub const EXAMPLE_EVENT: &str = include_str!("../../examples/event-rest.json");
pub const EXAMPLE_HTTP_EVENT: &str = include_str!("../../examples/event-http-api.json");
pub const EXAMPLE_ACCOUNT: &str = include_str!("../../examples/account.json");
/// The example event's policy.
pub const EXAMPLE_POLICY: &str = "amplify-toolkit-iot-message-viewer";

/// The configuration with only `IOT_POLICY_NAME` set, to `policy`.
pub fn config_for(policy: &str) -> Config {
    attach_iot_policy::config::from_lookup(&|name: &str| (name == "IOT_POLICY_NAME").then(|| policy.to_owned()))
        .unwrap()
}

/// The configuration `make run` uses: the example event's policy.
pub fn example_config() -> Config {
    config_for(EXAMPLE_POLICY)
}

/// A fresh copy of `examples/account.json`.
pub fn example_account() -> Arc<SimulatedAccount> {
    Arc::new(SimulatedAccount::new(serde_json::from_str::<AccountState>(EXAMPLE_ACCOUNT).unwrap()))
}

/// Every call panics, as a host bug would.
pub struct Panicking;

#[async_trait::async_trait]
impl Aws for Panicking {
    async fn call(&self, _: &CallContext, _: AwsCall) -> Result<Answer, AwsError> {
        panic!("a host bug")
    }
}

/// Every call succeeds at once: `ListUsers` finds one user.
pub struct Instant;

#[async_trait::async_trait]
impl Aws for Instant {
    async fn call(&self, _: &CallContext, call: AwsCall) -> Result<Answer, AwsError> {
        match call {
            AwsCall::ListUsers { .. } => Ok(Answer::Users(vec!["mat@example.com".into()])),
            AwsCall::ListTargetsForPolicy { .. } => Ok(Answer::Targets(TargetsPage::default())),
            AwsCall::ListPolicyVersions { .. } => {
                Ok(Answer::Versions(vec![PolicyVersion { id: "1".into(), default: true }]))
            }
            // As Cognito: a sub is not this user's username.
            AwsCall::UpdateAttributes { username, .. } | AwsCall::DeleteAttributes { username, .. }
                if username.contains('-') =>
            {
                Err(AwsError::NotFound("UserNotFoundException".into()))
            }
            _ => Ok(Answer::Done),
        }
    }
}

/// Waits `delay` before each call to `inner`.
pub struct Slow {
    pub inner: Arc<dyn Aws>,
    pub delay: Duration,
}

#[async_trait::async_trait]
impl Aws for Slow {
    async fn call(&self, cx: &CallContext, call: AwsCall) -> Result<Answer, AwsError> {
        tokio::time::sleep(self.delay).await;
        self.inner.call(cx, call).await
    }
}
