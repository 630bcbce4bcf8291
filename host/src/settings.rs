//! Every setting, read once from the environment when the process starts, by
//! one call: [`Settings::from_lookup`]. The Lambda init and every command use
//! it, so a bad value stops the start, naming its variable, wherever it is
//! used later (`DETACH_RATE` only when the stack is deleted, say).
//!
//! The AWS credentials and region are the client's to read
//! ([`crate::aws::client`]): the command line finds them as the AWS SDKs do.

use std::path::PathBuf;

use rustls::pki_types::CertificateDer;

use crate::aws::client::{SetupError, ca_bundle};
use crate::aws::endpoints::Endpoints;
use crate::aws::retry::RetryPolicy;
use crate::config::{Config, ConfigError, Lookup, switch};
use crate::drain;
use crate::limits::Limits;
use crate::logging::LogSettings;
use crate::metrics::Metrics;

/// Names a component to run instead of the built-in one.
pub const COMPONENT_VAR: &str = "ATTACH_IOT_POLICY_COMPONENT";
/// Names one extra origin the custom resource's `ResponseURL` may have,
/// besides AWS's own `https://….amazonaws.com`: for tests and local emulators.
pub const RESPONSE_ORIGIN_VAR: &str = "CFN_RESPONSE_URL_ALLOWED_ORIGIN";
/// The stack's drain rate, in detaches a second.
pub const RATE_VAR: &str = "DETACH_RATE";

/// What the process runs with.
#[derive(Debug)]
pub struct Settings {
    /// The component's configuration; `None` when `IOT_POLICY_NAME` is unset,
    /// which only the commands that need no policy accept (see [`Settings::config`]).
    config: Option<Config>,
    /// What one invocation of the guest may use.
    pub limits: Limits,
    /// How AWS calls are retried.
    pub retry: RetryPolicy,
    /// Where AWS calls go.
    pub endpoints: Endpoints,
    /// `AWS_CA_BUNDLE`'s certificates, trusted beside the compiled-in roots.
    pub ca_roots: Vec<CertificateDer<'static>>,
    /// The EMF line per invocation; `None` when turned off.
    pub metrics: Option<Metrics>,
    /// The log level and format.
    pub log: LogSettings,
    /// Whether init opens the first invocation's connections.
    pub preconnect: bool,
    /// The stack's drain.
    pub drain: DrainSettings,
    /// A component to run instead of the built-in one.
    pub component: Option<PathBuf>,
}

/// The custom resource's drain.
#[derive(Debug, Clone, PartialEq)]
pub struct DrainSettings {
    /// Detaches a second (`DETACH_RATE`).
    pub rate: f64,
    /// The one origin besides AWS's to which the answer may go (`CFN_RESPONSE_URL_ALLOWED_ORIGIN`).
    pub response_origin: Option<String>,
}

/// Why the process could not start: Lambda's `errorType` and the cause, as
/// the Runtime API's `/init/error` takes them.
#[derive(Debug, thiserror::Error)]
#[error("{cause}")]
pub struct InitError {
    /// Lambda's `errorType`, such as `Runtime.InvalidConfiguration`.
    pub error_type: &'static str,
    /// What went wrong; its text names the variable, never its value.
    #[source]
    pub cause: anyhow::Error,
}

impl InitError {
    /// A setting with a bad value, or a required one missing.
    pub fn invalid_configuration(cause: impl Into<anyhow::Error>) -> Self {
        Self { error_type: "Runtime.InvalidConfiguration", cause: cause.into() }
    }

    /// The component could not be loaded.
    pub fn component_load_failed(cause: impl Into<anyhow::Error>) -> Self {
        Self { error_type: "Runtime.ComponentLoadFailed", cause: cause.into() }
    }
}

impl From<ConfigError> for InitError {
    fn from(e: ConfigError) -> Self {
        Self::invalid_configuration(e)
    }
}

impl From<SetupError> for InitError {
    fn from(e: SetupError) -> Self {
        Self::invalid_configuration(e)
    }
}

impl Settings {
    /// Reads and checks every setting through `var`.
    pub fn from_lookup(var: &impl Lookup) -> Result<Self, InitError> {
        let config = match var.get("IOT_POLICY_NAME")? {
            Some(_) => Some(crate::config::from_lookup(var)?),
            None => None,
        };
        let rate = match var.get(RATE_VAR)? {
            Some(value) => drain::parse_rate(&value).map_err(|problem| ConfigError { variable: RATE_VAR, problem })?,
            None => drain::DEFAULT_RATE,
        };
        let response_origin = match var.get(RESPONSE_ORIGIN_VAR)?.map(|o| o.trim().trim_end_matches('/').to_owned()) {
            None => None,
            Some(origin) if origin.is_empty() => None,
            Some(origin) if is_http_origin(&origin) => Some(origin),
            Some(_) => {
                let problem = "must be one http:// or https:// origin, such as http://127.0.0.1:8080".into();
                return Err(ConfigError { variable: RESPONSE_ORIGIN_VAR, problem }.into());
            }
        };
        Ok(Self {
            config,
            limits: Limits::from_lookup(var)?,
            retry: RetryPolicy::from_lookup(var)?,
            endpoints: Endpoints::from_lookup(var)?,
            ca_roots: ca_bundle(var)?,
            metrics: Metrics::from_lookup(var)?,
            log: LogSettings::from_lookup(var)?,
            preconnect: switch(var, "ATTACH_IOT_POLICY_PRECONNECT")?,
            drain: DrainSettings { rate, response_origin },
            component: var.get(COMPONENT_VAR)?.filter(|p| !p.trim().is_empty()).map(PathBuf::from),
        })
    }

    /// The component's configuration, for what runs the component or drains
    /// its policy; an error naming `IOT_POLICY_NAME` when it is unset.
    pub fn config(&self) -> Result<&Config, ConfigError> {
        self.config.as_ref().ok_or_else(crate::config::missing_policy)
    }
}

/// `http(s)://host[:port]` and nothing more: what `Url::origin` serializes to.
fn is_http_origin(origin: &str) -> bool {
    reqwest::Url::parse(origin)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.origin().ascii_serialization() == origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Settings, InitError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(&|name: &str| map.get(name).cloned())
    }

    #[test]
    fn defaults_and_the_policy_required_only_where_it_is_used() {
        let s = read(&[]).unwrap();
        assert_eq!(s.drain, DrainSettings { rate: drain::DEFAULT_RATE, response_origin: None });
        assert!(s.preconnect && s.metrics.is_some() && s.component.is_none());
        assert_eq!(s.config().unwrap_err().variable, "IOT_POLICY_NAME");
        let s = read(&[("IOT_POLICY_NAME", "p"), (RATE_VAR, " 2.5 "), (RESPONSE_ORIGIN_VAR, "http://127.0.0.1:9/")])
            .unwrap();
        assert_eq!(s.config().unwrap().policy_names, ["p"]);
        assert_eq!(s.drain, DrainSettings { rate: 2.5, response_origin: Some("http://127.0.0.1:9".into()) });
    }

    #[test]
    fn every_bad_value_stops_the_start_naming_its_variable_and_not_its_value() {
        for (variable, value) in [
            ("IOT_POLICY_NAME", "has space"),
            (RATE_VAR, "fast"),
            (RATE_VAR, "0"),
            (RATE_VAR, "10001"),
            (RATE_VAR, "NaN"),
            (RESPONSE_ORIGIN_VAR, "null"),
            (RESPONSE_ORIGIN_VAR, "foo://x"),
            (RESPONSE_ORIGIN_VAR, "data:text/plain,x"),
            (RESPONSE_ORIGIN_VAR, "http://127.0.0.1:9/path"),
            ("GUEST_CPU_MS", "lots"),
            ("AWS_MAX_ATTEMPTS", "0"),
            ("AWS_ENDPOINT_URL", "ftp://x"),
            ("AWS_LAMBDA_LOG_LEVEL", "LOUD"),
            ("ATTACH_IOT_POLICY_METRICS", "sometimes"),
            ("ATTACH_IOT_POLICY_PRECONNECT", "maybe"),
        ] {
            let err = read(&[(variable, value)]).err().unwrap_or_else(|| panic!("{variable}={value} was accepted"));
            assert_eq!(err.error_type, "Runtime.InvalidConfiguration");
            let text = err.to_string();
            assert!(text.starts_with(variable), "{variable}={value}: {text}");
            assert!(!text.contains(value.trim()) || value.len() < 2, "{variable}={value} echoed: {text}");
        }
    }
}
