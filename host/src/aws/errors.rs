//! Turns an AWS answer that is not a success into the WIT error variant.
//! Anything, even HTML or an empty body, becomes a typed error.

use super::AwsError;
use super::redact::redact;

/// What kind of failure a response is, and whether to try again. `secrets`
/// (the credentials the request was signed with) are taken out of the code
/// and the message first: a server may quote them.
pub fn classify(status: u16, error_type_header: Option<&str>, body: &[u8], secrets: &[&str]) -> AwsError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |names: &[&str]| -> Option<String> {
        let object = parsed.as_ref()?.as_object()?;
        names.iter().find_map(|n| object.get(*n)?.as_str().map(str::to_owned))
    };
    let code = error_type_header
        .map(str::to_owned)
        .or_else(|| field(&["__type", "code", "Code"]))
        .map(|c| short_code(&redact(&c, secrets)));
    let message = field(&["message", "Message", "errorMessage"]).map(|m| redact(&m, secrets)).unwrap_or_default();
    let text = match (&code, message.is_empty()) {
        (Some(code), false) => format!("{code}: {}", clip(&message)),
        (Some(code), true) => code.clone(),
        (None, _) => format!("HTTP {status} with no AWS error code"),
    };

    match code.as_deref() {
        Some(
            "ResourceNotFoundException" | "UserNotFoundException" | "NotFoundException" | "UserPoolNotFoundException",
        ) => AwsError::NotFound(text),
        Some(
            "AccessDeniedException"
            | "AccessDenied"
            | "UnauthorizedException"
            | "NotAuthorizedException"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredTokenException"
            | "ExpiredToken"
            | "MissingAuthenticationToken",
        ) => AwsError::AccessDenied(text),
        Some(code) if is_throttling_code(code) => AwsError::Throttled(text),
        // A full quota (10 policies per identity); waiting does not empty it.
        Some("LimitExceededException") => AwsError::LimitExceeded(text),
        Some(
            "ServiceUnavailableException" | "InternalFailureException" | "InternalErrorException" | "InternalException",
        ) => AwsError::Unavailable(text),
        _ if status == 429 => AwsError::Throttled(text),
        _ if status >= 500 => AwsError::Unavailable(text),
        _ if status == 401 || status == 403 => AwsError::AccessDenied(text),
        Some(_) if (400..500).contains(&status) => AwsError::InvalidRequest(text),
        _ => AwsError::Other(text),
    }
}

/// Whether an AWS error code means throttling, as the SDKs list them.
pub fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "TooManyRequestsException"
            | "Throttling"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "SlowDown"
    )
}

/// Whether the call may succeed if made again.
pub fn is_retryable(error: &AwsError) -> bool {
    matches!(error, AwsError::Throttled(_) | AwsError::Unavailable(_))
}

/// `aws.protocols#ThrottlingException:http://…` → `ThrottlingException`.
/// Anything but letters, digits, `.`, `_` and `-` is dropped: the code is
/// logged, and a server could put a newline or an escape sequence in it.
fn short_code(code: &str) -> String {
    let code = code.rsplit_once('#').map_or(code, |(_, c)| c);
    let code = code.split_once(':').map_or(code, |(c, _)| c).trim();
    code.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).take(100).collect()
}

/// Keeps AWS's message to one short line.
fn clip(message: &str) -> String {
    let line: String = message.chars().filter(|c| !c.is_control()).take(300).collect();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_with_control_characters_is_logged_without_them() {
        let e = classify(400, None, b"{\"__type\":\"Bad\\nX-Injected: 1\\u001b[31mCode\",\"message\":\"m\"}", &[]);
        assert_eq!(e.message(), "BadX-Injected: m");
        let e = classify(400, Some("Evil\u{1b}]0;title\u{7}Code"), b"", &[]);
        assert!(!e.message().chars().any(char::is_control), "{e:?}");
    }

    /// A server that quotes the session token in its message (or its code)
    /// must not put it in the logs and answers; it is cut to 300 characters
    /// after it is taken out, so no clipped piece survives.
    #[test]
    fn a_server_quoting_the_credentials_is_not_passed_on() {
        let token = format!("IQoJb3JpZ2luX2Vj{}", "AbCdEfGh0123/+".repeat(40));
        let body = format!(r#"{{"__type":"InvalidToken{token}","message":"The security token {token} is invalid"}}"#);
        let e = classify(403, None, body.as_bytes(), &["AKIDEXAMPLE", &token]);
        assert!(matches!(&e, AwsError::AccessDenied(_)), "{e:?}");
        assert_eq!(e.message(), "redacted: The security token [redacted] is invalid");
        let e = classify(400, Some(&format!("Bad{token}")), b"{}", &[&token]);
        assert!(!e.message().contains(&token[..20]), "{e:?}");
    }

    #[test]
    fn codes_come_from_the_header_or_the_body() {
        let e = classify(404, Some("ResourceNotFoundException:http://internal.amazon.com/"), b"{}", &[]);
        assert!(matches!(e, AwsError::NotFound(m) if m == "ResourceNotFoundException"));
        let e = classify(
            400,
            None,
            br#"{"__type":"com.amazonaws.cognito#UserNotFoundException","message":"User does not exist."}"#,
            &[],
        );
        assert!(matches!(e, AwsError::NotFound(m) if m == "UserNotFoundException: User does not exist."));
        let e = classify(400, None, br#"{"code":"InvalidParameterException"}"#, &[]);
        assert!(matches!(e, AwsError::InvalidRequest(_)));
    }

    #[test]
    fn throttling_and_server_errors() {
        assert!(matches!(classify(400, None, br#"{"__type":"ThrottlingException"}"#, &[]), AwsError::Throttled(_)));
        assert!(matches!(
            classify(400, None, br#"{"__type":"TooManyRequestsException"}"#, &[]),
            AwsError::Throttled(_)
        ));
        assert!(matches!(classify(429, None, b"", &[]), AwsError::Throttled(_)));
        assert!(matches!(classify(503, None, b"<html>Service Unavailable</html>", &[]), AwsError::Unavailable(_)));
        assert!(matches!(
            classify(500, None, br#"{"__type":"InternalErrorException"}"#, &[]),
            AwsError::Unavailable(_)
        ));
    }

    #[test]
    fn signature_and_permission_errors_are_access_denied() {
        for code in [
            "InvalidSignatureException",
            "UnrecognizedClientException",
            "AccessDeniedException",
            "ExpiredTokenException",
        ] {
            let body = format!(r#"{{"__type":"{code}","message":"m"}}"#);
            assert!(matches!(classify(403, None, body.as_bytes(), &[]), AwsError::AccessDenied(_)), "{code}");
        }
        assert!(matches!(classify(403, None, b"<html>", &[]), AwsError::AccessDenied(_)));
    }

    #[test]
    fn answers_that_are_not_aws_shaped_are_still_typed() {
        assert!(matches!(classify(200, None, b"<html>", &[]), AwsError::Other(_)));
        assert!(matches!(classify(302, None, b"", &[]), AwsError::Other(_)));
        assert!(matches!(classify(400, None, br#"{"__type": "Trunc"#, &[]), AwsError::Other(_)));
        let long = format!(r#"{{"__type":"X","message":"{}"}}"#, "a\n".repeat(1000));
        assert!(classify(400, None, long.as_bytes(), &[]).message().len() < 320);
    }

    #[test]
    fn limit_exceeded_has_its_own_case() {
        let e = classify(410, None, br#"{"message":"Limit exceeded","__type":"LimitExceededException"}"#, &[]);
        assert!(matches!(&e, AwsError::LimitExceeded(m) if m == "LimitExceededException: Limit exceeded"), "{e:?}");
        assert!(!is_retryable(&e));
    }

    #[test]
    fn retryable() {
        assert!(is_retryable(&AwsError::Throttled(String::new())));
        assert!(is_retryable(&AwsError::Unavailable(String::new())));
        assert!(!is_retryable(&AwsError::InvalidRequest(String::new())));
        assert!(!is_retryable(&AwsError::AccessDenied(String::new())));
    }
}
