//! The formats of the IDs the guest accepts. Each check is strict, so that no
//! crafted value reaches an AWS call, a ListUsers filter, or a log line.

use crate::prelude::*;

/// An AWS region name such as `us-west-2`, `us-gov-west-1` or `cn-north-1`.
pub fn is_region(s: &str) -> bool {
    let b = s.as_bytes();
    (4..=25).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.last().is_some_and(u8::is_ascii_digit)
        && s.contains('-')
        && !s.contains("--")
}

/// A UUID in its 8-4-4-4-12 hex form, as Cognito writes subs and identity IDs.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `<region>:<uuid>`: both a Cognito identity ID and an identity pool ID.
/// Returns the region.
pub fn region_of_regional_uuid(s: &str) -> Option<&str> {
    let (region, id) = s.split_once(':')?;
    (is_region(region) && is_uuid(id)).then_some(region)
}

/// A user pool ID, `<region>_<alphanumerics>` (for example `us-west-2_aBcD1234`).
/// Returns the region.
pub fn region_of_user_pool_id(s: &str) -> Option<&str> {
    let (region, suffix) = s.split_once('_')?;
    // AWS allows up to 55 characters in all; real IDs have a 9-character suffix.
    let ok =
        is_region(region) && s.len() <= 55 && !suffix.is_empty() && suffix.bytes().all(|c| c.is_ascii_alphanumeric());
    ok.then_some(region)
}

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
    fn regions() {
        for ok in ["us-west-2", "us-gov-west-1", "cn-north-1", "ap-southeast-4", "eu-central-2"] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in ["", "us", "US-WEST-2", "us-west-", "us--west-2", "-us-west-2", "us west 2", "uswest2"] {
            assert!(!is_region(bad), "{bad:?}");
        }
    }

    #[test]
    fn uuids() {
        assert!(is_uuid(SUB));
        assert!(is_uuid("1E10FF5B-642B-489A-894C-0123456789AB"));
        for bad in [
            "",
            "1e10ff5b642b489a894c0123456789ab",
            "1e10ff5b-642b-489a-894c-0123456789a",
            "1e10ff5b-642b-489a-894c-0123456789ag",
            "1e10ff5b-642b-489a-894c\"0123456789ab",
        ] {
            assert!(!is_uuid(bad), "{bad:?}");
        }
    }

    #[test]
    fn identity_and_pool_ids() {
        assert_eq!(region_of_regional_uuid(&format!("us-west-2:{SUB}")), Some("us-west-2"));
        assert_eq!(region_of_regional_uuid(SUB), None);
        assert_eq!(region_of_regional_uuid(&format!("us-west-2:{SUB}:x")), None);
        assert_eq!(region_of_user_pool_id("us-west-2_aBcD1234"), Some("us-west-2"));
        for bad in ["us-west-2_", "us-west-2-aBcD1234", "us-west-2_a\"b", "_abc", "us-west-2_a_b"] {
            assert_eq!(region_of_user_pool_id(bad), None, "{bad:?}");
        }
    }

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
