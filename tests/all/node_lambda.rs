//! The Node.js Lambda package (`make package-node`) under @vercel/fun's
//! `nodejs` runtime, against moto with signature checks on; and the two
//! packages, Rust and Node, on the same events, giving the same answers and
//! leaving the same state.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::fun::{self, Runtime};
use support::moto::{Moto, with_method};
use support::process::OutputWithin;
use support::{TempDir, tempdir, unzip};

/// fun's `nodejs` runtime loads the handler with `require()`; Lambda's own
/// loads `index.mjs`. This CommonJS entry point, for the test only, bridges.
const CJS_ENTRY: &str = "const ready = import('./index.mjs');\nready.catch(() => {});\n\
exports.handler = async (event, context) => (await ready).handler(event, context);\n";

fn node_package(name: &str) -> TempDir {
    let dir = tempdir(name);
    unzip("attach-iot-policy-node.zip", &dir);
    std::fs::write(dir.join("index.js"), CJS_ENTRY).unwrap();
    dir
}

fn rust_package(name: &str) -> TempDir {
    let dir = tempdir(name);
    unzip("attach-iot-policy-x86_64.zip", &dir);
    assert!(Command::new("chmod").arg("+x").arg(dir.join("bootstrap")).status().unwrap().success());
    dir
}

/// Invokes each payload under fun; returns (the proxy responses, the logs).
fn run(dir: &Path, runtime: Runtime, moto: &Moto, environment: Value, payloads: &[String]) -> (Vec<Value>, String) {
    let (results, logs) = fun::run(dir, runtime, moto, environment, payloads);
    let responses =
        results.iter().map(|r| serde_json::from_str(r["payload"].as_str().unwrap()).unwrap_or(Value::Null)).collect();
    (responses, logs)
}

/// The events both packages get, from this moto's identities and users.
fn events(moto: &Moto) -> Vec<String> {
    let rest = moto.rest_event(0, &moto.s("/users/0/sub"));
    vec![
        rest.clone(),
        moto.http_event(1, &moto.s("/users/1/sub")),
        rest.clone(),
        with_method(&rest, "DELETE"),
        with_method(&rest, "DELETE"),
        moto.rest_event(2, "00000000-0000-4000-8000-000000000000"),
        json!({"requestContext": {}}).to_string(),
    ]
}

fn environment(moto: &Moto) -> Value {
    json!({ "IOT_POLICY_NAME": moto.s("/policyName"), "AWS_ENDPOINT_URL": moto.url })
}

#[test]
#[ignore = "needs both packages, fun and moto: `make test` runs it"]
fn the_node_package_serves_the_cases_in_one_process() {
    let moto = Moto::start();
    let dir = node_package("fun-node");
    let (responses, logs) = run(&dir, Runtime::Nodejs, &moto, environment(&moto), &events(&moto));
    let statuses: Vec<&Value> = responses.iter().map(|r| &r["statusCode"]).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 404, 403], "{responses:?}\n{logs}");
    assert_eq!(logs.matches("cold_start=true").count(), 1, "one process served them all:\n{logs}");
    // One CloudWatch Embedded Metric Format line per invocation, as the Rust bootstrap writes.
    let metrics: Vec<Value> = logs
        .lines()
        .filter(|l| l.contains("\"CloudWatchMetrics\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let classes: Vec<&str> = metrics.iter().map(|m| m["StatusClass"].as_str().unwrap()).collect();
    assert_eq!(classes, ["2xx", "2xx", "2xx", "2xx", "2xx", "4xx", "4xx"], "{logs}");
    // Attach, update by sub (moto takes no sub as a username), list users, update.
    assert_eq!(metrics[0]["AwsCalls"], 4, "{}", metrics[0]);
    let (policies, attributes) = moto.state(&moto.s("/identityIds/1"), "ana@example.com");
    assert_eq!(policies, [moto.s("/policyName")]);
    assert_eq!(attributes["custom:iotPolicyIsAttached"], "true");
    let (policies, attributes) = moto.state(&moto.s("/identityIds/0"), "mat@example.com");
    assert!(policies.is_empty(), "the DELETE detached: {policies:?}");
    assert!(attributes.get("custom:iotPolicyIsAttached").is_none(), "and cleared: {attributes}");
}

#[test]
#[ignore = "needs both packages, fun and moto: `make test` runs it"]
fn the_rust_and_node_packages_agree() {
    let (for_rust, for_node) = (Moto::start(), Moto::start());
    let (rust, _) =
        run(&rust_package("agree-rust"), Runtime::Provided, &for_rust, environment(&for_rust), &events(&for_rust));
    let (node, _) =
        run(&node_package("agree-node"), Runtime::Nodejs, &for_node, environment(&for_node), &events(&for_node));
    // Each moto makes its own IDs; name them alike before comparing.
    let normal = |moto: &Moto, value: &Value| {
        let mut text = value.to_string();
        for i in 0..3 {
            text = text.replace(&moto.s(&format!("/identityIds/{i}")), &format!("IDENTITY-{i}"));
            text = text.replace(&moto.s(&format!("/users/{i}/sub")), &format!("SUB-{i}"));
        }
        text.replace(&moto.s("/userPoolId"), "USER-POOL").replace(&moto.s("/identityPoolId"), "IDENTITY-POOL")
    };
    assert_eq!(rust.len(), node.len());
    for (i, (r, n)) in rust.iter().zip(&node).enumerate() {
        let (r, n): (Value, Value) = (
            serde_json::from_str(&normal(&for_rust, r)).unwrap(),
            serde_json::from_str(&normal(&for_node, n)).unwrap(),
        );
        assert_eq!(r["statusCode"], n["statusCode"], "event {i}");
        assert_eq!(r["headers"], n["headers"], "event {i}");
        let body = |v: &Value| serde_json::from_str::<Value>(v["body"].as_str().unwrap()).unwrap();
        assert_eq!(body(&r), body(&n), "event {i}");
    }
    for (i, user) in ["mat@example.com", "ana@example.com", "lee@example.com"].iter().enumerate() {
        let rust_state = for_rust.state(&for_rust.s(&format!("/identityIds/{i}")), user);
        let node_state = for_node.state(&for_node.s(&format!("/identityIds/{i}")), user);
        assert_eq!(rust_state.0, node_state.0, "policies of identity {i}");
        let attribute = |a: &Value| a.get("custom:iotPolicyIsAttached").cloned();
        assert_eq!(attribute(&rust_state.1), attribute(&node_state.1), "attribute of {user}");
    }
}

/// The Node package over HTTPS: moto with a certificate from a CA that only
/// `AWS_CA_BUNDLE` names.
#[test]
#[ignore = "needs both packages, fun and moto: `make test` runs it"]
fn the_node_package_talks_to_aws_over_https() {
    let moto = Moto::start_tls();
    let dir = node_package("fun-node-https");
    let mut environment = environment(&moto);
    for (name, value) in moto.ca_bundle() {
        environment[name] = Value::String(value);
    }
    let (responses, logs) =
        run(&dir, Runtime::Nodejs, &moto, environment, &[moto.rest_event(0, &moto.s("/users/0/sub"))]);
    assert_eq!(responses[0]["statusCode"], 200, "{responses:?}\n{logs}");
    let (policies, _) = moto.state(&moto.s("/identityIds/0"), "mat@example.com");
    assert_eq!(policies, [moto.s("/policyName")]);
}

#[test]
#[ignore = "needs both packages, fun and moto: `make test` runs it"]
fn a_bad_configuration_is_refused_naming_the_variable() {
    let moto = Moto::start();
    let dir = node_package("fun-node-bad");
    let environment =
        json!({ "AWS_ENDPOINT_URL": moto.url, "IOT_POLICY_NAME": "p", "COGNITO_ATTRIBUTE_NAME": "email" });
    let input_events = vec![moto.rest_event(0, &moto.s("/users/0/sub"))];
    let (responses, logs) = run(&dir, Runtime::Nodejs, &moto, environment, &input_events);
    let text = format!("{responses:?}\n{logs}");
    assert!(text.contains("COGNITO_ATTRIBUTE_NAME"), "{text}");
    assert_ne!(responses[0]["statusCode"], 200, "{text}");
}

/// The Node package's handler as the stack's drain, with its real SDK
/// clients against moto: a `Delete` with `DeletePolicy` drains the policy,
/// waits out an IoT that refuses `DeletePolicy` for 4 s after the last
/// detach, and deletes it. Not under fun: fun gives every invocation a
/// deadline in 1970, and the drain keeps 10 s in hand. (The Rust host's is
/// in custom_resource.rs, through `invoke`.)
#[test]
#[ignore = "needs the Node package and moto: `make test` runs it"]
fn the_node_package_drains_and_deletes_the_policy_once_iot_lets_go() {
    let dir = node_package("teardown-node");
    let moto = Moto::start_slow_to_let_go("4");
    let policy = moto.s("/policyName");
    let populate = json!({"policy": policy, "other": "other-policy", "count": 20, "otherCount": 0});
    moto.ctl(&["populate", &populate.to_string()]);
    moto.ctl(&["version", &json!({"policy": policy}).to_string()]);
    let (origin, answers) = support::loopback::response_url();
    let event = json!({
        "RequestType": "Delete",
        "ResponseURL": format!("{origin}/cloudformation-response"),
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1",
        "RequestId": "r", "LogicalResourceId": "PolicyTargetsDrain",
        "PhysicalResourceId": format!("detach-on-delete-{policy}"),
        "ResourceProperties": {"PolicyName": policy, "DeletePolicy": "true"},
    });
    // A minute to run, as a Lambda with that timeout would have.
    let script = "const { createHandler } = await import(process.env.TEST_HANDLER);\n\
        const h = await createHandler({ guestDir: process.env.TEST_GUEST_DIR });\n\
        const end = Date.now() + 60000;\n\
        const context = { awsRequestId: 'r', getRemainingTimeInMillis: () => end - Date.now() };\n\
        await h.handler(JSON.parse(process.env.TEST_EVENT), context);\n\
        await h.close();\n";
    std::fs::write(dir.join("run.mjs"), script).unwrap();
    let (key, secret) = (moto.s("/drainKey/id"), moto.s("/drainKey/secret"));
    let mut command = Command::new(support::node());
    command
        .arg(dir.join("run.mjs"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("NODE_PATH", support::root().join("node/node_modules"))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", &key)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env("IOT_POLICY_NAME", &policy)
        .env("CFN_RESPONSE_URL_ALLOWED_ORIGIN", &origin)
        .env("DETACH_RATE", "200")
        .env("TEST_HANDLER", dir.join("src/handler.mjs"))
        .env("TEST_GUEST_DIR", dir.join("guest"))
        .env("TEST_EVENT", event.to_string());
    let out = command.output_within(support::process::CHILD_LIMIT);
    let logs = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !logs.contains(&secret), "{logs}");
    let (_, answer) = answers.recv_timeout(std::time::Duration::from_secs(5)).unwrap_or_else(|_| panic!("{logs}"));
    assert_eq!(answer["Status"], "SUCCESS", "{answer}\n{logs}");
    let reason = answer["Reason"].as_str().unwrap();
    let expected = format!("detached {policy} from 20 targets, and deleted it after IoT refused ");
    assert!(reason.starts_with(&expected), "{reason}");
    assert!(!moto.ctl(&["policies"]).as_array().unwrap().contains(&json!(policy)), "the policy is gone");
}
