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
        let (address, basic) = without_user_info(url);
        let mut request =
            http::Request::post(address.as_str()).header("content-type", "application/json");
        if let Some(credentials) = basic {
            request = request.header("authorization", format!("Basic {credentials}"));
        }
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

/// The URL without its user info, and the user info as HTTP Basic credentials (base64 of
/// `user:password`, percent-decoded), as browsers and curl send it. The client never sees a
/// URL with a password in it: its connection pool logs the authority it connects to.
fn without_user_info(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some((user_info, host)) = rest[..authority_end].rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let address = format!("{scheme}://{host}{}", &rest[authority_end..]);
    (address, Some(base64(&percent_decode(user_info))))
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_becomes_basic_credentials() {
        assert_eq!(
            without_user_info("https://ops:p%40ss@example.com:8443/hook?x=1"),
            (
                "https://example.com:8443/hook?x=1".to_owned(),
                Some(base64(b"ops:p@ss"))
            )
        );
        assert_eq!(
            without_user_info("http://example.com/a@b"),
            ("http://example.com/a@b".to_owned(), None)
        );
        // RFC 4648's test vectors.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
