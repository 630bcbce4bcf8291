//! The credential chain of the command line, against moto with IAM checks on:
//! with no credentials in the environment, `invoke` finds them as the AWS
//! SDKs do, and no secret reaches its output.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use serde_json::Value;
use support::moto::Moto;
use support::process::{CHILD_LIMIT, OutputWithin};

/// Settings that keep the chain off this machine's own files and off IMDS.
fn isolated(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("HOME", dir.display().to_string()),
        ("AWS_CONFIG_FILE", dir.join("config").display().to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials").display().to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

fn invoke(moto: &Moto, identity: usize, secrets: &[&str], env: &[(&str, String)]) -> Value {
    let event = moto.rest_event(identity, &moto.s(&format!("/users/{identity}/sub")));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (out, response) = moto.invoke_with(&event, secrets, &env);
    assert_eq!(response["statusCode"], 200, "{}", String::from_utf8_lossy(&out.stderr));
    let (policies, _) =
        moto.state(&moto.s(&format!("/identityIds/{identity}")), &moto.s(&format!("/users/{identity}/username")));
    assert_eq!(policies, [moto.s("/policyName")]);
    response
}

#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn profiles_find_static_keys_a_credential_process_and_an_assumed_role() {
    let moto = Moto::start();
    let (key, secret) = moto.function_key();
    let (assumer_key, assumer_secret) = (moto.s("/assumeOnlyKey/id"), moto.s("/assumeOnlyKey/secret"));
    let dir = support::tempdir("credentials-profiles");

    // The process prints the function's keys as credential_process output.
    let process = dir.join("credential-process.sh");
    let output = format!(r#"{{"Version": 1, "AccessKeyId": "{key}", "SecretAccessKey": "{secret}"}}"#);
    std::fs::write(&process, format!("#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n")).unwrap();
    std::fs::set_permissions(&process, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.join("credentials"),
        format!(
            "[static]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n\n\
             [assumer]\naws_access_key_id = {assumer_key}\naws_secret_access_key = {assumer_secret}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("config"),
        format!(
            "[profile process]\ncredential_process = {}\n\n\
             [profile role]\nrole_arn = {}\nsource_profile = assumer\n",
            process.display(),
            moto.s("/roleArn")
        ),
    )
    .unwrap();

    let secrets = [secret.as_str(), assumer_secret.as_str()];
    for (identity, profile) in [(0, "static"), (1, "process"), (2, "role")] {
        let mut env = isolated(&dir);
        env.push(("AWS_PROFILE", profile.into()));
        invoke(&moto, identity, &secrets, &env);
    }
}

#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn container_credentials_come_from_the_endpoint_with_its_token() {
    let moto = Moto::start();
    let query = serde_json::json!({
        "id": moto.s("/assumeOnlyKey/id"),
        "secret": moto.s("/assumeOnlyKey/secret"),
        "roleArn": moto.s("/roleArn"),
    });
    let credentials = moto.ctl(&["assume", &query.to_string()]);
    let (secret, token) = (credentials["SecretAccessKey"].as_str().unwrap(), credentials["Token"].as_str().unwrap());
    let (secret, token) = (secret.to_owned(), token.to_owned());
    let authorization = "container-auth-t0ken";
    let body = credentials.to_string();

    // A container credentials endpoint on loopback that answers only a
    // request that carries the authorization token.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}/v2/credentials", listener.local_addr().unwrap());
    let (heads, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().map_while(Result::ok) {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let authorized = head.lines().any(|l| l.eq_ignore_ascii_case(&format!("authorization: {authorization}")));
            let (status, body) = if authorized { (200, body.as_str()) } else { (401, "{}") };
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = socket.write_all(answer.as_bytes());
            let _ = heads.send(head);
        }
    });

    let dir = support::tempdir("credentials-container");
    let mut env = isolated(&dir);
    env.push(("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri));
    env.push(("AWS_CONTAINER_AUTHORIZATION_TOKEN", authorization.into()));
    invoke(&moto, 0, &[&secret, &token, authorization], &env);
    let heads: Vec<String> = received.try_iter().collect();
    assert_eq!(heads.len(), 1, "one request for the credentials: {heads:?}");
    assert!(heads[0].starts_with("GET /v2/credentials "), "{heads:?}");
}

#[test]
fn no_credentials_anywhere_is_a_clear_error_before_any_call() {
    let dir = support::tempdir("credentials-none");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
        .args(["invoke", "--event", "-"])
        .env_clear()
        .envs(isolated(&dir))
        .env("AWS_REGION", "us-east-1")
        // Nothing listens here: a call would fail differently.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_PROFILE", "missing")
        .env("IOT_POLICY_NAME", "p")
        .stdin(std::process::Stdio::null())
        .output_within(CHILD_LIMIT);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no AWS credentials"), "{stderr}");
    assert!(stderr.contains("missing"), "names the profile: {stderr}");
    assert!(out.stdout.is_empty(), "no response is printed");
}
