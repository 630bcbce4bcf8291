//! Step 4: turn a refusal or an outcome into an API Gateway proxy response.
//! Bodies name what happened, never an AWS account detail or a secret: those
//! stay in the logs.

use crate::prelude::*;

use serde_json::{Value, json};

use crate::decide::{Plan, Refusal};
use crate::flow::{Detached, Outcome, PolicyResults, Step};
use crate::types::{AwsError, Config, Response};

/// How long a throttled client should wait before calling again, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";
const PREFLIGHT_MAX_AGE_SECONDS: &str = "600";
/// The methods the API's routes serve: `GET` attaches, `DELETE` detaches.
const ALLOWED_METHODS: &str = "GET,DELETE,OPTIONS";
/// What a SigV4-signed browser request sends.
const ALLOWED_HEADERS: &str =
    "Authorization,Content-Type,X-Amz-Date,X-Amz-Security-Token,X-Amz-Content-Sha256,X-Amz-User-Agent";

pub fn preflight(config: &Config) -> Response {
    let mut headers = cors(config);
    headers.push(("Access-Control-Allow-Methods".into(), ALLOWED_METHODS.into()));
    headers.push(("Access-Control-Allow-Headers".into(), ALLOWED_HEADERS.into()));
    headers.push(("Access-Control-Max-Age".into(), PREFLIGHT_MAX_AGE_SECONDS.into()));
    Response { status_code: 204, headers, body: String::new() }
}

pub fn refusal(refusal: &Refusal, config: &Config) -> Response {
    let (status, code, message): (u16, &str, &str) = match refusal {
        Refusal::InvalidEvent(why) => (400, "invalid-event", why),
        Refusal::MalformedIdentity(why) => (400, "malformed-identity", why),
        Refusal::MalformedProvider(why) => (400, "malformed-provider", why),
        Refusal::Unauthenticated(why) => (403, "unauthenticated", why),
        Refusal::IdentityMismatch => {
            (403, "identity-mismatch", "the event names a different identity than the one that invoked the function")
        }
        Refusal::IdentityPoolNotAllowed => {
            (403, "identity-pool-not-allowed", "the identity pool is not allowed to call")
        }
        Refusal::UserPoolNotAllowed => (403, "user-pool-not-allowed", "the user pool is not allowed to call"),
    };
    json_response(status, json!({ "error": code, "message": message }), config)
}

pub fn outcome(outcome: &Outcome, plan: &Plan, config: &Config) -> Response {
    let policies = &config.policy_names;
    match outcome {
        Outcome::Done { attribute_updated } => {
            let noun = if policies.len() == 1 { "IoT Policy" } else { "IoT Policies" };
            let body = json!({
                "msg": format!("{noun} {} attached to Cognito federated identity ID {}", policies.join(", "), plan.identity_id),
                "identityId": plan.identity_id,
                "policies": policies,
                "attributeUpdated": attribute_updated,
            });
            json_response(200, body, config)
        }
        Outcome::UserNotFound => json_response(
            404,
            json!({
                "error": "user-not-found",
                "message": "the policies are attached, but the user pool has no user with the caller's sub",
                "identityId": plan.identity_id,
                "policiesAttached": policies,
                "attributeUpdated": false,
            }),
            config,
        ),
        // Only IoT's answer to an attach means the identity's policies are
        // full; a quota of another call is a 502 like any other failure.
        Outcome::Failed { step: step @ Step::AttachPolicy, error: AwsError::LimitExceeded(_), attached } => {
            json_response(
                409,
                json!({
                    "error": "iot-policy-limit-exceeded",
                    "message": "the identity already has as many IoT policies attached as AWS IoT allows (10 per \
                                Cognito identity); detach one first. The attribute was not changed",
                    "step": step.name(),
                    "identityId": plan.identity_id,
                    "policiesAttached": attached,
                    "attributeUpdated": false,
                }),
                config,
            )
        }
        Outcome::Failed { step, error, attached } => {
            let (status, code) = failure_status(error);
            let body = json!({
                "error": code,
                "message": format!("{} failed ({}); the attribute was not changed", describe(*step), error.kind()),
                "step": step.name(),
                "identityId": plan.identity_id,
                "policiesAttached": attached,
                "attributeUpdated": false,
            });
            failure_response(status, body, error, config)
        }
    }
}

/// The answer to a detach: each policy is reported as detached or as not
/// attached, never the second as the first.
pub fn detached(outcome: &Detached, plan: &Plan, config: &Config) -> Response {
    match outcome {
        Detached::Done { attribute_absent, user_found, policies: results } => {
            let mut body = json!({
                "msg": detach_message(results, &plan.identity_id),
                "identityId": plan.identity_id,
                "policies": config.policy_names,
                "detached": results.detached,
                "notAttached": results.not_attached,
                "attributeAbsent": attribute_absent,
            });
            if plan.user.is_some() && !user_found {
                body["userFound"] = false.into();
            }
            json_response(200, body, config)
        }
        Detached::Failed { step, error, attribute_absent, policies: results } => {
            let (status, code) = failure_status(error);
            let kept =
                if *attribute_absent { "the attribute was removed first" } else { "the attribute was not changed" };
            let body = json!({
                "error": code,
                "message": format!("{} failed ({}); {kept}", describe(*step), error.kind()),
                "step": step.name(),
                "identityId": plan.identity_id,
                "policiesDetached": results.detached,
                "policiesNotAttached": results.not_attached,
                "attributeAbsent": attribute_absent,
            });
            failure_response(status, body, error, config)
        }
    }
}

/// `IoT Policy a detached from Cognito federated identity ID …; IoT Policy b
/// was not attached to it (…)`.
fn detach_message(results: &PolicyResults, identity_id: &str) -> String {
    let noun = |names: &[String]| if names.len() == 1 { "IoT Policy" } else { "IoT Policies" };
    let identity = format!("Cognito federated identity ID {identity_id}");
    let (detached, not_attached) = (&results.detached, &results.not_attached);
    let mut message = String::new();
    if !detached.is_empty() {
        message = format!("{} {} detached from {identity}", noun(detached), detached.join(", "));
    }
    if !not_attached.is_empty() {
        let verb = if not_attached.len() == 1 { "was" } else { "were" };
        let to = if detached.is_empty() { identity.as_str() } else { "it" };
        if !message.is_empty() {
            message.push_str("; ");
        }
        message.push_str(&format!(
            "{} {} {verb} not attached to {to} (AWS answered not-found, which it also answers for a policy that does not exist)",
            noun(not_attached),
            not_attached.join(", ")
        ));
    }
    message
}

fn failure_status(error: &AwsError) -> (u16, &'static str) {
    match error {
        AwsError::Throttled(_) => (503, "throttled"),
        _ => (502, "aws-error"),
    }
}

fn failure_response(status: u16, body: Value, error: &AwsError, config: &Config) -> Response {
    let mut response = json_response(status, body, config);
    if matches!(error, AwsError::Throttled(_)) {
        response.headers.push(("Retry-After".into(), RETRY_AFTER_SECONDS.into()));
        // A page of another origin may read only the headers CORS exposes.
        response.headers.push(("Access-Control-Expose-Headers".into(), "Retry-After".into()));
    }
    response
}

/// 500: the host broke the WIT's rules for the configuration. The CORS header
/// is sent only when the configured origin is safe to send.
pub fn invalid_config(why: &str, config: &Config) -> Response {
    let mut headers = vec![("Content-Type".into(), "application/json".into())];
    if crate::ids::is_origin(&config.cors_allow_origin) {
        headers.extend(cors(config));
    }
    let body = json!({ "error": "invalid-config", "message": why });
    Response { status_code: 500, headers, body: body.to_string() }
}

fn describe(step: Step) -> &'static str {
    match step {
        Step::AttachPolicy => "attaching the IoT policy",
        Step::ListUsers => "looking up the user",
        Step::UpdateAttributes => "setting the user attribute",
        Step::DeleteAttributes => "removing the user attribute",
        Step::DetachPolicy => "detaching the IoT policy",
    }
}

fn cors(config: &Config) -> Vec<(String, String)> {
    vec![("Access-Control-Allow-Origin".into(), config.cors_allow_origin.clone())]
}

fn json_response(status_code: u16, body: Value, config: &Config) -> Response {
    let mut headers = vec![("Content-Type".into(), "application/json".into())];
    headers.extend(cors(config));
    Response { status_code, headers, body: body.to_string() }
}
