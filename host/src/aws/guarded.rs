//! The host keeps its side of the contract even if a component does not: only
//! the configured policies, and only the configured attribute.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::{Level, event};

use super::{Attribute, Aws, AwsError, CallContext, TargetsPage};
use crate::config::Config;

pub struct Guarded {
    config: Arc<Config>,
    inner: Arc<dyn Aws>,
}

impl Guarded {
    pub fn new(config: Arc<Config>, inner: Arc<dyn Aws>) -> Self {
        Self { config, inner }
    }
}

fn refuse(what: &str) -> AwsError {
    event!(Level::ERROR, "refused a component's request for {what} outside the configuration");
    AwsError::InvalidRequest(format!("the host refuses {what} that is not in its configuration"))
}

#[async_trait]
impl Aws for Guarded {
    async fn attach_policy(&self, cx: &CallContext, policy_name: &str, target: &str) -> Result<(), AwsError> {
        self.policy(policy_name)?;
        self.inner.attach_policy(cx, policy_name, target).await
    }

    async fn list_users(&self, cx: &CallContext, user_pool_id: &str, filter: &str) -> Result<Vec<String>, AwsError> {
        self.inner.list_users(cx, user_pool_id, filter).await
    }

    async fn update_attributes(
        &self,
        cx: &CallContext,
        user_pool_id: &str,
        username: &str,
        attributes: &[Attribute],
    ) -> Result<(), AwsError> {
        if !attributes.iter().all(|a| a.name == self.config.attribute_name) {
            return Err(refuse("an attribute name"));
        }
        self.inner.update_attributes(cx, user_pool_id, username, attributes).await
    }

    async fn detach_policy(&self, cx: &CallContext, policy_name: &str, target: &str) -> Result<(), AwsError> {
        self.policy(policy_name)?;
        self.inner.detach_policy(cx, policy_name, target).await
    }

    async fn delete_attributes(
        &self,
        cx: &CallContext,
        user_pool_id: &str,
        username: &str,
        names: &[String],
    ) -> Result<(), AwsError> {
        if !names.iter().all(|n| *n == self.config.attribute_name) {
            return Err(refuse("an attribute name"));
        }
        self.inner.delete_attributes(cx, user_pool_id, username, names).await
    }

    async fn list_targets_for_policy(
        &self,
        cx: &CallContext,
        policy_name: &str,
        marker: Option<&str>,
    ) -> Result<TargetsPage, AwsError> {
        self.policy(policy_name)?;
        self.inner.list_targets_for_policy(cx, policy_name, marker).await
    }
}

impl Guarded {
    fn policy(&self, policy_name: &str) -> Result<(), AwsError> {
        match self.config.policy_names.iter().any(|p| p == policy_name) {
            true => Ok(()),
            false => Err(refuse("a policy name")),
        }
    }
}
