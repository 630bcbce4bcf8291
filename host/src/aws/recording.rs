//! Keeps every call that passes through, with its outcome, as the fixtures
//! list them. For tests and `invoke --show-calls`; never in the Lambda path.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Attribute, Aws, AwsError, CallContext, TargetsPage};

/// One call, as fixtures write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Call {
    pub op: String,
    pub args: Vec<String>,
    /// `ok`, or the WIT error case.
    pub result: String,
}

pub struct Recording {
    inner: Arc<dyn Aws>,
    calls: Mutex<Vec<Call>>,
}

impl Recording {
    pub fn new(inner: Arc<dyn Aws>) -> Self {
        Self { inner, calls: Mutex::default() }
    }

    /// The calls so far, in order; the record starts again empty.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn record<T>(&self, op: &str, args: Vec<String>, result: &Result<T, AwsError>) {
        let result = result.as_ref().map_or_else(AwsError::kind, |_| "ok").to_owned();
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).push(Call { op: op.to_owned(), args, result });
    }
}

#[async_trait]
impl Aws for Recording {
    async fn attach_policy(&self, cx: &CallContext, policy_name: &str, target: &str) -> Result<(), AwsError> {
        let result = self.inner.attach_policy(cx, policy_name, target).await;
        self.record("attach-policy", vec![policy_name.into(), target.into()], &result);
        result
    }

    async fn list_users(&self, cx: &CallContext, user_pool_id: &str, filter: &str) -> Result<Vec<String>, AwsError> {
        let result = self.inner.list_users(cx, user_pool_id, filter).await;
        self.record("list-users", vec![user_pool_id.into(), filter.into()], &result);
        result
    }

    async fn update_attributes(
        &self,
        cx: &CallContext,
        user_pool_id: &str,
        username: &str,
        attributes: &[Attribute],
    ) -> Result<(), AwsError> {
        let result = self.inner.update_attributes(cx, user_pool_id, username, attributes).await;
        let mut args = vec![user_pool_id.to_owned(), username.to_owned()];
        args.extend(attributes.iter().map(|a| format!("{}={}", a.name, a.value)));
        self.record("update-attributes", args, &result);
        result
    }

    async fn detach_policy(&self, cx: &CallContext, policy_name: &str, target: &str) -> Result<(), AwsError> {
        let result = self.inner.detach_policy(cx, policy_name, target).await;
        self.record("detach-policy", vec![policy_name.into(), target.into()], &result);
        result
    }

    async fn delete_attributes(
        &self,
        cx: &CallContext,
        user_pool_id: &str,
        username: &str,
        names: &[String],
    ) -> Result<(), AwsError> {
        let result = self.inner.delete_attributes(cx, user_pool_id, username, names).await;
        let mut args = vec![user_pool_id.to_owned(), username.to_owned()];
        args.extend(names.iter().cloned());
        self.record("delete-attributes", args, &result);
        result
    }

    async fn list_targets_for_policy(
        &self,
        cx: &CallContext,
        policy_name: &str,
        marker: Option<&str>,
    ) -> Result<TargetsPage, AwsError> {
        let result = self.inner.list_targets_for_policy(cx, policy_name, marker).await;
        let mut args = vec![policy_name.to_owned()];
        args.extend(marker.map(str::to_owned));
        self.record("list-targets-for-policy", args, &result);
        result
    }
}
