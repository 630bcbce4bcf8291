//! Regression tests for what an attempt to break the built program found
//! (issue 14), one section per finding, and the largest events the host
//! admits. Each failed on the code before its fix.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use attach_iot_policy::function::Function;
use attach_iot_policy::limits::{Limits, memory_needed};
use attach_iot_policy::runner::{self, Invocation, Outcome, Runner};
use serde_json::{Value, json};
use support::backends::{EXAMPLE_EVENT, EXAMPLE_HTTP_EVENT, EXAMPLE_POLICY, example_account, example_config};
use support::block_on;
use support::process::{CHILD_LIMIT, OutputWithin};
use support::root;

fn runner() -> Arc<Runner> {
    static RUNNER: std::sync::OnceLock<Arc<Runner>> = std::sync::OnceLock::new();
    RUNNER.get_or_init(|| Arc::new(Runner::new(attach_iot_policy::GUEST_WASM, Limits::default()).unwrap())).clone()
}

fn invoke(event: &[u8], cognito_identity: Option<&str>) -> Outcome {
    let function = Function::new(runner(), Arc::new(example_config()), example_account());
    let invocation = Invocation {
        request_id: "hardening".into(),
        cognito_identity: cognito_identity.map(str::to_owned),
        deadline: runner::deadline_in(Duration::from_secs(30)),
        trace_id: None,
    };
    block_on(function.invoke(event, &invocation))
}

// 3. A valid 4.5 MB event trapped the guest (out of memory: a 500).

const IDENTITY: &str = "us-west-2:d625c9c7-9a79-483c-bb4a-0123456789ab";
const POOL: &str = "us-west-2:5214f2db-370c-456c-8c4a-0123456789ab";

/// `event` grown to exactly `size` bytes by a field that no decision reads.
fn padded(mut event: Value, size: usize) -> Vec<u8> {
    event["pad"] = Value::String(String::new());
    let base = event.to_string().len();
    event["pad"] = Value::String("p".repeat(size - base));
    let bytes = event.to_string().into_bytes();
    assert_eq!(bytes.len(), size);
    bytes
}

/// A JSON string of about `n` bytes that unescapes to half of that: the case
/// where serde_json needs its scratch buffer as well as the string.
fn escaped(n: usize) -> String {
    "\\\"".repeat(n / 2)
}

/// The largest events of each shape, at the host's limit: each tries to make
/// the guest keep as much as it can.
fn largest_events(size: usize) -> Vec<(&'static str, Vec<u8>, Option<String>)> {
    let rest: Value = serde_json::from_str(EXAMPLE_EVENT).unwrap();
    let http: Value = serde_json::from_str(EXAMPLE_HTTP_EVENT).unwrap();
    let with = |mut event: Value, pointer: &str, value: Value| {
        *event.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value;
        event
    };
    // Built as text where serde_json would escape (or not repeat) what the test needs.
    let with_text = |event: &Value, pointer: &str, text: &str| {
        with(event.clone(), pointer, json!("@")).to_string().replace("\"@\"", text).into_bytes()
    };
    let amr = "/requestContext/authorizer/iam/cognitoIdentity/amr";
    let provider = "/requestContext/identity/cognitoAuthenticationProvider";
    let identity = "/requestContext/identity/cognitoIdentityId";
    let direct = json!({"cognitoIdentityId": IDENTITY, "cognitoIdentityPoolId": POOL}).to_string();
    let big = size - 4096;
    let eight: Vec<String> = (0..8).map(|_| "e".repeat(big / 8)).collect();
    vec![
        ("REST, a body of the whole size", padded(rest.clone(), size), None),
        (
            "REST, a provider string of the whole size",
            padded(with(rest.clone(), provider, json!("x".repeat(big))), size),
            None,
        ),
        (
            "REST, an identity ID of the whole size, all escapes",
            with_text(&rest, identity, &format!("\"{}\"", escaped(big))),
            None,
        ),
        // 1.5 million empty strings in 4.5 MB was the finding; this is 6 MiB of them.
        (
            "HTTP API, an amr of empty strings",
            with_text(&http, amr, &format!("[\"authenticated\"{}]", ",\"\"".repeat(big / 3))),
            None,
        ),
        ("HTTP API, an amr of eight long entries", padded(with(http, amr, json!(eight)), size), None),
        (
            "direct invocation, a forged identity of the whole size",
            padded(with(rest, identity, json!("f".repeat(big))), size),
            Some(direct),
        ),
    ]
}

#[test]
fn the_largest_admissible_events_get_an_answer_and_fit_the_memory_rule() {
    let max = Limits::default().max_event_bytes;
    for (shape, event, identity) in largest_events(max) {
        assert!(event.len() <= max, "{shape}: {} bytes", event.len());
        let outcome = invoke(&event, identity.as_deref());
        let status = outcome.response.status_code;
        eprintln!("{shape}: {} bytes, {status}, guest memory peak {} bytes", event.len(), outcome.peak_memory);
        assert!((200..500).contains(&status), "{shape}: {status} {}", outcome.response.body);
        assert!(
            outcome.peak_memory <= memory_needed(event.len()),
            "{shape}: the guest held {} bytes for a {}-byte event; the rule allows {}",
            outcome.peak_memory,
            event.len(),
            memory_needed(event.len())
        );
    }
}

// 4. A configuration value that is not UTF-8 counted as unset: allowlists
//    failed open.

#[test]
fn a_setting_that_is_not_utf8_stops_the_program_and_names_the_variable() {
    use std::os::unix::ffi::OsStrExt;
    for variable in [
        "ALLOWED_USER_POOL_IDS",
        "ALLOWED_IDENTITY_POOL_IDS",
        "CORS_ALLOW_ORIGIN",
        "COGNITO_ATTRIBUTE_NAME",
        "GUEST_MEMORY_LIMIT_MB",
        "AWS_LAMBDA_LOG_LEVEL",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
            .args(["invoke", "--simulate", "--event"])
            .arg(root().join("examples/event-rest.json"))
            .env("IOT_POLICY_NAME", EXAMPLE_POLICY)
            .env(variable, std::ffi::OsStr::from_bytes(b"us-west-2_Other\xff"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output_within(CHILD_LIMIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{variable}: {}", String::from_utf8_lossy(&out.stdout));
        assert!(out.stdout.is_empty(), "{variable}: no response was given");
        assert!(stderr.contains(&format!("{variable}: is not valid UTF-8")), "{variable}: {stderr}");
    }
}

// 1 and 2. `call` followed redirects with the signed headers, and reported
//    success on a broken answer.

mod call {
    use std::sync::{Arc, Mutex};

    use super::*;
    use support::loopback::{http, read_request};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// What a loopback server answers.
    #[derive(Clone)]
    enum Answer {
        Bytes(Vec<u8>),
        /// A chunked body with no end; stops when the client goes away or after 256 MiB.
        Endless,
    }

    /// Serves `answer` to every request at `address`; returns the base URL and the heads it saw.
    fn serve(rt: &tokio::runtime::Runtime, address: &str, answer: Answer) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = rt.block_on(TcpListener::bind(address)).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let heads = seen.clone();
        rt.spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (answer, heads) = (answer.clone(), heads.clone());
                tokio::spawn(async move {
                    let Some((head, _)) = read_request(&mut socket).await else { return };
                    heads.lock().unwrap().push(head);
                    match answer {
                        Answer::Bytes(bytes) => {
                            let _ = socket.write_all(&bytes).await;
                        }
                        Answer::Endless => {
                            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                            if socket.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                            for _ in 0..4096 {
                                if socket.write_all(chunk.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE-call-session-token";

    fn call(url: &str) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
            .args(["call", "--region", "us-west-2", "--url", url])
            .env_clear()
            .env("AWS_ACCESS_KEY_ID", "ASIAEXAMPLECALLKEY01")
            .env("AWS_SECRET_ACCESS_KEY", "CallSecretCallSecretCallSecretCallSecret")
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .output_within(CHILD_LIMIT)
    }

    #[test]
    fn a_redirect_is_not_followed_and_the_token_goes_nowhere_else() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        // Another host on the loopback network.
        let (elsewhere, stolen) = serve(&rt, "127.0.0.2:0", Answer::Bytes(http(200, "", b"{}")));
        for status in [302, 307] {
            let location = format!("location: {elsewhere}/steal\r\n");
            let (url, seen) = serve(&rt, "127.0.0.1:0", Answer::Bytes(http(status, &location, b"")));
            let out = call(&format!("{url}/prod/attachIoTPolicy"));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{status}: {stderr}");
            assert!(stderr.contains(&format!("HTTP {status}, a redirect, which is not followed")), "{stderr}");
            assert_eq!(seen.lock().unwrap().len(), 1);
            assert!(seen.lock().unwrap()[0].to_lowercase().contains("x-amz-security-token"), "the call was signed");
        }
        assert!(stolen.lock().unwrap().is_empty(), "{:?}", stolen.lock().unwrap());
    }

    #[test]
    fn a_body_cut_short_is_a_failure() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"msg\":".to_vec();
        let (url, _) = serve(&rt, "127.0.0.1:0", Answer::Bytes(short));
        let out = call(&url);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("reading the answer failed"), "{stderr}");
        assert!(out.stdout.is_empty());
    }

    #[test]
    fn an_endless_body_is_cut_off_at_the_limit() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (url, _) = serve(&rt, "127.0.0.1:0", Answer::Endless);
        let out = call(&url);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("the answer is larger than 1048576 bytes"), "{stderr}");
    }

    #[test]
    fn an_error_body_cannot_drive_the_terminal() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let body = b"{\"error\":\"x\"}\x1b[2J\x1b]0;pwned\x07";
        let (url, _) = serve(&rt, "127.0.0.1:0", Answer::Bytes(http(500, "", body)));
        let out = call(&url);
        assert!(!out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{7}'), "{stdout:?}");
        assert!(stdout.contains("\\u{1b}[2J"), "{stdout:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 500"));
    }
}

// 5. The HTTP API path was looser than the REST path: see the fixtures
//    http-v2-issuer-and-sign-in-differ.json and http-v2-both-markers.json,
//    and the guest's unit tests of the one provider parser.

// 6. Smaller ones.

#[test]
fn invoke_reads_no_more_of_stdin_than_the_limit() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
        .args(["invoke", "--simulate", "--event", "-"])
        .env("IOT_POLICY_NAME", EXAMPLE_POLICY)
        .env("MAX_EVENT_BYTES", "1024")
        .env("GUEST_MEMORY_LIMIT_MB", "32")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // An endless input: the writer stops when the reader has gone.
    let writer = std::thread::spawn(move || {
        let block = vec![b' '; 64 << 10];
        let mut written = 0usize;
        while written < 1 << 30 && stdin.write_all(&block).is_ok() {
            written += block.len();
        }
        written
    });
    let out = child.output_within(CHILD_LIMIT);
    let written = writer.join().unwrap();
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["statusCode"], 413, "{response}");
    assert!(written < 1 << 30, "it stopped reading; {written} bytes were written");
}

#[test]
fn bad_settings_the_program_once_took_now_stop_it() {
    for (variable, value) in [
        // `PUT /target-policies/..` collapsed to `PUT /`.
        ("IOT_POLICY_NAME", ".."),
        ("IOT_POLICY_NAME", "."),
        ("CORS_ALLOW_ORIGIN", "https://:"),
        // These fell back to the defaults, silently.
        ("AWS_LAMBDA_LOG_LEVEL", "bogus"),
        ("AWS_LAMBDA_LOG_FORMAT", "bogus"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
            .args(["invoke", "--simulate", "--event"])
            .arg(root().join("examples/event-rest.json"))
            .env("IOT_POLICY_NAME", EXAMPLE_POLICY)
            .env(variable, value)
            .output_within(CHILD_LIMIT);
        assert!(!out.status.success(), "{variable}={value}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(variable), "{variable}={value}");
    }
}

/// Every command reads every setting at start, so a bad one stops it even
/// where the command would not use it (the drain's rate, say, in `invoke`).
#[test]
fn a_bad_setting_stops_every_command_naming_the_variable() {
    let commands: [&[&str]; 4] = [
        &["invoke", "--simulate", "--event", "examples/event-rest.json"],
        &["detach-all", "--policy", "p", "--dry-run"],
        &["call", "--url", "http://127.0.0.1:9/prod/attachIoTPolicy", "--region", "us-east-1"],
        &["precompile", "--out", "/dev/null"],
    ];
    for (variable, value) in
        [("DETACH_RATE", "fast"), ("DETACH_RATE", "0"), ("CFN_RESPONSE_URL_ALLOWED_ORIGIN", "null")]
    {
        for args in commands {
            let out = Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
                .args(args)
                .current_dir(root())
                .env_clear()
                .env("IOT_POLICY_NAME", EXAMPLE_POLICY)
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
                .env(variable, value)
                .output_within(CHILD_LIMIT);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} with {variable}={value}");
            assert!(stderr.contains(&format!("attach-iot-policy: {variable}: ")), "{args:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{args:?}: {variable}={value} printed a result");
        }
    }
}

#[test]
fn a_long_allowlist_is_read_whole_and_deduplicated() {
    // 200,000 user pool IDs, half of them repeats. `make bench` shows the
    // read grows linearly with the length (a scan per item took minutes).
    let ids: Vec<String> = (0..200_000).map(|i| format!("us-east-1_p{}", i % 100_000)).collect();
    let value = ids.join(",");
    let config = attach_iot_policy::config::from_lookup(&|k: &str| match k {
        "IOT_POLICY_NAME" => Some("p".to_owned()),
        "ALLOWED_USER_POOL_IDS" => Some(value.clone()),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.allowed_user_pool_ids.len(), 100_000);
    assert_eq!(config.allowed_user_pool_ids[..2], ["us-east-1_p0", "us-east-1_p1"]);
    assert_eq!(config.allowed_user_pool_ids[99_999], "us-east-1_p99999");
}

#[test]
fn detach_all_refuses_a_bad_policy_or_rate_before_any_call() {
    for (args, says) in [
        (vec!["--policy", "has space"], "--policy"),
        (vec!["--policy", ".."], "--policy"),
        (vec!["--policy", "p", "--rate", "0"], "--rate"),
        (vec!["--policy", "p", "--rate", "10001"], "--rate"),
        (vec!["--policy", "p", "--rate", "NaN"], "--rate"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
            .arg("detach-all")
            .args(&args)
            .env_clear()
            // Nothing listens here: a call would fail differently, and later.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .output_within(CHILD_LIMIT);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: no summary for a refused command");
    }
}
