//! The budget service's settings, in layers (defaults, a TOML file, environment, flags;
//! `GROUNDWORK_BUDGET__*`).
//! AWS access itself follows the SDK's standard variables (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_PROFILE`, the credential chain); budgets are always called in
//! us-east-1.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use groundwork_kit::CommonSettings;
use groundwork_kit::config::{parse_listen, ports};

/// Everything the budget service can be told.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "groundwork-budget",
    version,
    about = "AWS Budgets: credits and spend budgets, thresholds, subscribers, and a spend watcher"
)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonSettings,

    /// Address of the gRPC API.
    #[arg(long, env = "GROUNDWORK_BUDGET__LISTEN", default_value_t = ports::listen(ports::BUDGET), value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// The bus the service's events go to.
    #[arg(long, env = "GROUNDWORK_BUDGET__BUS", default_value = "default")]
    pub bus: String,

    /// How often the watcher reads the spend of managed budgets, in seconds (AWS updates
    /// it a few times a day); 0 switches the watcher off.
    #[arg(
        long,
        env = "GROUNDWORK_BUDGET__WATCH_INTERVAL_SECS",
        default_value_t = 900
    )]
    pub watch_interval_secs: u64,

    /// Whether existing notifications' subscribers are read
    /// (DescribeSubscribersForNotification) and compared. Set to false against moto,
    /// which does not implement that call; subscribers are then not compared.
    #[arg(
        long,
        env = "GROUNDWORK_BUDGET__READ_SUBSCRIBERS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub read_subscribers: bool,
}

impl Settings {
    /// Defaults for tests and embedding, with the given common settings (NATS server and
    /// credentials).
    pub fn on(common: CommonSettings) -> Self {
        Self {
            common,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            bus: "default".into(),
            watch_interval_secs: 900,
            read_subscribers: true,
        }
    }

    /// The watcher's interval; `None` when it is switched off.
    pub fn watch_interval(&self) -> Option<Duration> {
        (self.watch_interval_secs > 0).then(|| Duration::from_secs(self.watch_interval_secs))
    }
}
