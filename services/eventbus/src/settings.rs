//! The event bus's settings, from flags and environment (`GROUNDWORK_EVENTBUS__*`).

use std::net::SocketAddr;

use clap::Args;
use groundwork_kit::CommonSettings;
use groundwork_kit::config::parse_listen;

/// Everything the event bus can be told.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonSettings,

    /// Address of the gRPC API.
    #[arg(long, env = "GROUNDWORK_EVENTBUS__LISTEN", default_value = "127.0.0.1:50051", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// The buses that exist (comma separated); `default` always does.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__BUSES",
        value_delimiter = ',',
        default_value = "default"
    )]
    pub buses: Vec<String>,

    /// Limit on the summed size of a PutEvents request's entries, in bytes (EventBridge: 256 KiB).
    #[arg(long, env = "GROUNDWORK_EVENTBUS__MAX_REQUEST_BYTES", default_value_t = groundwork_events::envelope::DEFAULT_MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,

    /// The account id written in event envelopes.
    #[arg(long, env = "GROUNDWORK_ACCOUNT_ID", default_value = "123456789012")]
    pub account: String,

    /// The region written in event envelopes.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,

    /// How long event ids are remembered for de-duplication, in seconds.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__DUPLICATE_WINDOW_SECS",
        default_value_t = 120
    )]
    pub duplicate_window_secs: u64,
}

impl Settings {
    /// Defaults for tests and embedding, against the given NATS server.
    pub fn for_nats(url: impl Into<String>) -> Self {
        Self {
            common: CommonSettings::for_nats(url),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            buses: vec!["default".into()],
            max_request_bytes: groundwork_events::envelope::DEFAULT_MAX_REQUEST_BYTES,
            account: "123456789012".into(),
            region: "us-east-1".into(),
            duplicate_window_secs: 120,
        }
    }
}
