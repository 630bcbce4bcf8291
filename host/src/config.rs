//! The function's configuration, read from the environment once and validated.

/// Default user pool attribute that tells the app the policy is attached.
pub const DEFAULT_ATTRIBUTE_NAME: &str = "custom:iotPolicyIsAttached";

/// The WIT's `handler.config`: built once at init and passed to every call.
pub use crate::bindings::{AttributeValue, Config};

/// AWS IoT attaches at most this many policies to one Cognito identity.
pub const MAX_POLICIES: usize = 10;
use attach_iot_policy_ids::{is_attribute_name, is_origin, is_policy_name};

/// A bad configuration value; the message names the variable, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

/// Where settings come from: the process environment, or a closure in tests.
pub trait Lookup {
    /// The variable's value, or `None` when it is unset.
    fn get(&self, name: &'static str) -> Result<Option<String>, ConfigError>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        Ok(self(name))
    }
}

/// The process environment. A value that is not UTF-8 is an error that names
/// the variable, never "unset": an allowlist read as unset would fail open.
pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn get(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        std::env::var_os(name)
            .map(|value| {
                value.into_string().map_err(|_| ConfigError { variable: name, problem: "is not valid UTF-8".into() })
            })
            .transpose()
    }
}

/// An `on`/`off` switch that is on when unset.
pub fn switch(var: &impl Lookup, name: &'static str) -> Result<bool, ConfigError> {
    match var.get(name)?.unwrap_or_default().trim().to_ascii_lowercase().as_str() {
        "" | "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(ConfigError { variable: name, problem: "must be on or off".into() }),
    }
}

/// `IOT_POLICY_NAME` is unset or empty.
pub fn missing_policy() -> ConfigError {
    ConfigError {
        variable: "IOT_POLICY_NAME",
        problem: "is required: the IoT policy (or comma-separated policies) to attach".into(),
    }
}

/// Reads the configuration through `var`, so tests need not touch the
/// process environment.
pub fn from_lookup(var: &impl Lookup) -> Result<Config, ConfigError> {
    let policy_names =
        list(var, "IOT_POLICY_NAME", is_policy_name, "an IoT policy name ([A-Za-z0-9_+=,.@-], 1-128 characters)")?;
    if policy_names.is_empty() {
        return Err(missing_policy());
    }
    let attribute_name = match var.get("COGNITO_ATTRIBUTE_NAME")?.map(|v| v.trim().to_owned()) {
        None => DEFAULT_ATTRIBUTE_NAME.to_owned(),
        Some(name) if is_attribute_name(&name) => name,
        Some(_) => {
            return Err(ConfigError {
                variable: "COGNITO_ATTRIBUTE_NAME",
                problem: "must be a custom user pool attribute such as custom:iotPolicyIsAttached (custom: then 1-20 of [A-Za-z0-9_])".into(),
            });
        }
    };
    if policy_names.len() > MAX_POLICIES {
        return Err(ConfigError {
            variable: "IOT_POLICY_NAME",
            problem: format!(
                "names more than {MAX_POLICIES} policies, the most AWS IoT attaches to one Cognito identity"
            ),
        });
    }
    let attribute_value = match var.get("COGNITO_ATTRIBUTE_VALUE")?.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "true") => AttributeValue::LiteralTrue,
        Some("identity-id") => AttributeValue::IdentityId,
        Some(_) => {
            return Err(ConfigError {
                variable: "COGNITO_ATTRIBUTE_VALUE",
                problem: "must be true (the attribute holds \"true\") or identity-id (it holds the identity ID)".into(),
            });
        }
    };
    let allowed_identity_pool_ids =
        list(var, "ALLOWED_IDENTITY_POOL_IDS", is_identity_pool_id, "an identity pool ID (<region>:<uuid>)")?;
    let allowed_user_pool_ids = list(var, "ALLOWED_USER_POOL_IDS", is_user_pool_id, "a user pool ID (<region>_<id>)")?;
    let cors_allow_origin = match var.get("CORS_ALLOW_ORIGIN")?.map(|v| v.trim().to_owned()) {
        None => "*".to_owned(),
        Some(origin) if is_origin(&origin) => origin,
        Some(_) => {
            return Err(ConfigError {
                variable: "CORS_ALLOW_ORIGIN",
                problem: "must be * or one origin such as https://app.example.com".into(),
            });
        }
    };
    Ok(Config {
        policy_names,
        attribute_name,
        allowed_identity_pool_ids,
        allowed_user_pool_ids,
        cors_allow_origin,
        attribute_value,
    })
}

/// A comma-separated list; blanks around items are dropped, and so is an unset
/// or empty variable. Bad items are named by position, not echoed.
fn list(
    var: &impl Lookup,
    variable: &'static str,
    valid: fn(&str) -> bool,
    expected: &str,
) -> Result<Vec<String>, ConfigError> {
    let Some(value) = var.get(variable)? else { return Ok(Vec::new()) };
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, item) in value.split(',').map(str::trim).enumerate() {
        if item.is_empty() && value.trim().is_empty() {
            break;
        }
        if !valid(item) {
            return Err(ConfigError { variable, problem: format!("item {} is not {expected}", i + 1) });
        }
        // A set, not a scan of the list: a list of many names stays linear.
        if seen.insert(item) {
            items.push(item.to_owned());
        }
    }
    Ok(items)
}

fn is_identity_pool_id(s: &str) -> bool {
    attach_iot_policy_ids::region_of_regional_uuid(s).is_some()
}

fn is_user_pool_id(s: &str) -> bool {
    attach_iot_policy_ids::region_of_user_pool_id(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        from_lookup(&|name: &str| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let c = read(&[("IOT_POLICY_NAME", "my-policy")]).unwrap();
        assert_eq!(c.policy_names, ["my-policy"]);
        assert_eq!(c.attribute_name, DEFAULT_ATTRIBUTE_NAME);
        assert_eq!(c.cors_allow_origin, "*");
        assert_eq!(c.attribute_value, AttributeValue::LiteralTrue);
        let c = read(&[("IOT_POLICY_NAME", "p"), ("COGNITO_ATTRIBUTE_VALUE", " Identity-ID ")]).unwrap();
        assert_eq!(c.attribute_value, AttributeValue::IdentityId);
        assert!(c.allowed_identity_pool_ids.is_empty() && c.allowed_user_pool_ids.is_empty());
    }

    #[test]
    fn lists_are_trimmed_and_deduplicated() {
        let c = read(&[
            ("IOT_POLICY_NAME", " a , b,a"),
            ("ALLOWED_USER_POOL_IDS", "us-east-1_Abc, eu-west-1_Def"),
            ("ALLOWED_IDENTITY_POOL_IDS", ""),
        ])
        .unwrap();
        assert_eq!(c.policy_names, ["a", "b"]);
        assert_eq!(c.allowed_user_pool_ids, ["us-east-1_Abc", "eu-west-1_Def"]);
        assert!(c.allowed_identity_pool_ids.is_empty());
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (vars, variable) in [
            (vec![], "IOT_POLICY_NAME"),
            (vec![("IOT_POLICY_NAME", "")], "IOT_POLICY_NAME"),
            (vec![("IOT_POLICY_NAME", "a,,b")], "IOT_POLICY_NAME"),
            (vec![("IOT_POLICY_NAME", "has space")], "IOT_POLICY_NAME"),
            (vec![("IOT_POLICY_NAME", "p"), ("COGNITO_ATTRIBUTE_NAME", "email")], "COGNITO_ATTRIBUTE_NAME"),
            (vec![("IOT_POLICY_NAME", "p"), ("COGNITO_ATTRIBUTE_VALUE", "yes")], "COGNITO_ATTRIBUTE_VALUE"),
            (vec![("IOT_POLICY_NAME", "a,b,c,d,e,f,g,h,i,j,k")], "IOT_POLICY_NAME"),
            (
                vec![("IOT_POLICY_NAME", "p"), ("ALLOWED_IDENTITY_POOL_IDS", "us-east-1_Abc")],
                "ALLOWED_IDENTITY_POOL_IDS",
            ),
            (vec![("IOT_POLICY_NAME", "p"), ("ALLOWED_USER_POOL_IDS", "us-east-1:x")], "ALLOWED_USER_POOL_IDS"),
            (
                vec![("IOT_POLICY_NAME", "p"), ("CORS_ALLOW_ORIGIN", "https://a.example, https://b.example")],
                "CORS_ALLOW_ORIGIN",
            ),
        ] {
            let err = read(&vars).unwrap_err();
            assert_eq!(err.variable, variable, "{vars:?}: {err}");
            assert!(err.to_string().starts_with(variable));
        }
    }
}
