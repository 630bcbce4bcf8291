//! The AWS calls, as one type: an [`AwsCall`] names the operation and carries
//! its arguments, and a backend answers it through one method, [`Aws::call`].
//! Layers wrap a backend, each doing one thing, stacked once when the function
//! is built (see [`crate::function`]):
//!
//! - [`client`]: the real AWS, signed and retried.
//! - [`simulated`]: an in-memory account, for `invoke --simulate` and tests.
//! - [`guarded`]: refuses names outside the configuration; always outermost.
//! - [`metered`]: times each call, logs it, and counts it for the metrics.
//! - [`recording`]: keeps each call, for tests and `invoke --show-calls` only.

pub mod client;
pub mod credentials;
pub mod endpoints;
pub mod errors;
pub mod guarded;
pub mod metered;
pub mod recording;
pub mod redact;
pub mod retry;
pub mod simulated;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

pub use crate::bindings::{Attribute, AwsError};
pub use metered::CallStats;

/// What an AWS call needs to know about the invocation it serves.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// No call, and no retry, may run past this.
    pub deadline: Instant,
    /// The invocation's X-Ray trace header, sent as `X-Amzn-Trace-Id` on its calls.
    pub trace_id: Option<String>,
    /// Where the metering layer adds up the invocation's calls and their time.
    pub stats: Arc<CallStats>,
}

impl CallContext {
    /// A context with no trace and a fresh tally.
    pub fn until(deadline: Instant) -> Self {
        Self { deadline, trace_id: None, stats: Arc::default() }
    }
}

/// One AWS operation and its arguments. The first five are the WIT's `aws`
/// imports; the rest are the host's own, for draining a policy and then
/// deleting it when the stack comes down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsCall {
    /// IoT `AttachPolicy`.
    AttachPolicy {
        /// The IoT policy.
        policy_name: String,
        /// A Cognito identity ID (or a certificate or thing group ARN).
        target: String,
    },
    /// Cognito user pools `ListUsers`: the usernames that match `filter`.
    ListUsers {
        /// `<region>_<id>`; the call goes to that region.
        user_pool_id: String,
        /// `name = "value"`.
        filter: String,
    },
    /// Cognito user pools `AdminUpdateUserAttributes`.
    UpdateAttributes {
        /// `<region>_<id>`.
        user_pool_id: String,
        /// A username, or a local user's `sub`.
        username: String,
        /// The attributes to set.
        attributes: Vec<Attribute>,
    },
    /// IoT `DetachPolicy`.
    DetachPolicy {
        /// The IoT policy.
        policy_name: String,
        /// What it is detached from.
        target: String,
    },
    /// Cognito user pools `AdminDeleteUserAttributes`.
    DeleteAttributes {
        /// `<region>_<id>`.
        user_pool_id: String,
        /// A username, or a local user's `sub`.
        username: String,
        /// The attributes to remove.
        names: Vec<String>,
    },
    /// IoT `ListTargetsForPolicy`: one page of the policy's targets.
    ListTargetsForPolicy {
        /// The IoT policy.
        policy_name: String,
        /// The page to list; `None` for the first.
        marker: Option<String>,
    },
    /// IoT `ListPolicyVersions`.
    ListPolicyVersions {
        /// The IoT policy.
        policy_name: String,
    },
    /// IoT `DeletePolicyVersion`: a version that is not the default.
    DeletePolicyVersion {
        /// The IoT policy.
        policy_name: String,
        /// The version's ID.
        version_id: String,
    },
    /// IoT `DeletePolicy`: refused while the policy is attached, has other
    /// versions, or was detached too recently.
    DeletePolicy {
        /// The IoT policy.
        policy_name: String,
    },
}

/// Every operation's name, as [`AwsCall::op`] gives it.
pub const OPS: [&str; 9] = [
    "attach-policy",
    "list-users",
    "update-attributes",
    "detach-policy",
    "delete-attributes",
    "list-targets-for-policy",
    "list-policy-versions",
    "delete-policy-version",
    "delete-policy",
];

impl AwsCall {
    /// The operation's name: the WIT import's (`attach-policy`), as the logs,
    /// the metrics, the recordings and the simulated faults write it.
    pub fn op(&self) -> &'static str {
        OPS[match self {
            AwsCall::AttachPolicy { .. } => 0,
            AwsCall::ListUsers { .. } => 1,
            AwsCall::UpdateAttributes { .. } => 2,
            AwsCall::DetachPolicy { .. } => 3,
            AwsCall::DeleteAttributes { .. } => 4,
            AwsCall::ListTargetsForPolicy { .. } => 5,
            AwsCall::ListPolicyVersions { .. } => 6,
            AwsCall::DeletePolicyVersion { .. } => 7,
            AwsCall::DeletePolicy { .. } => 8,
        }]
    }

    /// The arguments as text, in order, as the fixtures list them.
    pub fn args(&self) -> Vec<String> {
        match self {
            AwsCall::AttachPolicy { policy_name, target } | AwsCall::DetachPolicy { policy_name, target } => {
                vec![policy_name.clone(), target.clone()]
            }
            AwsCall::ListUsers { user_pool_id, filter } => vec![user_pool_id.clone(), filter.clone()],
            AwsCall::UpdateAttributes { user_pool_id, username, attributes } => {
                [user_pool_id.clone(), username.clone()]
                    .into_iter()
                    .chain(attributes.iter().map(|a| format!("{}={}", a.name, a.value)))
                    .collect()
            }
            AwsCall::DeleteAttributes { user_pool_id, username, names } => {
                [user_pool_id.clone(), username.clone()].into_iter().chain(names.iter().cloned()).collect()
            }
            AwsCall::ListTargetsForPolicy { policy_name, marker } => {
                std::iter::once(policy_name.clone()).chain(marker.clone()).collect()
            }
            AwsCall::ListPolicyVersions { policy_name } | AwsCall::DeletePolicy { policy_name } => {
                vec![policy_name.clone()]
            }
            AwsCall::DeletePolicyVersion { policy_name, version_id } => vec![policy_name.clone(), version_id.clone()],
        }
    }
}

/// What a call answered, when it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The call took effect and returns nothing.
    Done,
    /// `ListUsers`: the usernames.
    Users(Vec<String>),
    /// `ListTargetsForPolicy`: one page.
    Targets(TargetsPage),
    /// `ListPolicyVersions`: every version.
    Versions(Vec<PolicyVersion>),
}

/// A backend, or a layer around one.
#[async_trait]
pub trait Aws: Send + Sync {
    /// Makes one call. A backend answers `call` with the [`Answer`] of its kind.
    async fn call(&self, cx: &CallContext, call: AwsCall) -> Result<Answer, AwsError>;
}

/// The typed calls, for the imports and the drain.
impl dyn Aws + '_ {
    /// `AttachPolicy`, `UpdateAttributes`, `DetachPolicy`, `DeleteAttributes`.
    pub async fn done(&self, cx: &CallContext, call: AwsCall) -> Result<(), AwsError> {
        match self.call(cx, call).await? {
            Answer::Done => Ok(()),
            other => Err(wrong_answer(&other)),
        }
    }

    /// `ListUsers`.
    pub async fn list_users(
        &self,
        cx: &CallContext,
        user_pool_id: &str,
        filter: &str,
    ) -> Result<Vec<String>, AwsError> {
        let call = AwsCall::ListUsers { user_pool_id: user_pool_id.into(), filter: filter.into() };
        match self.call(cx, call).await? {
            Answer::Users(users) => Ok(users),
            other => Err(wrong_answer(&other)),
        }
    }

    /// `ListTargetsForPolicy`.
    pub async fn list_targets_for_policy(
        &self,
        cx: &CallContext,
        policy_name: &str,
        marker: Option<&str>,
    ) -> Result<TargetsPage, AwsError> {
        let call = AwsCall::ListTargetsForPolicy { policy_name: policy_name.into(), marker: marker.map(str::to_owned) };
        match self.call(cx, call).await? {
            Answer::Targets(page) => Ok(page),
            other => Err(wrong_answer(&other)),
        }
    }

    /// `ListPolicyVersions`.
    pub async fn list_policy_versions(
        &self,
        cx: &CallContext,
        policy_name: &str,
    ) -> Result<Vec<PolicyVersion>, AwsError> {
        match self.call(cx, AwsCall::ListPolicyVersions { policy_name: policy_name.into() }).await? {
            Answer::Versions(versions) => Ok(versions),
            other => Err(wrong_answer(&other)),
        }
    }
}

/// One version of an IoT policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// Its ID, such as `1`.
    pub id: String,
    /// Whether it is the default: the one version `DeletePolicy` deletes itself.
    pub default: bool,
}

/// A backend that answered with the wrong kind: a host bug, said as such.
fn wrong_answer(answer: &Answer) -> AwsError {
    AwsError::Other(format!("the host's backend gave the wrong kind of answer ({answer:?})"))
}

/// One page of `ListTargetsForPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TargetsPage {
    /// The targets on this page.
    pub targets: Vec<String>,
    /// The marker of the next page; `None` on the last.
    pub next_marker: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_has_its_own_op_name() {
        let calls = [
            AwsCall::AttachPolicy { policy_name: "p".into(), target: "t".into() },
            AwsCall::ListUsers { user_pool_id: "u".into(), filter: "f".into() },
            AwsCall::UpdateAttributes { user_pool_id: "u".into(), username: "n".into(), attributes: vec![] },
            AwsCall::DetachPolicy { policy_name: "p".into(), target: "t".into() },
            AwsCall::DeleteAttributes { user_pool_id: "u".into(), username: "n".into(), names: vec!["a".into()] },
            AwsCall::ListTargetsForPolicy { policy_name: "p".into(), marker: Some("m".into()) },
            AwsCall::ListPolicyVersions { policy_name: "p".into() },
            AwsCall::DeletePolicyVersion { policy_name: "p".into(), version_id: "2".into() },
            AwsCall::DeletePolicy { policy_name: "p".into() },
        ];
        let ops: Vec<&str> = calls.iter().map(AwsCall::op).collect();
        assert_eq!(ops, OPS);
        assert_eq!(calls[4].args(), ["u", "n", "a"]);
        assert_eq!(calls[5].args(), ["p", "m"]);
        assert_eq!(calls[7].args(), ["p", "2"]);
    }

    #[test]
    fn the_node_host_names_the_same_operations() {
        let node = include_str!("../../../node/src/operations.mjs");
        let named: Vec<&str> = node.split("op: '").skip(1).filter_map(|rest| rest.split('\'').next()).collect();
        assert_eq!(named, OPS, "node/src/operations.mjs");
    }
}
