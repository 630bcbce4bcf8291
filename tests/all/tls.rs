//! TLS, proven: the AWS client against a loopback TLS server whose
//! certificates are made here, with a CA that only `AWS_CA_BUNDLE` names. A
//! trusted certificate carries a whole invocation; a certificate from an
//! unknown CA, an expired one and one for another host are each refused with
//! a clear error, after one attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use attach_iot_policy::aws::client::{AwsClient, SetupError};
use attach_iot_policy::aws::retry::RetryPolicy;
use attach_iot_policy::aws::{Aws, AwsCall, AwsError, CallContext};
use attach_iot_policy::function::Function;
use attach_iot_policy::limits::Limits;
use attach_iot_policy::runner::{self, Invocation, Runner};
use rcgen::SanType;
use support::backends::{EXAMPLE_EVENT, example_config};
use support::loopback::{http, read_request};
use support::tls::{TestCa, localhost, now};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// An AWS on loopback over TLS that says yes to everything; counts connections.
async fn tls_aws(config: rustls::ServerConfig) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else { return };
                while let Some((head, _)) = read_request(&mut tls).await {
                    let body: &[u8] = if head.contains("ListUsers") { br#"{"Users":[]}"# } else { b"{}" };
                    if tls.write_all(&http(200, "content-type: application/json\r\n", body)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, connections)
}

fn client(url: &str, ca_bundle: Option<&std::path::Path>) -> Result<AwsClient, SetupError> {
    let (url, ca_bundle) = (url.to_owned(), ca_bundle.map(|p| p.display().to_string()));
    let vars = move |k: &str| match k {
        "AWS_ACCESS_KEY_ID" => Some("AKIDTLSTEST".to_owned()),
        "AWS_SECRET_ACCESS_KEY" => Some("TlsTestSecretTlsTestSecretTlsTestSecret0".to_owned()),
        "AWS_REGION" => Some("us-west-2".to_owned()),
        "AWS_ENDPOINT_URL" => Some(url.clone()),
        "AWS_CA_BUNDLE" => ca_bundle.clone(),
        _ => None,
    };
    AwsClient::from_lookup(&vars, RetryPolicy { base: Duration::from_millis(5), ..RetryPolicy::default() })
}

fn cx() -> CallContext {
    CallContext::until(runner::deadline_in(Duration::from_secs(10)))
}

#[tokio::test]
async fn a_certificate_from_the_ca_bundle_carries_a_whole_invocation() {
    let ca = TestCa::new("trusted-ca");
    let (url, connections) =
        tls_aws(ca.server_cert(localhost(), now() - time::Duration::DAY, now() + time::Duration::DAY)).await;
    let client = Arc::new(client(&url, Some(&ca.pem_file)).unwrap());
    let runner = Arc::new(Runner::new(attach_iot_policy::GUEST_WASM, Limits::default()).unwrap());
    let function = Function::new(runner, Arc::new(example_config()), client);
    let invocation = Invocation {
        request_id: "tls".into(),
        cognito_identity: None,
        deadline: runner::deadline_in(Duration::from_secs(10)),
        trace_id: None,
    };
    let outcome = function.invoke(EXAMPLE_EVENT.as_bytes(), &invocation).await;
    assert_eq!(outcome.response.status_code, 200, "{}", outcome.response.body);
    assert_eq!(outcome.aws_calls, 2, "AttachPolicy and AdminUpdateUserAttributes, over TLS");
    assert_eq!(connections.load(Ordering::SeqCst), 1, "one connection, kept alive");
}

#[tokio::test]
async fn refused_certificates_say_why_and_are_not_retried() {
    let ca = TestCa::new("refusing-ca");
    let stranger = TestCa::new("unknown-ca");
    let day = time::Duration::DAY;
    let cases = [
        // Signed by a CA that no bundle names.
        ("UnknownIssuer", stranger.server_cert(localhost(), now() - day, now() + day)),
        ("certificate expired", ca.server_cert(localhost(), now() - 30 * day, now() - day)),
        (
            "not valid for name",
            ca.server_cert(SanType::DnsName("other.example".try_into().unwrap()), now() - day, now() + day),
        ),
    ];
    for (reason, config) in cases {
        let (url, connections) = tls_aws(config).await;
        let client = client(&url, Some(&ca.pem_file)).unwrap();
        let call = AwsCall::AttachPolicy {
            policy_name: "p".into(),
            target: "us-west-2:d625c9c7-9a79-483c-bb4a-0123456789ab".into(),
        };
        let error = client.call(&cx(), call).await.unwrap_err();
        let AwsError::Other(message) = &error else { panic!("{reason}: {error:?}") };
        assert!(message.starts_with("TLS: invalid peer certificate"), "{reason}: {message}");
        assert!(message.contains(reason), "{reason}: {message}");
        assert_eq!(connections.load(Ordering::SeqCst), 1, "{reason}: refused once, not retried");
    }
}

#[test]
fn a_ca_bundle_that_cannot_be_read_stops_the_program_naming_it() {
    let missing = std::env::temp_dir().join("attach-iot-policy-no-such-bundle.pem");
    let err = client("https://127.0.0.1:1", Some(&missing)).err().expect("refused");
    assert!(err.to_string().starts_with("AWS_CA_BUNDLE: "), "{err}");
    let empty = support::temp_path("empty", ".pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = client("https://127.0.0.1:1", Some(&empty)).err().expect("refused");
    let _ = std::fs::remove_file(&empty);
    assert!(err.to_string().contains("holds no certificate"), "{err}");
}
