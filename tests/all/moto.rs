//! The real AWS imports against moto, an independent AWS implementation,
//! with signature and IAM checking on. `make test` installs moto in `.venv`
//! and runs these; a plain `cargo test` lists them as ignored.

use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::moto::{Moto, with_method};
use support::process::{CHILD_LIMIT, OutputWithin};

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap()
}

#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn attaches_and_marks_users_then_is_idempotent() {
    let moto = Moto::start();
    let (key, secret) = moto.function_key();
    let policy = moto.s("/policyName");

    // REST API (payload 1.0); moto does not take a sub as username, so this
    // also exercises the ListUsers fallback.
    let identity = moto.s("/identityIds/0");
    let event = moto.rest_event(0, &moto.s("/users/0/sub"));
    for attempt in ["first", "second"] {
        let (out, response) = moto.invoke(&event, &key, &secret, &[]);
        assert_eq!(response["statusCode"], 200, "{attempt} call: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(body(&response)["attributeUpdated"], true);
        let (policies, attributes) = moto.state(&identity, "mat@example.com");
        assert_eq!(policies, std::slice::from_ref(&policy), "{attempt} call");
        assert_eq!(attributes["custom:iotPolicyIsAttached"], "true");
    }

    // HTTP API (payload 2.0).
    let (_, response) = moto.invoke(&moto.http_event(1, &moto.s("/users/1/sub")), &key, &secret, &[]);
    assert_eq!(response["statusCode"], 200, "{response}");
    let (policies, attributes) = moto.state(&moto.s("/identityIds/1"), "ana@example.com");
    assert_eq!(policies, std::slice::from_ref(&policy));
    assert_eq!(attributes["custom:iotPolicyIsAttached"], "true");
}

#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn failures_leave_the_attribute_untouched() {
    let moto = Moto::start();
    let (key, secret) = moto.function_key();
    let identity = moto.s("/identityIds/2");
    let lee = moto.rest_event(2, &moto.s("/users/2/sub"));

    // A policy that does not exist: 502, nothing attached, attribute unset.
    let (_, response) = moto.invoke(&lee, &key, &secret, &[("IOT_POLICY_NAME", "no-such-policy")]);
    assert_eq!(response["statusCode"], 502, "{response}");
    assert_eq!(body(&response)["step"], "attach-policy");
    let (policies, attributes) = moto.state(&identity, "lee@example.com");
    assert!(policies.is_empty(), "{policies:?}");
    assert!(attributes.get("custom:iotPolicyIsAttached").is_none(), "{attributes}");

    // A function allowed only iot:AttachPolicy: the attach works, the
    // attribute update is denied, and the attribute stays unset.
    let (only_key, only_secret) = (moto.s("/attachOnlyKey/id"), moto.s("/attachOnlyKey/secret"));
    let (out, response) = moto.invoke(&lee, &only_key, &only_secret, &[]);
    assert_eq!(response["statusCode"], 502, "{response}");
    assert_eq!(body(&response)["step"], "update-attributes");
    assert!(String::from_utf8_lossy(&out.stderr).contains("access-denied"));
    let (policies, attributes) = moto.state(&identity, "lee@example.com");
    assert_eq!(policies, [moto.s("/policyName")]);
    assert!(attributes.get("custom:iotPolicyIsAttached").is_none(), "{attributes}");

    // A user the pool does not have: the policy is attached, the answer is 404.
    let stranger = moto.rest_event(2, "00000000-0000-4000-8000-000000000000");
    let (_, response) = moto.invoke(&stranger, &key, &secret, &[]);
    assert_eq!(response["statusCode"], 404, "{response}");
    assert_eq!(body(&response)["policiesAttached"], json!([moto.s("/policyName")]));
}

#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn bad_credentials_are_refused_clearly_and_never_echoed() {
    let moto = Moto::start();
    let (key, _) = moto.function_key();
    let event = moto.rest_event(0, &moto.s("/users/0/sub"));
    let wrong_secret = "WrongSecretKeyWrongSecretKeyWrongSecret1";

    let (out, response) = moto.invoke(&event, &key, wrong_secret, &[]);
    assert_eq!(response["statusCode"], 502, "{response}");
    assert_eq!(
        body(&response)["message"],
        "attaching the IoT policy failed (access-denied); the attribute was not changed"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("access-denied"));
    let (policies, _) = moto.state(&moto.s("/identityIds/0"), "mat@example.com");
    assert!(policies.is_empty(), "{policies:?}");

    // Partial credentials stop the program before any call, naming the variable.
    let mut command = Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"));
    let out = command
        .args(["invoke", "--event", "-"])
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", &key)
        .env("IOT_POLICY_NAME", "p")
        .stdin(Stdio::null())
        .output_within(CHILD_LIMIT);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AWS_SECRET_ACCESS_KEY is not set"));
}

/// The same signed calls over HTTPS: moto with a certificate from a CA that
/// only `AWS_CA_BUNDLE` names.
#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn attaches_and_marks_users_over_https() {
    let moto = Moto::start_tls();
    assert!(moto.url.starts_with("https://"), "{}", moto.url);
    let (key, secret) = moto.function_key();
    let policy = moto.s("/policyName");
    for (event, identity, username) in [
        (moto.rest_event(0, &moto.s("/users/0/sub")), moto.s("/identityIds/0"), "mat@example.com"),
        (moto.http_event(1, &moto.s("/users/1/sub")), moto.s("/identityIds/1"), "ana@example.com"),
    ] {
        let (out, response) = moto.invoke(&event, &key, &secret, &[]);
        assert_eq!(response["statusCode"], 200, "{}", String::from_utf8_lossy(&out.stderr));
        let (policies, attributes) = moto.state(&identity, username);
        assert_eq!(policies, std::slice::from_ref(&policy));
        assert_eq!(attributes["custom:iotPolicyIsAttached"], "true");
    }

    // Without the bundle, moto's certificate is refused, once, and nothing changes.
    let (out, response) =
        moto.invoke(&moto.rest_event(2, &moto.s("/users/2/sub")), &key, &secret, &[("AWS_CA_BUNDLE", "")]);
    assert_eq!(response["statusCode"], 502, "{response}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TLS: invalid peer certificate: UnknownIssuer"), "{stderr}");
    assert_eq!(stderr.matches("operation=\"AttachPolicy\"").count(), 1, "not retried: {stderr}");
    let (policies, _) = moto.state(&moto.s("/identityIds/2"), "lee@example.com");
    assert!(policies.is_empty(), "{policies:?}");
}

#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn identity_id_mode_follows_a_user_to_a_second_identity() {
    let moto = Moto::start();
    let (key, secret) = moto.function_key();
    let sub = moto.s("/users/0/sub");
    let mode = [("COGNITO_ATTRIBUTE_VALUE", "identity-id")];
    // One user, two identities (a re-created identity, or a guest who signed in).
    for identity in [0, 1] {
        let (out, response) = moto.invoke(&moto.rest_event(identity, &sub), &key, &secret, &mode);
        assert_eq!(response["statusCode"], 200, "{}", String::from_utf8_lossy(&out.stderr));
        let id = moto.s(&format!("/identityIds/{identity}"));
        let (policies, attributes) = moto.state(&id, "mat@example.com");
        assert_eq!(policies, [moto.s("/policyName")]);
        assert_eq!(attributes["custom:iotPolicyIsAttached"], id, "the attribute names the latest identity");
    }
}

#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn delete_clears_the_attribute_and_detaches() {
    let moto = Moto::start();
    let (key, secret) = moto.function_key();
    let policy = moto.s("/policyName");
    let (mat, ana) = (moto.s("/identityIds/0"), moto.s("/identityIds/1"));
    let mat_event = moto.rest_event(0, &moto.s("/users/0/sub"));
    for event in [&mat_event, &moto.rest_event(1, &moto.s("/users/1/sub"))] {
        let (_, response) = moto.invoke(event, &key, &secret, &[]);
        assert_eq!(response["statusCode"], 200, "{response}");
    }

    let (out, response) = moto.invoke(&with_method(&mat_event, "DELETE"), &key, &secret, &[]);
    assert_eq!(response["statusCode"], 200, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(body(&response)["attributeAbsent"], true);
    let (policies, attributes) = moto.state(&mat, "mat@example.com");
    assert!(policies.is_empty(), "{policies:?}");
    assert!(attributes.get("custom:iotPolicyIsAttached").is_none(), "{attributes}");
    assert!(attributes.get("sub").is_some(), "the user's other attributes stay: {attributes}");
    // Another user's identity keeps its policy and its attribute.
    let (policies, attributes) = moto.state(&ana, "ana@example.com");
    assert_eq!(policies, std::slice::from_ref(&policy));
    assert_eq!(attributes["custom:iotPolicyIsAttached"], "true");

    assert_eq!((&body(&response)["detached"], &body(&response)["notAttached"]), (&json!([policy]), &json!([])));

    // Again, with nothing attached and no attribute: a 200 that changes
    // nothing, and says the policy was not attached (moto answers
    // ResourceNotFoundException), never that it was detached (issue 23).
    let (out, response) = moto.invoke(&with_method(&mat_event, "DELETE"), &key, &secret, &[]);
    assert_eq!(response["statusCode"], 200, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((&body(&response)["detached"], &body(&response)["notAttached"]), (&json!([]), &json!([policy])));
    assert!(!body(&response)["msg"].as_str().unwrap().contains("detached"), "{response}");
    let (policies, _) = moto.state(&ana, "ana@example.com");
    assert_eq!(policies, [policy]);

    // A policy that does not exist: moto answers the same not-found, so the
    // answer cannot say more than "not attached"; a GET says 502.
    let missing = [("IOT_POLICY_NAME", "does-not-exist")];
    let (_, response) = moto.invoke(&with_method(&mat_event, "DELETE"), &key, &secret, &missing);
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(body(&response)["notAttached"], json!(["does-not-exist"]), "{response}");
    assert!(body(&response)["msg"].as_str().unwrap().contains("does not exist"), "{response}");
    let (_, response) = moto.invoke(&mat_event, &key, &secret, &missing);
    assert_eq!(response["statusCode"], 502, "{response}");
}

#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn detach_all_drains_a_thousand_targets_and_nothing_else() {
    let moto = Moto::start();
    let (key, secret) = moto.function_key();
    let policy = moto.s("/policyName");
    let query = json!({"policy": policy, "other": "other-policy", "count": 1000, "otherCount": 250});
    let populated = moto.ctl(&["populate", &query.to_string()]);
    let ids = populated["identityIds"].as_array().unwrap();
    assert_eq!(ids.len(), 1000);

    let detach_all = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
            .args(["detach-all", "--policy", &policy, "--rate", "1000"])
            .args(extra)
            .env_clear()
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &moto.url)
            .env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .output_within(CHILD_LIMIT);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!all.contains(&secret), "{all}");
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.success(), summary, all)
    };

    let (ok, summary, all) = detach_all(&["--dry-run"]);
    assert!(ok, "{all}");
    assert_eq!((summary["targets"].as_u64(), summary["detached"].as_u64()), (Some(1000), Some(0)), "{summary}");

    // Interrupted (Ctrl-C): it stops after the calls in flight, says what is left, fails.
    let child = Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
        .args(["detach-all", "--policy", &policy, "--rate", "50"])
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", &key)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let signalled = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(signalled.success());
    let out = child.output_within(CHILD_LIMIT);
    assert!(!out.status.success(), "an interrupted drain is not a success");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["stopped"], "interrupted", "{summary}");
    let (detached, remaining) = (summary["detached"].as_u64().unwrap(), summary["remaining"].as_u64().unwrap());
    assert!(detached > 0 && remaining > 0 && detached + remaining == 1000, "{summary}");

    // Run again: it resumes with what is still attached, and finishes.
    let (ok, summary, all) = detach_all(&[]);
    assert!(ok, "{all}");
    assert_eq!(summary["targets"], remaining, "{summary}");
    assert_eq!(summary["detached"], remaining, "{summary}");
    assert_eq!(summary["remaining"], 0, "{summary}");

    let query = json!({"policies": [policy, "other-policy"]});
    let targets = moto.ctl(&["targets", &query.to_string()]);
    assert_eq!(targets[&policy], json!([]), "every target detached");
    assert_eq!(targets["other-policy"], Value::Array(ids[..250].to_vec()), "another policy's targets untouched");

    // Run again: nothing left, nothing to do, still a success.
    let (ok, summary, all) = detach_all(&[]);
    assert!(ok, "{all}");
    assert_eq!((summary["targets"].as_u64(), summary["detached"].as_u64()), (Some(0), Some(0)), "{summary}");
}
