//! The real AWS imports against moto, an independent AWS implementation,
//! with signature and IAM checking on. `make test` installs moto in `.venv`.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const EXAMPLE_EVENT: &str = include_str!("../examples/event-rest.json");
const EXAMPLE_HTTP_EVENT: &str = include_str!("../examples/event-http-api.json");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn venv_bin(name: &str) -> PathBuf {
    let path = root().join(".venv/bin").join(name);
    assert!(path.exists(), "{} is missing: `make test` installs moto into .venv", path.display());
    path
}

/// A moto server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    url: String,
    setup: Value,
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(venv_bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let mut moto = Moto { child, url: format!("http://127.0.0.1:{port}"), setup: Value::Null };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto.setup = moto.ctl(&["setup"]);
        moto.ctl(&["auth", "on"]);
        moto
    }

    fn ctl(&self, args: &[&str]) -> Value {
        let mut command = Command::new(venv_bin("python"));
        command.arg(root().join("tests/moto/moto_ctl.py")).arg(args[0]).arg(&self.url).args(&args[1..]);
        let out = command.output().unwrap();
        assert!(out.status.success(), "moto_ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// The policies attached to `identity` and the user's attributes, read with checking off.
    fn state(&self, identity: &str, username: &str) -> (Vec<String>, Value) {
        let query = json!({"identityId": identity, "userPoolId": self.setup["userPoolId"], "username": username});
        let state = self.ctl(&["state", &query.to_string()]);
        (serde_json::from_value(state["policies"].clone()).unwrap(), state["attributes"].clone())
    }

    fn s(&self, pointer: &str) -> String {
        self.setup.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("{pointer}")).to_owned()
    }

    fn provider(&self, sub: &str) -> String {
        let issuer = format!("cognito-idp.us-east-1.amazonaws.com/{}", self.s("/userPoolId"));
        format!("{issuer},{issuer}:CognitoSignIn:{sub}")
    }

    fn rest_event(&self, identity: usize, sub: &str) -> String {
        let mut event: Value = serde_json::from_str(EXAMPLE_EVENT).unwrap();
        let id = &mut event["requestContext"]["identity"];
        id["cognitoIdentityId"] = self.s(&format!("/identityIds/{identity}")).into();
        id["cognitoIdentityPoolId"] = self.s("/identityPoolId").into();
        id["cognitoAuthenticationProvider"] = self.provider(sub).into();
        event.to_string()
    }

    fn http_event(&self, identity: usize, sub: &str) -> String {
        let mut event: Value = serde_json::from_str(EXAMPLE_HTTP_EVENT).unwrap();
        let ci = &mut event["requestContext"]["authorizer"]["iam"]["cognitoIdentity"];
        ci["identityId"] = self.s(&format!("/identityIds/{identity}")).into();
        ci["identityPoolId"] = self.s("/identityPoolId").into();
        let provider = self.provider(sub);
        let (issuer, sign_in) = provider.split_once(',').unwrap();
        ci["amr"] = json!(["authenticated", issuer, sign_in]);
        event.to_string()
    }

    /// Runs `attach-iot-policy invoke` against moto with only the given
    /// environment, and checks that no secret reached its output.
    fn invoke(&self, event: &str, key: &str, secret: &str, extra_env: &[(&str, &str)]) -> (Output, Value) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"));
        command
            .args(["invoke", "--event", "-"])
            .env_clear()
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
            .env("IOT_POLICY_NAME", self.s("/policyName"))
            .envs(extra_env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        child.stdin.take().unwrap().write_all(event.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        for secret in [secret, "Signature=", "AWS4-HMAC-SHA256", "authorization"] {
            assert!(!all.contains(secret), "a secret reached the output ({secret}):\n{all}");
        }
        let response = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, response)
    }

    fn function_key(&self) -> (String, String) {
        (self.s("/functionKey/id"), self.s("/functionKey/secret"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap()
}

#[test]
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
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AWS_SECRET_ACCESS_KEY is not set"));
}
