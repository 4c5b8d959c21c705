//! Outbound webhooks: a POST of JSON over http or https (rustls with ring, the TLS stack
//! of the rest of the tree), through hyper's client.
//!
//! A webhook URL often *is* a credential (a Slack incoming-webhook URL carries its token
//! in the path), so only its scheme and host are ever shown: in `Debug`, logs and
//! delivery reports.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::notify::retry::AttemptError;

/// What a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The event envelope, as JSON.
    Json,
    /// Slack's incoming-webhook body, `{"text": …}`.
    Slack,
}

/// A configured webhook: `URL` (JSON) or `slack=URL`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    pub format: WebhookFormat,
    uri: http::Uri,
}

impl WebhookSpec {
    pub fn uri(&self) -> &http::Uri {
        &self.uri
    }

    /// The URL without path and query, safe to show.
    pub fn redacted(&self) -> String {
        format!(
            "{}://{}/…",
            self.uri.scheme_str().unwrap_or("http"),
            self.uri.authority().map(|a| a.as_str()).unwrap_or_default()
        )
    }

    /// The channel name in delivery reports.
    pub fn channel(&self) -> &'static str {
        match self.format {
            WebhookFormat::Json => "webhook",
            WebhookFormat::Slack => "slack",
        }
    }
}

impl fmt::Debug for WebhookSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSpec")
            .field("format", &self.format)
            .field("url", &self.redacted())
            .finish()
    }
}

impl FromStr for WebhookSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (format, url) = match text.split_once('=') {
            Some(("slack", url)) => (WebhookFormat::Slack, url),
            Some(("json", url)) => (WebhookFormat::Json, url),
            _ => (WebhookFormat::Json, text),
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|_| "a webhook is URL or slack=URL, with an http(s) URL".to_owned())?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none_or(str::is_empty) {
            return Err("a webhook URL starts with https:// (or http://) and names a host".into());
        }
        Ok(Self { format, uri })
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// The HTTP client shared by every webhook delivery.
#[derive(Clone)]
pub struct WebhookClient {
    client: Client<Https, Full<Bytes>>,
    timeout: Duration,
}

impl fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookClient")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WebhookClient {
    /// A client trusting the system's root certificates.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("cannot load the system's root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    /// POSTs `body` as JSON. 2xx is delivered; 429, 5xx, timeouts and connection failures
    /// may be retried; other statuses are terminal.
    pub async fn post(&self, hook: &WebhookSpec, body: Vec<u8>) -> Result<(), AttemptError> {
        let request = http::Request::post(hook.uri().clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "groundwork-alerting")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| AttemptError::terminal(format!("cannot build the request: {e}")))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| {
                AttemptError::retryable(format!(
                    "{} did not answer within {} s",
                    hook.redacted(),
                    self.timeout.as_secs()
                ))
            })?
            .map_err(|e| {
                AttemptError::retryable(format!("cannot reach {}: {e}", hook.redacted()))
            })?;
        let status = response.status();
        // Read the body so that the connection can be reused.
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else if status == http::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(AttemptError::retryable(format!(
                "{} answered {status}",
                hook.redacted()
            )))
        } else {
            Err(AttemptError::terminal(format!(
                "{} answered {status}",
                hook.redacted()
            )))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_parse_and_never_show_their_path() {
        let slack: WebhookSpec = "slack=https://hooks.slack.com/services/T0/B0/s3cr3t"
            .parse()
            .unwrap();
        assert_eq!(slack.format, WebhookFormat::Slack);
        assert_eq!(slack.redacted(), "https://hooks.slack.com/…");
        assert!(!format!("{slack:?}").contains("s3cr3t"));
        let json: WebhookSpec = "http://127.0.0.1:8080/hook".parse().unwrap();
        assert_eq!(json.format, WebhookFormat::Json);
        assert!("ftp://x/y".parse::<WebhookSpec>().is_err());
        assert!("slack=not a url".parse::<WebhookSpec>().is_err());
    }
}
