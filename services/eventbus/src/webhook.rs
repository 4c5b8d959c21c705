//! Webhook targets: an HTTP(S) POST of the target input as JSON. 2xx means delivered;
//! 429, 5xx, timeouts and connection failures are worth retrying; any other answer is
//! not. TLS is rustls with the ring provider (the workspace's one TLS stack). A URL
//! appears in messages only as [`redact_url`] shows it: its path and query may hold a token.

use std::time::Duration;

use bytes::Bytes;
use groundwork_events::redact::redact_url;
use http_body_util::Full;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::deliverer::DeliveryError;
use crate::error::Error;

/// A pooled HTTP(S) client for webhook targets.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl WebhookClient {
    pub fn new() -> Result<Self, Error> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::internal(format!("TLS setup failed: {e}")))?;
        let tls = match builder.clone().with_native_roots() {
            Ok(b) => b.with_no_client_auth(),
            Err(e) => {
                tracing::warn!(error = %e, "no system CA certificates; https webhooks will fail");
                builder
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { client })
    }

    /// POSTs `body`; `headers` are sent as given.
    pub async fn post(
        &self,
        url: &str,
        body: String,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        let mut request = http::Request::post(url).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| {
            DeliveryError::terminal("INVALID_URL", format!("{}: {e}", redact_url(url)))
        })?;
        let response = match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => {
                return Err(DeliveryError::retryable(
                    "TIMEOUT",
                    format!(
                        "{} did not answer within {} ms",
                        redact_url(url),
                        timeout.as_millis()
                    ),
                ));
            }
            Ok(Err(e)) => {
                return Err(DeliveryError::retryable(
                    "CONNECTION_FAILED",
                    format!("cannot reach {}: {}", redact_url(url), error_chain(&e)),
                ));
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        drop(response);
        if status.is_success() {
            return Ok(());
        }
        let code = format!("HTTP_{}", status.as_u16());
        let message = format!("{} answered {status}", redact_url(url));
        if status == http::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(DeliveryError::retryable(code, message))
        } else {
            Err(DeliveryError::terminal(code, message))
        }
    }
}

/// The error and its causes, without the URL (hyper's messages do not carry it).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
