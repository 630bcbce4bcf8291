//! `attach-iot-policy call`: a signed GET to a deployed API, as an app's
//! identity would send it, for smoke-testing a deployment.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::aws::client::{http_client, identity_from_env, sign};

/// What the API answered.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// The region of an `execute-api` URL: `https://<id>.execute-api.<region>.amazonaws.com/…`.
pub fn region_of_url(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let (_, rest) = host.split_once(".execute-api.")?;
    let region = rest.split('.').next()?;
    attach_iot_policy_ids::is_region(region).then(|| region.to_owned())
}

/// Signs a GET for `url` with the credentials in the environment (signing
/// name `execute-api`) and sends it.
pub async fn call(url: &str, region: Option<String>, var: impl Fn(&str) -> Option<String>) -> Result<Answer> {
    let parsed = reqwest::Url::parse(url).context("--url is not a URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--url must be an http:// or https:// URL");
    }
    let region = region
        .or_else(|| region_of_url(&parsed))
        .or_else(|| var("AWS_REGION"))
        .context("no region: pass --region, or set AWS_REGION, for a URL that does not name one")?;
    let identity = identity_from_env(&var)?;
    let mut request = http::Request::builder()
        .method("GET")
        .uri(parsed.as_str())
        .header("accept", "application/json")
        .body(Vec::new())
        .context("building the request")?;
    sign(&identity, &region, "execute-api", &mut request).map_err(|e| anyhow::anyhow!("{}", e.message()))?;

    let client = http_client(true).timeout(Duration::from_secs(30)).build()?;
    let request = reqwest::Request::try_from(request).context("building the request")?;
    let response =
        client.execute(request).await.map_err(|e| anyhow::anyhow!("the request failed: {}", e.without_url()))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_from_execute_api_urls() {
        let url =
            reqwest::Url::parse("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/attachIoTPolicy").unwrap();
        assert_eq!(region_of_url(&url).as_deref(), Some("eu-west-1"));
        let url = reqwest::Url::parse("http://127.0.0.1:9000/attachIoTPolicy").unwrap();
        assert_eq!(region_of_url(&url), None);
    }
}
