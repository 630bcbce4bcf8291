//! A moto server for the integration tests, set up by `tests/moto/moto_ctl.py`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

use crate::backends::{EXAMPLE_EVENT, EXAMPLE_HTTP_EVENT};
use crate::process::{CHILD_LIMIT, OutputWithin};
use crate::tls::TestCa;
use crate::{root, tool};

/// A program in the test virtualenv (moto, cfn-lint), which `make venv` makes.
pub fn venv_bin(name: &str) -> PathBuf {
    tool(&format!(".venv/bin/{name}"), "`make venv`")
}

/// A moto server on a free loopback port, stopped when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
    pub setup: Value,
    /// Over HTTPS: the CA that signed moto's certificate, which only
    /// `AWS_CA_BUNDLE` names.
    pub ca: Option<TestCa>,
}

impl Moto {
    pub fn start() -> Moto {
        Self::start_with(None, &[])
    }

    /// moto over HTTPS, with a certificate from a CA made for the test.
    pub fn start_tls() -> Moto {
        Self::start_with(Some(TestCa::new("moto-ca")), &[])
    }

    /// moto that refuses `DeletePolicy` for `seconds` after a policy's last
    /// detach (`"never"`: for good), as AWS may for up to five minutes.
    pub fn start_slow_to_let_go(seconds: &str) -> Moto {
        Self::start_with(None, &[("ATTACH_IOT_POLICY_DELETE_CONFLICT_SECONDS", seconds)])
    }

    fn start_with(ca: Option<TestCa>, env: &[(&str, &str)]) -> Moto {
        // moto_server, with the patches that make it answer as AWS (see the
        // file), on a port the system picks as it binds: a port picked here
        // first could be taken by a parallel test before moto binds it.
        let mut command = Command::new(venv_bin("python"));
        command.arg(root().join("tests/moto/server.py")).args(["-H", "127.0.0.1", "-p", "0"]).envs(env.iter().copied());
        if let Some(ca) = &ca {
            let dir = ca.pem_file.with_extension("server");
            std::fs::create_dir_all(&dir).unwrap();
            let (cert, key) = ca.server_files(&dir);
            command.arg("--ssl-cert").arg(cert).arg("--ssl-key").arg(key);
        }
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("moto_server starts");
        // werkzeug says ` * Running on http://127.0.0.1:PORT` once it listens;
        // the rest of its log is read and dropped, so it never blocks on a full pipe.
        let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let port = loop {
            line.clear();
            let read = std::io::BufRead::read_line(&mut log, &mut line).unwrap();
            assert!(read > 0, "moto_server exited before it listened");
            if let Some((_, port)) = line.split_once("Running on ").and_then(|(_, url)| url.trim().rsplit_once(':')) {
                break port.parse::<u16>().unwrap_or_else(|_| panic!("moto's address: {line}"));
            }
        };
        std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
        let scheme = if ca.is_some() { "https" } else { "http" };
        let mut moto = Moto { child, url: format!("{scheme}://127.0.0.1:{port}"), setup: Value::Null, ca };
        moto.setup = moto.ctl(&["setup"]);
        moto.ctl(&["auth", "on"]);
        moto
    }

    pub fn ctl(&self, args: &[&str]) -> Value {
        let mut command = Command::new(venv_bin("python"));
        command.arg(root().join("tests/moto/moto_ctl.py")).arg(args[0]).arg(&self.url).args(&args[1..]);
        command.envs(self.ca_bundle());
        let out = command.output_within(CHILD_LIMIT);
        assert!(out.status.success(), "moto_ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// The policies attached to `identity` and the user's attributes, read with checking off.
    pub fn state(&self, identity: &str, username: &str) -> (Vec<String>, Value) {
        let query = json!({"identityId": identity, "userPoolId": self.setup["userPoolId"], "username": username});
        let state = self.ctl(&["state", &query.to_string()]);
        (serde_json::from_value(state["policies"].clone()).unwrap(), state["attributes"].clone())
    }

    pub fn s(&self, pointer: &str) -> String {
        self.setup.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("{pointer}")).to_owned()
    }

    pub fn provider(&self, sub: &str) -> String {
        let issuer = format!("cognito-idp.us-east-1.amazonaws.com/{}", self.s("/userPoolId"));
        format!("{issuer},{issuer}:CognitoSignIn:{sub}")
    }

    pub fn rest_event(&self, identity: usize, sub: &str) -> String {
        let mut event: Value = serde_json::from_str(EXAMPLE_EVENT).unwrap();
        let id = &mut event["requestContext"]["identity"];
        id["cognitoIdentityId"] = self.s(&format!("/identityIds/{identity}")).into();
        id["cognitoIdentityPoolId"] = self.s("/identityPoolId").into();
        id["cognitoAuthenticationProvider"] = self.provider(sub).into();
        event.to_string()
    }

    pub fn http_event(&self, identity: usize, sub: &str) -> String {
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
    pub fn invoke(&self, event: &str, key: &str, secret: &str, extra_env: &[(&str, &str)]) -> (Output, Value) {
        let mut env = vec![("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", secret)];
        env.extend_from_slice(extra_env);
        self.invoke_with(event, &[secret], &env)
    }

    /// Runs `attach-iot-policy invoke` against moto with the region, the
    /// endpoint and the policy name, and otherwise only `env`: credentials
    /// come from there. Checks that none of `secrets` reached the output.
    pub fn invoke_with(&self, event: &str, secrets: &[&str], env: &[(&str, &str)]) -> (Output, Value) {
        let mut command = Command::new(crate::cli());
        command
            .args(["invoke", "--event", "-"])
            .env_clear()
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
            .env("IOT_POLICY_NAME", self.s("/policyName"))
            .envs(self.ca_bundle())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        child.stdin.take().unwrap().write_all(event.as_bytes()).unwrap();
        let out = child.output_within(CHILD_LIMIT);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        for secret in secrets.iter().copied().chain(["Signature=", "AWS4-HMAC-SHA256", "authorization"]) {
            assert!(!all.contains(secret), "a secret reached the output ({secret}):\n{all}");
        }
        let response = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, response)
    }

    /// `AWS_CA_BUNDLE` for moto over HTTPS; nothing over HTTP.
    pub fn ca_bundle(&self) -> Vec<(&'static str, String)> {
        self.ca.iter().map(|ca| ("AWS_CA_BUNDLE", ca.pem_file.display().to_string())).collect()
    }

    pub fn function_key(&self) -> (String, String) {
        (self.s("/functionKey/id"), self.s("/functionKey/secret"))
    }
}

/// `event` with another HTTP method (REST API events).
pub fn with_method(event: &str, method: &str) -> String {
    let mut event: Value = serde_json::from_str(event).unwrap();
    event["httpMethod"] = method.into();
    event.to_string()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
