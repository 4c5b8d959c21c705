//! The identity service's settings, from flags and environment (`GROUNDWORK_IDENTITY__*`).
//! AWS access itself follows the SDK's standard variables (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_PROFILE`, the credential chain).

use std::net::SocketAddr;

use clap::Args;
use groundwork_kit::CommonSettings;
use groundwork_kit::config::parse_listen;

/// Everything the identity service can be told.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonSettings,

    /// Address of the gRPC API.
    #[arg(long, env = "GROUNDWORK_IDENTITY__LISTEN", default_value = "127.0.0.1:50052", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// The bus the service's events go to.
    #[arg(long, env = "GROUNDWORK_IDENTITY__BUS", default_value = "default")]
    pub bus: String,

    /// Attempts per AWS call, counting the first (the SDK's standard retry mode).
    #[arg(
        long,
        env = "GROUNDWORK_IDENTITY__AWS_MAX_ATTEMPTS",
        default_value_t = 3
    )]
    pub aws_max_attempts: u32,

    /// The account id written in event envelopes.
    #[arg(long, env = "GROUNDWORK_ACCOUNT_ID", default_value = "123456789012")]
    pub account: String,

    /// The region written in event envelopes.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
}

impl Settings {
    /// Defaults for tests and embedding, against the given NATS server.
    pub fn for_nats(url: impl Into<String>) -> Self {
        Self {
            common: CommonSettings::for_nats(url),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            bus: "default".into(),
            aws_max_attempts: 3,
            account: "123456789012".into(),
            region: "us-east-1".into(),
        }
    }
}
