//! The formats of the AWS IDs and configuration names that attach-iot-policy
//! accepts. Each check is strict, so that no crafted value reaches an AWS
//! call, a `ListUsers` filter, a header or a log line.
//!
//! Both sides use these: the guest on what an event claims and on the
//! configuration a host passes it, the host when it reads its environment.
//! The WIT is still the contract; this is a utility.

#![no_std]

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

/// An IoT policy name: 1-128 of `[A-Za-z0-9_+=,.@-]`, as AWS IoT allows,
/// and not `.` or `..`, which a request path would collapse.
pub fn is_policy_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"_+=,.@-".contains(&c))
        && s != "."
        && s != ".."
}

/// A custom user pool attribute: `custom:` then 1-20 of `[A-Za-z0-9_]`.
pub fn is_attribute_name(s: &str) -> bool {
    s.strip_prefix("custom:")
        .is_some_and(|n| (1..=20).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'))
}

/// An `Access-Control-Allow-Origin` value: `*`, or one origin,
/// `http(s)://host[:port]`, whose host is a name, an IPv4 address or a
/// bracketed IPv6 address, with nothing that could end a header.
pub fn is_origin(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let Some(authority) = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")) else { return false };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((address, rest))
                if !address.is_empty() && address.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') =>
            {
                (address, rest)
            }
            _ => return false,
        },
        None => {
            let end = authority.find(':').unwrap_or(authority.len());
            let host = &authority[..end];
            let name = host.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-');
            if host.is_empty() || !name || host.starts_with(['.', '-']) || host.ends_with('-') {
                return false;
            }
            (host, &authority[end..])
        }
    };
    let port_ok = match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => (1..=5).contains(&digits.len()) && digits.bytes().all(|c| c.is_ascii_digit()),
    };
    !host.is_empty() && port_ok && s.len() <= 256
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

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
    fn configuration_names() {
        assert!(is_policy_name("amplify-toolkit-iot-message-viewer"));
        for bad in ["", "has space", "a/b", "a\nb"] {
            assert!(!is_policy_name(bad), "{bad:?}");
        }
        assert!(!is_policy_name(&"p".repeat(129)));
        // `PUT /target-policies/..` collapsed to `PUT /`.
        assert!(!is_policy_name(".") && !is_policy_name(".."));
        assert!(is_policy_name("...") && is_policy_name("v1.2"));
        assert!(is_attribute_name("custom:iotPolicyIsAttached"));
        for bad in ["email", "custom:", "custom:has-dash", "custom:waytoolongforanattribute"] {
            assert!(!is_attribute_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn origins() {
        assert!(is_origin("*"));
        assert!(is_origin("https://app.example.com"));
        assert!(is_origin("http://localhost:3000"));
        assert!(!is_origin(""));
        assert!(!is_origin("app.example.com"));
        assert!(!is_origin("https://app.example.com/path"));
        assert!(!is_origin("https://a.example\r\nX-Injected: 1"));
        assert!(!is_origin("https://a.example, https://b.example"));
        assert!(is_origin("https://[::1]:8443") && is_origin("http://127.0.0.1:8080"));
        for bad in [
            "https://:",
            "https://",
            "https://:443",
            "https://a.example:",
            "https://a.example:123456",
            "https://[]",
            "https://[::1",
            "https://-a.example",
        ] {
            assert!(!is_origin(bad), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn whatever_passes_a_check_is_safe_in_a_header_or_a_filter(s in "\\PC{0,80}") {
            let safe = |s: &str| !s.bytes().any(|c| c.is_ascii_control() || c == b'"' || c == b'\\' || c == b' ');
            for check in [is_region, is_uuid, is_policy_name, is_attribute_name, is_origin] {
                if check(&s) { proptest::prop_assert!(safe(&s), "{s:?}"); }
            }
            if region_of_regional_uuid(&s).is_some() || region_of_user_pool_id(&s).is_some() {
                proptest::prop_assert!(safe(&s), "{s:?}");
            }
        }
    }
}
