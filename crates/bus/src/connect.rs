//! Connecting to NATS so that the connection survives a server restart: the client
//! reconnects forever, and callers see `Unavailable` errors while it is away instead of
//! hanging.

use std::time::Duration;

use crate::error::BusError;

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
}

impl ConnectSettings {
    pub fn new(url: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: name.into(),
            request_timeout: Duration::from_secs(3),
        }
    }
}

/// Connects a service with its common settings (NATS URL and request timeout); `name` is
/// the client name the server shows.
pub async fn for_service(
    common: &groundwork_kit::CommonSettings,
    name: &str,
) -> Result<async_nats::Client, BusError> {
    let mut settings = ConnectSettings::new(&common.nats_url, name);
    settings.request_timeout = common.nats_timeout();
    connect(&settings).await
}

/// Connects, retrying until the server answers; reconnects forever afterwards.
pub async fn connect(settings: &ConnectSettings) -> Result<async_nats::Client, BusError> {
    async_nats::ConnectOptions::new()
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
                other => tracing::debug!(event = %other, "NATS event"),
            }
        })
        .connect(settings.url.as_str())
        .await
        .map_err(|e| {
            BusError::unavailable(format!("cannot connect to NATS at {}: {e}", settings.url))
        })
}

/// A JetStream context whose requests time out like the client's.
pub fn jetstream(client: &async_nats::Client, timeout: Duration) -> async_nats::jetstream::Context {
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(timeout);
    js
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
