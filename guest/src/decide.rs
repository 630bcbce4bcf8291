//! Step 2: validate the caller and decide what to do, before any side effect.

use crate::prelude::*;

use crate::event::{Event, Source};
use crate::ids::{self, PoolUser, Provider, ProviderError};
use crate::types::Config;

/// Who to attach the policies to, and whose attribute to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub identity_id: String,
    /// The user pool user to mark, when the caller signed in through one.
    pub user: Option<PoolUser>,
}

/// Why a caller is refused. Each maps to one response status and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the event could not be read.
    InvalidEvent(String),
    /// 400: an identity or identity pool ID of the wrong form.
    MalformedIdentity(&'static str),
    /// 400: a user pool provider string of the wrong form.
    MalformedProvider(&'static str),
    /// 403: no authenticated Cognito identity signed the request.
    Unauthenticated(&'static str),
    /// 403: a direct invocation whose event names another identity.
    IdentityMismatch,
    /// 403: the identity pool is not in `ALLOWED_IDENTITY_POOL_IDS`.
    IdentityPoolNotAllowed,
    /// 403: the user pool is not in `ALLOWED_USER_POOL_IDS`.
    UserPoolNotAllowed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer a CORS preflight; no identity is needed.
    Preflight,
    Attach(Plan),
    /// `DELETE`, or a direct invocation's `{"action": "detach"}`.
    Detach(Plan),
    Refuse(Refusal),
}

pub fn decide(event: &Event, config: &Config) -> Decision {
    if event.method.as_deref().is_some_and(|m| m.eq_ignore_ascii_case("OPTIONS")) {
        return Decision::Preflight;
    }
    let detach = match (&event.source, event.action.as_deref()) {
        (Source::Direct, None | Some("attach")) => false,
        (Source::Direct, Some("detach")) => true,
        (Source::Direct, Some(_)) => {
            return Decision::Refuse(Refusal::InvalidEvent(
                "the event's action must be \"attach\" or \"detach\"".into(),
            ));
        }
        _ => event.method.as_deref().is_some_and(|m| m.eq_ignore_ascii_case("DELETE")),
    };
    match plan(event, config) {
        Ok(plan) if detach => Decision::Detach(plan),
        Ok(plan) => Decision::Attach(plan),
        Err(refusal) => Decision::Refuse(refusal),
    }
}

fn plan(event: &Event, config: &Config) -> Result<Plan, Refusal> {
    if event.identity_mismatch {
        return Err(Refusal::IdentityMismatch);
    }
    let claim = event.claim.as_ref().ok_or(Refusal::Unauthenticated(
        "the request carries no Cognito identity; the API method must use AWS_IAM authorization \
         and be called with Cognito identity pool credentials",
    ))?;
    if claim.authenticated == Some(false) {
        return Err(Refusal::Unauthenticated("the Cognito identity is not authenticated"));
    }

    let identity_id = claim.identity_id.as_deref().unwrap_or_default();
    let identity_region = ids::region_of_regional_uuid(identity_id)
        .ok_or(Refusal::MalformedIdentity("the identity ID is not of the form <region>:<uuid>"))?;
    let pool_id = claim.identity_pool_id.as_deref().unwrap_or_default();
    let pool_region = ids::region_of_regional_uuid(pool_id)
        .ok_or(Refusal::MalformedIdentity("the identity pool ID is not of the form <region>:<uuid>"))?;
    if identity_region != pool_region {
        return Err(Refusal::MalformedIdentity("the identity ID and its pool are in different regions"));
    }
    if !allowed(&config.allowed_identity_pool_ids, pool_id) {
        return Err(Refusal::IdentityPoolNotAllowed);
    }

    let provider = match event.source {
        // Lambda vouches only for the identity; there is no trusted user.
        Source::Direct => Ok(Provider::Other),
        Source::RestV1 => match claim.provider.as_deref() {
            Some(p) => ids::parse_provider(p),
            None => Ok(Provider::Other),
        },
        Source::HttpV2 => match &claim.amr {
            Some(amr) if amr.too_long => Err(ProviderError::Malformed("the amr list is longer than Cognito sends")),
            Some(amr) => ids::parse_amr(&amr.entries),
            None => Ok(Provider::Other),
        },
    }
    .map_err(|ProviderError::Malformed(why)| Refusal::MalformedProvider(why))?;

    let user = match provider {
        Provider::UserPool(user) => {
            if !allowed(&config.allowed_user_pool_ids, &user.user_pool_id) {
                return Err(Refusal::UserPoolNotAllowed);
            }
            Some(user)
        }
        Provider::Other => None,
    };
    Ok(Plan { identity_id: identity_id.to_owned(), user })
}

/// An empty allowlist allows everything.
fn allowed(list: &[String], id: &str) -> bool {
    list.is_empty() || list.iter().any(|a| a == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Claim;

    const ID: &str = "us-west-2:d625c9c7-9a79-483c-bb4a-000000000001";
    const POOL: &str = "us-west-2:5214f2db-370c-456c-8c4a-000000000002";
    const SUB: &str = "1e10ff5b-642b-489a-894c-0123456789ab";
    const PROVIDER: &str = "cognito-idp.us-west-2.amazonaws.com/us-west-2_Pool1,cognito-idp.us-west-2.amazonaws.com/us-west-2_Pool1:CognitoSignIn:1e10ff5b-642b-489a-894c-0123456789ab";

    fn config() -> Config {
        crate::config::example()
    }

    fn rest(claim: Claim) -> Event {
        Event {
            source: Source::RestV1,
            method: Some("GET".into()),
            claim: Some(claim),
            identity_mismatch: false,
            action: None,
        }
    }

    fn good_claim() -> Claim {
        Claim {
            identity_id: Some(ID.into()),
            identity_pool_id: Some(POOL.into()),
            authenticated: Some(true),
            provider: Some(PROVIDER.into()),
            amr: None,
        }
    }

    #[test]
    fn user_pool_caller_gets_full_plan() {
        let Decision::Attach(plan) = decide(&rest(good_claim()), &config()) else { panic!() };
        assert_eq!(plan.identity_id, ID);
        assert_eq!(plan.user, Some(PoolUser { user_pool_id: "us-west-2_Pool1".into(), sub: SUB.into() }));
    }

    #[test]
    fn preflight_needs_no_identity() {
        let e = Event {
            source: Source::RestV1,
            method: Some("OPTIONS".into()),
            claim: None,
            identity_mismatch: false,
            action: None,
        };
        assert_eq!(decide(&e, &config()), Decision::Preflight);
    }

    #[test]
    fn refusals() {
        type Case = (Claim, Config, fn(&Refusal) -> bool);
        let cases: Vec<Case> = vec![
            (Claim { authenticated: Some(false), ..good_claim() }, config(), |r| {
                matches!(r, Refusal::Unauthenticated(_))
            }),
            (Claim { identity_id: Some("us-west-2:x".into()), ..good_claim() }, config(), |r| {
                matches!(r, Refusal::MalformedIdentity(_))
            }),
            (Claim { identity_id: None, ..good_claim() }, config(), |r| matches!(r, Refusal::MalformedIdentity(_))),
            (
                Claim {
                    identity_pool_id: Some("eu-west-1:5214f2db-370c-456c-8c4a-000000000002".into()),
                    ..good_claim()
                },
                config(),
                |r| matches!(r, Refusal::MalformedIdentity(_)),
            ),
            (Claim { provider: Some("cognito-idp.x".into()), ..good_claim() }, config(), |r| {
                matches!(r, Refusal::MalformedProvider(_))
            }),
            (
                good_claim(),
                Config {
                    allowed_identity_pool_ids: vec!["us-west-2:00000000-0000-0000-0000-000000000000".into()],
                    ..config()
                },
                |r| *r == Refusal::IdentityPoolNotAllowed,
            ),
            (good_claim(), Config { allowed_user_pool_ids: vec!["us-west-2_Other".into()], ..config() }, |r| {
                *r == Refusal::UserPoolNotAllowed
            }),
        ];
        for (claim, cfg, expected) in cases {
            match decide(&rest(claim.clone()), &cfg) {
                Decision::Refuse(r) => assert!(expected(&r), "{claim:?} gave {r:?}"),
                other => panic!("{claim:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn allowlists_that_match_pass() {
        let cfg = Config {
            allowed_identity_pool_ids: vec![POOL.into()],
            allowed_user_pool_ids: vec!["us-west-2_Pool1".into()],
            ..config()
        };
        assert!(matches!(decide(&rest(good_claim()), &cfg), Decision::Attach(_)));
    }

    #[test]
    fn no_claim_is_unauthenticated() {
        let e = Event { source: Source::RestV1, method: None, claim: None, identity_mismatch: false, action: None };
        assert!(matches!(decide(&e, &config()), Decision::Refuse(Refusal::Unauthenticated(_))));
    }

    #[test]
    fn direct_invocation_attaches_only() {
        let e = Event {
            source: Source::Direct,
            method: None,
            claim: Some(Claim { authenticated: None, ..good_claim() }),
            identity_mismatch: false,
            action: None,
        };
        let Decision::Attach(plan) = decide(&e, &config()) else { panic!() };
        assert_eq!(plan.user, None);
        let detach = Event { action: Some("detach".into()), ..e.clone() };
        assert_eq!(decide(&detach, &config()), Decision::Detach(plan));
        let unknown = Event { action: Some("DELETE".into()), ..e.clone() };
        assert!(matches!(decide(&unknown, &config()), Decision::Refuse(Refusal::InvalidEvent(_))));
        let forged = Event { identity_mismatch: true, ..e };
        assert_eq!(decide(&forged, &config()), Decision::Refuse(Refusal::IdentityMismatch));
    }

    #[test]
    fn delete_detaches() {
        let e = Event { method: Some("delete".into()), ..rest(good_claim()) };
        assert!(matches!(decide(&e, &config()), Decision::Detach(_)));
    }
}
