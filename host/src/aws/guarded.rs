//! The host keeps its side of the contract even if a component does not: only
//! the configured policies, and only the configured attribute.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::{Level, event};

use super::{Answer, Aws, AwsCall, AwsError, CallContext};
use crate::config::Config;

/// The guard layer.
pub struct Guarded {
    config: Arc<Config>,
    inner: Arc<dyn Aws>,
}

impl Guarded {
    /// Guards `inner` with the names `config` allows.
    pub fn new(config: Arc<Config>, inner: Arc<dyn Aws>) -> Self {
        Self { config, inner }
    }

    /// Why `call` is refused, if it is.
    fn refusal(&self, call: &AwsCall) -> Option<&'static str> {
        let policy = |name: &String| !self.config.policy_names.contains(name);
        let attribute = |name: &String| *name != self.config.attribute_name;
        match call {
            AwsCall::AttachPolicy { policy_name, .. }
            | AwsCall::DetachPolicy { policy_name, .. }
            | AwsCall::ListTargetsForPolicy { policy_name, .. }
            | AwsCall::ListPolicyVersions { policy_name }
            | AwsCall::DeletePolicyVersion { policy_name, .. }
            | AwsCall::DeletePolicy { policy_name } => policy(policy_name).then_some("a policy name"),
            AwsCall::UpdateAttributes { attributes, .. } => {
                attributes.iter().any(|a| attribute(&a.name)).then_some("an attribute name")
            }
            AwsCall::DeleteAttributes { names, .. } => names.iter().any(attribute).then_some("an attribute name"),
            AwsCall::ListUsers { .. } => None,
        }
    }
}

#[async_trait]
impl Aws for Guarded {
    async fn call(&self, cx: &CallContext, call: AwsCall) -> Result<Answer, AwsError> {
        if let Some(what) = self.refusal(&call) {
            event!(Level::ERROR, op = call.op(), "refused a component's request for {what} outside the configuration");
            return Err(AwsError::InvalidRequest(format!("the host refuses {what} that is not in its configuration")));
        }
        self.inner.call(cx, call).await
    }
}
