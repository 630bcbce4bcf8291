//! Step 1: read the event. Only the fields the decision needs are parsed; the
//! rest is skipped without being kept, so a large event costs little memory.

use crate::prelude::*;

use serde::Deserialize;

/// Where the caller's identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// API Gateway REST API, Lambda proxy integration (payload 1.0).
    RestV1,
    /// API Gateway HTTP API with an IAM authorizer (payload 2.0).
    HttpV2,
    /// A direct `lambda:Invoke` by a Cognito identity; only the identity in the
    /// invocation context is trusted, never the event's own fields.
    Direct,
}

/// What API Gateway (or Lambda) says about the caller, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    pub identity_id: Option<String>,
    pub identity_pool_id: Option<String>,
    /// `Some(true)` when the caller is an authenticated identity; `None` when
    /// the source does not say.
    pub authenticated: Option<bool>,
    /// The REST API's `cognitoAuthenticationProvider`.
    pub provider: Option<String>,
    /// The HTTP API's `amr` list.
    pub amr: Option<Amr>,
}

/// The most `amr` entries, besides its markers, that the guest keeps: Cognito
/// sends two. A longer list is refused, and costs no memory per entry.
pub const MAX_AMR_ENTRIES: usize = 8;

/// An HTTP API's `amr` list as the decision needs it: the `authenticated` and
/// `unauthenticated` markers as flags, and the other entries, at most
/// [`MAX_AMR_ENTRIES`] of them. Read without keeping the rest, so a list of a
/// million empty strings costs no more memory than one of three.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Amr {
    pub authenticated: bool,
    pub unauthenticated: bool,
    pub entries: Vec<String>,
    /// More than [`MAX_AMR_ENTRIES`] entries besides the markers.
    pub too_long: bool,
}

impl<'de> Deserialize<'de> for Amr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Amr;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Amr, A::Error> {
                let mut amr = Amr::default();
                while let Some(entry) = seq.next_element::<String>()? {
                    match entry.as_str() {
                        "authenticated" => amr.authenticated = true,
                        "unauthenticated" => amr.unauthenticated = true,
                        _ if amr.entries.len() < MAX_AMR_ENTRIES => amr.entries.push(entry),
                        _ => amr.too_long = true,
                    }
                }
                Ok(amr)
            }
        }
        d.deserialize_seq(Entries)
    }
}

/// The parts of an event the guest uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub source: Source,
    /// The HTTP method, when API Gateway sent one.
    pub method: Option<String>,
    /// The identity the event carries, if any.
    pub claim: Option<Claim>,
    /// A direct invocation whose event claims a different identity than the
    /// one Lambda vouches for: a forgery.
    pub identity_mismatch: bool,
    /// A direct invocation's `"action"`: `attach` (the default) or `detach`.
    /// API Gateway events say it with the method instead.
    pub action: Option<String>,
}

/// Why the event could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventError {
    /// Not JSON, not an object, or a known field of the wrong type. The text
    /// says where, never what: it must not echo the input.
    Invalid(String),
}

#[derive(Deserialize)]
struct RawEvent {
    version: Option<String>,
    action: Option<String>,
    #[serde(rename = "httpMethod")]
    http_method: Option<String>,
    #[serde(rename = "requestContext")]
    request_context: Option<RawRequestContext>,
}

#[derive(Deserialize)]
struct RawRequestContext {
    identity: Option<RawRestIdentity>,
    authorizer: Option<RawAuthorizer>,
    http: Option<RawHttp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRestIdentity {
    cognito_identity_id: Option<String>,
    cognito_identity_pool_id: Option<String>,
    cognito_authentication_type: Option<String>,
    cognito_authentication_provider: Option<String>,
}

#[derive(Deserialize)]
struct RawAuthorizer {
    iam: Option<RawIam>,
}

#[derive(Deserialize)]
struct RawIam {
    #[serde(rename = "cognitoIdentity")]
    cognito_identity: Option<RawHttpCognitoIdentity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHttpCognitoIdentity {
    identity_id: Option<String>,
    identity_pool_id: Option<String>,
    amr: Option<Amr>,
}

#[derive(Deserialize)]
struct RawHttp {
    method: Option<String>,
}

/// Lambda's `Lambda-Runtime-Cognito-Identity` header value.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLambdaCognitoIdentity {
    cognito_identity_id: Option<String>,
    cognito_identity_pool_id: Option<String>,
}

/// Parses the event, and the Lambda Cognito identity context when there is one.
pub fn parse(event: &str, lambda_cognito_identity: Option<&str>) -> Result<Event, EventError> {
    if !event.trim_start().starts_with('{') {
        let valid_json = serde_json::from_str::<serde::de::IgnoredAny>(event).is_ok();
        let problem = if valid_json { "is not a JSON object" } else { "is not valid JSON" };
        return Err(EventError::Invalid(format!("the event {problem}")));
    }
    let raw: RawEvent = serde_json::from_str(event).map_err(|e| EventError::Invalid(describe("the event", &e)))?;
    let is_http_v2 = raw.version.as_deref() == Some("2.0");
    let (request_method, claim) = match raw.request_context {
        Some(ctx) if is_http_v2 => (
            ctx.http.and_then(|h| h.method),
            ctx.authorizer.and_then(|a| a.iam).and_then(|i| i.cognito_identity).map(|c| Claim {
                // Both markers at once is not an authenticated caller.
                authenticated: Some(c.amr.as_ref().is_some_and(|amr| amr.authenticated && !amr.unauthenticated)),
                identity_id: c.identity_id,
                identity_pool_id: c.identity_pool_id,
                provider: None,
                amr: c.amr,
            }),
        ),
        Some(ctx) => (
            None,
            ctx.identity.filter(|i| i.cognito_identity_id.is_some()).map(|i| Claim {
                authenticated: Some(i.cognito_authentication_type.as_deref() == Some("authenticated")),
                identity_id: i.cognito_identity_id,
                identity_pool_id: i.cognito_identity_pool_id,
                provider: i.cognito_authentication_provider,
                amr: None,
            }),
        ),
        None => (None, None),
    };
    let method = raw.http_method.or(request_method);

    if let Some(header) = lambda_cognito_identity {
        let direct = parse_lambda_identity(header)?;
        // The event of a direct invocation is written by the caller: it may
        // not claim to be someone else.
        let identity_mismatch = claim
            .as_ref()
            .and_then(|c| c.identity_id.as_deref())
            .is_some_and(|claimed| Some(claimed) != direct.identity_id.as_deref());
        let action = raw.action;
        return Ok(Event { source: Source::Direct, method, claim: Some(direct), identity_mismatch, action });
    }
    let source = if is_http_v2 { Source::HttpV2 } else { Source::RestV1 };
    Ok(Event { source, method, claim, identity_mismatch: false, action: None })
}

fn parse_lambda_identity(header: &str) -> Result<Claim, EventError> {
    let raw: RawLambdaCognitoIdentity = serde_json::from_str(header)
        .map_err(|e| EventError::Invalid(describe("the Lambda Cognito identity context", &e)))?;
    Ok(Claim {
        identity_id: raw.cognito_identity_id,
        identity_pool_id: raw.cognito_identity_pool_id,
        authenticated: None,
        provider: None,
        amr: None,
    })
}

/// Says what is wrong and where, without quoting the input.
fn describe(what: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let problem = match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => "is not valid JSON",
        Category::Data => "has a field of the wrong type, or a repeated field",
    };
    format!("{what} {problem} (line {}, column {})", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REST: &str = r#"{"httpMethod":"GET","requestContext":{"identity":{
        "cognitoIdentityId":"us-west-2:d625c9c7-9a79-483c-bb4a-000000000001",
        "cognitoIdentityPoolId":"us-west-2:5214f2db-370c-456c-8c4a-000000000002",
        "cognitoAuthenticationType":"authenticated",
        "cognitoAuthenticationProvider":"p"}}}"#;

    #[test]
    fn rest_v1() {
        let e = parse(REST, None).unwrap();
        assert_eq!(e.source, Source::RestV1);
        assert_eq!(e.method.as_deref(), Some("GET"));
        let c = e.claim.unwrap();
        assert_eq!(c.identity_id.as_deref(), Some("us-west-2:d625c9c7-9a79-483c-bb4a-000000000001"));
        assert_eq!(c.authenticated, Some(true));
        assert_eq!(c.provider.as_deref(), Some("p"));
    }

    #[test]
    fn http_v2() {
        let e = parse(
            r#"{"version":"2.0","requestContext":{"http":{"method":"POST"},"authorizer":{"iam":{
               "cognitoIdentity":{"identityId":"a","identityPoolId":"b","amr":["authenticated","x"]}}}}}"#,
            None,
        )
        .unwrap();
        assert_eq!(e.source, Source::HttpV2);
        assert_eq!(e.method.as_deref(), Some("POST"));
        let c = e.claim.unwrap();
        assert_eq!(c.authenticated, Some(true));
        assert_eq!(c.amr.unwrap().entries, ["x"]);
    }

    #[test]
    fn an_amr_with_both_markers_is_not_authenticated() {
        let e = parse(
            r#"{"version":"2.0","requestContext":{"authorizer":{"iam":{
               "cognitoIdentity":{"identityId":"a","identityPoolId":"b","amr":["unauthenticated","authenticated"]}}}}}"#,
            None,
        )
        .unwrap();
        assert_eq!(e.claim.unwrap().authenticated, Some(false));
    }

    #[test]
    fn a_long_amr_keeps_no_more_than_it_needs() {
        let amr = format!("[\"authenticated\",{}\"\"]", "\"\",".repeat(100_000));
        let event = format!(
            r#"{{"version":"2.0","requestContext":{{"authorizer":{{"iam":{{"cognitoIdentity":{{"amr":{amr}}}}}}}}}}}"#
        );
        let amr = parse(&event, None).unwrap().claim.unwrap().amr.unwrap();
        assert!(amr.too_long && amr.authenticated);
        assert_eq!(amr.entries.len(), MAX_AMR_ENTRIES);
        assert!(amr.entries.capacity() <= 2 * MAX_AMR_ENTRIES);
    }

    #[test]
    fn http_v2_unauthenticated_amr() {
        let e = parse(
            r#"{"version":"2.0","requestContext":{"authorizer":{"iam":{
               "cognitoIdentity":{"identityId":"a","identityPoolId":"b","amr":["unauthenticated"]}}}}}"#,
            None,
        )
        .unwrap();
        assert_eq!(e.claim.unwrap().authenticated, Some(false));
    }

    #[test]
    fn iam_user_without_cognito_has_no_claim() {
        let e = parse(r#"{"requestContext":{"identity":{"cognitoIdentityId":null,"userArn":"arn"}}}"#, None).unwrap();
        assert_eq!(e.claim, None);
    }

    #[test]
    fn direct_invocation_trusts_only_the_context() {
        let ctx = r#"{"cognitoIdentityId":"us-east-1:id","cognitoIdentityPoolId":"us-east-1:pool"}"#;
        let e = parse("{}", Some(ctx)).unwrap();
        assert_eq!(e.source, Source::Direct);
        assert_eq!(e.claim.unwrap().identity_id.as_deref(), Some("us-east-1:id"));
        assert!(!e.identity_mismatch);
        // An event that claims another identity is flagged as forged.
        let forged = parse(REST, Some(ctx)).unwrap();
        assert!(forged.identity_mismatch);
        assert_eq!(forged.claim.unwrap().identity_id.as_deref(), Some("us-east-1:id"));
    }

    #[test]
    fn invalid_events_say_where_not_what() {
        for (input, says) in [
            ("not json", "not valid JSON"),
            ("[1,2]", "not a JSON object"),
            ("\"s3cr3t\"", "not a JSON object"),
            (r#"{"httpMethod": "GET", "httpMethod": "POST"}"#, "wrong type"),
            (r#"{"httpMethod": ["s3cr3t"]}"#, "wrong type"),
            ("", "not valid JSON"),
        ] {
            let EventError::Invalid(msg) = parse(input, None).unwrap_err();
            assert!(msg.contains(says), "{input:?}: {msg}");
            assert!(!msg.contains("s3cr3t"), "{msg}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        // Skipped fields are skipped without recursion, so depth costs nothing.
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse(&deep, None).unwrap().claim, None);
        let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let EventError::Invalid(msg) = parse(&deep_array, None).unwrap_err();
        assert!(msg.contains("not a JSON object"), "{msg}");
        let deep_field = format!("{{\"requestContext\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        let EventError::Invalid(msg) = parse(&deep_field, None).unwrap_err();
        assert!(msg.contains("wrong type"), "{msg}");
    }
}
