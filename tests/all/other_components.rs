//! The host is generic: it runs any component of the `attacher` world, gives
//! one that imports WASI a deny-all WASI, and refuses a component of another
//! world. The components here are written by hand in the WebAssembly text
//! format (`tests/components/*.wat`), not this project's guest.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use attach_iot_policy::aws::recording::{Call, Recording};
use attach_iot_policy::function::Function;
use attach_iot_policy::limits::Limits;
use attach_iot_policy::runner::{self, Invocation, Runner};
use serde_json::Value;
use support::backends::{EXAMPLE_EVENT, EXAMPLE_POLICY, example_account, example_config};
use support::components::component;
use support::process::{CHILD_LIMIT, OutputWithin};
use support::root;

/// A minimal WASI interface, for a world that imports it.
const WASI_CLI: &str = "package wasi:cli@0.2.0;
interface environment {
    get-environment: func() -> list<tuple<string, string>>;
}";

const OTHER_WORLD: &str = "package test:other;
world other {
    export run: func() -> u32;
}";

const ATTACHER_WITH_WASI: &str = "package test:wasi-user;
world attacher-with-wasi {
    import wasi:cli/environment@0.2.0;
    export attach-iot-policy:core/handler@0.2.0;
}";

fn invocation() -> Invocation {
    Invocation {
        request_id: "wat".into(),
        cognito_identity: None,
        deadline: runner::deadline_in(Duration::from_secs(10)),
        trace_id: None,
    }
}

fn run(runner: Runner) -> (attach_iot_policy::response::Response, Vec<Call>) {
    let recording = Arc::new(Recording::new(example_account()));
    let function = Function::new(Arc::new(runner), Arc::new(example_config()), recording.clone());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let outcome = rt.block_on(function.invoke(EXAMPLE_EVENT.as_bytes(), &invocation()));
    (outcome.response, recording.take())
}

#[test]
fn a_component_written_in_wat_runs_and_the_guard_holds_for_it() {
    let wasm = component("attacher.wat", &[], "attacher");
    let runner = Runner::new(&wasm, Limits::default()).expect("a component of the attacher world links");
    assert!(!runner.links_wasi());
    let (response, calls) = run(runner);
    // 200 means: the configured policy was attached, and `AdminPolicy` came
    // back as `invalid-request` from the guard.
    assert_eq!(response.status_code, 200, "{response:?}");
    assert_eq!(response.body, r#"{"written-in":"wat"}"#);
    // The refused call never reached the backend.
    let target = "us-east-1:00000000-0000-4000-8000-000000000001";
    assert_eq!(
        calls,
        [Call { op: "attach-policy".into(), args: vec![EXAMPLE_POLICY.into(), target.into()], result: "ok".into() }]
    );
}

#[test]
fn a_component_that_imports_wasi_gets_a_deny_all_wasi() {
    let wasm = component("wasi-environment.wat", &[WASI_CLI, ATTACHER_WITH_WASI], "attacher-with-wasi");
    let runner = Runner::new(&wasm, Limits::default()).expect("WASI is linked for it");
    assert!(runner.links_wasi());
    assert!(std::env::vars_os().count() > 0, "the test process has an environment to leak");
    let (response, calls) = run(runner);
    // 200 plus the number of environment variables it saw.
    assert_eq!(response.status_code, 200, "{response:?}");
    assert!(calls.is_empty());
}

#[test]
fn a_component_of_another_world_is_refused_with_a_clear_message() {
    let wasm = component("other-world.wat", &[OTHER_WORLD], "other");
    let err = Runner::new(&wasm, Limits::default()).err().expect("another world is refused");
    let message = format!("{err:#}");
    assert!(message.contains("is not of the world attach-iot-policy:core/attacher@0.2.0"), "{message}");
    assert!(message.contains("handler"), "it says what is missing: {message}");

    let not_a_component = Runner::new(b"\0asm\x01\0\0\0", Limits::default()).err().expect("a core module is refused");
    assert!(!format!("{not_a_component:#}").is_empty());
}

fn temp_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `invoke --component`, with a `.wasm` and with a `.cwasm` from `precompile`.
#[test]
fn the_cli_runs_a_component_given_on_the_command_line() {
    let dir = support::tempdir("components");
    let wasm = temp_file(&dir, "attacher.wasm", &component("attacher.wat", &[], "attacher"));
    let cwasm = wasm.with_extension("cwasm");
    let cli = env!("CARGO_BIN_EXE_attach-iot-policy");
    let out = Command::new(cli)
        .args(["precompile", "--component"])
        .arg(&wasm)
        .arg("--out")
        .arg(&cwasm)
        .output_within(CHILD_LIMIT);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    for component in [&wasm, &cwasm] {
        let out = Command::new(cli)
            .args(["invoke", "--simulate", "--show-calls", "--event"])
            .arg(root().join("examples/event-rest.json"))
            .arg("--component")
            .arg(component)
            .env("IOT_POLICY_NAME", EXAMPLE_POLICY)
            .output_within(CHILD_LIMIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let response: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(response["statusCode"], 200, "{response}\n{stderr}");
        assert_eq!(response["body"], r#"{"written-in":"wat"}"#);
        assert!(stderr.contains(r#"{"op":"attach-policy","args":["amplify-toolkit-iot-message-viewer","#), "{stderr}");
        assert!(stderr.contains("a component written in WAT"), "its log line: {stderr}");
    }

    let other = temp_file(&dir, "other.wasm", &component("other-world.wat", &[OTHER_WORLD], "other"));
    let out = Command::new(cli)
        .args(["invoke", "--simulate", "--event"])
        .arg(root().join("examples/event-rest.json"))
        .arg("--component")
        .arg(&other)
        .env("IOT_POLICY_NAME", EXAMPLE_POLICY)
        .output_within(CHILD_LIMIT);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not of the world attach-iot-policy:core/attacher@0.2.0"), "{stderr}");
}
