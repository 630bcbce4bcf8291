//! The packaged x86_64 `bootstrap`, unzipped and run under @vercel/fun, a real
//! and independent Lambda Runtime API, against moto. `make test` builds the
//! package and runs these; a plain `cargo test` lists them as ignored.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::fun::{self, Runtime};
use support::moto::Moto;
use support::process::{CHILD_LIMIT, OutputWithin};
use support::tempdir;

/// Unzips the package into a fresh directory, as Lambda would.
fn unzip_package(into: &Path) {
    support::unzip("attach-iot-policy-x86_64.zip", into);
    let bootstrap = into.join("bootstrap");
    let status = Command::new("chmod").arg("+x").arg(&bootstrap).status().unwrap();
    assert!(status.success());
}

/// Invokes each payload in turn under fun; returns (results, the function's logs).
fn run_under_fun(directory: &Path, moto: &Moto, environment: Value, payloads: &[String]) -> (Vec<Value>, String) {
    fun::run(directory, Runtime::Provided, moto, environment, payloads)
}

fn status_of(result: &Value) -> u64 {
    let payload: Value = serde_json::from_str(result["payload"].as_str().unwrap()).unwrap();
    payload["statusCode"].as_u64().unwrap_or_else(|| panic!("not a proxy response: {payload}"))
}

#[test]
#[ignore = "needs the x86_64 package, fun and moto: `make test` runs it"]
fn the_package_serves_several_invocations_in_one_process() {
    let moto = Moto::start();
    let dir = tempdir("fun-package");
    unzip_package(&dir);

    let rest = moto.rest_event(0, &moto.s("/users/0/sub"));
    let http = moto.http_event(1, &moto.s("/users/1/sub"));
    let payloads = vec![rest.clone(), "not json".to_owned(), http, rest];
    let environment = json!({ "IOT_POLICY_NAME": moto.s("/policyName"), "AWS_ENDPOINT_URL": moto.url });
    let (results, logs) = run_under_fun(&dir, &moto, environment, &payloads);

    let statuses: Vec<u64> = results.iter().map(status_of).collect();
    assert_eq!(statuses, [200, 400, 200, 200], "{results:?}\n{logs}");
    assert_eq!(logs.matches("cold_start=true").count(), 1, "one process served them all:\n{logs}");
    assert_eq!(logs.matches("cold_start=false").count(), 3, "{logs}");
    // One CloudWatch Embedded Metric Format line per invocation.
    let metrics: Vec<Value> = logs
        .lines()
        .filter(|l| l.contains("\"CloudWatchMetrics\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(metrics.len(), 4, "{logs}");
    let classes: Vec<&str> = metrics.iter().map(|m| m["StatusClass"].as_str().unwrap()).collect();
    assert_eq!(classes, ["2xx", "4xx", "2xx", "2xx"]);
    // Attach, update by sub (moto takes no sub as a username), list users, update.
    assert_eq!(metrics[0]["AwsCalls"], 4, "{}", metrics[0]);
    assert!(logs.contains("not a plausible epoch time"), "fun's constant deadline is noticed:\n{logs}");
    let (policies, attributes) = moto.state(&moto.s("/identityIds/1"), "ana@example.com");
    assert_eq!(policies, [moto.s("/policyName")]);
    assert_eq!(attributes["custom:iotPolicyIsAttached"], "true");
}

/// The package over HTTPS: moto with a certificate from a CA that only
/// `AWS_CA_BUNDLE` names, under fun.
#[test]
#[ignore = "needs the x86_64 package, fun and moto: `make test` runs it"]
fn the_package_talks_to_aws_over_https() {
    let moto = Moto::start_tls();
    let dir = tempdir("fun-https");
    unzip_package(&dir);
    let payloads = vec![moto.rest_event(0, &moto.s("/users/0/sub"))];
    let mut environment = json!({ "IOT_POLICY_NAME": moto.s("/policyName"), "AWS_ENDPOINT_URL": moto.url });
    for (name, value) in moto.ca_bundle() {
        environment[name] = Value::String(value);
    }
    let (results, logs) = run_under_fun(&dir, &moto, environment, &payloads);
    assert_eq!(status_of(&results[0]), 200, "{results:?}\n{logs}");
    let (policies, attributes) = moto.state(&moto.s("/identityIds/0"), "mat@example.com");
    assert_eq!(policies, [moto.s("/policyName")]);
    assert_eq!(attributes["custom:iotPolicyIsAttached"], "true");
}

/// `ATTACH_IOT_POLICY_COMPONENT` names a precompiled component, as from a
/// layer: one that traps on large events, so a trap's 500 and the next
/// invocation are seen under a real Runtime API.
#[test]
#[ignore = "needs the x86_64 package, fun and moto: `make test` runs it"]
fn a_component_from_a_layer_runs_and_its_trap_is_that_invocations_500() {
    let moto = Moto::start();
    let dir = tempdir("fun-component");
    unzip_package(&dir);
    let wasm = dir.join("traps.wasm");
    std::fs::write(&wasm, support::components::component("traps-on-large-events.wat", &[], "attacher")).unwrap();
    let cwasm = dir.join("opt-traps.cwasm");
    let out = Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
        .args(["precompile", "--target", "x86_64-unknown-linux-musl", "--component"])
        .arg(&wasm)
        .arg("--out")
        .arg(&cwasm)
        .output_within(CHILD_LIMIT);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let small = moto.rest_event(0, &moto.s("/users/0/sub"));
    let mut big: Value = serde_json::from_str(&small).unwrap();
    big["body"] = Value::String("x".repeat(100_000));
    let payloads = vec![small.clone(), big.to_string(), small];
    let environment = json!({
        "IOT_POLICY_NAME": moto.s("/policyName"),
        "AWS_ENDPOINT_URL": moto.url,
        "ATTACH_IOT_POLICY_COMPONENT": cwasm,
    });
    let (results, logs) = run_under_fun(&dir, &moto, environment, &payloads);
    let statuses: Vec<u64> = results.iter().map(status_of).collect();
    assert_eq!(statuses, [200, 500, 200], "{results:?}\n{logs}");
    let payload: Value = serde_json::from_str(results[0]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["body"], r#"{"written-in":"wat"}"#, "the component from the setting answered");
    assert_eq!(logs.matches("cold_start=true").count(), 1, "one process served them all:\n{logs}");
}

#[test]
#[ignore = "needs the x86_64 package, fun and moto: `make test` runs it"]
fn a_bad_configuration_fails_init_and_says_why() {
    let moto = Moto::start();
    let dir = tempdir("fun-bad-config");
    unzip_package(&dir);
    let environment = json!({ "AWS_ENDPOINT_URL": moto.url, "COGNITO_ATTRIBUTE_NAME": "email" });
    let (results, logs) = run_under_fun(&dir, &moto, environment, &[moto.rest_event(0, &moto.s("/users/0/sub"))]);
    let result = &results[0];
    assert_eq!(result["functionError"], "Unhandled", "{result}\n{logs}");
    let payload = result["payload"].as_str().unwrap();
    assert!(payload.contains("IOT_POLICY_NAME"), "the message names the variable: {payload}\n{logs}");
}
