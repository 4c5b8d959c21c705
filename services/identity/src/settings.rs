//! The identity service's settings, in layers (defaults, a TOML file, environment, flags;
//! `GROUNDWORK_IDENTITY__*`).
//! AWS access itself follows the SDK's standard variables (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_PROFILE`, the credential chain).

use std::net::SocketAddr;

use clap::Parser;
use groundwork_kit::CommonSettings;
use groundwork_kit::config::{parse_listen, ports};

/// Everything the identity service can be told.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "groundwork-identity",
    version,
    about = "An admin user instead of root, MFA, the password policy, and a root-hygiene audit"
)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonSettings,

    /// Address of the gRPC API.
    #[arg(long, env = "GROUNDWORK_IDENTITY__LISTEN", default_value_t = ports::listen(ports::IDENTITY), value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// The bus the service's events go to.
    #[arg(long, env = "GROUNDWORK_IDENTITY__BUS", default_value = "default")]
    pub bus: String,
}

impl Settings {
    /// Defaults for tests and embedding, with the given common settings (NATS server and
    /// credentials).
    pub fn on(common: CommonSettings) -> Self {
        Self {
            common,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            bus: "default".into(),
        }
    }
}
