//! Settings every service shares. Each service flattens [`CommonSettings`] into its own
//! `Settings` (clap `Args`), so every value comes from a flag or from the environment.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

/// Settings shared by every service.
#[derive(Debug, Clone, Args)]
pub struct CommonSettings {
    /// The NATS server(s) to use.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// When set, every gRPC call must carry `authorization: Bearer <token>`
    /// (health checks excepted).
    #[arg(long, env = "GROUNDWORK_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,

    /// How long a NATS request (a publish ack, a KV read) may take before the call fails
    /// with UNAVAILABLE, in milliseconds.
    #[arg(long, env = "GROUNDWORK_NATS_TIMEOUT_MS", default_value_t = 3000)]
    pub nats_timeout_ms: u64,

    /// JetStream stream replicas: 1 on a single server, 3 in a cluster.
    #[arg(long, env = "GROUNDWORK_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
}

impl CommonSettings {
    /// Settings for tests and embedding: a given NATS URL, no token, defaults otherwise.
    pub fn for_nats(url: impl Into<String>) -> Self {
        Self {
            nats_url: url.into(),
            api_token: None,
            nats_timeout_ms: 3000,
            stream_replicas: 1,
        }
    }

    pub fn nats_timeout(&self) -> Duration {
        Duration::from_millis(self.nats_timeout_ms)
    }
}

/// Parses a listen address, accepting `:port` for all interfaces.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    text.parse()
        .map_err(|e| format!("'{text}' is not an address like 127.0.0.1:50051: {e}"))
}
