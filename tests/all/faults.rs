//! Retries, timeouts and deadlines, against a loopback server that misbehaves
//! on cue: what no real AWS emulator can do.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attach_iot_policy::aws::client::AwsClient;
use attach_iot_policy::aws::retry::RetryPolicy;
use attach_iot_policy::function::Function;
use attach_iot_policy::limits::Limits;
use attach_iot_policy::runner::{self, Invocation, Runner};
use serde_json::Value;
use support::backends::{EXAMPLE_EVENT, example_config};
use support::loopback::{http, read_request};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
const SECRET: &str = "FaultTestSecretKeyFaultTestSecretKey0000";

/// What the server does with the next request.
#[derive(Clone, Debug)]
enum Fault {
    Status(u16, &'static str),
    /// Drop the connection without an answer.
    Reset,
    /// Answer bytes that are not HTTP.
    Garbage,
    /// Answer correctly, but only after this long.
    Slow(Duration),
    /// Answer correctly, then close the kept-alive connection: the next
    /// request finds a stale connection in the client's pool.
    CloseAfter,
}

#[derive(Default)]
struct Script {
    faults: VecDeque<Fault>,
    /// A fault to repeat once the queue is empty.
    forever: Option<Fault>,
    /// The operation of every request received, in order.
    seen: Vec<String>,
}

struct FaultServer {
    url: String,
    script: Arc<Mutex<Script>>,
}

impl FaultServer {
    async fn start(faults: Vec<Fault>, forever: Option<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script { faults: faults.into(), forever, seen: Vec::new() }));
        let shared = script.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, shared.clone()));
            }
        });
        Self { url, script }
    }

    fn seen(&self) -> Vec<String> {
        self.script.lock().unwrap().seen.clone()
    }
}

async fn serve(mut socket: TcpStream, script: Arc<Mutex<Script>>) {
    loop {
        let Some((head, _)) = read_request(&mut socket).await else { return };
        let op = operation(&head);
        let fault = {
            let mut s = script.lock().unwrap();
            s.seen.push(op.clone());
            s.faults.pop_front().or_else(|| s.forever.clone())
        };
        let ok = success(&op);
        let reply = match fault {
            None => ok,
            Some(Fault::Status(status, body)) => json(status, body),
            Some(Fault::Reset) => return,
            Some(Fault::Garbage) => b"\x00\x13garbage that is not HTTP\r\n\r\n".to_vec(),
            Some(Fault::Slow(d)) => {
                tokio::time::sleep(d).await;
                ok
            }
            Some(Fault::CloseAfter) => {
                let _ = socket.write_all(&ok).await;
                return;
            }
        };
        if socket.write_all(&reply).await.is_err() {
            return;
        }
    }
}

fn operation(request: &str) -> String {
    let lower = request.to_lowercase();
    if request.starts_with("PUT /target-policies/") {
        return "AttachPolicy".into();
    }
    lower
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-target: awscognitoidentityproviderservice."))
        .map(|op| if op.trim() == "listusers" { "ListUsers".into() } else { "AdminUpdateUserAttributes".into() })
        .unwrap_or_else(|| "unknown".into())
}

fn success(op: &str) -> Vec<u8> {
    match op {
        "ListUsers" => json(200, r#"{"Users":[{"Username":"mat@example.com"}]}"#),
        _ => json(200, "{}"),
    }
}

fn json(status: u16, body: &str) -> Vec<u8> {
    http(status, "content-type: application/json\r\n", body.as_bytes())
}

const THROTTLED: Fault = Fault::Status(400, r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#);
const TOO_MANY: Fault = Fault::Status(429, r#"{"message":"Too Many Requests"}"#);
const UNAVAILABLE: Fault = Fault::Status(503, "<html><body>Service Unavailable</body></html>");

struct Harness {
    runner: Arc<Runner>,
}

impl Harness {
    fn new() -> Self {
        Self { runner: Arc::new(Runner::new(attach_iot_policy::GUEST_WASM, Limits::default()).unwrap()) }
    }

    fn client(&self, server: &FaultServer) -> Arc<AwsClient> {
        let url = server.url.clone();
        let retry = RetryPolicy {
            base: Duration::from_millis(20),
            attempt_timeout: Duration::from_millis(400),
            ..RetryPolicy::default()
        };
        let vars = move |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AKIDFAULTTEST".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some(SECRET.to_owned()),
            "AWS_REGION" => Some("us-west-2".to_owned()),
            "AWS_ENDPOINT_URL" => Some(url.clone()),
            _ => None,
        };
        Arc::new(AwsClient::from_lookup(&vars, retry).unwrap())
    }

    async fn invoke(&self, client: Arc<AwsClient>, deadline: Duration) -> (u16, Value) {
        let invocation = Invocation {
            request_id: "fault".into(),
            cognito_identity: None,
            deadline: runner::deadline_in(deadline),
            trace_id: None,
        };
        let function = Function::new(self.runner.clone(), Arc::new(example_config()), client);
        let outcome = function.invoke(EXAMPLE_EVENT.as_bytes(), &invocation).await;
        assert!(!outcome.response.body.contains(SECRET));
        (outcome.response.status_code, serde_json::from_str(&outcome.response.body).unwrap())
    }
}

fn count(seen: &[String], op: &str) -> usize {
    seen.iter().filter(|s| *s == op).count()
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_to_success() {
    let h = Harness::new();
    let server = FaultServer::start(vec![THROTTLED, UNAVAILABLE], None).await;
    let (status, body) = h.invoke(h.client(&server), Duration::from_secs(5)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(count(&server.seen(), "AttachPolicy"), 3);
}

#[tokio::test]
async fn resets_and_garbage_are_retried_to_success() {
    let h = Harness::new();
    let server = FaultServer::start(vec![Fault::Reset, Fault::Garbage], None).await;
    let (status, body) = h.invoke(h.client(&server), Duration::from_secs(5)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.seen()[..3], ["AttachPolicy", "AttachPolicy", "AttachPolicy"]);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let h = Harness::new();
    let server = FaultServer::start(vec![Fault::Slow(Duration::from_secs(3))], None).await;
    let (status, body) = h.invoke(h.client(&server), Duration::from_secs(5)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(count(&server.seen(), "AttachPolicy"), 2);
}

#[tokio::test]
async fn throttling_past_the_deadline_gives_503_and_no_attribute() {
    let h = Harness::new();
    let server = FaultServer::start(vec![], Some(TOO_MANY)).await;
    let (status, body) = h.invoke(h.client(&server), Duration::from_millis(150)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(count(&server.seen(), "AdminUpdateUserAttributes"), 0, "{:?}", server.seen());
}

#[tokio::test]
async fn a_server_that_never_answers_is_abandoned_at_the_deadline() {
    let h = Harness::new();
    let server = FaultServer::start(vec![], Some(Fault::Slow(Duration::from_secs(30)))).await;
    let started = std::time::Instant::now();
    let (status, body) = h.invoke(h.client(&server), Duration::from_millis(300)).await;
    // Three 400 ms attempts would take 1.2 s; the deadline cuts them short.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1100), "ran past the deadline: {elapsed:?}");
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["step"], "attach-policy");
    assert_eq!(count(&server.seen(), "AdminUpdateUserAttributes"), 0);
}

#[tokio::test]
async fn persistent_server_errors_give_502_after_three_attempts() {
    let h = Harness::new();
    let server = FaultServer::start(vec![], Some(UNAVAILABLE)).await;
    let (status, body) = h.invoke(h.client(&server), Duration::from_secs(5)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["step"], "attach-policy");
    assert_eq!(server.seen(), ["AttachPolicy"; 3]);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let h = Harness::new();
    let server =
        FaultServer::start(vec![Fault::Status(400, r#"{"__type":"InvalidRequestException","message":"bad"}"#)], None)
            .await;
    let (status, body) = h.invoke(h.client(&server), Duration::from_secs(5)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(server.seen(), ["AttachPolicy"]);
}

#[tokio::test]
async fn a_failed_attribute_step_after_retries_leaves_the_policy_reported() {
    let h = Harness::new();
    // The attach succeeds; every Cognito call is throttled.
    let server = FaultServer::start(vec![Fault::CloseAfter], Some(THROTTLED)).await;
    let (status, body) = h.invoke(h.client(&server), Duration::from_secs(5)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["step"], "update-attributes");
    assert_eq!(body["policiesAttached"], serde_json::json!(["amplify-toolkit-iot-message-viewer"]));
}

#[tokio::test]
async fn a_pooled_connection_that_died_does_not_fail_the_invocation() {
    let h = Harness::new();
    // AttachPolicy is answered on a kept-alive connection; the next request
    // goes out on that pooled connection, which the server then drops unanswered.
    let server = FaultServer::start(vec![Fault::Slow(Duration::ZERO), Fault::Reset], None).await;
    let (status, body) = h.invoke(h.client(&server), Duration::from_secs(5)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.seen(), ["AttachPolicy", "AdminUpdateUserAttributes", "AdminUpdateUserAttributes"]);
}

#[tokio::test]
async fn a_long_outage_spends_the_retry_quota_and_then_nothing_is_retried() {
    use attach_iot_policy::aws::retry::RetryQuota;
    let h = Harness::new();
    let server = FaultServer::start(vec![], Some(UNAVAILABLE)).await;
    let client = h.client(&server);
    // Each failed invocation takes two retries from the one quota the client
    // keeps across invocations, until it is spent.
    let paid_for = (RetryQuota::CAPACITY / RetryQuota::RETRY_COST / 2) as usize;
    for _ in 0..paid_for + 5 {
        let (status, _) = h.invoke(client.clone(), Duration::from_secs(5)).await;
        assert_eq!(status, 502);
    }
    let attempts = count(&server.seen(), "AttachPolicy");
    assert_eq!(attempts, paid_for * 3 + 5, "three attempts while the quota lasted, then one");
}
