//! The real AWS calls: SigV4-signed with `aws-sigv4`, sent with `reqwest`,
//! retried with backoff inside the invocation's deadline.

use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tracing::{Level, event};

#[cfg(feature = "credential-chain")]
use super::credentials::ChainSettings;
use super::credentials::CredentialSource;
use super::endpoints::{Endpoints, Service};
use super::errors::{classify, is_retryable};
use super::redact::secrets;
use super::retry::{RetryPolicy, RetryQuota};
use super::{Answer, Aws, AwsCall, AwsError, CallContext, PolicyVersion, TargetsPage};
use crate::config::{ConfigError, Lookup};
use crate::settings::Settings;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// `ListTargetsForPolicy`'s largest page.
const TARGETS_PAGE_SIZE: u32 = 250;
const COGNITO_TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Init waits at most this long for its early connections.
const PRECONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Shorter than the idle timeouts of AWS's load balancers, so a pooled
/// connection is rarely found closed.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the client could not be built. Messages name variables, never values.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No usable credentials; the text says what to set.
    #[error("{0}")]
    Credentials(String),
    #[error(
        "AWS_REGION is not set (nor AWS_DEFAULT_REGION, nor a region in the AWS_PROFILE's profile): the region whose IoT endpoint gets the policy, for example us-east-1"
    )]
    /// No region in the environment, nor in the profile.
    MissingRegion,
    /// A region that is not a region name; the variable that held it.
    #[error("{0} is not an AWS region name")]
    BadRegion(&'static str),
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Http(String),
    /// `AWS_CA_BUNDLE` names a file that holds no usable certificate.
    #[error("AWS_CA_BUNDLE: {0}")]
    CaBundle(String),
    /// A setting with a bad value.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The real AWS: one HTTP client and one retry quota per process, shared by every call.
pub struct AwsClient {
    http: reqwest::Client,
    /// Its `Debug` shows where the credentials come from, never them.
    credentials: CredentialSource,
    region: String,
    endpoints: Endpoints,
    retry: RetryPolicy,
    /// Shared by every call this client makes, across invocations.
    quota: RetryQuota,
}

impl AwsClient {
    /// The Lambda bootstrap's client: the endpoints, roots and retries of
    /// `settings`; the region and credentials from the environment only.
    pub fn from_settings(var: &impl Lookup, settings: &Settings) -> Result<Self, SetupError> {
        let region = region(var)?.ok_or(SetupError::MissingRegion)?;
        let http = client(&settings.ca_roots)?;
        let credentials = CredentialSource::environment_only(var)?;
        Ok(Self::new(http, credentials, region, settings.endpoints.clone(), settings.retry))
    }

    /// A client with every setting read through `var`, for tests.
    pub fn from_lookup(var: &impl Lookup, retry: RetryPolicy) -> Result<Self, SetupError> {
        let http = client(&ca_bundle(var)?)?;
        let region = region(var)?.ok_or(SetupError::MissingRegion)?;
        Ok(Self::new(http, CredentialSource::environment_only(var)?, region, Endpoints::from_lookup(var)?, retry))
    }

    /// The command line's client: region and credentials as the AWS SDKs find
    /// them. The environment first; then `AWS_PROFILE`'s region, and the
    /// credential chain, when the environment holds none.
    #[cfg(feature = "credential-chain")]
    pub async fn from_settings_or_profile(var: &impl Lookup, settings: &Settings) -> Result<Self, SetupError> {
        let region = match region(var)? {
            Some(region) => region,
            None => profile_region().await?,
        };
        let http = client(&settings.ca_roots)?;
        let chain = ChainSettings { region: Some(region.clone()), http: Some(http.clone()) };
        let credentials = CredentialSource::from_lookup(var, Some(chain))?;
        Ok(Self::new(http, credentials, region, settings.endpoints.clone(), settings.retry))
    }

    fn new(
        http: reqwest::Client,
        credentials: CredentialSource,
        region: String,
        endpoints: Endpoints,
        retry: RetryPolicy,
    ) -> Self {
        Self { http, credentials, region, endpoints, retry, quota: RetryQuota::new() }
    }

    /// Fetches the credentials now, so that a command fails before its first
    /// call when there are none.
    pub async fn check_credentials(&self) -> Result<(), AwsError> {
        self.credentials.identity().await.map(drop)
    }

    /// Opens the connections the first invocation will use before it comes:
    /// to IoT in the function's region and, when given, to Cognito in
    /// `cognito_region`, both at once. The unsigned `GET /` gets a refusal,
    /// read to the end so the connection goes back to the pool. A failure is
    /// only logged: the first call connects then, as it would have.
    pub async fn preconnect(&self, cognito_region: Option<&str>) {
        let open = |service: &'static str, base: String| async move {
            let started = Instant::now();
            let sent = self.http.get(format!("{base}/")).timeout(PRECONNECT_TIMEOUT).send().await;
            match sent {
                Ok(response) => {
                    let _ = response.bytes().await;
                    let elapsed_ms = started.elapsed().as_millis() as u64;
                    event!(Level::DEBUG, service, elapsed_ms, "opened a connection at init");
                }
                Err(e) => event!(
                    Level::WARN,
                    service,
                    "could not open a connection at init ({}); the first call will",
                    transport_error(&e).message()
                ),
            }
        };
        let iot = open("iot", self.endpoints.resolve(Service::Iot, &self.region));
        match cognito_region {
            Some(region) => {
                let cognito = open("cognito-idp", self.endpoints.resolve(Service::CognitoIdentityProvider, region));
                tokio::join!(iot, cognito);
            }
            None => iot.await,
        }
    }

    /// Sends one operation, retrying what may succeed on a second try.
    async fn send(&self, cx: &CallContext, op: Operation<'_>) -> Result<Vec<u8>, AwsError> {
        let started = Instant::now();
        let mut attempt = 1;
        let mut retried = None;
        loop {
            let result = self.attempt(cx, &op).await;
            let (status, outcome) = match &result {
                Ok((status, _)) => (Some(*status), None),
                Err((status, e)) => (*status, Some(e)),
            };
            let no_answer = status.is_none();
            let status = status.map_or_else(|| "none".to_owned(), |s| s.to_string());
            let retry_in = match outcome {
                Some(e) if is_retryable(e) => self.retry.backoff(attempt, Instant::now(), cx.deadline),
                _ => None,
            };
            // The quota pays for each retry; an empty one ends them.
            let retry_in = retry_in.and_then(|wait| match self.quota.take(no_answer) {
                Some(taken) => {
                    retried = Some(taken);
                    Some(wait)
                }
                None => {
                    event!(Level::WARN, operation = op.name, "not retrying: the retry quota is spent");
                    None
                }
            });
            if outcome.is_none() {
                self.quota.succeeded(retried);
            }
            if let Some(wait) = retry_in {
                event!(
                    Level::DEBUG,
                    operation = op.name,
                    status,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "retrying"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            let duration_ms = started.elapsed().as_millis() as u64;
            match &outcome {
                None => event!(Level::INFO, operation = op.name, status, attempts = attempt, duration_ms, "aws call"),
                // The sub-as-username miss is an expected step, not a warning.
                Some(e @ AwsError::NotFound(_)) => event!(
                    Level::INFO,
                    operation = op.name,
                    status,
                    attempts = attempt,
                    duration_ms,
                    error = e.kind(),
                    "aws call: {}",
                    e.message()
                ),
                Some(e) => event!(
                    Level::WARN,
                    operation = op.name,
                    status,
                    attempts = attempt,
                    duration_ms,
                    error = e.kind(),
                    "aws call failed: {}",
                    e.message()
                ),
            }
            return result.map(|(_, body)| body).map_err(|(_, e)| e);
        }
    }

    /// One signed request. The error carries the HTTP status when there was one.
    async fn attempt(&self, cx: &CallContext, op: &Operation<'_>) -> Result<(u16, Vec<u8>), (Option<u16>, AwsError)> {
        let now = Instant::now();
        if now >= cx.deadline {
            return Err((None, AwsError::Unavailable("the invocation's deadline passed before the call".into())));
        }
        let identity = self.credentials.identity().await.map_err(|e| (None, e))?;
        let request = self.signed_request(cx, op, &identity).map_err(|e| (None, e))?;
        let mut request = reqwest::Request::try_from(request)
            .map_err(|_| (None, AwsError::Other("the request could not be built".into())))?;
        *request.timeout_mut() = Some(self.retry.attempt_timeout(now, cx.deadline));

        let response = self.http.execute(request).await.map_err(|e| (None, transport_error(&e)))?;
        let status = response.status().as_u16();
        let error_type = response.headers().get("x-amzn-ErrorType").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.bytes().await.map_err(|e| (Some(status), transport_error(&e)))?;
        if (200..300).contains(&status) {
            Ok((status, body.to_vec()))
        } else {
            Err((Some(status), classify(status, error_type.as_deref(), &body, &secrets(&identity))))
        }
    }

    fn signed_request(
        &self,
        cx: &CallContext,
        op: &Operation<'_>,
        identity: &Identity,
    ) -> Result<http::Request<Vec<u8>>, AwsError> {
        let base = self.endpoints.resolve(op.service, op.region);
        let url = format!("{base}{}", op.path);
        let mut builder = http::Request::builder().method(op.method).uri(&url);
        for (name, value) in &op.headers {
            builder = builder.header(*name, value.as_str());
        }
        // As the SDKs do; SigV4 leaves this header out of the signature.
        if let Some(trace_id) = &cx.trace_id {
            builder = builder.header("x-amzn-trace-id", trace_id.as_str());
        }
        let mut request =
            builder.body(op.body.clone()).map_err(|_| AwsError::InvalidRequest("the request URL is invalid".into()))?;

        sign(identity, op.region, op.service.signing_name(), &mut request)?;
        Ok(request)
    }

    /// `AttachPolicy` or `DetachPolicy`: the same path and body, another method.
    fn iot_target(&self, name: &'static str, method: &'static str, policy_name: &str, target: &str) -> Operation<'_> {
        Operation {
            name,
            service: Service::Iot,
            region: &self.region,
            method,
            path: format!("/target-policies/{}", utf8_percent_encode(policy_name, PATH_SEGMENT)),
            headers: vec![("content-type", "application/json".into())],
            body: json!({ "target": target }).to_string().into_bytes(),
        }
    }

    /// A call on one IoT policy, at `/policies/{name}` and then `tail`, with no body.
    fn iot_policy(&self, name: &'static str, method: &'static str, policy_name: &str, tail: &str) -> Operation<'_> {
        let path = format!("/policies/{}{tail}", utf8_percent_encode(policy_name, PATH_SEGMENT));
        Operation { name, service: Service::Iot, region: &self.region, method, path, headers: vec![], body: Vec::new() }
    }

    fn cognito<'a>(&self, user_pool_id: &'a str, action: &'static str, body: Value) -> Result<Operation<'a>, AwsError> {
        // A user pool lives in the region its ID names, whatever the function's region.
        let region = attach_iot_policy_ids::region_of_user_pool_id(user_pool_id)
            .ok_or_else(|| AwsError::InvalidRequest("the user pool ID is not of the form <region>_<id>".into()))?;
        Ok(Operation {
            name: action,
            service: Service::CognitoIdentityProvider,
            region,
            method: "POST",
            path: "/".into(),
            headers: vec![
                ("content-type", "application/x-amz-json-1.1".into()),
                ("x-amz-target", format!("{COGNITO_TARGET_PREFIX}{action}")),
            ],
            body: body.to_string().into_bytes(),
        })
    }
}

/// Signs `request` in place with SigV4: the `Authorization` header, `X-Amz-Date`,
/// and `X-Amz-Security-Token` for temporary credentials.
pub fn sign(
    identity: &Identity,
    region: &str,
    service: &str,
    request: &mut http::Request<Vec<u8>>,
) -> Result<(), AwsError> {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|_| AwsError::Other("the signing parameters are incomplete".into()))?
        .into();
    let url = request.uri().to_string();
    let headers = request.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    let signable = SignableRequest::new(request.method().as_str(), &url, headers, SignableBody::Bytes(request.body()))
        .map_err(|_| AwsError::InvalidRequest("the request could not be signed".into()))?;
    let (instructions, _signature) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|_| AwsError::Other("signing the request failed".into()))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// The trust anchors `AWS_CA_BUNDLE` names, as the AWS SDKs read it: a PEM
/// file whose certificates are trusted beside the compiled-in roots. The file
/// is read only when the variable is set, so a cold start reads none.
pub fn ca_bundle(var: &impl Lookup) -> Result<Vec<CertificateDer<'static>>, SetupError> {
    let Some(path) = var.get("AWS_CA_BUNDLE")?.filter(|p| !p.trim().is_empty()) else { return Ok(Vec::new()) };
    let certs = CertificateDer::pem_file_iter(path.trim())
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| SetupError::CaBundle(format!("{path} could not be read as PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(SetupError::CaBundle(format!("{path} holds no certificate")));
    }
    Ok(certs)
}

/// An HTTP client builder with TLS set up here rather than by reqwest: ring
/// (which cross-compiles for every target without a C toolchain) and, when
/// `roots` is given, the Mozilla roots compiled in plus those extra ones.
/// Reading the system's certificate files instead cost hundreds of file reads
/// at every cold start. `None` is for plain HTTP on loopback.
pub fn http_client(roots: Option<&[CertificateDer<'static>]>) -> reqwest::ClientBuilder {
    let mut store = rustls::RootCertStore::empty();
    if let Some(extra) = roots {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // A certificate rustls cannot use is left out; the handshake then says so.
        store.add_parsable_certificates(extra.iter().cloned());
    }
    let mut tls =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(store)
            .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder().tls_backend_preconfigured(tls)
}

/// The TLS error under a request's failure, if that is what it was. An
/// `io::Error` hides the error it wraps from `source()`, so go into it.
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// One AWS API call, before signing.
struct Operation<'a> {
    name: &'static str,
    service: Service,
    region: &'a str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`, checked.
fn region(var: &impl Lookup) -> Result<Option<String>, SetupError> {
    let (region_var, region) = match (var.get("AWS_REGION")?, var.get("AWS_DEFAULT_REGION")?) {
        (Some(r), _) if !r.trim().is_empty() => ("AWS_REGION", r),
        (_, Some(r)) if !r.trim().is_empty() => ("AWS_DEFAULT_REGION", r),
        _ => return Ok(None),
    };
    let region = region.trim().to_owned();
    if !attach_iot_policy_ids::is_region(&region) {
        return Err(SetupError::BadRegion(region_var));
    }
    Ok(Some(region))
}

/// The `region` of `AWS_PROFILE`'s profile in the shared config file.
#[cfg(feature = "credential-chain")]
async fn profile_region() -> Result<String, SetupError> {
    use aws_config::meta::region::ProvideRegion as _;
    let region = aws_config::profile::ProfileFileRegionProvider::new().region().await;
    let region = region.map(|r| r.as_ref().to_owned()).ok_or(SetupError::MissingRegion)?;
    if !attach_iot_policy_ids::is_region(&region) {
        return Err(SetupError::BadRegion("the profile's region"));
    }
    Ok(region)
}

/// The HTTP client of every call.
fn client(roots: &[CertificateDer<'static>]) -> Result<reqwest::Client, SetupError> {
    http_client(Some(roots))
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .user_agent(concat!("attach-iot-policy/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SetupError::Http(e.to_string()))
}

/// A request that got no HTTP answer. The text names the kind of failure
/// only: reqwest's own text may carry the URL.
fn transport_error(e: &reqwest::Error) -> AwsError {
    // A certificate that is refused will be refused again: not retried.
    if let Some(tls) = tls_error(e) {
        return AwsError::Other(format!("TLS: {tls} (no HTTP answer)"));
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "the connection failed"
    };
    AwsError::Unavailable(format!("{what} (no HTTP answer)"))
}

#[async_trait]
impl Aws for AwsClient {
    async fn call(&self, cx: &CallContext, call: AwsCall) -> Result<Answer, AwsError> {
        match call {
            AwsCall::AttachPolicy { policy_name, target } => {
                let op = self.iot_target("AttachPolicy", "PUT", &policy_name, &target);
                self.send(cx, op).await.map(|_| Answer::Done)
            }
            AwsCall::DetachPolicy { policy_name, target } => {
                let op = self.iot_target("DetachPolicy", "POST", &policy_name, &target);
                self.send(cx, op).await.map(|_| Answer::Done)
            }
            AwsCall::ListUsers { user_pool_id, filter } => {
                let body = json!({ "UserPoolId": user_pool_id, "Filter": filter });
                let body = self.send(cx, self.cognito(&user_pool_id, "ListUsers", body)?).await?;
                let users = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                    v.get("Users")?.as_array()?.iter().map(|u| u.get("Username")?.as_str().map(str::to_owned)).collect()
                });
                users
                    .map(Answer::Users)
                    .ok_or_else(|| AwsError::Other("ListUsers answered with a body that has no Users list".into()))
            }
            AwsCall::UpdateAttributes { user_pool_id, username, attributes } => {
                let attributes: Vec<Value> =
                    attributes.iter().map(|a| json!({ "Name": a.name, "Value": a.value })).collect();
                let body = json!({ "UserPoolId": user_pool_id, "Username": username, "UserAttributes": attributes });
                let op = self.cognito(&user_pool_id, "AdminUpdateUserAttributes", body)?;
                self.send(cx, op).await.map(|_| Answer::Done)
            }
            AwsCall::DeleteAttributes { user_pool_id, username, names } => {
                let body = json!({ "UserPoolId": user_pool_id, "Username": username, "UserAttributeNames": names });
                let op = self.cognito(&user_pool_id, "AdminDeleteUserAttributes", body)?;
                self.send(cx, op).await.map(|_| Answer::Done)
            }
            AwsCall::ListTargetsForPolicy { policy_name, marker } => {
                let mut path = format!(
                    "/policy-targets/{}?pageSize={TARGETS_PAGE_SIZE}",
                    utf8_percent_encode(&policy_name, PATH_SEGMENT)
                );
                if let Some(marker) = marker {
                    path.push_str(&format!("&marker={}", utf8_percent_encode(&marker, PATH_SEGMENT)));
                }
                let op = Operation {
                    name: "ListTargetsForPolicy",
                    service: Service::Iot,
                    region: &self.region,
                    method: "POST",
                    path,
                    headers: vec![],
                    body: Vec::new(),
                };
                let body = self.send(cx, op).await?;
                let page = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                    let targets = v
                        .get("targets")?
                        .as_array()?
                        .iter()
                        .map(|t| t.as_str().map(str::to_owned))
                        .collect::<Option<_>>()?;
                    let next_marker =
                        v.get("nextMarker").and_then(Value::as_str).filter(|m| !m.is_empty()).map(str::to_owned);
                    Some(TargetsPage { targets, next_marker })
                });
                page.map(Answer::Targets).ok_or_else(|| {
                    AwsError::Other("ListTargetsForPolicy answered with a body that has no targets list".into())
                })
            }
            AwsCall::ListPolicyVersions { policy_name } => {
                let op = self.iot_policy("ListPolicyVersions", "GET", &policy_name, "/version");
                let body = self.send(cx, op).await?;
                let versions = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                    v.get("policyVersions")?
                        .as_array()?
                        .iter()
                        .map(|version| {
                            let id = version.get("versionId")?.as_str()?.to_owned();
                            let default = version.get("isDefaultVersion").and_then(Value::as_bool).unwrap_or(false);
                            Some(PolicyVersion { id, default })
                        })
                        .collect::<Option<_>>()
                });
                versions.map(Answer::Versions).ok_or_else(|| {
                    AwsError::Other("ListPolicyVersions answered with a body that has no policyVersions list".into())
                })
            }
            AwsCall::DeletePolicyVersion { policy_name, version_id } => {
                let tail = format!("/version/{}", utf8_percent_encode(&version_id, PATH_SEGMENT));
                let op = self.iot_policy("DeletePolicyVersion", "DELETE", &policy_name, &tail);
                self.send(cx, op).await.map(|_| Answer::Done)
            }
            AwsCall::DeletePolicy { policy_name } => {
                let op = self.iot_policy("DeletePolicy", "DELETE", &policy_name, "");
                self.send(cx, op).await.map(|_| Answer::Done)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn client(vars: &[(&str, &str)]) -> Result<AwsClient, SetupError> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        AwsClient::from_lookup(&|k: &str| map.get(k).map(|v| v.to_string()), RetryPolicy::default())
    }

    const KEYS: [(&str, &str); 3] = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        ("AWS_REGION", "us-east-1"),
    ];

    #[test]
    fn missing_or_partial_credentials_are_clear_and_do_not_echo() {
        for (vars, says) in [
            (vec![("AWS_REGION", "us-east-1")], "no AWS credentials"),
            (vec![KEYS[0], KEYS[2]], "AWS_SECRET_ACCESS_KEY is not set"),
            (vec![KEYS[1], KEYS[2]], "AWS_ACCESS_KEY_ID is not set"),
            (vec![("AWS_SESSION_TOKEN", "tok3n-s3cret"), KEYS[2]], "AWS_SESSION_TOKEN is set"),
        ] {
            let Err(e) = client(&vars) else { panic!("{vars:?} was accepted") };
            let text = e.to_string();
            assert!(text.contains(says), "{text}");
            assert!(!text.contains("wJalrXUtnFEMI") && !text.contains("tok3n-s3cret"), "{text}");
        }
    }

    #[test]
    fn region_and_endpoints_are_checked_at_start() {
        assert!(matches!(client(&KEYS[..2]), Err(SetupError::MissingRegion)));
        let mut bad_region = KEYS.to_vec();
        bad_region[2] = ("AWS_REGION", "Mars");
        assert!(matches!(client(&bad_region), Err(SetupError::BadRegion("AWS_REGION"))));
        let mut bad_endpoint = KEYS.to_vec();
        bad_endpoint.push(("AWS_ENDPOINT_URL_IOT", "localhost:5000"));
        let Err(SetupError::Config(e)) = client(&bad_endpoint) else { panic!("localhost:5000 was accepted") };
        assert_eq!(e.variable, "AWS_ENDPOINT_URL_IOT");
        assert!(client(&KEYS).is_ok());
    }

    fn identity(c: &AwsClient) -> Identity {
        match &c.credentials {
            CredentialSource::Environment(identity) => identity.clone(),
            #[allow(unreachable_patterns)]
            other => panic!("{other:?}"),
        }
    }

    fn untraced() -> CallContext {
        CallContext::until(Instant::now() + Duration::from_secs(10))
    }

    #[test]
    fn limit_exceeded_is_never_retried() {
        let e = classify(410, None, br#"{"__type":"LimitExceededException","message":"too many policies"}"#, &[]);
        assert!(!is_retryable(&e), "{e:?}");
    }

    #[test]
    fn attach_policy_is_signed_for_iot_with_the_name_encoded() {
        let c = client(&KEYS).unwrap();
        let op = Operation {
            name: "AttachPolicy",
            service: Service::Iot,
            region: "us-east-1",
            method: "PUT",
            path: format!("/target-policies/{}", utf8_percent_encode("my+policy=1", PATH_SEGMENT)),
            headers: vec![("content-type", "application/json".into())],
            body: b"{}".to_vec(),
        };
        let r = c.signed_request(&untraced(), &op, &identity(&c)).unwrap();
        assert_eq!(r.uri().to_string(), "https://iot.us-east-1.amazonaws.com/target-policies/my%2Bpolicy%3D1");
        assert!(r.headers().get("x-amzn-trace-id").is_none());
        let auth = r.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "{auth}");
        assert!(auth.contains("/us-east-1/iot/aws4_request"), "{auth}");
        assert!(!format!("{:?}", c.credentials).contains("wJalrXUtnFEMI"));
    }

    #[test]
    fn cognito_calls_go_to_the_user_pools_region() {
        let c = client(&KEYS).unwrap();
        let op = c.cognito("eu-west-1_AbC", "ListUsers", json!({})).unwrap();
        let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
        let cx = CallContext { trace_id: Some(trace.into()), ..untraced() };
        let r = c.signed_request(&cx, &op, &identity(&c)).unwrap();
        assert_eq!(r.headers()["x-amzn-trace-id"], trace);
        let signed = r.headers()["authorization"].to_str().unwrap();
        assert!(!signed.contains("x-amzn-trace-id"), "left out of the signature, as the SDKs do: {signed}");
        assert_eq!(r.uri().to_string(), "https://cognito-idp.eu-west-1.amazonaws.com/");
        assert_eq!(r.headers()["x-amz-target"], "AWSCognitoIdentityProviderService.ListUsers");
        assert!(r.headers()["authorization"].to_str().unwrap().contains("/eu-west-1/cognito-idp/aws4_request"));
        assert!(c.cognito("not-a-pool", "ListUsers", json!({})).is_err());
    }
}
