//! Step 0: the configuration the host passed. A host written by someone else
//! may pass one that breaks the WIT's rules; the guest then answers 500 and
//! calls nothing, rather than attach nothing and still claim success.

use crate::ids;
use crate::types::Config;

/// AWS IoT attaches at most this many policies to one Cognito identity.
pub const MAX_POLICIES: usize = 10;

/// Checks the rules the WIT states for `handler.config`; says which one failed.
pub fn check(config: &Config) -> Result<(), &'static str> {
    if config.policy_names.is_empty() {
        return Err("the host passed an empty policy list");
    }
    if config.policy_names.len() > MAX_POLICIES {
        return Err("the host passed more policies than AWS IoT attaches to one identity");
    }
    if !config.policy_names.iter().all(|p| ids::is_policy_name(p)) {
        return Err("the host passed a policy name that is not an IoT policy name");
    }
    if !ids::is_attribute_name(&config.attribute_name) {
        return Err("the host passed an attribute name that is not a custom: attribute");
    }
    if !config.allowed_identity_pool_ids.iter().all(|p| ids::region_of_regional_uuid(p).is_some()) {
        return Err("the host passed an allowed identity pool ID of the wrong form");
    }
    if !config.allowed_user_pool_ids.iter().all(|p| ids::region_of_user_pool_id(p).is_some()) {
        return Err("the host passed an allowed user pool ID of the wrong form");
    }
    if !ids::is_origin(&config.cors_allow_origin) {
        return Err("the host passed a CORS origin that is not * or one origin");
    }
    Ok(())
}

/// A configuration that passes [`check`]: one policy, the default attribute,
/// no allowlists, any origin. The unit tests' starting point.
#[cfg(test)]
pub(crate) fn example() -> Config {
    use crate::prelude::*;
    Config {
        policy_names: vec!["p".into()],
        attribute_name: "custom:iotPolicyIsAttached".into(),
        allowed_identity_pool_ids: vec![],
        allowed_user_pool_ids: vec![],
        cors_allow_origin: "*".into(),
        attribute_value: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn each_rule_is_checked() {
        assert_eq!(check(&example()), Ok(()));
        let bad = [
            Config { policy_names: vec![], ..example() },
            Config { policy_names: (0..11).map(|i| format!("p{i}")).collect(), ..example() },
            Config { policy_names: vec!["..".into(), "a b".into()], ..example() },
            Config { attribute_name: "email".into(), ..example() },
            Config { allowed_identity_pool_ids: vec!["us-west-2_Pool".into()], ..example() },
            Config { allowed_user_pool_ids: vec!["us-west-2:x".into()], ..example() },
            Config { cors_allow_origin: "https://a.example\r\nSet-Cookie: x".into(), ..example() },
            Config { cors_allow_origin: String::new(), ..example() },
        ];
        for config in bad {
            assert!(check(&config).is_err(), "{config:?}");
        }
    }
}
