//! The AWS calls the component imports, behind one trait that speaks the WIT's
//! types, so the imports do not care which backend answers. Backends stack:
//!
//! - [`client`]: the real AWS, signed and retried.
//! - [`simulated`]: an in-memory account, for `invoke --simulate` and tests.
//! - [`guarded`]: refuses names outside the configuration; always outermost.
//! - [`recording`]: keeps each call, for tests and `invoke --show-calls` only.

pub mod client;
pub mod credentials;
pub mod endpoints;
pub mod errors;
pub mod guarded;
pub mod recording;
pub mod retry;
pub mod simulated;

use std::time::Instant;

use async_trait::async_trait;

pub use crate::bindings::{Attribute, AwsError};

/// What an AWS call needs to know about the invocation it serves.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// No call, and no retry, may run past this.
    pub deadline: Instant,
    /// The invocation's X-Ray trace header, sent as `X-Amzn-Trace-Id` on its calls.
    pub trace_id: Option<String>,
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
    /// IoT `DetachPolicy`.
    async fn detach_policy(&self, cx: &CallContext, policy_name: &str, target: &str) -> Result<(), AwsError>;
    /// Cognito user pools `AdminDeleteUserAttributes`.
    async fn delete_attributes(
        &self,
        cx: &CallContext,
        user_pool_id: &str,
        username: &str,
        names: &[String],
    ) -> Result<(), AwsError>;
    /// IoT `ListTargetsForPolicy`: one page of the policy's targets and the
    /// marker of the next. Not a WIT import: the host uses it to drain a
    /// policy (`detach-all`, the stack's custom resource).
    async fn list_targets_for_policy(
        &self,
        cx: &CallContext,
        policy_name: &str,
        marker: Option<&str>,
    ) -> Result<TargetsPage, AwsError>;
}

/// One page of `ListTargetsForPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TargetsPage {
    pub targets: Vec<String>,
    pub next_marker: Option<String>,
}
