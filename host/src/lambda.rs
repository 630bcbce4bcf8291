//! The Lambda custom runtime: the Runtime API loop that `bootstrap` serves.
//!
//! This is a small loop over `reqwest`, which the AWS calls already use, rather
//! than the `lambda_runtime` crate: that crate parses the payload as JSON before
//! the handler sees it (so the host could not answer a bad payload with its own
//! 400) and offers no way to report a failed configuration as an init error.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tracing::{Instrument, Level, event};

use crate::function::Function;
use crate::metrics::Metrics;
use crate::response::{self, Response};
use crate::runner::{Invocation, Outcome};

const API_VERSION: &str = "2018-06-01";
/// The budget for an invocation whose deadline cannot be right: one already
/// past, or more than Lambda's 15-minute maximum away (some local runtimes
/// send a constant instead of an epoch time).
pub const FALLBACK_BUDGET: Duration = Duration::from_secs(10);
const MAX_LAMBDA_TIMEOUT_MS: u64 = 15 * 60 * 1000;

/// A client for the Runtime API at `AWS_LAMBDA_RUNTIME_API`.
pub struct RuntimeApi {
    http: reqwest::Client,
    base: String,
}

/// Why the loop stops: the Runtime API broke its own contract, or went away.
/// Lambda then records the exit and starts a new environment.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The Runtime API did not answer, or answered with an error status.
    #[error("the Runtime API could not be reached: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// An invocation without its request ID.
    #[error("the Runtime API sent an invocation without a Lambda-Runtime-Aws-Request-Id")]
    MissingRequestId,
    /// A request ID that could not go in a URL path as it is.
    #[error("the Runtime API sent a request ID that is not URL-safe")]
    BadRequestId,
}

/// A request ID from the Runtime API, safe to put in a URL path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The `Lambda-Runtime-Aws-Request-Id` header's value: present, and URL-safe.
    pub fn parse(id: Option<&str>) -> Result<Self, RuntimeError> {
        let id = id.filter(|id| !id.is_empty()).ok_or(RuntimeError::MissingRequestId)?;
        let safe = id.len() <= 128 && id.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.~".contains(&c));
        if safe { Ok(Self(id.to_owned())) } else { Err(RuntimeError::BadRequestId) }
    }

    /// The ID, as Lambda sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `GET /runtime/invocation/next`: the next invocation.
#[derive(Debug)]
pub struct Next {
    /// Whose invocation this is.
    pub request_id: RequestId,
    /// `Lambda-Runtime-Deadline-Ms`: the deadline, in milliseconds since the epoch.
    pub deadline_ms: Option<u64>,
    /// `Lambda-Runtime-Cognito-Identity`, for a direct invocation by a Cognito identity.
    pub cognito_identity: CognitoIdentity,
    /// `Lambda-Runtime-Trace-Id`, when it is a header value that can be sent on.
    pub trace_id: Option<String>,
    /// The event, as Lambda sent it.
    pub payload: Vec<u8>,
}

/// What the `Lambda-Runtime-Cognito-Identity` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CognitoIdentity {
    /// No header, or an empty one: not a direct invocation by a Cognito identity.
    Absent,
    /// The header's JSON, as Lambda sent it.
    Present(String),
    /// A header that is there but is not visible ASCII. Refused, never taken
    /// as absent: absent lets the event's own `requestContext` speak for the
    /// caller, and a custom resource request through.
    Unreadable,
}

impl CognitoIdentity {
    fn from_header(value: Option<&http::HeaderValue>) -> Self {
        match value.map(http::HeaderValue::to_str) {
            None => Self::Absent,
            Some(Ok("")) => Self::Absent,
            Some(Ok(text)) => Self::Present(text.to_owned()),
            Some(Err(_)) => Self::Unreadable,
        }
    }
}

impl Next {
    fn from_headers(headers: &http::HeaderMap, payload: Vec<u8>) -> Result<Self, RuntimeError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Ok(Next {
            request_id: RequestId::parse(header("Lambda-Runtime-Aws-Request-Id"))?,
            deadline_ms: header("Lambda-Runtime-Deadline-Ms").and_then(|v| v.parse().ok()),
            cognito_identity: CognitoIdentity::from_header(headers.get("Lambda-Runtime-Cognito-Identity")),
            trace_id: header("Lambda-Runtime-Trace-Id").filter(|v| is_trace_header(v)).map(str::to_owned),
            payload,
        })
    }
}

/// An X-Ray trace header (`Root=1-…;Parent=…;Sampled=1`): visible ASCII
/// only, of a sane length, so it can go out on another request unchanged.
fn is_trace_header(v: &str) -> bool {
    (1..=512).contains(&v.len()) && v.bytes().all(|c| c.is_ascii_graphic())
}

/// `POST /runtime/invocation/{id}/response`: how an invocation ended.
#[derive(Debug)]
pub struct Completion {
    /// Whose invocation it was.
    pub request_id: RequestId,
    /// What to answer.
    pub response: Response,
}

impl RuntimeApi {
    /// A client for the Runtime API at `address` (`host:port`).
    pub fn new(address: &str) -> Result<Self, reqwest::Error> {
        // Plain HTTP on the sandbox's loopback: no roots to load. No overall
        // timeout: `next` is a long poll.
        let http = crate::aws::client::http_client(None).build()?;
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

    /// Waits for the next invocation.
    pub async fn next(&self) -> Result<Next, RuntimeError> {
        let response = self
            .http
            .get(format!("{}/invocation/next", self.base))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(RuntimeError::Unreachable)?;
        let mut next = Next::from_headers(response.headers(), Vec::new())?;
        next.payload = response.bytes().await.map_err(RuntimeError::Unreachable)?.to_vec();
        Ok(next)
    }

    /// Posts an invocation's response.
    pub async fn complete(&self, completion: Completion) -> Result<(), reqwest::Error> {
        self.http
            .post(format!("{}/invocation/{}/response", self.base, completion.request_id.as_str()))
            .body(completion.response.to_proxy_json().to_string())
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

/// Serves invocations until the Runtime API goes away or breaks its contract.
pub async fn serve(api: RuntimeApi, function: Function, metrics: Option<Metrics>) -> Result<(), RuntimeError> {
    let mut cold_start = true;
    loop {
        let next = api.next().await?;
        let span = crate::runner::span(next.request_id.as_str(), next.trace_id.as_deref());
        let (completion, outcome) = handle(next, cold_start, &function).instrument(span.clone()).await;
        cold_start = false;
        if let (Some(metrics), Some(outcome)) = (&metrics, &outcome) {
            // A line of its own among the logs, which Lambda sends to CloudWatch
            // Logs: formatted first and written at once, since stderr is
            // unbuffered (printing the JSON value token by token cost ~250 µs).
            let mut line = metrics.line(outcome, SystemTime::now()).to_string();
            line.push('\n');
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        }
        if let Err(e) = api.complete(completion).await {
            span.in_scope(|| event!(Level::ERROR, "could not deliver the response: {e}"));
        }
    }
}

/// Runs one invocation to its completion, with what it measured. A panic in
/// it is a 500, and measured nothing.
pub async fn handle(next: Next, cold_start: bool, function: &Function) -> (Completion, Option<Outcome>) {
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
    let request_id = next.request_id;
    let cognito_identity = match next.cognito_identity {
        CognitoIdentity::Absent => None,
        CognitoIdentity::Present(identity) => Some(identity),
        CognitoIdentity::Unreadable => {
            event!(Level::WARN, "refused an invocation whose Lambda-Runtime-Cognito-Identity is not readable");
            let cors = &function.config.cors_allow_origin;
            let message = "the invocation's Cognito identity context could not be read";
            let response = response::host_error(400, "malformed-identity", message, cors);
            event!(Level::INFO, status = response.status_code, "response");
            return (Completion { request_id, response: response.clone() }, Some(Outcome::host(response)));
        }
    };
    let invocation =
        Invocation { request_id: request_id.as_str().to_owned(), cognito_identity, deadline, trace_id: next.trace_id };
    let task_function = function.clone();
    let payload = next.payload;
    // A panic stays inside its task: this invocation gets a 500, the next one
    // runs. The task carries the invocation's span, so that every line it
    // logs (the custom resource's and the drain's too) has the request ID.
    let task = tokio::spawn(
        async move { task_function.invoke(&payload, &invocation).await }.instrument(tracing::Span::current()),
    );
    let (response, outcome) = match task.await {
        Ok(outcome) => (outcome.response.clone(), Some(outcome)),
        Err(e) => {
            event!(Level::ERROR, "the invocation panicked: {e}");
            let cors = &function.config.cors_allow_origin;
            (response::host_error(500, "internal-error", "the invocation failed", cors), None)
        }
    };
    event!(Level::INFO, status = response.status_code, "response");
    (Completion { request_id, response }, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_is_required_and_url_safe() {
        let headers = |id: Option<&str>| {
            let mut map = http::HeaderMap::new();
            if let Some(id) = id {
                map.insert("Lambda-Runtime-Aws-Request-Id", id.parse().unwrap());
            }
            map
        };
        let next = |id| Next::from_headers(&headers(id), Vec::new());
        assert_eq!(
            next(Some("8476a536-e9f4-11e8-9739-2dfe598c3fcd")).unwrap().request_id.as_str(),
            "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
        );
        assert!(matches!(next(None), Err(RuntimeError::MissingRequestId)));
        assert_eq!(next(Some("r")).unwrap().cognito_identity, CognitoIdentity::Absent);
        assert!(matches!(next(Some("")), Err(RuntimeError::MissingRequestId)));
        for bad in ["../../init/error", "a/b", "a?b", "a b"] {
            assert!(matches!(next(Some(bad)), Err(RuntimeError::BadRequestId)), "{bad}");
        }
    }

    #[test]
    fn a_cognito_identity_header_that_cannot_be_read_is_not_taken_as_absent() {
        let identity = |bytes: &[u8]| {
            let mut headers = http::HeaderMap::new();
            headers.insert("Lambda-Runtime-Aws-Request-Id", "r".parse().unwrap());
            headers.insert("Lambda-Runtime-Cognito-Identity", http::HeaderValue::from_bytes(bytes).unwrap());
            Next::from_headers(&headers, Vec::new()).unwrap().cognito_identity
        };
        let json = br#"{"cognitoIdentityId":"us-west-2:d625c9c7-9a79-483c-bb4a-0123456789ab"}"#;
        assert_eq!(identity(json), CognitoIdentity::Present(String::from_utf8(json.to_vec()).unwrap()));
        assert_eq!(identity(b""), CognitoIdentity::Absent);
        let mut one_byte_off = json.to_vec();
        one_byte_off[3] = 0xe9;
        assert_eq!(identity(&one_byte_off), CognitoIdentity::Unreadable);
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
