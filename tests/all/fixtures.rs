//! The conformance corpus, run through the built component in wasmtime.
//!
//! Each `tests/fixtures/cases/*.json` is an event with its expected response
//! and the import calls the guest must make, in order. Other hosts run the
//! same files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use attach_iot_policy::aws::recording::{Call, Recording};
use attach_iot_policy::aws::simulated::{AccountState, Fault, SimulatedAccount};
use attach_iot_policy::config::{AttributeValue, Config};
use attach_iot_policy::function::Function;
use attach_iot_policy::limits::Limits;
use attach_iot_policy::runner::{self, Invocation, Runner};
use serde::Deserialize;
use serde_json::Value;
use support::root;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    description: String,
    event: Option<Value>,
    event_text: Option<String>,
    event_file: Option<String>,
    context: Option<Context>,
    config: Option<BTreeMap<String, Value>>,
    account: Option<AccountState>,
    #[serde(default)]
    faults: Vec<Fault>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Defaults {
    #[allow(dead_code)]
    description: String,
    account_file: String,
    context: Context,
    config: BTreeMap<String, Value>,
}

#[derive(Deserialize, Clone, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Context {
    request_id: Option<String>,
    cognito_identity: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: u16,
    headers: BTreeMap<String, String>,
    /// A JSON body, compared as JSON; or a string compared as text.
    body: Value,
    calls: Vec<Call>,
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn wit_config(values: &BTreeMap<String, Value>) -> Config {
    let list = |k: &str| -> Vec<String> { serde_json::from_value(values[k].clone()).unwrap() };
    let text = |k: &str| -> String { values[k].as_str().unwrap().to_owned() };
    Config {
        policy_names: list("policyNames"),
        attribute_name: text("attributeName"),
        allowed_identity_pool_ids: list("allowedIdentityPoolIds"),
        allowed_user_pool_ids: list("allowedUserPoolIds"),
        cors_allow_origin: text("corsAllowOrigin"),
        attribute_value: match text("attributeValue").as_str() {
            "literal-true" => AttributeValue::LiteralTrue,
            "identity-id" => AttributeValue::IdentityId,
            other => panic!("attributeValue {other} is not a case of the WIT's attribute-value"),
        },
    }
}

/// The invariant users rely on: the attribute is only ever set once every
/// configured policy has been attached, and no policy is detached while the
/// attribute may still claim it.
fn assert_attribute_follows_every_policy(calls: &[Call], config: &Config) -> Result<(), String> {
    let attribute_step = |c: &&Call| c.op == "delete-attributes" || c.op == "list-users";
    for (i, call) in calls.iter().enumerate() {
        // A detach comes after the attribute's removal ended well: removed,
        // or no such user.
        if call.op == "detach-policy" {
            let later = calls[i..].iter().any(|c| attribute_step(&c));
            let last = calls[..i].iter().rfind(attribute_step);
            if later || last.is_some_and(|c| c.result != "ok" && c.result != "not-found") {
                return Err(format!("a policy was detached while the attribute may still claim it: {calls:?}"));
            }
        }
        if call.op == "update-attributes" && call.result == "ok" {
            for policy in &config.policy_names {
                let attached =
                    calls[..i].iter().any(|c| c.op == "attach-policy" && c.args[0] == *policy && c.result == "ok");
                if !attached {
                    return Err(format!("the attribute was set before {policy} was attached: {calls:?}"));
                }
            }
        }
    }
    Ok(())
}

/// The published response bodies, docs/responses.schema.json, compiled once.
fn schema() -> &'static (boon::Schemas, boon::SchemaIndex) {
    static SCHEMA: OnceLock<(boon::Schemas, boon::SchemaIndex)> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = root().join("docs/responses.schema.json");
        let (mut schemas, mut compiler) = (boon::Schemas::new(), boon::Compiler::new());
        compiler.add_resource("responses.schema.json", read::<Value>(&path)).expect("the schema is JSON");
        let index = compiler.compile("responses.schema.json", &mut schemas).expect("the schema compiles");
        (schemas, index)
    })
}

/// Fails unless `body` fits the published schema.
fn fits_schema(body: &Value, what: &str) -> Result<(), String> {
    let (schemas, index) = schema();
    schemas.validate(body, *index).map_err(|e| format!("{what} does not fit docs/responses.schema.json: {e:#}\n{body}"))
}

async fn run_case(runner: &Arc<Runner>, defaults: &Defaults, path: &Path) -> Result<(), String> {
    run_parsed_case(runner, defaults, read(path)).await
}

async fn run_parsed_case(runner: &Arc<Runner>, defaults: &Defaults, case: Case) -> Result<(), String> {
    let event = match (&case.event, &case.event_text, &case.event_file) {
        (Some(v), None, None) => v.to_string(),
        (None, Some(t), None) => t.clone(),
        (None, None, Some(f)) => std::fs::read_to_string(root().join(f)).map_err(|e| format!("{f}: {e}"))?,
        _ => return Err("give exactly one of event, eventText, eventFile".into()),
    };
    let mut config_values = defaults.config.clone();
    config_values.extend(case.config.clone().unwrap_or_default());
    let config = Arc::new(wit_config(&config_values));
    let mut account = case.account.clone().unwrap_or_else(|| read(&root().join(&defaults.account_file)));
    account.faults = case.faults.clone();
    let recording = Arc::new(Recording::new(Arc::new(SimulatedAccount::new(account))));
    let function = Function::new(runner.clone(), config.clone(), recording.clone());
    let context = case.context.clone().unwrap_or_else(|| defaults.context.clone());
    let invocation = Invocation {
        request_id: context.request_id.or(defaults.context.request_id.clone()).unwrap_or_default(),
        cognito_identity: context.cognito_identity,
        deadline: runner::deadline_in(Duration::from_secs(10)),
        trace_id: None,
    };

    let outcome = function.invoke(event.as_bytes(), &invocation).await;
    let calls = recording.take();

    let mut problems = Vec::new();
    let response = &outcome.response;
    if response.status_code != case.expect.status {
        problems.push(format!("status {} != expected {}", response.status_code, case.expect.status));
    }
    let headers: BTreeMap<String, String> = response.headers.iter().cloned().collect();
    if headers != case.expect.headers || headers.len() != response.headers.len() {
        problems.push(format!("headers {headers:?} != expected {:?}", case.expect.headers));
    }
    let body_matches = match &case.expect.body {
        Value::String(text) => response.body == *text,
        expected => {
            let got = serde_json::from_str::<Value>(&response.body).unwrap_or(Value::Null);
            problems.extend(fits_schema(expected, "the expected body").err());
            problems.extend(fits_schema(&got, "the body").err());
            got == *expected
        }
    };
    if !body_matches {
        problems.push(format!("body {} != expected {}", response.body, case.expect.body));
    }
    if calls != case.expect.calls {
        problems.push(format!("calls {:?}\n   != expected {:?}", calls, case.expect.calls));
    }
    if let Err(e) = assert_attribute_follows_every_policy(&calls, &config) {
        problems.push(e);
    }
    if problems.is_empty() { Ok(()) } else { Err(format!("{}\n  {}", case.description, problems.join("\n  "))) }
}

fn case_paths() -> Vec<PathBuf> {
    let dir = root().join("tests/fixtures/cases");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

#[tokio::test]
async fn corpus_passes_in_wasmtime() {
    let runner = Arc::new(Runner::new(attach_iot_policy::GUEST_WASM, Limits::default()).expect("component loads"));
    let defaults: Defaults = read(&root().join("tests/fixtures/defaults.json"));
    let paths = case_paths();
    assert!(paths.len() >= 30, "the corpus went missing: {} cases", paths.len());
    let mut failures = Vec::new();
    for path in &paths {
        if let Err(e) = run_case(&runner, &defaults, path).await {
            failures.push(format!("{}: {e}", path.file_name().unwrap().to_string_lossy()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), paths.len(), failures.join("\n"));
}

#[tokio::test]
async fn a_changed_expectation_fails() {
    let runner = Arc::new(Runner::new(attach_iot_policy::GUEST_WASM, Limits::default()).expect("component loads"));
    let defaults: Defaults = read(&root().join("tests/fixtures/defaults.json"));
    let path = root().join("tests/fixtures/cases/rest-v1-sub-as-username.json");
    assert!(run_case(&runner, &defaults, &path).await.is_ok());

    let mut changed: Case = read(&path);
    let msg = changed.expect.body["msg"].as_str().unwrap().to_owned();
    changed.expect.body["msg"] = Value::String(format!("{msg} (changed)"));
    assert!(run_parsed_case(&runner, &defaults, changed).await.is_err());

    let mut reordered: Case = read(&path);
    reordered.expect.calls.reverse();
    assert!(run_parsed_case(&runner, &defaults, reordered).await.is_err());
}
