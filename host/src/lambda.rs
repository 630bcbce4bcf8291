//! The Lambda custom runtime: the Runtime API loop that `bootstrap` serves.
//!
//! This is a small loop over `reqwest`, which the AWS calls already use, rather
//! than the `lambda_runtime` crate: that crate parses the payload as JSON before
//! the handler sees it (so the host could not answer a bad payload with its own
//! 400) and offers no way to report a failed configuration as an init error.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tracing::{Instrument, Level, event};

use crate::aws::Aws;
use crate::config::Config;
use crate::response;
use crate::runner::{Invocation, Runner};

const API_VERSION: &str = "2018-06-01";
/// The budget for an invocation whose deadline cannot be right: one already
/// past, or more than Lambda's 15-minute maximum away (some local runtimes
/// send a constant instead of an epoch time).
pub const FALLBACK_BUDGET: Duration = Duration::from_secs(10);
const MAX_LAMBDA_TIMEOUT_MS: u64 = 15 * 60 * 1000;

/// Everything built once, at init, and shared by every invocation.
pub struct Function {
    pub runner: Arc<Runner>,
    pub config: Arc<Config>,
    pub aws: Arc<dyn Aws>,
}

/// A client for the Runtime API at `AWS_LAMBDA_RUNTIME_API`.
pub struct RuntimeApi {
    http: reqwest::Client,
    base: String,
}

/// The next invocation, as the Runtime API hands it over.
struct Next {
    request_id: String,
    deadline_ms: Option<u64>,
    cognito_identity: Option<String>,
    payload: Vec<u8>,
}

impl RuntimeApi {
    pub fn new(address: &str) -> Result<Self, reqwest::Error> {
        // Plain HTTP on the sandbox's loopback: no roots to load. No overall
        // timeout: `next` is a long poll.
        let http = crate::aws::client::http_client(false).build()?;
        Ok(Self { http, base: format!("http://{address}/{API_VERSION}/runtime") })
    }

    /// Reports a failed init; Lambda shows the message to whoever invoked.
    pub async fn init_error(&self, error_type: &str, message: &str) {
        let body = json!({ "errorType": error_type, "errorMessage": message });
        let sent = self
            .http
            .post(format!("{}/init/error", self.base))
            .header("Lambda-Runtime-Function-Error-Type", error_type)
            .body(body.to_string())
            .send()
            .await;
        if let Err(e) = sent {
            event!(Level::ERROR, "could not report the init error: {e}");
        }
    }

    async fn next(&self) -> Result<Next, reqwest::Error> {
        let response = self.http.get(format!("{}/invocation/next", self.base)).send().await?.error_for_status()?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let request_id = header("Lambda-Runtime-Aws-Request-Id").unwrap_or_default();
        let deadline_ms = header("Lambda-Runtime-Deadline-Ms").and_then(|v| v.parse().ok());
        let cognito_identity = header("Lambda-Runtime-Cognito-Identity").filter(|v| !v.is_empty());
        let payload = response.bytes().await?.to_vec();
        Ok(Next { request_id, deadline_ms, cognito_identity, payload })
    }

    async fn respond(&self, request_id: &str, body: String) -> Result<(), reqwest::Error> {
        self.http
            .post(format!("{}/invocation/{request_id}/response", self.base))
            .body(body)
            .send()
            .await?
            .error_for_status()
            .map(drop)
    }
}

/// Turns Lambda's epoch-milliseconds deadline into an `Instant`, falling back
/// to [`FALLBACK_BUDGET`] when it cannot be right.
pub fn deadline_from(deadline_ms: Option<u64>, now: SystemTime) -> (Instant, bool) {
    let now_ms = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    match deadline_ms.map(|d| d.saturating_sub(now_ms)) {
        Some(left) if left > 0 && left <= MAX_LAMBDA_TIMEOUT_MS => (Instant::now() + Duration::from_millis(left), true),
        _ => (Instant::now() + FALLBACK_BUDGET, false),
    }
}

/// Serves invocations until the Runtime API goes away.
pub async fn serve(api: RuntimeApi, function: Function) -> anyhow::Result<()> {
    let mut cold_start = true;
    loop {
        let next = api.next().await?;
        let span = tracing::info_span!("invoke", request_id = %next.request_id);
        let response = invoke(next, cold_start, &function).instrument(span.clone()).await;
        cold_start = false;
        if let Err(e) = api.respond(&response.0, response.1).await {
            span.in_scope(|| event!(Level::ERROR, "could not deliver the response: {e}"));
        }
    }
}

async fn invoke(next: Next, cold_start: bool, function: &Function) -> (String, String) {
    let request_id = next.request_id;
    let (deadline, trusted) = deadline_from(next.deadline_ms, SystemTime::now());
    event!(Level::INFO, cold_start, bytes = next.payload.len(), "invocation");
    if !trusted {
        event!(
            Level::WARN,
            deadline_ms = next.deadline_ms,
            "the deadline is not a plausible epoch time; using a {} s budget",
            FALLBACK_BUDGET.as_secs()
        );
    }
    let invocation = Invocation { request_id: request_id.clone(), cognito_identity: next.cognito_identity, deadline };
    let (runner, config, aws) = (function.runner.clone(), function.config.clone(), function.aws.clone());
    // A panic stays inside its task: this invocation gets a 500, the next one runs.
    let task = tokio::spawn(async move { runner.invoke(&next.payload, &invocation, &config, aws).await.response });
    let response = match task.await {
        Ok(response) => response,
        Err(e) => {
            event!(Level::ERROR, "the invocation panicked: {e}");
            response::host_error(500, "internal-error", "the invocation failed", &function.config.cors_allow_origin)
        }
    };
    event!(Level::INFO, status = response.status_code, "response");
    (request_id, response.to_proxy_json().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{Attribute, AwsError, CallContext};

    /// An AWS whose every call panics, as a host bug would.
    struct PanickingAws;

    #[async_trait::async_trait]
    impl Aws for PanickingAws {
        async fn attach_policy(&self, _: &CallContext, _: &str, _: &str) -> Result<(), AwsError> {
            panic!("a host bug")
        }
        async fn list_users(&self, _: &CallContext, _: &str, _: &str) -> Result<Vec<String>, AwsError> {
            panic!("a host bug")
        }
        async fn update_attributes(&self, _: &CallContext, _: &str, _: &str, _: &[Attribute]) -> Result<(), AwsError> {
            panic!("a host bug")
        }
    }

    #[cfg(feature = "compiler")]
    #[tokio::test]
    async fn a_panic_is_a_500_and_the_next_invocation_runs() {
        use crate::aws::simulated::SimulatedAccount;
        use crate::runner::Limits;

        let event = include_bytes!("../../examples/event-rest.json").to_vec();
        let next = |payload: &Vec<u8>| Next {
            request_id: "r".into(),
            deadline_ms: None,
            cognito_identity: None,
            payload: payload.clone(),
        };
        let config = Arc::new(
            crate::config::from_lookup(|k| {
                (k == "IOT_POLICY_NAME").then(|| "amplify-toolkit-iot-message-viewer".into())
            })
            .unwrap(),
        );
        let runner = Arc::new(Runner::new(crate::GUEST_COMPONENT, Limits::default()).unwrap());
        let panicking = Function { runner: runner.clone(), config: config.clone(), aws: Arc::new(PanickingAws) };
        let (_, body) = invoke(next(&event), true, &panicking).await;
        assert!(body.contains("\"statusCode\":500"), "{body}");

        let account = serde_json::from_str(include_str!("../../examples/account.json")).unwrap();
        let working = Function { runner, config, aws: Arc::new(SimulatedAccount::new(account)) };
        let (_, body) = invoke(next(&event), false, &working).await;
        assert!(body.contains("\"statusCode\":200"), "{body}");
    }

    #[test]
    fn deadlines() {
        let now = SystemTime::now();
        let now_ms = now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let (at, trusted) = deadline_from(Some(now_ms + 3000), now);
        assert!(trusted);
        let left = at.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_millis(2500) && left <= Duration::from_millis(3000), "{left:?}");
        // A constant such as 5000 is long past as an epoch time.
        assert!(!deadline_from(Some(5000), now).1);
        assert!(!deadline_from(None, now).1);
        assert!(!deadline_from(Some(now_ms + MAX_LAMBDA_TIMEOUT_MS + 1), now).1);
    }
}
