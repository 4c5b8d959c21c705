//! Every gRPC channel to a Groundwork service, for the CLI and for the services that call
//! each other: the URL checked, timeouts set, TLS when the target has it, and the API token
//! added to every call by one interceptor. Clients are built as
//! `IdentityClient::new(client::lazy(&target)?)`.

use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;

use crate::error::Error;
use crate::tls::ClientTls;

/// How long connecting to a service may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a service is and how to authenticate to it.
#[derive(Clone)]
pub struct Target {
    /// `http://host:port`, or `https://host:port` for TLS; several replicas of a service
    /// as a comma-separated list (calls are spread over them, and go to the others while
    /// one is away).
    pub url: String,
    /// The API token sent as `authorization: Bearer <token>`; none or empty sends nothing.
    pub token: Option<String>,
    /// The setting that gave the URL (e.g. `GROUNDWORK_IDENTITY_URL`), named in errors.
    pub setting: &'static str,
    /// Deadline of each call; `None` for calls that stream for long (watch, tail).
    pub timeout: Option<Duration>,
    /// TLS: with it, the call uses TLS even for an `http://` URL (the CA was given on
    /// purpose); without it, an `https://` URL trusts the system's roots.
    pub tls: Option<ClientTls>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("setting", &self.setting)
            .field("tls", &self.tls)
            .finish()
    }
}

impl Target {
    pub fn new(url: impl Into<String>, token: Option<String>, setting: &'static str) -> Self {
        Self {
            url: url.into(),
            token,
            setting,
            timeout: None,
            tls: None,
        }
    }

    /// Uses TLS with `tls` (see [`Target::tls`]); `None` leaves the target as it is.
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> Self {
        if tls.is_some() {
            self.tls = tls;
        }
        self
    }

    /// The URLs the channel connects to: `https://` whenever TLS is configured.
    pub fn effective_url(&self) -> String {
        self.urls().join(",")
    }

    /// Each URL of [`Target::url`], `https://` whenever TLS is configured.
    fn urls(&self) -> Vec<String> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|url| match (&self.tls, url.strip_prefix("http://")) {
                (Some(_), Some(rest)) => format!("https://{rest}"),
                _ => url.to_owned(),
            })
            .collect()
    }

    /// Sets a deadline on every call.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Adds the API token to every outgoing call.
#[derive(Clone, Default)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "BearerToken(<redacted>)"
        } else {
            "BearerToken(none)"
        })
    }
}

impl BearerToken {
    /// The header value for `token`; an error names the setting, never the token.
    pub fn new(token: Option<&str>) -> Result<Self, Error> {
        match token.filter(|t| !t.is_empty()) {
            None => Ok(Self(None)),
            Some(t) => {
                let mut value: MetadataValue<Ascii> =
                    format!("Bearer {t}").parse().map_err(|_| {
                        Error::invalid(
                            "GROUNDWORK_API_TOKEN",
                            "holds characters that cannot be sent in a header",
                        )
                    })?;
                value.set_sensitive(true);
                Ok(Self(Some(value)))
            }
        }
    }
}

impl tonic::service::Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel to a service with the token interceptor: what every generated client wraps.
pub type Channel = InterceptedService<tonic::transport::Channel, BearerToken>;

/// One endpoint per URL of the target.
fn endpoints(target: &Target) -> Result<Vec<Endpoint>, Error> {
    let urls = target.urls();
    if urls.is_empty() {
        return Err(Error::invalid(target.setting, "no URL given"));
    }
    urls.into_iter().map(|url| endpoint(target, url)).collect()
}

fn endpoint(target: &Target, url: String) -> Result<Endpoint, Error> {
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| Error::invalid(target.setting, format!("'{url}' is not a URL: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    let tls = match (&target.tls, url.starts_with("https://")) {
        (Some(tls), _) => Some(tls.config()),
        (None, true) => Some(ClientTls::default().config()),
        (None, false) => None,
    };
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| Error::invalid(target.setting, format!("TLS for '{url}': {e}")))?;
    }
    if let Some(timeout) = target.timeout {
        endpoint = endpoint.timeout(timeout);
    }
    Ok(endpoint)
}

/// A channel that connects on first use: a service that is down makes calls fail with
/// UNAVAILABLE (and retry) instead of failing the caller's start-up.
pub fn lazy(target: &Target) -> Result<Channel, Error> {
    let mut endpoints = endpoints(target)?;
    let channel = if endpoints.len() == 1 {
        endpoints.remove(0).connect_lazy()
    } else {
        tonic::transport::Channel::balance_list(endpoints.into_iter())
    };
    Ok(InterceptedService::new(
        channel,
        BearerToken::new(target.token.as_deref())?,
    ))
}

/// A channel connected now, or an UNAVAILABLE error that says where the service was
/// expected and how to point elsewhere. With several URLs (replicas), each is tried at once
/// and the calls are spread over those that answered: a replica that is away would fail
/// the calls the balancer happened to give it.
pub async fn connect(target: &Target, what: &str) -> Result<Channel, Error> {
    let token = BearerToken::new(target.token.as_deref())?;
    let endpoints = endpoints(target)?;
    let tried = futures::future::join_all(endpoints.iter().map(Endpoint::connect)).await;
    let mut reachable = Vec::new();
    let mut failure = None;
    for (endpoint, result) in endpoints.into_iter().zip(tried) {
        match result {
            Ok(channel) => reachable.push((endpoint, channel)),
            Err(e) => failure = Some(e),
        }
    }
    let channel = match reachable.len() {
        0 => {
            let why = failure.map_or_else(|| "no URL".to_owned(), |e| error_chain(&e));
            return Err(Error::unavailable(format!(
                "cannot reach the {what} at {}: {why}. Is it running? (`groundwork up` starts a \
                 local stack; {} points elsewhere)",
                target.effective_url(),
                target.setting
            )));
        }
        1 => reachable.remove(0).1,
        _ => tonic::transport::Channel::balance_list(reachable.into_iter().map(|(e, _)| e)),
    };
    Ok(InterceptedService::new(channel, token))
}

/// An error and its sources, so that a TLS failure says why (unknown CA, wrong name).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tonic::service::Interceptor;

    #[test]
    fn the_token_goes_into_every_call_and_nowhere_else() {
        let mut bearer = BearerToken::new(Some("s3cret")).unwrap();
        let request = bearer.call(tonic::Request::new(())).unwrap();
        assert_eq!(
            request.metadata().get("authorization").unwrap(),
            "Bearer s3cret"
        );
        assert!(!format!("{bearer:?}").contains("s3cret"));
        let target = Target::new("http://x", Some("s3cret".into()), "GROUNDWORK_X_URL");
        assert!(!format!("{target:?}").contains("s3cret"));
        let mut none = BearerToken::new(Some("")).unwrap();
        let request = none.call(tonic::Request::new(())).unwrap();
        assert!(request.metadata().get("authorization").is_none());
    }

    #[test]
    fn several_urls_are_replicas_and_each_gets_tls() {
        let target = Target::new(
            "http://127.0.0.1:1, https://127.0.0.1:2",
            None,
            "GROUNDWORK_IDENTITY_URL",
        )
        .with_tls(Some(ClientTls::default()));
        assert_eq!(
            target.effective_url(),
            "https://127.0.0.1:1,https://127.0.0.1:2"
        );
        assert_eq!(endpoints(&target).unwrap().len(), 2);
        let e = lazy(&Target::new(" , ", None, "GROUNDWORK_IDENTITY_URL")).unwrap_err();
        assert_eq!(e.field(), Some("GROUNDWORK_IDENTITY_URL"));
    }

    #[test]
    fn bad_urls_and_tokens_name_the_setting() {
        let e = lazy(&Target::new("not a url", None, "GROUNDWORK_IDENTITY_URL")).unwrap_err();
        assert_eq!(e.field(), Some("GROUNDWORK_IDENTITY_URL"));
        let e = BearerToken::new(Some("bad\ntoken")).unwrap_err();
        assert!(!e.to_string().contains("bad\ntoken"));
    }
}
