//! The example configuration and account, and AWS backends that misbehave
//! on purpose.

use std::sync::Arc;
use std::time::Duration;

use attach_iot_policy::aws::simulated::{AccountState, SimulatedAccount};
use attach_iot_policy::aws::{Attribute, Aws, AwsError, CallContext, TargetsPage};
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
    async fn attach_policy(&self, _: &CallContext, _: &str, _: &str) -> Result<(), AwsError> {
        panic!("a host bug")
    }
    async fn list_users(&self, _: &CallContext, _: &str, _: &str) -> Result<Vec<String>, AwsError> {
        panic!("a host bug")
    }
    async fn update_attributes(&self, _: &CallContext, _: &str, _: &str, _: &[Attribute]) -> Result<(), AwsError> {
        panic!("a host bug")
    }
    async fn detach_policy(&self, _: &CallContext, _: &str, _: &str) -> Result<(), AwsError> {
        panic!("a host bug")
    }
    async fn delete_attributes(&self, _: &CallContext, _: &str, _: &str, _: &[String]) -> Result<(), AwsError> {
        panic!("a host bug")
    }
    async fn list_targets_for_policy(
        &self,
        _: &CallContext,
        _: &str,
        _: Option<&str>,
    ) -> Result<TargetsPage, AwsError> {
        panic!("a host bug")
    }
}

/// Every call succeeds at once: `ListUsers` finds one user.
pub struct Instant;

#[async_trait::async_trait]
impl Aws for Instant {
    async fn attach_policy(&self, _: &CallContext, _: &str, _: &str) -> Result<(), AwsError> {
        Ok(())
    }
    async fn list_users(&self, _: &CallContext, _: &str, _: &str) -> Result<Vec<String>, AwsError> {
        Ok(vec!["mat@example.com".into()])
    }
    async fn update_attributes(
        &self,
        _: &CallContext,
        _: &str,
        username: &str,
        _: &[Attribute],
    ) -> Result<(), AwsError> {
        // As Cognito: a sub is not this user's username.
        if username.contains('-') { Err(AwsError::NotFound("UserNotFoundException".into())) } else { Ok(()) }
    }
    async fn detach_policy(&self, _: &CallContext, _: &str, _: &str) -> Result<(), AwsError> {
        Ok(())
    }
    async fn delete_attributes(&self, _: &CallContext, _: &str, username: &str, _: &[String]) -> Result<(), AwsError> {
        if username.contains('-') { Err(AwsError::NotFound("UserNotFoundException".into())) } else { Ok(()) }
    }
    async fn list_targets_for_policy(
        &self,
        _: &CallContext,
        _: &str,
        _: Option<&str>,
    ) -> Result<TargetsPage, AwsError> {
        Ok(TargetsPage::default())
    }
}

/// Waits `delay` before each call to `inner`.
pub struct Slow {
    pub inner: Arc<dyn Aws>,
    pub delay: Duration,
}

#[async_trait::async_trait]
impl Aws for Slow {
    async fn attach_policy(&self, cx: &CallContext, policy: &str, target: &str) -> Result<(), AwsError> {
        tokio::time::sleep(self.delay).await;
        self.inner.attach_policy(cx, policy, target).await
    }
    async fn list_users(&self, cx: &CallContext, pool: &str, filter: &str) -> Result<Vec<String>, AwsError> {
        tokio::time::sleep(self.delay).await;
        self.inner.list_users(cx, pool, filter).await
    }
    async fn update_attributes(
        &self,
        cx: &CallContext,
        pool: &str,
        user: &str,
        attributes: &[Attribute],
    ) -> Result<(), AwsError> {
        tokio::time::sleep(self.delay).await;
        self.inner.update_attributes(cx, pool, user, attributes).await
    }
    async fn detach_policy(&self, cx: &CallContext, policy: &str, target: &str) -> Result<(), AwsError> {
        tokio::time::sleep(self.delay).await;
        self.inner.detach_policy(cx, policy, target).await
    }
    async fn delete_attributes(
        &self,
        cx: &CallContext,
        pool: &str,
        user: &str,
        names: &[String],
    ) -> Result<(), AwsError> {
        tokio::time::sleep(self.delay).await;
        self.inner.delete_attributes(cx, pool, user, names).await
    }
    async fn list_targets_for_policy(
        &self,
        cx: &CallContext,
        policy: &str,
        marker: Option<&str>,
    ) -> Result<TargetsPage, AwsError> {
        tokio::time::sleep(self.delay).await;
        self.inner.list_targets_for_policy(cx, policy, marker).await
    }
}
