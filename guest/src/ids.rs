//! Who the caller is, as a user pool provider string or an HTTP API `amr`
//! list says. The ID formats themselves live in `attach-iot-policy-ids`,
//! which the host uses too.

use crate::prelude::*;

pub use attach_iot_policy_ids::*;

/// A user of a Cognito user pool, as named in an authentication provider string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUser {
    pub user_pool_id: String,
    pub sub: String,
}

/// What the authentication provider string says about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// Signed in through a Cognito user pool: the attribute can be set.
    UserPool(PoolUser),
    /// Another provider (Google, SAML, a developer provider): attach only.
    Other,
}

/// Why a provider string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// It names a Cognito user pool but is not of the documented form.
    Malformed(&'static str),
}

const USER_POOL_HOST: &str = "cognito-idp.";
const SIGN_IN: &str = ":CognitoSignIn:";

/// Parses API Gateway's `cognitoAuthenticationProvider` (REST API):
/// `cognito-idp.<region>.amazonaws.com/<poolId>,cognito-idp.<region>.amazonaws.com/<poolId>:CognitoSignIn:<sub>`.
pub fn parse_provider(s: &str) -> Result<Provider, ProviderError> {
    parse_entries(s.split(','))
}

/// Parses an HTTP API's `amr` entries, its `authenticated` marker left out:
/// `["<issuer>", "<issuer>:CognitoSignIn:<sub>"]`.
pub fn parse_amr(entries: &[String]) -> Result<Provider, ProviderError> {
    parse_entries(entries.iter().map(String::as_str))
}

/// The one parser for a user pool claim, whichever event carries it: a REST
/// provider string's comma-separated parts, or an HTTP API's `amr` entries.
/// A user pool sign-in is exactly two entries, `<issuer>` and
/// `<issuer>:CognitoSignIn:<sub>`, naming the same pool. Entries that name no
/// user pool at all are another provider; anything else is malformed.
fn parse_entries<'a>(entries: impl Iterator<Item = &'a str> + Clone) -> Result<Provider, ProviderError> {
    if !entries.clone().any(|e| e.starts_with(USER_POOL_HOST) || e.contains(SIGN_IN)) {
        return Ok(Provider::Other);
    }
    let (mut issuer, mut sign_in) = (None, None);
    for entry in entries {
        match entry.split_once(SIGN_IN) {
            Some(parts) if sign_in.is_none() => sign_in = Some(parts),
            None if issuer.is_none() && entry.starts_with(USER_POOL_HOST) => issuer = Some(entry),
            _ => {
                return Err(ProviderError::Malformed(
                    "a user pool sign-in is one issuer and one ':CognitoSignIn:' entry",
                ));
            }
        }
    }
    let issuer = issuer.ok_or(ProviderError::Malformed("a user pool is named but there is no issuer entry"))?;
    let (sign_in_issuer, sub) =
        sign_in.ok_or(ProviderError::Malformed("a user pool is named but there is no ':CognitoSignIn:' entry"))?;
    if sign_in_issuer != issuer {
        return Err(ProviderError::Malformed("the two parts name different user pools"));
    }
    parse_issuer_and_sub(issuer, sub)
}

/// `cognito-idp.<region>.amazonaws.com[.cn]/<poolId>` and a UUID sub.
fn parse_issuer_and_sub(issuer: &str, sub: &str) -> Result<Provider, ProviderError> {
    let rest =
        issuer.strip_prefix(USER_POOL_HOST).ok_or(ProviderError::Malformed("the issuer is not a Cognito user pool"))?;
    let (host_region, user_pool_id) = rest
        .split_once(".amazonaws.com.cn/")
        .or_else(|| rest.split_once(".amazonaws.com/"))
        .ok_or(ProviderError::Malformed("the issuer is not an amazonaws.com user pool URL"))?;
    let pool_region = region_of_user_pool_id(user_pool_id)
        .ok_or(ProviderError::Malformed("the user pool ID is not of the form <region>_<id>"))?;
    if pool_region != host_region {
        return Err(ProviderError::Malformed("the user pool ID's region differs from its host's"));
    }
    if !is_uuid(sub) {
        return Err(ProviderError::Malformed("the user's sub is not a UUID"));
    }
    Ok(Provider::UserPool(PoolUser { user_pool_id: user_pool_id.to_owned(), sub: sub.to_owned() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "1e10ff5b-642b-489a-894c-0123456789ab";

    #[test]
    fn user_pool_provider() {
        let issuer = "cognito-idp.us-west-2.amazonaws.com/us-west-2_aBcD1234";
        let p = parse_provider(&format!("{issuer},{issuer}:CognitoSignIn:{SUB}")).unwrap();
        assert_eq!(p, Provider::UserPool(PoolUser { user_pool_id: "us-west-2_aBcD1234".into(), sub: SUB.into() }));
    }

    #[test]
    fn china_user_pool_provider() {
        let issuer = "cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_aBcD1234";
        let p = parse_provider(&format!("{issuer},{issuer}:CognitoSignIn:{SUB}")).unwrap();
        assert!(matches!(p, Provider::UserPool(u) if u.user_pool_id == "cn-north-1_aBcD1234"));
    }

    #[test]
    fn other_providers_attach_only() {
        assert_eq!(parse_provider("accounts.google.com"), Ok(Provider::Other));
        assert_eq!(parse_provider("graph.facebook.com"), Ok(Provider::Other));
        assert_eq!(parse_amr(&["authenticated".into(), "accounts.google.com".into()]), Ok(Provider::Other));
    }

    #[test]
    fn malformed_user_pool_providers() {
        let issuer = "cognito-idp.us-west-2.amazonaws.com/us-west-2_aBcD1234";
        let other = "cognito-idp.us-west-2.amazonaws.com/us-west-2_Other999";
        for bad in [
            issuer.to_string(),
            format!("{issuer},{issuer}"),
            format!("{issuer},{other}:CognitoSignIn:{SUB}"),
            format!("{issuer},{issuer}:CognitoSignIn:not-a-uuid"),
            format!("{issuer},{issuer}:CognitoSignIn:{SUB}\" or sub ^= \""),
            "cognito-idp.eu-west-1.amazonaws.com/us-west-2_aBcD1234,cognito-idp.eu-west-1.amazonaws.com/us-west-2_aBcD1234:CognitoSignIn:1e10ff5b-642b-489a-894c-0123456789ab".into(),
            "cognito-idp.us-west-2.evil.example/us-west-2_aBcD1234,cognito-idp.us-west-2.evil.example/us-west-2_aBcD1234:CognitoSignIn:1e10ff5b-642b-489a-894c-0123456789ab".into(),
        ] {
            assert!(parse_provider(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn amr_user_pool() {
        let issuer = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool1";
        let amr = vec![issuer.into(), format!("{issuer}:CognitoSignIn:{SUB}")];
        assert!(matches!(parse_amr(&amr), Ok(Provider::UserPool(u)) if u.sub == SUB));
        let two = vec![format!("{issuer}:CognitoSignIn:{SUB}"), format!("{issuer}:CognitoSignIn:{SUB}")];
        assert!(parse_amr(&two).is_err());
        assert!(parse_amr(&[issuer.into()]).is_err());
    }

    #[test]
    fn an_amr_whose_issuer_and_sign_in_name_different_pools_is_malformed() {
        // The HTTP API path once took the sign-in entry alone, so this set
        // the attribute in the second pool; a REST string like it was refused.
        let issuer = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool1";
        let other = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Other";
        let amr = vec![issuer.to_string(), format!("{other}:CognitoSignIn:{SUB}")];
        assert_eq!(parse_amr(&amr), Err(ProviderError::Malformed("the two parts name different user pools")));
        assert_eq!(parse_provider(&amr.join(",")), parse_amr(&amr));
    }

    proptest::proptest! {
        /// One parser: the same entries give the same answer as a REST string and as an amr list.
        #[test]
        fn a_rest_string_and_an_amr_list_are_read_alike(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just("cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool1".to_string()),
                proptest::strategy::Just("cognito-idp.us-east-1.amazonaws.com/us-east-1_Other".to_string()),
                proptest::strategy::Just(format!("cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool1:CognitoSignIn:{SUB}")),
                proptest::strategy::Just(format!("cognito-idp.us-east-1.amazonaws.com/us-east-1_Other:CognitoSignIn:{SUB}")),
                proptest::strategy::Just("accounts.google.com".to_string()),
                "[a-z:./_-]{0,12}",
            ], 0..5),
        ) {
            proptest::prop_assert_eq!(parse_provider(&parts.join(",")), parse_amr(&parts));
        }
    }
}
