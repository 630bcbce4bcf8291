//! The stack's custom resource, so that the stack can come down: on `Delete`
//! it detaches the stack's IoT policy from every target before CloudFormation
//! deletes the policy (whose `DeletePolicy` refuses an attached policy), and
//! with `DeletePolicy: "true"` deletes the policy itself, waiting out IoT's
//! refusals after a detach (see [`crate::teardown`]). `Create` and `Update`
//! change nothing.
//!
//! These events are the host's: they never reach the component. The answer
//! goes where CloudFormation said, as its custom resource protocol requires:
//! a `PUT` of `{"Status": "SUCCESS" | "FAILED", …}` to the `ResponseURL`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{Level, event};

use crate::aws::client::http_client;
use crate::aws::{Aws, AwsError};
use crate::config::Config;
use crate::drain::{self, Limits};
use crate::response::Response;
use crate::settings::{DrainSettings, RESPONSE_ORIGIN_VAR};
use crate::teardown::{self, Deleted, NotDeleted};

/// No detach starts later than this before the invocation's deadline.
const STOP_STARTING: Duration = Duration::from_secs(10);
/// No call runs later than this before it: the time is kept for the answer.
/// Calls in flight when the starts stop have the time between to finish.
const ANSWER_TIME: Duration = Duration::from_secs(4);
/// The longest one try at sending the answer may take.
const ANSWER_TRY: Duration = Duration::from_secs(10);
/// CloudFormation shows at most this much of a reason.
const MAX_REASON: usize = 1000;

/// What serving the custom resource needs, read at init and built once.
pub struct CustomResource {
    drain: DrainSettings,
    roots: Vec<CertificateDer<'static>>,
    /// The client that sends the answers, built at the first request: most
    /// functions never get one, and their cold start need not pay for it.
    answers: OnceLock<Result<reqwest::Client, String>>,
}

impl CustomResource {
    /// The drain's settings, and the extra roots the answer's TLS trusts.
    pub fn new(drain: DrainSettings, roots: Vec<CertificateDer<'static>>) -> Self {
        Self { drain, roots, answers: OnceLock::new() }
    }

    fn answers(&self) -> Result<&reqwest::Client, String> {
        let client = self.answers.get_or_init(|| {
            http_client(Some(&self.roots))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())
        });
        client.as_ref().map_err(String::clone)
    }
}

impl Default for CustomResource {
    fn default() -> Self {
        Self::new(DrainSettings { rate: drain::DEFAULT_RATE, response_origin: None }, Vec::new())
    }
}

/// A CloudFormation custom resource request, the fields this host reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    /// `Create`, `Update` or `Delete`.
    pub request_type: String,
    /// Where the answer goes: a presigned S3 URL.
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    /// The stack's ARN, sent back in the answer.
    pub stack_id: String,
    /// CloudFormation's ID of this request, sent back in the answer.
    pub request_id: String,
    /// The resource's name in the template, sent back in the answer.
    pub logical_resource_id: String,
    /// Absent on `Create`.
    pub physical_resource_id: Option<String>,
    /// The properties the template gives it.
    #[serde(default)]
    pub resource_properties: Properties,
}

/// The custom resource's properties in the template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    /// The policy to drain on `Delete`; empty for none.
    #[serde(default)]
    pub policy_name: String,
    /// `"true"`: once drained, the policy is deleted too. CloudFormation
    /// passes every property as a string.
    #[serde(default)]
    pub delete_policy: String,
}

/// Why a custom resource request gets no answer. The text says where, never
/// what: a request's values are not echoed into the logs or the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A field that is missing, or not of its type.
    #[error("a custom resource request of the wrong shape: {0} is missing or not {1}")]
    Shape(&'static str, &'static str),
    /// The `ResponseURL` does not parse.
    #[error("the ResponseURL is not a URL")]
    NotAUrl,
    /// The `ResponseURL` is not AWS's, nor the allowed origin.
    #[error("the ResponseURL is not an https URL of AWS (nor the origin {RESPONSE_ORIGIN_VAR} names)")]
    NotAllowed,
}

/// A CloudFormation custom resource request, if `event` is one: an object
/// with `RequestType`, `ResponseURL` and `StackId`. Anything else is the
/// component's. `Err` is a request too malformed to answer.
pub fn parse(event: &[u8]) -> Option<Result<Request, Refusal>> {
    // A cheap look first: API Gateway events are never these.
    let text = std::str::from_utf8(event).ok()?;
    if !(text.contains("\"ResponseURL\"") && text.contains("\"RequestType\"")) {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    let object = value.as_object()?;
    if !(object.contains_key("RequestType") && object.contains_key("ResponseURL") && object.contains_key("StackId")) {
        return None;
    }
    if let Err(refusal) = shape(object) {
        return Some(Err(refusal));
    }
    Some(serde_json::from_value(value).map_err(|_| Refusal::Shape("a field", "a string or an object")))
}

/// The first field of the wrong type, named: serde's own message would quote
/// the value.
fn shape(object: &serde_json::Map<String, Value>) -> Result<(), Refusal> {
    for field in ["RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId"] {
        if !object.get(field).is_some_and(Value::is_string) {
            return Err(Refusal::Shape(field, "a string"));
        }
    }
    if !object.get("PhysicalResourceId").is_none_or(Value::is_string) {
        return Err(Refusal::Shape("PhysicalResourceId", "a string"));
    }
    match object.get("ResourceProperties") {
        None => Ok(()),
        Some(Value::Object(properties)) => {
            if !properties.get("PolicyName").is_none_or(Value::is_string) {
                return Err(Refusal::Shape("ResourceProperties.PolicyName", "a string"));
            }
            match properties.get("DeletePolicy").is_none_or(Value::is_string) {
                true => Ok(()),
                false => Err(Refusal::Shape("ResourceProperties.DeletePolicy", "a string")),
            }
        }
        Some(_) => Err(Refusal::Shape("ResourceProperties", "an object")),
    }
}

/// Serves one request and answers CloudFormation. The returned response is
/// the invocation's own result, which CloudFormation does not read.
pub async fn serve(
    this: &CustomResource,
    request: Result<Request, Refusal>,
    aws: Arc<dyn Aws>,
    config: &Config,
    cognito_identity: Option<&str>,
    deadline: Instant,
) -> Response {
    let request = match request {
        Ok(request) => request,
        Err(why) => {
            event!(Level::ERROR, "{why}; no answer can be sent");
            return answer(400, json!({ "error": "invalid-event", "message": why.to_string() }));
        }
    };
    // Only CloudFormation (through a principal allowed to invoke the function)
    // sends these; an app's identity may not drive a drain.
    if cognito_identity.is_some() {
        event!(Level::WARN, "refused a custom resource request from a Cognito identity");
        return answer(
            403,
            json!({ "error": "forbidden", "message": "a Cognito identity may not send custom resource requests" }),
        );
    }
    if let Err(why) = allowed_response_url(&request.response_url, this.drain.response_origin.as_deref()) {
        event!(Level::ERROR, "{why}; no answer is sent");
        return answer(400, json!({ "error": "invalid-event", "message": why.to_string() }));
    }
    // Only the known values: anything else is the request's own, not logged.
    let request_type = match request.request_type.as_str() {
        known @ ("Create" | "Update" | "Delete") => known,
        _ => "unknown",
    };
    event!(Level::INFO, request_type, logical_resource_id = request.logical_resource_id, "custom resource request");
    let (status, reason, data) = decide(&request, aws, config, this.drain.rate, deadline).await;
    let physical = request.physical_resource_id.clone().unwrap_or_else(|| {
        format!("detach-on-delete-{}", request.resource_properties.policy_name).chars().take(200).collect()
    });
    let body = json!({
        "Status": status,
        "Reason": reason.chars().take(MAX_REASON).collect::<String>(),
        "PhysicalResourceId": physical,
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
        "NoEcho": false,
        "Data": data,
    });
    let sent = match this.answers() {
        Ok(client) => send(client, &request.response_url, &body, deadline).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(()) => event!(Level::INFO, status, "answered CloudFormation"),
        Err(e) => event!(Level::ERROR, status, "could not answer CloudFormation: {e}"),
    }
    answer(200, body)
}

/// What to answer: the status, a reason, and the data.
async fn decide(
    request: &Request,
    aws: Arc<dyn Aws>,
    config: &Config,
    rate: f64,
    deadline: Instant,
) -> (&'static str, String, Value) {
    let policy = request.resource_properties.policy_name.trim();
    match request.request_type.as_str() {
        "Create" | "Update" => return ("SUCCESS", "nothing to do until the stack is deleted".into(), json!({})),
        "Delete" => {}
        // Not quoted: the value is the request's, and goes to CloudFormation and the log.
        _ => return ("FAILED", "the RequestType is not Create, Update or Delete".into(), json!({})),
    }
    if policy.is_empty() {
        return ("SUCCESS", "no policy to detach".into(), json!({}));
    }
    if !config.policy_names.iter().any(|p| p == policy) {
        return ("FAILED", format!("{policy} is not one of the function's IOT_POLICY_NAME policies"), json!({}));
    }
    let until = deadline.checked_sub(STOP_STARTING).unwrap_or(deadline);
    let calls_end = deadline.checked_sub(ANSWER_TIME).unwrap_or(deadline);
    let resume = format!("run `attach-iot-policy detach-all --policy {policy}`, then delete the stack again");
    let limits = Limits { rate, deadline: until, calls_end: Some(calls_end), interrupted: None };
    let summary = match drain::drain(aws.clone(), policy, limits, |_, _| {}).await {
        Ok(summary) if summary.complete() => summary,
        Ok(summary) => {
            let reason = format!("{}; {resume}", drain::still_attached(&summary));
            return ("FAILED", reason, json!({ "Detached": summary.detached, "Remaining": summary.remaining }));
        }
        // The policy is gone already: nothing is attached to it.
        Err(AwsError::NotFound(_)) => return ("SUCCESS", format!("{policy} does not exist"), json!({})),
        Err(e) => {
            return (
                "FAILED",
                format!("listing the targets of {policy} failed ({}: {}); {resume}", e.kind(), e.message()),
                json!({}),
            );
        }
    };
    let detached = format!("detached {policy} from {} targets", summary.detached + summary.already_detached);
    let mut data = json!({ "Detached": summary.detached, "AlreadyDetached": summary.already_detached });
    if request.resource_properties.delete_policy != "true" {
        return ("SUCCESS", detached, data);
    }
    match teardown::delete_policy(aws.as_ref(), policy, teardown::FIRST_PAUSE, until, calls_end).await {
        Ok(deleted) => {
            data["PolicyDeleted"] = json!(true);
            let how = match deleted {
                Deleted::Now { tries: 1, .. } => "deleted it".to_owned(),
                Deleted::Now { tries: 2, .. } => "deleted it after IoT refused once".to_owned(),
                Deleted::Now { tries, .. } => format!("deleted it after IoT refused {} times", tries - 1),
                Deleted::AlreadyGone => "it was already deleted".to_owned(),
            };
            ("SUCCESS", format!("{detached}, and {how}"), data)
        }
        Err(why @ NotDeleted::StillRefused { .. }) => {
            let reason = format!(
                "{detached}, but {why}: IoT can refuse for up to five minutes after a detach. Wait a few minutes, \
                 then delete the stack again"
            );
            ("FAILED", reason, data)
        }
        Err(why @ NotDeleted::Failed(AwsError::AccessDenied(_))) => {
            let reason = format!(
                "{detached}, but {why}: the drain's function needs iot:ListPolicyVersions, iot:DeletePolicyVersion \
                 and iot:DeletePolicy on {policy}. Grant them, then delete the stack again"
            );
            ("FAILED", reason, data)
        }
        Err(why) => ("FAILED", format!("{detached}, but {why}; delete the stack again"), data),
    }
}

/// AWS's presigned S3 URLs are `https://…amazonaws.com[.cn]/…`; one more
/// origin may be allowed by [`RESPONSE_ORIGIN_VAR`], checked at init.
fn allowed_response_url(url: &str, extra: Option<&str>) -> Result<(), Refusal> {
    let parsed = reqwest::Url::parse(url).map_err(|_| Refusal::NotAUrl)?;
    let host = parsed.host_str().unwrap_or_default();
    let aws = parsed.scheme() == "https" && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"));
    let allowed = extra.is_some_and(|origin| parsed.origin().ascii_serialization() == origin);
    if aws || allowed { Ok(()) } else { Err(Refusal::NotAllowed) }
}

/// The `PUT`, tried up to three times while the invocation has time. No
/// `Content-Type`: the presigned URL's signature was made without one.
async fn send(client: &reqwest::Client, url: &str, body: &Value, deadline: Instant) -> Result<(), String> {
    let body = body.to_string();
    let mut last = "no time was left to send it".to_owned();
    for attempt in 1..=3u32 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match client.put(url).timeout(left.min(ANSWER_TRY)).body(body.clone()).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("HTTP {}", r.status().as_u16()),
            Err(e) => last = e.without_url().to_string(),
        }
        let pause = Duration::from_millis(500) * attempt;
        if attempt == 3 || Instant::now() + pause >= deadline {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    Err(last)
}

fn answer(status_code: u16, body: Value) -> Response {
    Response { status_code, headers: vec![("Content-Type".into(), "application/json".into())], body: body.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_custom_resource_requests_are_taken() {
        assert!(parse(br#"{"httpMethod": "GET", "requestContext": {}}"#).is_none());
        assert!(parse(br#"{"body": "\"ResponseURL\" \"RequestType\""}"#).is_none());
        let request = br#"{"RequestType": "Delete", "ResponseURL": "https://x.s3.amazonaws.com/r", "StackId": "s",
            "RequestId": "r", "LogicalResourceId": "l", "PhysicalResourceId": "p",
            "ResourceProperties": {"ServiceToken": "arn", "PolicyName": "p1"}}"#;
        let parsed = parse(request).unwrap().unwrap();
        assert_eq!(parsed.resource_properties.policy_name, "p1");
        let wrong = parse(br#"{"RequestType": 1234567, "ResponseURL": "u", "StackId": "s"}"#).unwrap().unwrap_err();
        assert_eq!(wrong, Refusal::Shape("RequestType", "a string"));
        // Where, not what: the value is not echoed.
        assert!(!wrong.to_string().contains("1234567"), "{wrong}");
        let properties = br#"{"RequestType": "Delete", "ResponseURL": "u", "StackId": "s", "RequestId": "r",
            "LogicalResourceId": "l", "ResourceProperties": {"PolicyName": ["secret-ish"]}}"#;
        let wrong = parse(properties).unwrap().unwrap_err();
        assert!(!wrong.to_string().contains("secret-ish") && wrong.to_string().contains("PolicyName"), "{wrong}");
    }

    #[test]
    fn the_answer_goes_only_to_aws_or_the_named_origin() {
        let none = None;
        assert!(
            allowed_response_url("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a?b", none)
                .is_ok()
        );
        assert!(allowed_response_url("https://bucket.s3.cn-north-1.amazonaws.com.cn/a", none).is_ok());
        for bad in [
            "http://x.s3.amazonaws.com/a",
            "https://evil.example/a",
            "https://amazonaws.com.evil.example/",
            "file:///etc/passwd",
        ] {
            assert!(allowed_response_url(bad, none).is_err(), "{bad}");
        }
        let local = Some("http://127.0.0.1:8080");
        assert!(allowed_response_url("http://127.0.0.1:8080/cfn", local).is_ok());
        assert!(allowed_response_url("http://127.0.0.1:8081/cfn", local).is_err());
    }
}
