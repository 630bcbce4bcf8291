//! The host around the component: limits, isolation, and what never leaks.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attach_iot_policy::aws::recording::{Call, Recording};
use attach_iot_policy::function::Function;
use attach_iot_policy::lambda::{self, Next, RequestId};
use attach_iot_policy::limits::Limits;
use attach_iot_policy::runner::{self, Invocation, Outcome, Runner};
use proptest::prelude::*;
use serde_json::Value;
use support::backends::{self, EXAMPLE_EVENT, example_account, example_config};
use support::block_on;
use tracing::Instrument as _;

fn invocation() -> Invocation {
    Invocation {
        request_id: "test".into(),
        cognito_identity: None,
        deadline: runner::deadline_in(Duration::from_secs(10)),
        trace_id: None,
    }
}

/// Invokes through the production path (guard included) against `aws`,
/// recording the calls that reach it.
fn invoke_with(runner: &Arc<Runner>, event: &[u8], aws: Arc<dyn attach_iot_policy::aws::Aws>) -> (Outcome, Vec<Call>) {
    let recording = Arc::new(Recording::new(aws));
    let function = Function::new(runner.clone(), Arc::new(example_config()), recording.clone());
    // In the invocation's span, as the entry points (Lambda, `invoke`) run it.
    let invocation = invocation();
    let outcome = block_on(function.invoke(event, &invocation).instrument(invocation.span()));
    (outcome, recording.take())
}

fn invoke(runner: &Arc<Runner>, event: &[u8]) -> (Outcome, Vec<Call>) {
    invoke_with(runner, event, example_account())
}

fn error_code(outcome: &Outcome) -> String {
    let body: Value = serde_json::from_str(&outcome.response.body).unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

fn runner(limits: Limits) -> Arc<Runner> {
    Arc::new(Runner::new(attach_iot_policy::GUEST_WASM, limits).expect("the component loads"))
}

#[test]
fn invalid_utf8_is_refused_before_the_guest_runs() {
    let r = runner(Limits::default());
    let (outcome, calls) = invoke(&r, b"{\"httpMethod\":\"GET\xff\"}");
    assert_eq!(outcome.response.status_code, 400);
    assert_eq!(error_code(&outcome), "invalid-event");
    assert!(calls.is_empty());
}

#[test]
fn oversized_event_is_refused_with_413() {
    let r = runner(Limits { max_event_bytes: 1024, ..Limits::default() });
    let (outcome, _) = invoke(&r, &vec![b' '; 1025]);
    assert_eq!(outcome.response.status_code, 413);
    assert_eq!(error_code(&outcome), "event-too-large");
}

#[test]
fn a_six_megabyte_event_is_handled_within_the_default_limits() {
    let mut event: Value = serde_json::from_str(EXAMPLE_EVENT).unwrap();
    event["body"] = Value::String("x".repeat(6_000_000));
    let (outcome, _) = invoke(&runner(Limits::default()), event.to_string().as_bytes());
    assert_eq!(outcome.response.status_code, 200, "{}", outcome.response.body);
}

#[test]
fn a_trap_is_a_500_and_the_next_invocation_works() {
    // An event larger than the guest's memory cap makes the guest trap while
    // the host copies the event in.
    let r = runner(Limits { memory_bytes: 2 << 20, max_event_bytes: 64 << 20, ..Limits::default() });
    let mut big: Value = serde_json::from_str(EXAMPLE_EVENT).unwrap();
    big["body"] = Value::String("x".repeat(4 << 20));
    let (trapped, _) = invoke(&r, big.to_string().as_bytes());
    assert_eq!(trapped.response.status_code, 500);
    assert_eq!(error_code(&trapped), "internal-error");
    assert!(!trapped.response.body.contains("wasm"), "no internals in the body: {}", trapped.response.body);

    let (next, _) = invoke(&r, EXAMPLE_EVENT.as_bytes());
    assert_eq!(next.response.status_code, 200, "{}", next.response.body);
}

#[test]
fn a_guest_past_its_cpu_budget_is_a_500_not_a_hang() {
    // A zero budget expires at the guest's first epoch check: the path a
    // guest stuck in a loop takes once the ticker passes its deadline.
    let r = runner(Limits { cpu_time: Duration::ZERO, ..Limits::default() });
    let (outcome, calls) = invoke(&r, EXAMPLE_EVENT.as_bytes());
    assert_eq!(outcome.response.status_code, 500);
    assert!(calls.is_empty(), "{calls:?}");
}

#[test]
fn time_spent_waiting_on_aws_is_not_charged_to_the_guest() {
    // Each AWS call takes 60 ms; the guest's budget is 50 ms. The example
    // makes four calls: 240 ms of waiting, far past the budget if it
    // counted, while the epoch ticks many times.
    let r = runner(Limits { cpu_time: Duration::from_millis(50), ..Limits::default() });
    let slow = Arc::new(backends::Slow { inner: example_account(), delay: Duration::from_millis(60) });
    let (outcome, calls) = invoke_with(&r, EXAMPLE_EVENT.as_bytes(), slow);
    assert_eq!(outcome.response.status_code, 200, "{}", outcome.response.body);
    assert_eq!(calls.len(), 4, "{calls:?}");
}

/// Captures what the host logs while `f` runs.
fn capture_logs(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn the_callers_credentials_reach_no_log_and_no_response() {
    let token = "IQoJb3JpZ2luX2VjEXAMPLE-caller-session-token";
    let access_key = "ASIAEXAMPLECALLERKEY1";
    let mut event: Value = serde_json::from_str(EXAMPLE_EVENT).unwrap();
    event["headers"]["x-amz-security-token"] = token.into();
    event["multiValueHeaders"]["x-amz-security-token"] = serde_json::json!([token]);
    event["requestContext"]["identity"]["accessKey"] = access_key.into();
    let r = runner(Limits::default());
    let mut outcome = None;
    let logs = capture_logs(|| outcome = Some(invoke(&r, event.to_string().as_bytes()).0));
    let outcome = outcome.unwrap();
    assert_eq!(outcome.response.status_code, 200);
    assert!(logs.contains("request_id=test"), "every line names the request: {logs}");
    for text in [&logs, &outcome.response.body] {
        assert!(!text.contains(token) && !text.contains(access_key), "{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_trap_the_guest(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        static RUNNER: std::sync::OnceLock<Arc<Runner>> = std::sync::OnceLock::new();
        let r = RUNNER.get_or_init(|| runner(Limits::default()));
        let (outcome, _) = invoke(r, &bytes);
        prop_assert!(matches!(outcome.response.status_code, 200 | 204 | 400 | 403 | 404), "{}", outcome.response.status_code);
    }

    #[test]
    fn arbitrary_json_objects_never_trap_the_guest(
        method in prop::option::of("[A-Z]{0,8}"),
        identity in prop::option::of(".{0,60}"),
        pool in prop::option::of(".{0,60}"),
        auth_type in prop::option::of(prop_oneof![Just("authenticated".to_string()), ".{0,16}"]),
        provider in prop::option::of(".{0,160}"),
        v2 in any::<bool>(),
    ) {
        static RUNNER: std::sync::OnceLock<Arc<Runner>> = std::sync::OnceLock::new();
        let r = RUNNER.get_or_init(|| runner(Limits::default()));
        let event = if v2 {
            serde_json::json!({"version": "2.0", "requestContext": {"http": {"method": method},
                "authorizer": {"iam": {"cognitoIdentity": {"identityId": identity, "identityPoolId": pool,
                "amr": [auth_type, provider]}}}}})
        } else {
            serde_json::json!({"httpMethod": method, "requestContext": {"identity": {"cognitoIdentityId": identity,
                "cognitoIdentityPoolId": pool, "cognitoAuthenticationType": auth_type,
                "cognitoAuthenticationProvider": provider}}})
        };
        let (outcome, _) = invoke(r, event.to_string().as_bytes());
        prop_assert!(matches!(outcome.response.status_code, 200 | 204 | 400 | 403 | 404), "{}", outcome.response.status_code);
    }
}

#[test]
fn the_component_imports_nothing_but_its_own_interfaces() {
    // No WASI: the guest cannot reach a clock, a file, the environment or
    // the network even through a host that offers them.
    let engine = wasmtime::Engine::new(&attach_iot_policy::engine::engine_config()).unwrap();
    let component = wasmtime::component::Component::new(&engine, attach_iot_policy::GUEST_WASM).unwrap();
    let types = component.component_type();
    let mut imports: Vec<&str> = types.imports(&engine).map(|(name, _)| name).collect();
    imports.sort_unstable();
    assert_eq!(imports, ["attach-iot-policy:core/aws@0.2.0", "attach-iot-policy:core/log@0.2.0"]);
    assert!(!runner(Limits::default()).links_wasi(), "so the host links no WASI for it");
}

#[test]
fn a_panic_in_the_backend_is_a_500_and_the_next_invocation_runs() {
    let r = runner(Limits::default());
    let config = Arc::new(example_config());
    let next = || Next {
        request_id: RequestId::parse(Some("r")).unwrap(),
        deadline_ms: None,
        cognito_identity: lambda::CognitoIdentity::Absent,
        trace_id: None,
        payload: EXAMPLE_EVENT.as_bytes().to_vec(),
    };
    let panicking = Function::new(r.clone(), config.clone(), Arc::new(backends::Panicking));
    let (completion, outcome) = block_on(lambda::handle(next(), true, &panicking));
    assert!(outcome.is_none(), "a panic measured nothing");
    assert_eq!(completion.response.status_code, 500, "{:?}", completion.response);
    assert_eq!(completion.request_id.as_str(), "r");

    let working = Function::new(r, config, example_account());
    let (completion, _) = block_on(lambda::handle(next(), false, &working));
    assert_eq!(completion.response.status_code, 200, "{:?}", completion.response);
}
