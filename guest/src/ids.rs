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

/// Parses API Gateway's `cognitoAuthenticationProvider`:
/// `cognito-idp.<region>.amazonaws.com/<poolId>,cognito-idp.<region>.amazonaws.com/<poolId>:CognitoSignIn:<sub>`.
pub fn parse_provider(s: &str) -> Result<Provider, ProviderError> {
    if !s.starts_with(USER_POOL_HOST) {
        return Ok(Provider::Other);
    }
    let (issuer, sign_in) = s.split_once(',').ok_or(ProviderError::Malformed("expected two comma-separated parts"))?;
    let (sign_in_issuer, sub) = sign_in
        .split_once(":CognitoSignIn:")
        .ok_or(ProviderError::Malformed("the second part has no ':CognitoSignIn:'"))?;
    if sign_in_issuer != issuer {
        return Err(ProviderError::Malformed("the two parts name different user pools"));
    }
    parse_issuer_and_sub(issuer, sub)
}

/// Parses an HTTP API's `amr` list: `["authenticated", "<issuer>", "<issuer>:CognitoSignIn:<sub>"]`.
pub fn parse_amr(amr: &[String]) -> Result<Provider, ProviderError> {
    let sign_ins: Vec<&String> = amr.iter().filter(|e| e.contains(":CognitoSignIn:")).collect();
    match sign_ins.as_slice() {
        [] if amr.iter().any(|e| e.starts_with(USER_POOL_HOST)) => {
            Err(ProviderError::Malformed("a user pool is named but no ':CognitoSignIn:' entry"))
        }
        [] => Ok(Provider::Other),
        [one] => {
            let (issuer, sub) = one.split_once(":CognitoSignIn:").unwrap_or_default();
            parse_issuer_and_sub(issuer, sub)
        }
        _ => Err(ProviderError::Malformed("more than one ':CognitoSignIn:' entry")),
    }
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
        let amr = vec!["authenticated".into(), issuer.into(), format!("{issuer}:CognitoSignIn:{SUB}")];
        assert!(matches!(parse_amr(&amr), Ok(Provider::UserPool(u)) if u.sub == SUB));
        let two = vec![format!("{issuer}:CognitoSignIn:{SUB}"), format!("{issuer}:CognitoSignIn:{SUB}")];
        assert!(parse_amr(&two).is_err());
        assert!(parse_amr(&["authenticated".into(), issuer.into()]).is_err());
    }
}
