//! Where the signing credentials come from.
//!
//! The environment first, as in every AWS SDK. When it holds none, the
//! command line (built with the `credential-chain` feature) goes on as the
//! SDKs do, with `aws-config`'s own providers: the shared config and
//! credentials files for `AWS_PROFILE` (static keys, `credential_process`,
//! `role_arn` with `source_profile`, SSO), container credentials, then IMDSv2.
//! Credentials that expire are fetched again before they do. The Lambda
//! bootstrap is built without the feature: Lambda puts its role's credentials
//! in the environment, and the bootstrap reads nothing else.

use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::identity::Identity;

use super::AwsError;
use super::client::SetupError;
use crate::config::Lookup;

/// What signs the requests.
pub enum CredentialSource {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, read once.
    Environment(Identity),
    /// The SDKs' credential chain, for the command line.
    #[cfg(feature = "credential-chain")]
    Chain(chain::Chain),
}

impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl CredentialSource {
    /// The environment's credentials; without them, the chain when it is built
    /// in, else an error that says what to set.
    pub fn from_lookup(var: &impl Lookup, chain: Option<ChainSettings>) -> Result<Self, SetupError> {
        match from_environment(var)? {
            Some(credentials) => Ok(Self::Environment(credentials.into())),
            #[cfg(feature = "credential-chain")]
            None if chain.is_some() => Ok(Self::Chain(chain::Chain::new(chain.unwrap_or_default()))),
            None => {
                let _ = chain;
                Err(missing("no AWS credentials in the environment"))
            }
        }
    }

    /// Only the environment's credentials, as the Lambda bootstrap reads them.
    pub fn environment_only(var: &impl Lookup) -> Result<Self, SetupError> {
        Self::from_lookup(var, None)
    }

    /// Where the credentials come from, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Environment(_) => "environment",
            #[cfg(feature = "credential-chain")]
            Self::Chain(_) => "credential chain",
        }
    }

    /// The credentials to sign the next request with.
    pub async fn identity(&self) -> Result<Identity, AwsError> {
        match self {
            Self::Environment(identity) => Ok(identity.clone()),
            #[cfg(feature = "credential-chain")]
            Self::Chain(chain) => chain.identity().await,
        }
    }
}

/// What the credential chain needs that is not in the process environment.
#[derive(Clone, Default)]
pub struct ChainSettings {
    /// The region of STS and SSO calls.
    pub region: Option<String>,
    /// Carries the requests the providers make (STS, SSO, the container
    /// endpoint, IMDS), with the same TLS set-up as every other call.
    pub http: Option<reqwest::Client>,
}

fn from_environment(var: &impl Lookup) -> Result<Option<Credentials>, SetupError> {
    let get = |name: &'static str| var.get(name).map(|v| v.filter(|v| !v.trim().is_empty()));
    let (key, secret, token) = (get("AWS_ACCESS_KEY_ID")?, get("AWS_SECRET_ACCESS_KEY")?, get("AWS_SESSION_TOKEN")?);
    match (key, secret) {
        (Some(key), Some(secret)) => Ok(Some(Credentials::new(key, secret, token, None, "environment"))),
        (Some(_), None) => Err(missing("AWS_SECRET_ACCESS_KEY is not set, but AWS_ACCESS_KEY_ID is")),
        (None, Some(_)) => Err(missing("AWS_ACCESS_KEY_ID is not set, but AWS_SECRET_ACCESS_KEY is")),
        (None, None) if token.is_some() => Err(missing("AWS_SESSION_TOKEN is set without an access key")),
        (None, None) => Ok(None),
    }
}

fn missing(what: &str) -> SetupError {
    SetupError::Credentials(format!(
        "{what}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), \
         for example with: eval \"$(aws configure export-credentials --format env)\""
    ))
}

#[cfg(feature = "credential-chain")]
pub mod chain {
    //! `aws-config`'s default chain, behind a cache that refreshes early.

    use std::time::{Duration, SystemTime};

    use aws_config::default_provider::credentials::DefaultCredentialsChain;
    use aws_config::provider_config::ProviderConfig;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
    use aws_smithy_runtime_api::client::identity::Identity;
    use tokio::sync::{Mutex, OnceCell};
    use tracing::{Level, event};

    use super::ChainSettings;
    use crate::aws::AwsError;

    /// Credentials are fetched again this long before they expire, so that no
    /// request is signed with credentials that run out on its way.
    pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

    /// The chain's provider, with the credentials it gave until they near expiry.
    pub struct Chain {
        settings: ChainSettings,
        /// Built on first use: building it reads the profile files.
        provider: OnceCell<SharedCredentialsProvider>,
        /// One fetch at a time; the others wait for it and share its result.
        cached: Mutex<Option<Credentials>>,
    }

    impl Chain {
        /// The default chain, its requests sent as `settings` say.
        pub fn new(settings: ChainSettings) -> Self {
            Self { settings, provider: OnceCell::new(), cached: Mutex::new(None) }
        }

        /// The same cache in front of another provider.
        pub fn with_provider(provider: SharedCredentialsProvider) -> Self {
            let chain = Self::new(ChainSettings::default());
            chain.provider.set(provider).expect("a new cell is empty");
            chain
        }

        /// The credentials to sign with, fetched again 5 minutes before they expire.
        pub async fn identity(&self) -> Result<Identity, AwsError> {
            let mut cached = self.cached.lock().await;
            let now = SystemTime::now();
            if let Some(credentials) = cached.as_ref().filter(|c| !due(c, now)) {
                return Ok(credentials.clone().into());
            }
            let provider = self.provider.get_or_init(|| self.build()).await;
            match provider.provide_credentials().await {
                Ok(fresh) => {
                    let expires_in = fresh.expiry().and_then(|at| at.duration_since(now).ok()).map(|d| d.as_secs());
                    event!(Level::DEBUG, expires_in, "fetched AWS credentials from the credential chain");
                    *cached = Some(fresh.clone());
                    Ok(fresh.into())
                }
                // Not yet expired: better than nothing; the next call tries again.
                Err(e) if cached.as_ref().is_some_and(|c| c.expiry().is_none_or(|at| at > now)) => {
                    // The refresh may be signed with these; its server could quote them.
                    let secrets = cached.as_ref().map(crate::aws::redact::secrets_of).unwrap_or_default();
                    event!(
                        Level::WARN,
                        "could not refresh the AWS credentials ({}); using the ones that have not expired yet",
                        crate::aws::redact::redact(&describe(&e), &secrets)
                    );
                    Ok(cached.clone().expect("checked").into())
                }
                Err(e) => {
                    let profile = match std::env::var("AWS_PROFILE") {
                        Ok(name) if !name.trim().is_empty() => format!("AWS_PROFILE={name}"),
                        _ => "the default profile".into(),
                    };
                    Err(AwsError::Other(format!(
                        "no AWS credentials: none in the environment, and the credential chain ({profile}, \
                         container credentials, IMDS) found none: {}",
                        describe(&e)
                    )))
                }
            }
        }

        async fn build(&self) -> SharedCredentialsProvider {
            let region = self.settings.region.clone().map(aws_config::Region::new);
            let mut config = ProviderConfig::without_region().with_region(region.clone());
            if let Some(http) = &self.settings.http {
                config = config.with_http_client(super::http::Reqwest(http.clone()));
            }
            SharedCredentialsProvider::new(
                DefaultCredentialsChain::builder().configure(config).region(region).build().await,
            )
        }
    }

    /// The error and its causes, their `Display` only: the SDK's `Debug`
    /// holds raw responses, which can hold credentials.
    fn describe(e: &(dyn std::error::Error + 'static)) -> String {
        let mut text = e.to_string();
        let mut next = e.source();
        while let Some(cause) = next {
            let more = cause.to_string();
            if !text.contains(&more) {
                text = format!("{text}: {more}");
            }
            next = cause.source();
        }
        text
    }

    /// Whether credentials are due for a refresh at `now`.
    pub fn due(credentials: &Credentials, now: SystemTime) -> bool {
        credentials.expiry().is_some_and(|at| at <= now + REFRESH_BEFORE_EXPIRY)
    }
}

#[cfg(feature = "credential-chain")]
mod http {
    //! `aws-config`'s providers send their requests with our `reqwest` client,
    //! rather than bring a second HTTP and TLS stack into the binary.

    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_types::body::SdkBody;

    #[derive(Debug, Clone)]
    pub struct Reqwest(pub reqwest::Client);

    impl HttpClient for Reqwest {
        fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            // IMDS asks for short timeouts, so that a machine without it fails fast.
            let timeout = match (settings.connect_timeout(), settings.read_timeout()) {
                (Some(connect), Some(read)) => Some(connect + read),
                (connect, read) => connect.or(read),
            };
            SharedHttpConnector::new(Connector { client: self.0.clone(), timeout })
        }
    }

    #[derive(Debug)]
    struct Connector {
        client: reqwest::Client,
        timeout: Option<std::time::Duration>,
    }

    impl HttpConnector for Connector {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let (client, timeout) = (self.client.clone(), self.timeout);
            HttpConnectorFuture::new(async move {
                let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
                let (parts, body) = request.into_parts();
                let body = body
                    .bytes()
                    .ok_or_else(|| ConnectorError::user("a streaming request body is not supported here".into()))?
                    .to_vec();
                let request = http::Request::from_parts(parts, body);
                let mut request = reqwest::Request::try_from(request).map_err(|e| ConnectorError::user(e.into()))?;
                *request.timeout_mut() = timeout;
                let response = client.execute(request).await.map_err(|e| {
                    let e = e.without_url();
                    if e.is_timeout() { ConnectorError::timeout(e.into()) } else { ConnectorError::io(e.into()) }
                })?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await.map_err(|e| ConnectorError::io(e.without_url().into()))?;
                let mut answer = http::Response::new(SdkBody::from(body));
                *answer.status_mut() = status;
                *answer.headers_mut() = headers;
                HttpResponse::try_from(answer).map_err(|e| ConnectorError::other(e.into(), None))
            })
        }
    }
}

#[cfg(all(test, feature = "credential-chain"))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, SystemTime};

    use aws_credential_types::Credentials;
    use aws_credential_types::provider::{
        ProvideCredentials, SharedCredentialsProvider, error::CredentialsError, future,
    };

    use super::chain::{Chain, REFRESH_BEFORE_EXPIRY};

    /// Hands out credentials that last `lifetime`, numbered by fetch, until told to fail.
    #[derive(Debug, Clone)]
    struct Issuer {
        lifetime: Duration,
        fetches: Arc<AtomicU32>,
        failing: Arc<std::sync::atomic::AtomicBool>,
    }

    impl ProvideCredentials for Issuer {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            if self.failing.load(Ordering::SeqCst) {
                return future::ProvideCredentials::ready(Err(CredentialsError::provider_error("the issuer is down")));
            }
            let expiry = SystemTime::now() + self.lifetime;
            let credentials =
                Credentials::new(format!("ASIA{n}"), "secret", Some("token".into()), Some(expiry), "test");
            future::ProvideCredentials::ready(Ok(credentials))
        }
    }

    fn issuer(lifetime: Duration) -> (Issuer, Chain) {
        let issuer = Issuer { lifetime, fetches: Default::default(), failing: Default::default() };
        (issuer.clone(), Chain::with_provider(SharedCredentialsProvider::new(issuer)))
    }

    async fn key(chain: &Chain) -> String {
        let identity = chain.identity().await.unwrap();
        identity.data::<Credentials>().unwrap().access_key_id().to_owned()
    }

    #[tokio::test]
    async fn credentials_are_kept_until_they_come_near_expiry() {
        let (issuer, chain) = issuer(Duration::from_secs(3600));
        assert_eq!(key(&chain).await, "ASIA1");
        assert_eq!(key(&chain).await, "ASIA1");
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn credentials_near_expiry_are_fetched_again_before_use() {
        // Valid for another minute: inside the refresh window, so never used as they are.
        let (issuer, chain) = issuer(REFRESH_BEFORE_EXPIRY - Duration::from_secs(60));
        assert_eq!(key(&chain).await, "ASIA1");
        assert_eq!(key(&chain).await, "ASIA2");
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);

        // A failed refresh keeps credentials that have not yet expired...
        issuer.failing.store(true, Ordering::SeqCst);
        assert_eq!(key(&chain).await, "ASIA2");
    }

    #[tokio::test]
    async fn a_failed_refresh_of_expired_credentials_is_an_error() {
        let (issuer, chain) = issuer(Duration::ZERO);
        assert_eq!(key(&chain).await, "ASIA1");
        issuer.failing.store(true, Ordering::SeqCst);
        let e = chain.identity().await.unwrap_err();
        assert!(e.message().contains("the issuer is down"), "{e:?}");
        assert!(!e.message().contains("secret"), "{e:?}");
    }
}
