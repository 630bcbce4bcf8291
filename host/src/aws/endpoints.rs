//! Where each service's requests go, by the AWS SDKs' own conventions.

use crate::config::{ConfigError, Lookup};

/// The two services the function calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// AWS IoT (the control plane: `AttachPolicy`, `DetachPolicy`, `ListTargetsForPolicy`).
    Iot,
    /// Cognito user pools (`cognito-idp`).
    CognitoIdentityProvider,
}

impl Service {
    /// The SigV4 signing name.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Iot => "iot",
            Service::CognitoIdentityProvider => "cognito-idp",
        }
    }

    /// `AWS_ENDPOINT_URL_<SERVICE>`, as the SDKs name it.
    fn endpoint_variable(self) -> &'static str {
        match self {
            Service::Iot => "AWS_ENDPOINT_URL_IOT",
            Service::CognitoIdentityProvider => "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
        }
    }

    fn host_prefix(self) -> &'static str {
        match self {
            Service::Iot => "iot",
            Service::CognitoIdentityProvider => "cognito-idp",
        }
    }
}

/// Endpoint overrides read from the environment once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    all: Option<String>,
    iot: Option<String>,
    cognito_identity_provider: Option<String>,
}

impl Endpoints {
    /// `AWS_ENDPOINT_URL` for every service, `AWS_ENDPOINT_URL_<SERVICE>` for
    /// one (it wins), and `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` for none.
    pub fn from_lookup(var: &impl Lookup) -> Result<Self, ConfigError> {
        let ignore =
            var.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")?.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if ignore {
            return Ok(Self::default());
        }
        let url = |name: &'static str| -> Result<Option<String>, ConfigError> {
            let url = var.get(name)?.map(|v| v.trim().trim_end_matches('/').to_owned()).filter(|v| !v.is_empty());
            match url {
                Some(u) if reqwest::Url::parse(&u).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) => {
                    Err(ConfigError { variable: name, problem: "is not an http:// or https:// URL".into() })
                }
                url => Ok(url),
            }
        };
        Ok(Self {
            all: url("AWS_ENDPOINT_URL")?,
            iot: url(Service::Iot.endpoint_variable())?,
            cognito_identity_provider: url(Service::CognitoIdentityProvider.endpoint_variable())?,
        })
    }

    /// The base URL for `service` in `region`, without a trailing slash.
    pub fn resolve(&self, service: Service, region: &str) -> String {
        let specific = match service {
            Service::Iot => &self.iot,
            Service::CognitoIdentityProvider => &self.cognito_identity_provider,
        };
        if let Some(url) = specific.as_ref().or(self.all.as_ref()) {
            return url.clone();
        }
        let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
        format!("https://{}.{region}.{suffix}", service.host_prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn endpoints(vars: &[(&str, &str)]) -> Endpoints {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        Endpoints::from_lookup(&|k: &str| map.get(k).map(|v| v.to_string())).unwrap()
    }

    #[test]
    fn aws_defaults() {
        let e = endpoints(&[]);
        assert_eq!(e.resolve(Service::Iot, "us-west-2"), "https://iot.us-west-2.amazonaws.com");
        assert_eq!(
            e.resolve(Service::CognitoIdentityProvider, "eu-west-1"),
            "https://cognito-idp.eu-west-1.amazonaws.com"
        );
        assert_eq!(e.resolve(Service::Iot, "cn-north-1"), "https://iot.cn-north-1.amazonaws.com.cn");
    }

    #[test]
    fn service_specific_wins_over_global() {
        let e = endpoints(&[("AWS_ENDPOINT_URL", "http://all:1/"), ("AWS_ENDPOINT_URL_IOT", "http://iot:2")]);
        assert_eq!(e.resolve(Service::Iot, "us-west-2"), "http://iot:2");
        assert_eq!(e.resolve(Service::CognitoIdentityProvider, "us-west-2"), "http://all:1");
    }

    #[test]
    fn ignore_turns_every_override_off() {
        let e = endpoints(&[("AWS_ENDPOINT_URL", "http://all:1"), ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")]);
        assert_eq!(e.resolve(Service::Iot, "us-east-1"), "https://iot.us-east-1.amazonaws.com");
    }
}
