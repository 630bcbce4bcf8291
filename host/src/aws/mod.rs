//! The AWS calls the component imports, behind one trait so the runner does not
//! care whether they go to AWS or to the simulated account.

pub mod client;
pub mod endpoints;
pub mod errors;
pub mod retry;
pub mod simulated;

use std::time::Instant;

use async_trait::async_trait;

pub use crate::bindings::attach_iot_policy::core::aws::Attribute;
/// The guest's own error type: the runner turns it into the WIT variant at the boundary.
pub use attach_iot_policy_guest::AwsError;

/// What an AWS call needs to know about the invocation it serves.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// No call, and no retry, may run past this.
    pub deadline: Instant,
}

#[async_trait]
pub trait Aws: Send + Sync {
    /// IoT `AttachPolicy`.
    async fn attach_policy(&self, cx: &CallContext, policy_name: &str, target: &str) -> Result<(), AwsError>;
    /// Cognito user pools `ListUsers`: the usernames that match `filter`.
    async fn list_users(&self, cx: &CallContext, user_pool_id: &str, filter: &str) -> Result<Vec<String>, AwsError>;
    /// Cognito user pools `AdminUpdateUserAttributes`.
    async fn update_attributes(
        &self,
        cx: &CallContext,
        user_pool_id: &str,
        username: &str,
        attributes: &[Attribute],
    ) -> Result<(), AwsError>;
}
