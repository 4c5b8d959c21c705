//! Connecting to NATS so that the connection survives a server restart: the client
//! reconnects forever, and callers see `Unavailable` errors while it is away instead of
//! hanging. Every client authenticates with its own identity (see [`crate::access`]):
//! an nkey seed file, a JWT creds file, or a user and password in the URL; TLS with a CA
//! file or a `tls://` URL.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::BusError;

/// How a client proves who it is to NATS, and which servers it trusts. Empty: anonymous,
/// which a Groundwork nats-server refuses.
#[derive(Debug, Clone, Default)]
pub struct NatsAuth {
    /// A JWT `.creds` file.
    pub creds_file: Option<PathBuf>,
    /// A file holding an nkey seed.
    pub nkey_file: Option<PathBuf>,
    /// CA certificate(s) of the server; TLS is then required.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key, for servers that verify clients.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl NatsAuth {
    /// The credentials of a service's settings.
    pub fn from_settings(common: &groundwork_kit::CommonSettings) -> Self {
        Self {
            creds_file: common.nats_creds.clone(),
            nkey_file: common.nats_nkey.clone(),
            ca_file: common.nats_ca.clone(),
            client_cert: common.nats_cert.clone().zip(common.nats_key.clone()),
        }
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// `nats://host:port` (several, comma separated, for a cluster).
    pub url: String,
    /// The client name the server shows (`nats server report connections`).
    pub name: String,
    /// How long a request to NATS (a JetStream publish ack, a KV read) may take before it
    /// counts as unavailable.
    pub request_timeout: Duration,
    pub auth: NatsAuth,
    /// The prefix of the client's reply subjects (`_INBOX` when unset); a service's own
    /// prefix is the only inbox its NATS identity may read.
    pub inbox_prefix: Option<String>,
}

impl ConnectSettings {
    pub fn new(url: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: name.into(),
            request_timeout: Duration::from_secs(3),
            auth: NatsAuth::default(),
            inbox_prefix: None,
        }
    }
}

/// Connects a service with its common settings (NATS URL, credentials, request timeout);
/// `name` (`groundwork-<service>`) is the client name the server shows and names the NATS
/// identity whose inbox prefix the client uses (see [`crate::access::Principal`]).
pub async fn for_service(
    common: &groundwork_kit::CommonSettings,
    name: &str,
) -> Result<async_nats::Client, BusError> {
    let mut settings = ConnectSettings::new(&common.nats_url, name);
    settings.request_timeout = common.nats_timeout();
    settings.auth = NatsAuth::from_settings(common);
    let identity = name.strip_prefix("groundwork-").unwrap_or(name);
    settings.inbox_prefix =
        crate::access::Principal::from_name(identity).map(crate::access::Principal::inbox_prefix);
    connect(&settings).await
}

/// The URL without a password, for messages.
fn shown_url(url: &str) -> String {
    url.split(',')
        .map(|one| match (one.find("://"), one.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}://***@{}", &one[..scheme], &one[at + 1..])
            }
            _ => one.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Applies credentials and TLS to the connect options.
async fn with_auth(
    mut options: async_nats::ConnectOptions,
    auth: &NatsAuth,
) -> Result<async_nats::ConnectOptions, BusError> {
    let refused = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        BusError::new(
            crate::error::BusErrorKind::Rejected,
            format!("cannot use the NATS {what} {}: {e}", path.display()),
        )
    };
    if let Some(path) = &auth.creds_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| refused("credentials file", path, &e))?;
    }
    if let Some(path) = &auth.nkey_file {
        let seed = crate::access::read_seed(path).map_err(|e| refused("nkey", path, &e))?;
        options = options.nkey(seed);
    }
    if let Some(path) = &auth.ca_file {
        options = options
            .add_root_certificates(path.clone())
            .require_tls(true);
    }
    if let Some((cert, key)) = &auth.client_cert {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(options)
}

/// The servers of a `NATS_URL`: one URL, or several separated by commas (the nodes of a
/// cluster, as the `nats` CLI takes them). The client starts with any of them and learns
/// the others from the cluster too.
pub fn server_addrs(url: &str) -> Result<Vec<async_nats::ServerAddr>, BusError> {
    let addrs = url
        .split(',')
        .map(str::trim)
        .filter(|one| !one.is_empty())
        .map(|one| {
            one.parse::<async_nats::ServerAddr>().map_err(|e| {
                BusError::new(
                    crate::error::BusErrorKind::Rejected,
                    format!("the NATS URL {} is not valid: {e}", shown_url(one)),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err(BusError::new(
            crate::error::BusErrorKind::Rejected,
            "the NATS URL is empty: set NATS_URL to nats://host:4222 (several, comma separated, \
             for a cluster)",
        ));
    }
    Ok(addrs)
}

/// Connects, retrying until the server answers; reconnects forever afterwards.
pub async fn connect(settings: &ConnectSettings) -> Result<async_nats::Client, BusError> {
    let servers = server_addrs(&settings.url)?;
    let mut options = with_auth(async_nats::ConnectOptions::new(), &settings.auth).await?;
    if let Some(prefix) = &settings.inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    options
        .name(&settings.name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .request_timeout(Some(settings.request_timeout))
        .connection_timeout(settings.request_timeout)
        // Reconnect quickly: a restarted server should be used again within a second.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * attempts as u64).min(1_000))
        })
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Disconnected => {
                    tracing::warn!("NATS connection lost; reconnecting")
                }
                async_nats::Event::Connected => tracing::info!("NATS connected"),
                // A refused login or a permission violation: the server says why.
                async_nats::Event::ServerError(e) => tracing::error!(error = %e, "NATS refused"),
                other => tracing::debug!(event = %other, "NATS event"),
            }
        })
        .connect(servers)
        .await
        .map_err(|e| {
            BusError::unavailable(format!(
                "cannot connect to NATS at {}: {e}",
                shown_url(&settings.url)
            ))
        })
}

/// How many publishes one context may have awaiting their acks: far above what any
/// service has in flight, so that the services' own limits (the router's messages in
/// flight, the gRPC server's calls) are the only bound.
pub const MAX_ACKS_IN_FLIGHT: usize = 1 << 24;

/// A JetStream context whose requests time out like the client's.
///
/// async-nats bounds the publishes a context has awaiting acks (5,000 by default) and
/// makes a publish wait for a free place. A task that holds acks while it publishes more
/// (the router's fan-out: every delivery of an event is sent, then all acks awaited) then
/// waits on places that only tasks like it can free: with more such tasks at once than
/// places (2,048 messages in flight of ten events each), every one waited on the others
/// and routing stopped for good. So the context's bound is set out of reach instead.
pub fn jetstream(client: &async_nats::Client, timeout: Duration) -> async_nats::jetstream::Context {
    async_nats::jetstream::ContextBuilder::new()
        .timeout(timeout)
        .max_ack_inflight(MAX_ACKS_IN_FLIGHT)
        .build(client.clone())
}

/// `Unavailable` unless the client is connected now: lets a call fail fast while NATS is
/// away, instead of queueing a message the caller has already been told failed.
pub fn ensure_connected(client: &async_nats::Client) -> Result<(), BusError> {
    match client.connection_state() {
        async_nats::connection::State::Connected => Ok(()),
        _ => Err(BusError::unavailable(
            "NATS is not reachable right now (the client is reconnecting); try again shortly",
        )),
    }
}

/// Drains the connection at shutdown: what was published is flushed before it closes.
pub async fn drain(client: &async_nats::Client) {
    if let Err(e) = client.drain().await {
        tracing::debug!(error = %e, "draining the NATS connection");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    /// Tasks that each hold a publish's ack while they publish again, more of them than
    /// async-nats's default bound on acks in flight (5,000): with that bound, the last
    /// 1,000 never get their first publish out, the barrier never opens and nothing
    /// finishes.
    #[tokio::test]
    async fn publishers_holding_acks_while_publishing_more_do_not_wait_on_each_other() {
        let nats = groundwork_testkit::NatsServer::start().unwrap();
        let client = nats.admin().await.unwrap();
        let js = super::jetstream(&client, std::time::Duration::from_secs(10));
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "HOLD".into(),
            subjects: vec!["hold.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        const TASKS: usize = 6_000;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(TASKS));
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let js = js.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let first = js.publish(format!("hold.{i}"), "1".into()).await.unwrap();
                    barrier.wait().await;
                    let second = js.publish(format!("hold.{i}"), "2".into()).await.unwrap();
                    first.await.unwrap();
                    second.await.unwrap();
                })
            })
            .collect();
        let done = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            for task in tasks {
                task.await.unwrap();
            }
        })
        .await;
        assert!(done.is_ok(), "publishers waited on each other's acks");
        let mut stream = js.get_stream("HOLD").await.unwrap();
        assert_eq!(
            stream.info().await.unwrap().state.messages,
            2 * TASKS as u64
        );
    }

    #[test]
    fn a_cluster_is_given_as_urls_separated_by_commas() {
        let addrs =
            super::server_addrs("nats://127.0.0.1:4222, nats://127.0.0.1:4223,tls://b:4224")
                .unwrap();
        let ports: Vec<u16> = addrs.iter().map(|a| a.port()).collect();
        assert_eq!(ports, vec![4222, 4223, 4224]);
        assert!(addrs[2].tls_required());
        assert!(super::server_addrs(" , ").is_err());
        let bad = super::server_addrs("nats://u:s3cret@a:4222,nats://u:s3cret@b:x")
            .unwrap_err()
            .to_string();
        assert!(!bad.contains("s3cret"), "{bad}");
    }

    #[test]
    fn a_password_in_the_url_is_not_shown() {
        assert_eq!(
            super::shown_url("nats://svc:s3cret@a:4222,tls://b:4222"),
            "nats://***@a:4222,tls://b:4222"
        );
    }
}
