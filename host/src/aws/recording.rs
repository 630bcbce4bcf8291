//! Keeps every call that passes through, with its outcome, as the fixtures
//! list them. For tests and `invoke --show-calls`; never in the Lambda path.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Answer, Aws, AwsCall, AwsError, CallContext};

/// One call, as fixtures write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Call {
    /// [`AwsCall::op`].
    pub op: String,
    /// [`AwsCall::args`].
    pub args: Vec<String>,
    /// `ok`, or the WIT error case.
    pub result: String,
}

/// The recording layer.
pub struct Recording {
    inner: Arc<dyn Aws>,
    calls: Mutex<Vec<Call>>,
}

impl Recording {
    /// Records every call to `inner`.
    pub fn new(inner: Arc<dyn Aws>) -> Self {
        Self { inner, calls: Mutex::default() }
    }

    /// The calls so far, in order; the record starts again empty.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl Aws for Recording {
    async fn call(&self, cx: &CallContext, call: AwsCall) -> Result<Answer, AwsError> {
        let (op, args) = (call.op().to_owned(), call.args());
        let result = self.inner.call(cx, call).await;
        let outcome = result.as_ref().map_or_else(AwsError::kind, |_| "ok").to_owned();
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).push(Call { op, args, result: outcome });
        result
    }
}
