//! A bounded fuzz run of the whole guest, natively: `handle` on events
//! mutated from the fixture corpus (values replaced with crafted strings,
//! fields dropped or retyped, bytes cut or flipped, strings inflated to
//! several MB), and the provider and ID parsers on near-valid strings. A
//! few seconds in `cargo test`; `PROPTEST_CASES` runs it longer.
//!
//! What must hold on every input: `handle` answers (no panic); the status is
//! one the guest gives; a refusal calls nothing; the attribute is set only
//! after every policy was attached, and only on a user pool that the caller's
//! own claim names; bodies are JSON (empty for a 204); the CORS header is
//! always the configured one.

use std::path::{Path, PathBuf};

use attach_iot_policy_guest::ids::{self, Provider};
use attach_iot_policy_guest::{Context, handle};
use proptest::prelude::*;
use serde_json::Value;

use crate::support::{Fake, SUB, config};

const POOL_ISSUER: &str = "cognito-idp.us-west-2.amazonaws.com/us-west-2_Ex4mpLe01";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every event in the fixture corpus, as text.
fn seeds() -> &'static [String] {
    static SEEDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = Vec::new();
        for entry in std::fs::read_dir(root().join("tests/fixtures/cases")).unwrap() {
            let case: Value = serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
            if let Some(event) = case.get("event") {
                seeds.push(event.to_string());
            } else if let Some(text) = case.get("eventText").and_then(Value::as_str) {
                seeds.push(text.to_owned());
            } else if let Some(file) = case.get("eventFile").and_then(Value::as_str) {
                seeds.push(std::fs::read_to_string(root().join(file)).unwrap());
            }
        }
        assert!(seeds.len() >= 30, "the corpus went missing");
        seeds.sort();
        seeds
    })
}

/// The properties every answer must have.
fn check(event: &str, cognito_identity: Option<&str>) -> Result<(), TestCaseError> {
    let config = config();
    // The sub is not a username: every step runs, the ListUsers fallback too.
    let mut host = Fake { usernames: vec!["someone".into()], ..Fake::default() };
    let context = Context { request_id: "fuzz".into(), cognito_identity: cognito_identity.map(str::to_owned) };
    let response = handle(event, &context, &config, &mut host);
    let status = response.status_code;
    prop_assert!(matches!(status, 200 | 204 | 400 | 403 | 404 | 502 | 503), "status {status}");
    let cors = response.headers.iter().find(|(k, _)| k == "Access-Control-Allow-Origin");
    prop_assert_eq!(cors.map(|(_, v)| v.as_str()), Some("https://app.example.com"));
    if status == 204 {
        prop_assert!(response.body.is_empty());
    } else {
        prop_assert!(serde_json::from_str::<Value>(&response.body).is_ok(), "body {}", response.body);
    }
    if matches!(status, 204 | 400 | 403) {
        prop_assert!(host.calls.is_empty(), "a refusal made calls: {:?}", host.calls);
    }
    for (i, (op, args)) in host.calls.iter().enumerate() {
        if op == "update-attributes" {
            for policy in &config.policy_names {
                let attached = host.calls[..i].iter().any(|(op, a)| op == "attach-policy" && a[0] == *policy);
                prop_assert!(attached, "the attribute came before {policy}: {:?}", host.calls);
            }
            // Only a pool that the event's own claim names, never one made up.
            prop_assert!(event.contains(&args[0]), "{} is not in the event", args[0]);
            prop_assert!(ids::region_of_user_pool_id(&args[0]).is_some());
        }
        if op == "detach-policy" && host.calls.iter().any(|(op, _)| op == "delete-attributes") {
            let first = host.calls.iter().position(|(op, _)| op == "delete-attributes");
            prop_assert!(first < Some(i), "a policy was detached before the attribute went: {:?}", host.calls);
        }
        if op == "attach-policy" || op == "detach-policy" {
            prop_assert!(ids::region_of_regional_uuid(&args[1]).is_some(), "target {}", args[1]);
        }
    }
    Ok(())
}

/// Strings that sit near the formats the guest checks.
fn crafted() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::String(format!("{POOL_ISSUER},{POOL_ISSUER}:CognitoSignIn:{SUB}"))),
        Just(Value::String(format!("{POOL_ISSUER}:CognitoSignIn:{SUB}\" or sub ^= \""))),
        Just(Value::String("us-west-2:d625c9c7-9a79-483c-bb4a-0123456789ab".into())),
        Just(Value::String("authenticated".into())),
        Just(Value::String("unauthenticated".into())),
        Just(Value::String("OPTIONS".into())),
        Just(Value::String("DELETE".into())),
        Just(Value::String("detach".into())),
        Just(serde_json::json!(["authenticated", POOL_ISSUER, format!("{POOL_ISSUER}:CognitoSignIn:{SUB}")])),
        Just(Value::Null),
        Just(serde_json::json!(12)),
        Just(serde_json::json!({})),
        Just(serde_json::json!([])),
        "\\PC{0,40}".prop_map(Value::String),
        ".{0,40}".prop_map(Value::String),
        "[a-z0-9:_./,-]{0,80}".prop_map(Value::String),
    ]
}

/// Every path to a value in `v`.
fn paths(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(path.clone());
                paths(child, path, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let path = format!("{at}/{i}");
                out.push(path.clone());
                paths(child, path, out);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, Value),
    Remove(usize),
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), crafted()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

fn mutate(seed: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut value: Option<Value> = serde_json::from_str(seed).ok();
    let mut bytes: Option<Vec<u8>> = None;
    for m in mutations {
        let text: Vec<u8> = match (&bytes, &value) {
            (Some(b), _) => b.clone(),
            (None, Some(v)) => v.to_string().into_bytes(),
            (None, None) => seed.as_bytes().to_vec(),
        };
        match (m, value.as_mut()) {
            (Mutation::Replace(i, new), Some(v)) if bytes.is_none() => {
                let mut all = Vec::new();
                paths(v, String::new(), &mut all);
                if let Some(slot) = all.get(i % all.len().max(1)).and_then(|p| v.pointer_mut(p)) {
                    *slot = new.clone();
                }
            }
            (Mutation::Remove(i), Some(v)) if bytes.is_none() => {
                let mut all = Vec::new();
                paths(v, String::new(), &mut all);
                if let Some(path) = all.get(i % all.len().max(1)) {
                    let (parent, key) = path.rsplit_once('/').unwrap();
                    if let Some(Value::Object(map)) = v.pointer_mut(parent) {
                        map.remove(&key.replace("~1", "/").replace("~0", "~"));
                    }
                }
            }
            (Mutation::Truncate(i), _) => bytes = Some(text[..i % (text.len() + 1)].to_vec()),
            (Mutation::Flip(i, b), _) if !text.is_empty() => {
                let mut t = text;
                let at = i % t.len();
                t[at] ^= b | 1;
                bytes = Some(t);
            }
            (Mutation::Insert(i, new), _) => {
                let mut t = text;
                let at = i % (t.len() + 1);
                t.splice(at..at, new.iter().copied());
                bytes = Some(t);
            }
            _ => {}
        }
    }
    bytes.unwrap_or_else(|| value.map_or_else(|| seed.as_bytes().to_vec(), |v| v.to_string().into_bytes()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn mutated_fixture_events_always_get_a_safe_answer(
        seed in 0usize..1000,
        mutations in prop::collection::vec(mutation(), 1..6),
        direct in prop::option::of(prop_oneof![
            Just(r#"{"cognitoIdentityId":"us-west-2:d625c9c7-9a79-483c-bb4a-0123456789ab","cognitoIdentityPoolId":"us-west-2:5214f2db-370c-456c-8c4a-0123456789ab"}"#.to_string()),
            ".{0,40}",
        ]),
    ) {
        let seeds = seeds();
        let event = mutate(&seeds[seed % seeds.len()], &mutations);
        // The host passes only UTF-8: other bytes never reach `handle`.
        if let Ok(event) = std::str::from_utf8(&event) {
            check(event, direct.as_deref())?;
        }
    }

    #[test]
    fn provider_and_id_parsers_never_misread(s in prop_oneof![
        "\\PC{0,120}",
        "[a-z0-9:_./,-]{0,120}",
        (0usize..4, "[A-Za-z0-9]{1,12}", "[a-f0-9-]{30,40}").prop_map(|(n, pool, sub)| {
            let issuer = format!("cognito-idp.us-west-2.amazonaws.com/us-west-2_{pool}");
            [issuer.clone(), format!("{issuer}:CognitoSignIn:{sub}"), issuer, String::new()][..=n].join(",")
        }),
    ]) {
        let parts: Vec<String> = s.split(',').map(str::to_owned).collect();
        for parsed in [ids::parse_provider(&s), ids::parse_amr(&parts)] {
            if let Ok(Provider::UserPool(user)) = parsed {
                prop_assert!(ids::is_uuid(&user.sub));
                prop_assert!(ids::region_of_user_pool_id(&user.user_pool_id).is_some());
                let claim = format!("/{}:CognitoSignIn:{}", user.user_pool_id, user.sub);
                prop_assert!(s.contains(&claim), "{} is not what {:?} says", claim, s);
            }
        }
        if let Some(region) = ids::region_of_regional_uuid(&s) {
            prop_assert!(ids::is_region(region) && s.starts_with(region));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Events of several MB: one of the corpus's strings, inflated.
    #[test]
    fn inflated_events_of_several_megabytes_get_a_safe_answer(
        seed in 0usize..1000,
        at in any::<usize>(),
        megabytes in 1usize..6,
        unit in prop_oneof![Just("x"), Just("\\\""), Just("\\u00e9"), Just("\"\","), Just("é")],
    ) {
        let seeds = seeds();
        let Ok(mut value) = serde_json::from_str::<Value>(&seeds[seed % seeds.len()]) else { return Ok(()) };
        let mut all = Vec::new();
        paths(&value, String::new(), &mut all);
        let Some(path) = all.get(at % all.len().max(1)).cloned() else { return Ok(()) };
        *value.pointer_mut(&path).unwrap() = Value::String("@".into());
        let fill = unit.repeat((megabytes << 20) / unit.len());
        // Spliced in as text, so escapes stay escapes and `"",` repeats become list items.
        let text = value.to_string().replace("\"@\"", &if unit == "\"\"," { format!("[{fill}\"\"]") } else { format!("\"{fill}\"") });
        check(&text, None)?;
    }
}
