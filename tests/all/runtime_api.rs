//! The Lambda loop against a Runtime API of our own on loopback, for what a
//! real one cannot be told to do on cue: a trace header on one invocation
//! and none on the next. A capturing AWS endpoint sees what goes out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attach_iot_policy::aws::client::AwsClient;
use attach_iot_policy::aws::retry::RetryPolicy;
use attach_iot_policy::function::Function;
use attach_iot_policy::lambda::{self, RuntimeApi};
use attach_iot_policy::limits::Limits;
use attach_iot_policy::runner::Runner;
use support::backends::{EXAMPLE_EVENT, example_config};
use support::loopback::{http, read_request};
use support::process::{CHILD_LIMIT, OutputWithin};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// What both servers saw: the responses posted, and each AWS request's
/// trace header with the number of responses posted before it arrived.
#[derive(Default)]
struct Seen {
    responses: Vec<String>,
    aws: Vec<(usize, Option<String>)>,
    /// `GET /next` requests so far.
    nexts: usize,
    /// For each connection the AWS endpoint accepted, how many `GET /next` came before it.
    connections: Vec<usize>,
}

/// A Runtime API that hands out `events` (extra header lines, payload), then
/// holds the next `GET /next` open.
async fn runtime_api(events: Vec<(String, Vec<u8>)>, seen: Arc<Mutex<Seen>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let events = Arc::new(Mutex::new(VecDeque::from(events)));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (events, seen) = (events.clone(), seen.clone());
            tokio::spawn(async move {
                while let Some((head, body)) = read_request(&mut socket).await {
                    if head.starts_with("GET /2018-06-01/runtime/invocation/next") {
                        seen.lock().unwrap().nexts += 1;
                        let Some((headers, payload)) = events.lock().unwrap().pop_front() else {
                            return std::future::pending().await;
                        };
                        let _ = socket.write_all(&http(200, &headers, &payload)).await;
                    } else {
                        seen.lock().unwrap().responses.push(String::from_utf8_lossy(&body).into_owned());
                        let _ = socket.write_all(&http(202, "", b"")).await;
                    }
                }
            });
        }
    });
    address
}

/// An AWS that says yes to everything and notes each request's trace header.
async fn capturing_aws(seen: Arc<Mutex<Seen>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            {
                let mut seen = seen.lock().unwrap();
                let nexts = seen.nexts;
                seen.connections.push(nexts);
            }
            tokio::spawn(async move {
                while let Some((head, _)) = read_request(&mut socket).await {
                    let trace = head.lines().find_map(|l| {
                        l.to_ascii_lowercase().starts_with("x-amzn-trace-id:").then(|| l[16..].trim().to_owned())
                    });
                    {
                        let mut seen = seen.lock().unwrap();
                        let invocation = seen.responses.len();
                        seen.aws.push((invocation, trace));
                    }
                    // Enough for every call: a listing of no targets, and
                    // nothing else reads the body.
                    let body = br#"{"targets":[]}"#;
                    let _ = socket.write_all(&http(200, "content-type: application/json\r\n", body)).await;
                }
            });
        }
    });
    url
}

/// Both servers for two invocations: "one", the example event with a trace
/// header, then "two", `second` without one. Returns what they see, the AWS
/// URL and the Runtime API's address.
async fn two_invocations(second: &[u8]) -> (Arc<Mutex<Seen>>, String, String) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let aws = capturing_aws(seen.clone()).await;
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 60_000;
    let head = |id: &str| format!("Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n");
    let events = vec![
        (format!("{}Lambda-Runtime-Trace-Id: {TRACE}\r\n", head("one")), EXAMPLE_EVENT.as_bytes().to_vec()),
        (head("two"), second.to_vec()),
    ];
    let api = runtime_api(events, seen.clone()).await;
    (seen, aws, api)
}

async fn until_both_answered(seen: &Mutex<Seen>) {
    until_answered(seen, 2).await;
}

async fn until_answered(seen: &Mutex<Seen>, invocations: usize) {
    let started = std::time::Instant::now();
    while seen.lock().unwrap().responses.len() < invocations {
        assert!(started.elapsed() < Duration::from_secs(30), "the {invocations} invocations did not complete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_header_goes_out_on_its_own_invocations_calls_only() {
    let (seen, aws, api) = two_invocations(EXAMPLE_EVENT.as_bytes()).await;

    let vars = move |k: &str| match k {
        "AWS_ACCESS_KEY_ID" => Some("AKIDTRACETEST".to_owned()),
        "AWS_SECRET_ACCESS_KEY" => Some("TraceTestSecretTraceTestSecretTraceTest0".to_owned()),
        "AWS_REGION" => Some("us-west-2".to_owned()),
        "AWS_ENDPOINT_URL" => Some(aws.clone()),
        _ => None,
    };
    let client = AwsClient::from_lookup(&vars, RetryPolicy::default()).unwrap();
    let runner = Runner::new(attach_iot_policy::GUEST_WASM, Limits::default()).unwrap();
    let function = Function::new(Arc::new(runner), Arc::new(example_config()), Arc::new(client));
    let serving = tokio::spawn(lambda::serve(RuntimeApi::new(&api).unwrap(), function, None));

    until_both_answered(&seen).await;
    serving.abort();

    let seen = seen.lock().unwrap();
    assert!(seen.responses.iter().all(|r| r.contains("\"statusCode\":200")), "{:?}", seen.responses);
    let first: Vec<_> = seen.aws.iter().filter(|(i, _)| *i == 0).map(|(_, t)| t.clone()).collect();
    let second: Vec<_> = seen.aws.iter().filter(|(i, _)| *i == 1).map(|(_, t)| t.clone()).collect();
    assert!(!first.is_empty() && !second.is_empty(), "{:?}", seen.aws);
    assert!(first.iter().all(|t| t.as_deref() == Some(TRACE)), "the first invocation's calls: {first:?}");
    assert!(second.iter().all(Option::is_none), "the second invocation sent none: {second:?}");
}

/// The bootstrap itself, as Lambda runs it, with `AWS_LAMBDA_LOG_FORMAT=JSON`:
/// every line it writes is one JSON object in Lambda's schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_lambda_json_every_line_is_lambdas_schema() {
    let (seen, aws, api) = two_invocations(b"not json").await;
    let mut bootstrap = std::process::Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env("AWS_LAMBDA_FUNCTION_NAME", "attach-iot-policy-test")
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "AKIDJSONLOGS")
        .env("AWS_SECRET_ACCESS_KEY", "JsonLogsSecretJsonLogsSecretJsonLogs0000")
        .env("AWS_ENDPOINT_URL", &aws)
        .env("IOT_POLICY_NAME", support::backends::EXAMPLE_POLICY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    until_both_answered(&seen).await;
    bootstrap.kill().unwrap();
    let out = bootstrap.output_within(CHILD_LIMIT);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.stdout.is_empty(), "nothing on stdout");

    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let (logs, metrics): (Vec<_>, Vec<_>) = lines.iter().partition(|l| l.get("_aws").is_none());
    assert_eq!(metrics.len(), 2, "one metrics line per invocation: {stderr}");
    for line in &logs {
        for key in ["timestamp", "level", "message"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
        assert_ne!(line["level"], "DEBUG", "INFO filters out DEBUG: {line}");
    }
    let of = |id: &str| logs.iter().filter(|l| l["requestId"] == id).collect::<Vec<_>>();
    let (one, two) = (of("one"), of("two"));
    assert!(!one.is_empty() && !two.is_empty(), "{stderr}");
    assert!(one.iter().all(|l| l["traceId"] == TRACE), "{one:?}");
    assert!(two.iter().all(|l| l.get("traceId").is_none()), "{two:?}");
    assert!(!stderr.contains("JsonLogsSecret"));
}

/// Every line of every invocation carries its request ID: the guest's, the
/// custom resource's, and the drain's (which runs in the invocation's task).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_every_kind_of_invocation_names_its_request() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let aws = capturing_aws(seen.clone()).await;
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 60_000;
    let head = |id: &str| format!("Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n");
    let custom_resource = |kind: &str| {
        serde_json::json!({
            "RequestType": kind, "ResponseURL": format!("{aws}/cfn-answer"), "StackId": "stack", "RequestId": kind,
            "LogicalResourceId": "PolicyTargetsDrain", "PhysicalResourceId": "drain",
            "ResourceProperties": {"PolicyName": support::backends::EXAMPLE_POLICY}
        })
        .to_string()
        .into_bytes()
    };
    let events = vec![
        (head("guest"), EXAMPLE_EVENT.as_bytes().to_vec()),
        (head("create"), custom_resource("Create")),
        (head("delete"), custom_resource("Delete")),
    ];
    let api = runtime_api(events, seen.clone()).await;
    let mut child = bootstrap(
        &api,
        &aws,
        &[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("ATTACH_IOT_POLICY_PRECONNECT", "off"),
            ("CFN_RESPONSE_URL_ALLOWED_ORIGIN", &aws),
        ],
    );
    until_answered(&seen, 3).await;
    child.kill().unwrap();
    let stderr = String::from_utf8(child.output_within(CHILD_LIMIT).stderr).unwrap();
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let first = lines.iter().position(|l| l["message"] == "invocation").expect("an invocation line");
    for line in &lines[first..] {
        assert!(["guest", "create", "delete"].contains(&line["requestId"].as_str().unwrap_or_default()), "{line}");
    }
    let of = |id: &str, message: &str| lines.iter().any(|l| l["requestId"] == id && l["message"] == message);
    assert!(of("guest", "import call"), "the guest's calls: {stderr}");
    assert!(of("create", "custom resource request") && of("create", "answered CloudFormation"), "{stderr}");
    assert!(of("delete", "a pass of the drain ended") && of("delete", "answered CloudFormation"), "{stderr}");
    let responses = &seen.lock().unwrap().responses;
    assert!(responses.iter().all(|r| r.contains("\"statusCode\":200")), "{responses:?}");
}

/// A `Lambda-Runtime-Cognito-Identity` with a byte that is not ASCII was read
/// as no identity at all: an event naming another identity was then believed
/// (a `DELETE` detached it), and a custom resource request drained the
/// policy. Now such an invocation gets a 400 and makes no call at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_cognito_identity_is_refused_not_taken_as_absent() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let aws = capturing_aws(seen.clone()).await;
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 60_000;
    let mine = "us-west-2:d625c9c7-9a79-483c-bb4a-0123456789ab";
    let pool = "us-west-2:5214f2db-370c-456c-8c4a-0123456789ab";
    // One byte off plain ASCII: an é in the pool ID.
    let unreadable = r#"us-west-2:5214f2db-370c-456c-8c4a-0123456789éb"#;
    let identity = format!(r#"{{"cognitoIdentityId":"{mine}","cognitoIdentityPoolId":"{unreadable}"}}"#);
    let head = |id: &str| {
        format!(
            "Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
             Lambda-Runtime-Cognito-Identity: {identity}\r\n"
        )
    };
    let someone_else = serde_json::json!({"httpMethod": "DELETE", "requestContext": {"identity": {
        "cognitoIdentityId": "us-west-2:00000000-0000-4000-8000-000000000000", "cognitoIdentityPoolId": pool,
        "cognitoAuthenticationType": "authenticated"}}});
    let drain = serde_json::json!({
        "RequestType": "Delete", "ResponseURL": format!("{aws}/cfn-answer"), "StackId": "s", "RequestId": "r",
        "LogicalResourceId": "PolicyTargetsDrain", "PhysicalResourceId": "drain",
        "ResourceProperties": {"PolicyName": support::backends::EXAMPLE_POLICY}
    });
    let events = vec![
        (head("detach-someone-else"), someone_else.to_string().into_bytes()),
        (head("drain"), drain.to_string().into_bytes()),
    ];
    let api = runtime_api(events, seen.clone()).await;
    let settings = [("ATTACH_IOT_POLICY_PRECONNECT", "off"), ("CFN_RESPONSE_URL_ALLOWED_ORIGIN", aws.as_str())];
    let mut child = bootstrap(&api, &aws, &settings);
    until_both_answered(&seen).await;
    child.kill().unwrap();
    let stderr = String::from_utf8(child.output_within(CHILD_LIMIT).stderr).unwrap();
    let seen = seen.lock().unwrap();
    for response in &seen.responses {
        let response: serde_json::Value = serde_json::from_str(response).unwrap();
        assert_eq!(response["statusCode"], 400, "{response}\n{stderr}");
        let body: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "malformed-identity", "{body}");
    }
    assert!(seen.aws.is_empty(), "no AWS call, no answer to CloudFormation: {:?}\n{stderr}", seen.aws);
}

/// Under Lambda, a bad setting is an init error naming the variable, the
/// drain's settings too: a function with a bad `DETACH_RATE` never starts,
/// rather than failing when CloudFormation deletes the stack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_setting_is_an_init_error_that_names_it() {
    for (variable, value) in
        [("DETACH_RATE", "fast"), ("CFN_RESPONSE_URL_ALLOWED_ORIGIN", "null"), ("GUEST_CPU_MS", "0")]
    {
        let (seen, aws, api) = two_invocations(EXAMPLE_EVENT.as_bytes()).await;
        let child = bootstrap(&api, &aws, &[(variable, value)]);
        let out = tokio::task::spawn_blocking(move || child.output_within(CHILD_LIMIT)).await.unwrap();
        assert!(!out.status.success(), "{variable}={value}: the bootstrap exits");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.nexts, 0, "{variable}={value}: no invocation is asked for");
        let [report] = &seen.responses[..] else { panic!("{variable}={value}: {:?}", seen.responses) };
        let report: serde_json::Value = serde_json::from_str(report).unwrap();
        assert_eq!(report["errorType"], "Runtime.InvalidConfiguration", "{report}");
        let message = report["errorMessage"].as_str().unwrap();
        assert!(message.starts_with(&format!("{variable}: ")), "{message}");
    }
}

/// The bootstrap, with only `env` on top of a working configuration.
fn bootstrap(api: &str, aws: &str, env: &[(&str, &str)]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_attach-iot-policy"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
        .env("ATTACH_IOT_POLICY_METRICS", "off")
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "AKIDPRECONNECT")
        .env("AWS_SECRET_ACCESS_KEY", "PreconnectSecretPreconnectSecretPrecon00")
        .env("AWS_ENDPOINT_URL", aws)
        .env("IOT_POLICY_NAME", support::backends::EXAMPLE_POLICY)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Init opens the connections to IoT and, with the user pools pinned to one
/// region, to Cognito, so the first invocation opens none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_opens_the_connections_the_first_invocation_uses() {
    let (seen, aws, api) = two_invocations(EXAMPLE_EVENT.as_bytes()).await;
    let mut child = bootstrap(&api, &aws, &[("ALLOWED_USER_POOL_IDS", "us-west-2_Ex4mpLe01")]);
    until_both_answered(&seen).await;
    child.kill().unwrap();
    let stderr = String::from_utf8(child.output_within(CHILD_LIMIT).stderr).unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.responses.iter().all(|r| r.contains("\"statusCode\":200")), "{:?}\n{stderr}", seen.responses);
    let before_the_first = seen.connections.iter().filter(|n| **n == 0).count();
    assert_eq!(before_the_first, 2, "IoT and Cognito, opened at init: {:?}\n{stderr}", seen.connections);
    assert!(!seen.connections.contains(&1), "the first invocation opened a connection: {:?}", seen.connections);
    assert_eq!(stderr.matches("opened a connection at init").count(), 2, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_early_connection_does_not_fail_init() {
    let (seen, _, api) = two_invocations(EXAMPLE_EVENT.as_bytes()).await;
    // A port nothing listens on: bound, so no other test's server takes it
    // while this one runs, but not listening, so connections are refused.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = held.local_addr().unwrap();
    let mut child = bootstrap(&api, &format!("http://{closed}"), &[]);
    until_both_answered(&seen).await;
    child.kill().unwrap();
    let stderr = String::from_utf8(child.output_within(CHILD_LIMIT).stderr).unwrap();
    assert!(stderr.contains("could not open a connection at init (could not connect"), "{stderr}");
    // Init went on: both invocations were served, with AWS unreachable.
    assert!(seen.lock().unwrap().responses.iter().all(|r| r.contains("\"statusCode\":502")), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_preconnect_off_the_first_invocation_opens_its_own() {
    let (seen, aws, api) = two_invocations(EXAMPLE_EVENT.as_bytes()).await;
    let settings = [("ALLOWED_USER_POOL_IDS", "us-west-2_Ex4mpLe01"), ("ATTACH_IOT_POLICY_PRECONNECT", "off")];
    let mut child = bootstrap(&api, &aws, &settings);
    until_both_answered(&seen).await;
    child.kill().unwrap();
    let stderr = String::from_utf8(child.output_within(CHILD_LIMIT).stderr).unwrap();
    let seen = seen.lock().unwrap();
    assert!(!seen.connections.contains(&0), "nothing opened at init: {:?}\n{stderr}", seen.connections);
    assert!(seen.connections.contains(&1), "the first invocation connected: {:?}", seen.connections);
}
