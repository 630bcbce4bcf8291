//! The stack's custom resource against moto, driven by CloudFormation-shaped
//! events through `invoke`, with a loopback server as the `ResponseURL`.

use serde_json::{Value, json};
use support::loopback::{http, read_request, response_url, serve};
use support::moto::Moto;
use support::process::{CHILD_LIMIT, run_with_stdin};
use tokio::io::AsyncWriteExt;

fn request(kind: &str, origin: &str, policy: &str) -> Value {
    let mut request = json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:drain",
        "ResponseURL": format!("{origin}/cloudformation-response?X-Amz-Signature=abc"),
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1",
        "RequestId": format!("request-{kind}"),
        "LogicalResourceId": "PolicyTargetsDrain",
        "ResourceType": "Custom::DetachPolicyTargets",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:drain", "PolicyName": policy},
    });
    if kind != "Create" {
        request["PhysicalResourceId"] = json!(format!("detach-on-delete-{policy}"));
    }
    request
}

fn invoke(moto: &Moto, event: &Value, key: &str, secret: &str, origin: &str, extra: &[&str]) -> Value {
    invoke_at(&moto.url, &moto.s("/policyName"), event, key, secret, origin, extra).0
}

/// `invoke` with `event` against the AWS at `endpoint`: its response and its log.
fn invoke_at(
    endpoint: &str,
    policy: &str,
    event: &Value,
    key: &str,
    secret: &str,
    origin: &str,
    extra: &[&str],
) -> (Value, String) {
    let mut command = support::cli_against(endpoint, key, secret);
    command
        .args(["invoke", "--event", "-"])
        .args(if extra.contains(&"--timeout-ms") { &[][..] } else { &["--timeout-ms", "120000"][..] })
        .args(extra)
        .env("IOT_POLICY_NAME", policy)
        .env("CFN_RESPONSE_URL_ALLOWED_ORIGIN", origin)
        .env("DETACH_RATE", "500");
    let out = run_with_stdin(&mut command, event.to_string().as_bytes(), CHILD_LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let all = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains(secret), "{all}");
    (serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{all}")), stderr)
}

#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn create_and_update_change_nothing_and_delete_drains_or_says_why_not() {
    let moto = Moto::start();
    let (key, secret) = moto.function_key();
    let policy = moto.s("/policyName");
    moto.ctl(&[
        "populate",
        &json!({"policy": policy, "other": "other-policy", "count": 300, "otherCount": 50}).to_string(),
    ]);
    let targets = || moto.ctl(&["targets", &json!({"policies": [policy, "other-policy"]}).to_string()]);
    let counts = || {
        let t = targets();
        (t[&policy].as_array().unwrap().len(), t["other-policy"].as_array().unwrap().len())
    };
    let (origin, answers) = response_url();

    for kind in ["Create", "Update"] {
        let response = invoke(&moto, &request(kind, &origin, &policy), &key, &secret, &origin, &[]);
        assert_eq!(response["statusCode"], 200, "{response}");
        let (head, answer) =
            answers.recv_timeout(std::time::Duration::from_secs(30)).expect("CloudFormation heard an answer");
        assert!(head.starts_with("PUT /cloudformation-response?X-Amz-Signature=abc "), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("content-type"),
            "the presigned URL was signed without one: {head}"
        );
        assert_eq!(answer["Status"], "SUCCESS", "{answer}");
        assert_eq!(answer["RequestId"], format!("request-{kind}"));
        assert_eq!(answer["PhysicalResourceId"], format!("detach-on-delete-{policy}"));
        assert_eq!(counts(), (300, 50), "{kind} changed nothing");
    }

    // A function that may not list the targets: FAILED, with a reason that says what to do.
    let (only_key, only_secret) = (moto.s("/attachOnlyKey/id"), moto.s("/attachOnlyKey/secret"));
    invoke(&moto, &request("Delete", &origin, &policy), &only_key, &only_secret, &origin, &[]);
    let (_, answer) = answers.recv_timeout(std::time::Duration::from_secs(30)).expect("CloudFormation heard an answer");
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(reason.contains("access-denied") && reason.contains("detach-all --policy"), "{reason}");
    assert_eq!(counts(), (300, 50));

    // A Cognito identity may not drive it: refused, and CloudFormation hears nothing.
    let identity =
        json!({"cognitoIdentityId": moto.s("/identityIds/0"), "cognitoIdentityPoolId": moto.s("/identityPoolId")});
    let response = invoke(
        &moto,
        &request("Delete", &origin, &policy),
        &key,
        &secret,
        &origin,
        &["--cognito-identity", &identity.to_string()],
    );
    assert_eq!(response["statusCode"], 403, "{response}");
    assert!(answers.try_recv().is_err());
    assert_eq!(counts(), (300, 50));

    // Too little time left to drain: FAILED, nothing half-claimed, and the reason says so.
    invoke(&moto, &request("Delete", &origin, &policy), &key, &secret, &origin, &["--timeout-ms", "10500"]);
    let (_, answer) = answers.recv_timeout(std::time::Duration::from_secs(30)).expect("CloudFormation heard an answer");
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(reason.contains(" of 300 targets are still attached") && reason.contains("the time ran out"), "{reason}");
    let remaining = answer["Data"]["Remaining"].as_u64().unwrap();
    assert!(remaining > 0 && answer["Data"]["Detached"].as_u64().unwrap() + remaining == 300, "{answer}");
    assert_eq!(counts(), (remaining as usize, 50), "what it reached is detached; the rest is still attached");

    // Delete again (CloudFormation's retry): it resumes, detaches the rest, then SUCCESS;
    // the other policy keeps its own.
    invoke(&moto, &request("Delete", &origin, &policy), &key, &secret, &origin, &[]);
    let (_, answer) = answers.recv_timeout(std::time::Duration::from_secs(30)).expect("CloudFormation heard an answer");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["Detached"], remaining, "{answer}");
    assert_eq!(counts(), (0, 50));
}

/// An IoT on loopback that lists two targets and never answers a
/// `DetachPolicy`: the drain must cut its calls at the margin it keeps for
/// the answer, so CloudFormation hears FAILED before the invocation ends.
#[test]
fn a_detach_that_never_returns_still_leaves_time_to_answer() {
    let iot = serve(|mut socket| async move {
        let Some((head, _)) = read_request(&mut socket).await else { return };
        if head.starts_with("POST /policy-targets/") {
            let body = br#"{"targets": ["us-east-1:00000000-0000-4000-8000-000000000001", "us-east-1:00000000-0000-4000-8000-000000000002"]}"#;
            let _ = socket.write_all(&http(200, "content-type: application/json\r\n", body)).await;
        } else {
            // The detach: held open, never answered.
            std::future::pending::<()>().await;
        }
    });
    let (origin, answers) = response_url();
    let event = request("Delete", &origin, "stack-policy");
    // 10.8 s in all: detaches start only in the first 0.8 s, and every call
    // ends 4 s before the invocation does, leaving that time for the answer.
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let (_, stderr) =
        invoke_at(&iot, "stack-policy", &event, "AKIDEXAMPLE", secret, &origin, &["--timeout-ms", "10800"]);
    // The loopback ResponseURL hands the answer over just after it replies.
    let heard = answers.recv_timeout(std::time::Duration::from_secs(5));
    let (_, answer) = heard.unwrap_or_else(|_| panic!("CloudFormation heard nothing:\n{stderr}"));
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with("2 of 2 targets are still attached to stack-policy (a detach failed: unavailable"),
        "{reason}"
    );
    assert!(reason.contains("detach-all --policy stack-policy"), "{reason}");
    assert!(stderr.contains("answered CloudFormation"), "{stderr}");
}

/// An AWS on loopback that refuses every request and quotes its session
/// token and access key back, as a server may: the first page of a listing
/// is answered, so that a drain has targets to fail on.
fn quoting_aws() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let quoted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = quoted.clone();
    let url = serve(move |mut socket| {
        let count = count.clone();
        async move {
            while let Some((head, _)) = read_request(&mut socket).await {
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)))
                        .map(|(_, v)| v.trim().to_owned())
                        .unwrap_or_default()
                };
                let answer = if head.starts_with("POST /policy-targets/") && !head.contains("marker=") {
                    let body = br#"{"targets": ["us-east-1:00000000-0000-4000-8000-000000000001"], "nextMarker": "2"}"#;
                    http(200, "", body)
                } else {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let token = header("x-amz-security-token");
                    let authorization = header("authorization");
                    let message = format!(
                        "The security token included in the request is invalid: {token} (cut: {}) {authorization}",
                        &token[..token.len() / 2]
                    );
                    let body = json!({ "message": message }).to_string();
                    http(403, "x-amzn-ErrorType: UnrecognizedClientException\r\n", body.as_bytes())
                };
                if socket.write_all(&answer).await.is_err() {
                    return;
                }
            }
        }
    });
    (url, quoted)
}

/// Runs the CLI with session credentials against `endpoint`: its exit
/// status, and stdout and stderr together.
fn run_with_session(endpoint: &str, origin: &str, args: &[&str], stdin: &[u8]) -> (bool, String) {
    let mut command = support::cli_against(endpoint, SESSION.0, SESSION.1);
    command
        .args(args)
        .env("AWS_SESSION_TOKEN", SESSION.2)
        .env("IOT_POLICY_NAME", "amplify-toolkit-iot-message-viewer")
        .env("CFN_RESPONSE_URL_ALLOWED_ORIGIN", origin)
        .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG");
    let out = run_with_stdin(&mut command, stdin, CHILD_LIMIT);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

const SESSION: (&str, &str, &str) = (
    "ASIAQUOTEDBACKEXAMPL",
    "quotedBackSecret/K7MDENG+bPxRfiCYEXAMPLE",
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDquotedBackSessionToken+dGhlIHNlc3Npb24gdG9rZW4=",
);

fn assert_no_credentials(what: &str, text: &str) {
    for (name, secret) in [("access key", SESSION.0), ("secret", SESSION.1), ("session token", SESSION.2)] {
        assert!(!text.contains(secret), "{what} carries the {name}:\n{text}");
        // Nor a piece of it, as a server that cuts its quote would give.
        assert!(
            !text.contains(&secret[secret.len() / 4..secret.len() / 2]),
            "{what} carries part of the {name}:\n{text}"
        );
    }
    assert!(text.contains("[redacted]"), "{what} never heard the quoting server:\n{text}");
}

/// Issue 24, finding 2: a server that quotes the request's credentials
/// made them appear in `invoke`'s answer, the logs, the `Reason` sent to
/// CloudFormation and `detach-all`'s stderr.
#[test]
fn a_server_quoting_the_credentials_is_passed_on_nowhere() {
    let (aws, quoted) = quoting_aws();
    let (origin, answers) = response_url();

    let event = std::fs::read(support::root().join("examples/event-rest.json")).unwrap();
    let (_, output) = run_with_session(&aws, &origin, &["invoke", "--event", "-"], &event);
    assert_no_credentials("invoke's answer and log", &output);

    let request = request("Delete", &origin, "amplify-toolkit-iot-message-viewer");
    let args = ["invoke", "--timeout-ms", "60000", "--event", "-"];
    let (_, output) = run_with_session(&aws, &origin, &args, request.to_string().as_bytes());
    let (_, answer) = answers.recv_timeout(std::time::Duration::from_secs(10)).expect("CloudFormation heard an answer");
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    assert_no_credentials("the Reason sent to CloudFormation", answer["Reason"].as_str().unwrap());
    assert_no_credentials("the custom resource's answer and log", &output);

    let (ok, output) =
        run_with_session(&aws, &origin, &["detach-all", "--policy", "stack-policy", "--rate", "100"], b"");
    assert!(!ok, "a refused detach fails the command:\n{output}");
    assert_no_credentials("detach-all's output", &output);
    assert!(quoted.load(std::sync::atomic::Ordering::SeqCst) >= 3, "the server quoted the credentials");
}

/// `request` with `DeletePolicy: "true"`, as the stack's templates send it.
fn deleting(origin: &str, policy: &str) -> Value {
    let mut event = request("Delete", origin, policy);
    event["ResourceProperties"]["DeletePolicy"] = json!("true");
    event
}

/// A Delete that drains and then deletes the policy itself, against an IoT
/// that refuses `DeletePolicy` for 6 s after the last detach: it waits that
/// out, and CloudFormation's own delete of the policy then finds it gone.
#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn delete_waits_until_iot_lets_go_of_the_policy_then_deletes_it() {
    let moto = Moto::start_slow_to_let_go("6");
    let policy = moto.s("/policyName");
    moto.ctl(&[
        "populate",
        &json!({"policy": policy, "other": "other-policy", "count": 30, "otherCount": 5}).to_string(),
    ]);
    // A version that is not the default: DeletePolicy refuses while it exists.
    moto.ctl(&["version", &json!({"policy": policy}).to_string()]);
    let (origin, answers) = response_url();
    let heard = || answers.recv_timeout(std::time::Duration::from_secs(60)).expect("CloudFormation heard an answer").1;

    // Without the permission to delete: drained, then FAILED naming what to grant.
    let (key, secret) = (moto.s("/drainOnlyKey/id"), moto.s("/drainOnlyKey/secret"));
    invoke(&moto, &deleting(&origin, &policy), &key, &secret, &origin, &[]);
    let answer = heard();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(reason.starts_with(&format!("detached {policy} from 30 targets, but deleting it failed (access-denied")));
    assert!(reason.contains("needs iot:ListPolicyVersions, iot:DeletePolicyVersion and iot:DeletePolicy"), "{reason}");
    assert!(moto.ctl(&["policies"]).as_array().unwrap().contains(&json!(policy)));

    // With it: the refusals are waited out (the drain's detaches were just
    // now), the version goes first, then the policy.
    let (key, secret) = (moto.s("/drainKey/id"), moto.s("/drainKey/secret"));
    let started = std::time::Instant::now();
    invoke(&moto, &deleting(&origin, &policy), &key, &secret, &origin, &[]);
    let answer = heard();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("detached {policy} from 0 targets, and deleted it after IoT refused ")),
        "{reason}"
    );
    assert_eq!(answer["Data"]["PolicyDeleted"], true);
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "the refusals were waited out");
    let policies = moto.ctl(&["policies"]);
    assert!(!policies.as_array().unwrap().contains(&json!(policy)), "{policies}");
    assert!(policies.as_array().unwrap().contains(&json!("other-policy")), "the other policy stays: {policies}");

    // CloudFormation's retry of the same Delete: the policy is gone, SUCCESS.
    invoke(&moto, &deleting(&origin, &policy), &key, &secret, &origin, &[]);
    let answer = heard();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Reason"], format!("{policy} does not exist"));
}

/// An IoT that never lets go: the deletion stops in time, FAILED, with a
/// reason that says what happened and what to do; nothing else is lost.
#[test]
#[ignore = "needs moto in .venv: `make test` runs it"]
fn delete_against_an_iot_that_never_lets_go_stops_in_time_saying_what_to_do() {
    let moto = Moto::start_slow_to_let_go("never");
    let policy = moto.s("/policyName");
    moto.ctl(&[
        "populate",
        &json!({"policy": policy, "other": "other-policy", "count": 10, "otherCount": 0}).to_string(),
    ]);
    let (origin, answers) = response_url();
    let (key, secret) = (moto.s("/drainKey/id"), moto.s("/drainKey/secret"));
    // 20 s: no try starts later than 10 s before the end.
    let started = std::time::Instant::now();
    invoke(&moto, &deleting(&origin, &policy), &key, &secret, &origin, &["--timeout-ms", "20000"]);
    let (_, answer) = answers.recv_timeout(std::time::Duration::from_secs(30)).expect("CloudFormation heard an answer");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "answered within the invocation");
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("detached {policy} from 10 targets, but IoT still refused to delete it after "))
    );
    assert!(reason.contains("(DeleteConflictException: "), "{reason}");
    assert!(reason.ends_with("Wait a few minutes, then delete the stack again"), "{reason}");
    assert_eq!(answer["Data"]["Detached"], 10);
    let targets = moto.ctl(&["targets", &json!({"policies": [policy]}).to_string()]);
    assert_eq!(targets[&policy], json!([]));
    assert!(moto.ctl(&["policies"]).as_array().unwrap().contains(&json!(policy)));
}
