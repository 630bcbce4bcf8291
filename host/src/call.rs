//! `attach-iot-policy call`: a signed GET to a deployed API, as an app's
//! identity would send it, for smoke-testing a deployment.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::aws::client::{http_client, sign};
use crate::aws::credentials::{ChainSettings, CredentialSource};
use crate::config::Lookup;
use crate::settings::Settings;

/// The most of an answer `call` reads; the function's answers are a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// What the API answered.
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as text, every control character but newline and tab escaped,
    /// so that printing it cannot drive the terminal.
    pub body: String,
}

/// The region of an `execute-api` URL: `https://<id>.execute-api.<region>.amazonaws.com/…`.
pub fn region_of_url(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let (_, rest) = host.split_once(".execute-api.")?;
    let region = rest.split('.').next()?;
    attach_iot_policy_ids::is_region(region).then(|| region.to_owned())
}

/// Signs a GET for `url` (signing name `execute-api`) with the credentials in
/// the environment, else the credential chain's, and sends it.
pub async fn call(url: &str, region: Option<String>, var: &impl Lookup, settings: &Settings) -> Result<Answer> {
    let parsed = reqwest::Url::parse(url).context("--url is not a URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--url must be an http:// or https:// URL");
    }
    let region = region
        .or_else(|| region_of_url(&parsed))
        .or(var.get("AWS_REGION")?)
        .context("no region: pass --region, or set AWS_REGION, for a URL that does not name one")?;
    // No redirects: the signed headers (the session token among them) would
    // go to a host the user never named.
    let client = http_client(Some(&settings.ca_roots))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .build()?;
    let chain = ChainSettings { region: Some(region.clone()), http: Some(client.clone()) };
    let credentials = CredentialSource::from_lookup(var, cfg!(feature = "credential-chain").then_some(chain))?;
    let identity = credentials.identity().await.map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let mut request = http::Request::builder()
        .method("GET")
        .uri(parsed.as_str())
        .header("accept", "application/json")
        .body(Vec::new())
        .context("building the request")?;
    sign(&identity, &region, "execute-api", &mut request).map_err(|e| anyhow::anyhow!("{}", e.message()))?;

    let request = reqwest::Request::try_from(request).context("building the request")?;
    let mut response =
        client.execute(request).await.map_err(|e| anyhow::anyhow!("the request failed: {}", e.without_url()))?;
    let status = response.status().as_u16();
    if (300..400).contains(&status) {
        bail!("the API answered HTTP {status}, a redirect, which is not followed: the request carries credentials");
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| anyhow::anyhow!("reading the answer failed: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            bail!("the answer is larger than {MAX_ANSWER_BYTES} bytes; it was not read to the end");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body: terminal_safe(&String::from_utf8_lossy(&body)) })
}

/// Escapes every control character but newline and tab (`\u{1b}` for ESC).
pub fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\n' && c != '\t' { c.escape_unicode().to_string() } else { c.to_string() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(terminal_safe("a\u{1b}[2Jb\r\nc\td"), "a\\u{1b}[2Jb\\u{d}\nc\td");
    }

    #[test]
    fn regions_come_from_execute_api_urls() {
        let url =
            reqwest::Url::parse("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/attachIoTPolicy").unwrap();
        assert_eq!(region_of_url(&url).as_deref(), Some("eu-west-1"));
        let url = reqwest::Url::parse("http://127.0.0.1:9000/attachIoTPolicy").unwrap();
        assert_eq!(region_of_url(&url), None);
    }
}
