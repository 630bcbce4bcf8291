//! The whole pipeline, natively, against a recording fake of the imports.

use attach_iot_policy_guest::{AttributeValue, AwsError, Config, Context, handle};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::{self, CALLER_ACCESS_KEY, CALLER_TOKEN, Fake, ID, SUB, USER_POOL, config};

fn rest_event() -> String {
    support::rest_event("GET", ID)
}

fn delete_event() -> String {
    support::rest_event("DELETE", ID)
}

fn run(fake: &mut Fake, event: &str) -> (u16, Value) {
    run_with(fake, event, &config())
}

fn run_with(fake: &mut Fake, event: &str, config: &Config) -> (u16, Value) {
    let r = handle(event, &Context { request_id: "r1".into(), cognito_identity: None }, config, fake);
    assert!(r.headers.contains(&("Access-Control-Allow-Origin".into(), "https://app.example.com".into())));
    (r.status_code, serde_json::from_str(&r.body).unwrap())
}

#[test]
fn sub_as_username_needs_no_lookup() {
    let mut fake = Fake { sub_alias: true, ..Fake::default() };
    let (status, body) = run(&mut fake, &rest_event());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attributeUpdated"], true);
    assert_eq!(body["policies"], json!(["iot-a", "iot-b"]));
    assert_eq!(
        fake.lines(),
        [
            format!("attach-policy iot-a {ID}"),
            format!("attach-policy iot-b {ID}"),
            format!("update-attributes {USER_POOL} {SUB} custom:iotPolicyIsAttached=true"),
        ]
    );
}

#[test]
fn lookup_by_sub_when_the_sub_is_not_a_username() {
    let mut fake = Fake { usernames: vec!["mat@example.com".into()], ..Fake::default() };
    let (status, _) = run(&mut fake, &rest_event());
    assert_eq!(status, 200);
    assert_eq!(fake.lines()[3], format!("list-users {USER_POOL} sub = \"{SUB}\""));
    assert_eq!(
        fake.lines()[4],
        format!("update-attributes {USER_POOL} mat@example.com custom:iotPolicyIsAttached=true")
    );
}

#[test]
fn unknown_user_is_404_but_says_the_policies_are_attached() {
    let mut fake = Fake::default();
    let (status, body) = run(&mut fake, &rest_event());
    assert_eq!(status, 404);
    assert_eq!(body["policiesAttached"], json!(["iot-a", "iot-b"]));
    assert_eq!(body["attributeUpdated"], false);
}

#[test]
fn a_failed_attach_never_touches_the_attribute() {
    for (error, status) in [
        (AwsError::NotFound("ResourceNotFoundException".into()), 502),
        (AwsError::AccessDenied("AccessDeniedException".into()), 502),
        (AwsError::Throttled("ThrottlingException".into()), 503),
        (AwsError::Unavailable("503".into()), 502),
    ] {
        let mut fake = Fake { sub_alias: true, fail: Some(("attach-policy", error)), ..Fake::default() };
        let (got, body) = run(&mut fake, &rest_event());
        assert_eq!(got, status);
        assert_eq!(body["step"], "attach-policy");
        assert_eq!(body["policiesAttached"], json!([]));
        assert_eq!(fake.lines().len(), 1, "stops at the first failure: {:?}", fake.lines());
    }
}

#[test]
fn throttling_asks_the_client_to_retry_later() {
    let mut fake =
        Fake { sub_alias: true, fail: Some(("update-attributes", AwsError::Throttled("x".into()))), ..Fake::default() };
    let r = handle(&rest_event(), &Context::default(), &config(), &mut fake);
    assert_eq!(r.status_code, 503);
    assert!(r.headers.iter().any(|(k, v)| k == "Retry-After" && v == "1"));
}

#[test]
fn no_secret_or_aws_detail_reaches_the_response_or_logs() {
    let detail = "User: arn:aws:iam::123456789012:user/x is not authorized";
    let mut fake = Fake { fail: Some(("list-users", AwsError::AccessDenied(detail.into()))), ..Fake::default() };
    let r = handle(&rest_event(), &Context::default(), &config(), &mut fake);
    assert_eq!(r.status_code, 502);
    assert!(!r.body.contains("123456789012"), "{}", r.body);
    for text in fake.logs.iter().chain([&r.body]) {
        assert!(!text.contains(CALLER_TOKEN) && !text.contains(CALLER_ACCESS_KEY), "{text}");
    }
}

#[test]
fn identity_id_mode_writes_the_identity_id() {
    let mut fake = Fake { sub_alias: true, ..Fake::default() };
    let config = Config { attribute_value: AttributeValue::IdentityId, ..config() };
    let (status, _) = run_with(&mut fake, &rest_event(), &config);
    assert_eq!(status, 200);
    assert_eq!(fake.lines()[2], format!("update-attributes {USER_POOL} {SUB} custom:iotPolicyIsAttached={ID}"));
}

#[test]
fn a_full_policy_quota_is_409_with_its_own_code_and_the_attribute_untouched() {
    let error = AwsError::LimitExceeded("LimitExceededException: 10 policies".into());
    let mut fake = Fake { sub_alias: true, fail: Some(("attach-policy", error)), ..Fake::default() };
    let (status, body) = run(&mut fake, &rest_event());
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "iot-policy-limit-exceeded");
    assert_eq!(body["attributeUpdated"], false);
    assert!(fake.lines().iter().all(|c| c.starts_with("attach-policy")), "{:?}", fake.lines());
}

#[test]
fn delete_removes_the_attribute_then_detaches_every_policy() {
    let mut fake = Fake { sub_alias: true, ..Fake::default() };
    let (status, body) = run(&mut fake, &delete_event());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attributeAbsent"], true);
    assert_eq!((&body["detached"], &body["notAttached"]), (&json!(["iot-a", "iot-b"]), &json!([])), "{body}");
    assert_eq!(body["msg"], format!("IoT Policies iot-a, iot-b detached from Cognito federated identity ID {ID}"));
    assert_eq!(
        fake.lines(),
        [
            format!("delete-attributes {USER_POOL} {SUB} custom:iotPolicyIsAttached"),
            format!("detach-policy iot-a {ID}"),
            format!("detach-policy iot-b {ID}"),
        ]
    );
}

/// Issue 23: a not-found from `detach-policy` read "detached".
#[test]
fn delete_reports_a_policy_that_was_not_attached_as_such_never_as_detached() {
    let mut fake =
        Fake { sub_alias: true, fail: Some(("detach-policy", AwsError::NotFound("x".into()))), ..Fake::default() };
    let (status, body) = run(&mut fake, &delete_event());
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.lines().len(), 3);
    assert_eq!((&body["detached"], &body["notAttached"]), (&json!([]), &json!(["iot-a", "iot-b"])), "{body}");
    let msg = body["msg"].as_str().unwrap();
    assert!(!msg.contains("detached"), "{msg}");
    assert!(
        msg.starts_with(&format!("IoT Policies iot-a, iot-b were not attached to Cognito federated identity ID {ID}")),
        "{msg}"
    );
}

#[test]
fn delete_detaches_nothing_unless_the_attribute_is_gone_first() {
    let mut fake =
        Fake { sub_alias: true, fail: Some(("delete-attributes", AwsError::Throttled("x".into()))), ..Fake::default() };
    let (status, body) = run(&mut fake, &delete_event());
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["step"], "delete-attributes");
    assert_eq!(body["attributeAbsent"], false);
    assert_eq!(fake.lines().len(), 1, "{:?}", fake.lines());

    let mut fake =
        Fake { sub_alias: true, fail: Some(("detach-policy", AwsError::AccessDenied("x".into()))), ..Fake::default() };
    let (status, body) = run(&mut fake, &delete_event());
    assert_eq!(status, 502);
    assert_eq!(body["step"], "detach-policy");
    assert_eq!(body["attributeAbsent"], true);
    assert_eq!(body["policiesDetached"], json!([]));
}

#[test]
fn delete_for_a_user_the_pool_does_not_have_still_detaches() {
    let mut fake = Fake::default();
    let (status, body) = run(&mut fake, &delete_event());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attributeAbsent"], false);
    assert_eq!(body["userFound"], false);
    assert_eq!(fake.lines().iter().filter(|c| c.starts_with("detach-policy")).count(), 2);
}

#[test]
fn preflight_lists_the_signing_headers() {
    let r = handle(r#"{"httpMethod":"OPTIONS"}"#, &Context::default(), &config(), &mut Fake::default());
    assert_eq!(r.status_code, 204);
    let allow = r.headers.iter().find(|(k, _)| k == "Access-Control-Allow-Headers").unwrap();
    assert!(allow.1.contains("X-Amz-Security-Token"));
    // Exactly the methods the routes serve: no POST (issue 23).
    let methods = r.headers.iter().find(|(k, _)| k == "Access-Control-Allow-Methods").unwrap();
    assert_eq!(methods.1, "GET,DELETE,OPTIONS");
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String(ID.into())),
        Just(Value::String("authenticated".into())),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("requestContext".to_string()),
            Just("identity".to_string()),
            Just("authorizer".to_string()),
            Just("iam".to_string()),
            Just("cognitoIdentity".to_string()),
            Just("cognitoIdentityId".to_string()),
            Just("cognitoIdentityPoolId".to_string()),
            Just("cognitoAuthenticationType".to_string()),
            Just("cognitoAuthenticationProvider".to_string()),
            Just("amr".to_string()),
            Just("version".to_string()),
            Just("httpMethod".to_string()),
            "[a-z]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn assert_answered(status: u16, calls: &[String]) {
    assert!(matches!(status, 200 | 204 | 400 | 403 | 404), "status {status}");
    if status >= 400 && status != 404 {
        assert!(calls.is_empty(), "a refusal made AWS calls: {calls:?}");
    }
}

proptest! {
    #[test]
    fn arbitrary_text_is_answered(event in ".{0,200}") {
        let mut fake = Fake::default();
        let r = handle(&event, &Context::default(), &config(), &mut fake);
        assert_answered(r.status_code, &fake.lines());
    }

    #[test]
    fn arbitrary_json_is_answered(event in arbitrary_json()) {
        let mut fake = Fake::default();
        let r = handle(&event.to_string(), &Context::default(), &config(), &mut fake);
        assert_answered(r.status_code, &fake.lines());
    }
}
