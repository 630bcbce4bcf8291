//! Takes the credentials' own values out of what a server says. A server (or
//! anything in between) may quote the request back in an error message: the
//! session token, the secret, the access key. That text becomes a log line,
//! an error in an answer, a `Reason` for CloudFormation and `detach-all`'s
//! stderr, so it is cleaned once, where it enters: [`super::errors::classify`].

use std::collections::HashSet;

use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::percent_decode_str;

/// What stands where a secret was.
pub const REDACTED: &str = "[redacted]";
/// The shortest piece of a secret taken out when it shows on its own: a server
/// may quote a token cut short, and a token's alphabet has no word breaks.
const MIN_PIECE: usize = 16;

/// The values of `identity`'s credentials: access key, secret, session token.
pub fn secrets(identity: &Identity) -> Vec<&str> {
    identity.data::<Credentials>().map(secrets_of).unwrap_or_default()
}

/// The values of `credentials`: access key, secret, session token.
pub fn secrets_of(credentials: &Credentials) -> Vec<&str> {
    [credentials.access_key_id(), credentials.secret_access_key()]
        .into_iter()
        .chain(credentials.session_token())
        .collect()
}

/// `text` with every word that holds a secret, whole, percent-encoded or a
/// piece of [`MIN_PIECE`] characters, replaced by [`REDACTED`]. A word is a
/// run of the characters keys and tokens are made of (base64, and `%`, `-`,
/// `_`), so the whole quoted value goes, not just the part that matched.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    if secrets.is_empty() {
        return text.to_owned();
    }
    let pieces: HashSet<&[u8]> = secrets.iter().flat_map(|s| s.as_bytes().windows(MIN_PIECE)).collect();
    let quotes = |word: &str| {
        let decoded = percent_decode_str(word).decode_utf8_lossy();
        [word, decoded.as_ref()].into_iter().any(|w| {
            secrets.iter().any(|s| w.contains(s)) || w.as_bytes().windows(MIN_PIECE).any(|p| pieces.contains(p))
        })
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(in_word) {
        out.push_str(&rest[..start]);
        let word = &rest[start..];
        let word = &word[..word.find(|c| !in_word(c)).unwrap_or(word.len())];
        out.push_str(if quotes(word) { REDACTED } else { word });
        rest = &rest[start + word.len()..];
    }
    out.push_str(rest);
    out
}

fn in_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '%' | '-' | '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example/session+token==";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn clean(text: &str) -> String {
        let out = redact(text, &["AKIAIOSFODNN7EXAMPLE", SECRET, TOKEN]);
        for secret in ["AKIAIOSFODNN7EXAMPLE", SECRET, TOKEN, &TOKEN[10..40], "IOSFODNN7EXAMPLE"] {
            assert!(!out.contains(secret), "{out}");
        }
        out
    }

    #[test]
    fn a_secret_quoted_whole_encoded_or_in_part_is_taken_out() {
        assert_eq!(
            clean(&format!("The security token '{TOKEN}' is invalid.")),
            "The security token '[redacted]' is invalid."
        );
        let encoded = percent_encoding::utf8_percent_encode(TOKEN, percent_encoding::NON_ALPHANUMERIC).to_string();
        assert_eq!(clean(&format!("X-Amz-Security-Token={encoded}&x=1")), "[redacted]&x=1");
        assert_eq!(clean(&format!("token {}... was cut", &TOKEN[5..45])), "token [redacted]... was cut");
        assert_eq!(clean("Credential=AKIAIOSFODNN7EXAMPLE/20261204/us-east-1/iot, x"), "[redacted], x");
        assert_eq!(clean(&format!("secret:{SECRET}.")), "secret:[redacted].");
    }

    #[test]
    fn text_without_a_secret_is_left_as_it_is() {
        let text = "User: arn:aws:iam::123456789012:user/x is not authorized to perform iot:AttachPolicy on 42";
        assert_eq!(redact(text, &["AKIAIOSFODNN7EXAMPLE", SECRET, TOKEN]), text);
        assert_eq!(redact("no credentials", &[]), "no credentials");
        assert_eq!(redact("ünïcode – fine", &[SECRET]), "ünïcode – fine");
    }
}
