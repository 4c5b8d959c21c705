//! The alerting service's settings, in layers (defaults, a TOML file, environment, flags;
//! `GROUNDWORK_ALERTING__*`).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use groundwork_kit::CommonSettings;
use groundwork_kit::config::{parse_listen, ports};

use crate::notify::targets::WebhookSpec;

/// Everything the alerting service can be told.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "groundwork-alerting",
    version,
    about = "SNS topic and subscriptions, the billing alarm, alarm state events, notifications"
)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonSettings,

    /// Address of the gRPC API.
    #[arg(long, env = "GROUNDWORK_ALERTING__LISTEN", default_value_t = ports::listen(ports::ALERTING), value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// The bus events are published on and notifications are read from.
    #[arg(long, env = "GROUNDWORK_ALERTING__BUS", default_value = "default")]
    pub bus: String,

    /// How often the watchers read alarm states and subscription confirmations, in ms.
    #[arg(
        long,
        env = "GROUNDWORK_ALERTING__POLL_INTERVAL_MS",
        default_value_t = 60_000
    )]
    pub poll_interval_ms: u64,

    /// Run the alarm and subscription watchers (every replica may: they agree through KV).
    #[arg(long, env = "GROUNDWORK_ALERTING__WATCH", default_value_t = true, action = clap::ArgAction::Set)]
    pub watch: bool,

    /// Turn the events of alerting's rules into notifications.
    #[arg(long, env = "GROUNDWORK_ALERTING__NOTIFY", default_value_t = true, action = clap::ArgAction::Set)]
    pub notify: bool,

    /// The event bus API, where alerting creates its rules at start-up; empty for none
    /// (no notifications then).
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS_URL",
        default_value_t = ports::url(ports::EVENTBUS)
    )]
    pub eventbus_url: String,

    /// The SNS topic notifications are published to (name or ARN, in us-east-1); empty
    /// for none.
    #[arg(
        long,
        env = "GROUNDWORK_ALERTING__NOTIFY_TOPIC",
        default_value = "billing-alarm"
    )]
    pub notify_topic: String,

    /// Outbound webhooks (comma separated, at most 4): `URL` posts the event as JSON,
    /// `slack=URL` posts Slack's `{"text": …}`. Each is a target of alerting's rules on
    /// the event bus, which delivers, retries and dead-letters it.
    #[arg(
        long,
        env = "GROUNDWORK_ALERTING__WEBHOOKS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub webhooks: Vec<WebhookSpec>,

    /// Attempts per notification and channel, counting the first: for SNS, and as the
    /// webhook targets' retry policy (one fewer retries).
    #[arg(
        long,
        env = "GROUNDWORK_ALERTING__NOTIFY_ATTEMPTS",
        default_value_t = 6
    )]
    pub notify_attempts: u32,

    /// First retry delay of an SNS publish, in ms; it doubles up to 30 s. (Webhook
    /// retries follow the event bus's backoff.)
    #[arg(
        long,
        env = "GROUNDWORK_ALERTING__NOTIFY_BACKOFF_MS",
        default_value_t = 500
    )]
    pub notify_backoff_ms: u64,

    /// Hours a subscription may wait for its confirmation before CheckAlertDelivery
    /// reports it (when the request does not say).
    #[arg(
        long,
        env = "GROUNDWORK_ALERTING__PENDING_CONFIRMATION_HOURS",
        default_value_t = crate::delivery::DEFAULT_PENDING_CONFIRMATION_HOURS
    )]
    pub pending_confirmation_hours: u32,
}

impl Settings {
    /// Defaults for tests and embedding, with the given common settings (NATS server and
    /// credentials).
    pub fn on(common: CommonSettings) -> Self {
        Self {
            common,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            bus: "default".into(),
            poll_interval_ms: 60_000,
            watch: true,
            notify: true,
            eventbus_url: String::new(),
            notify_topic: "billing-alarm".into(),
            webhooks: Vec::new(),
            notify_attempts: 6,
            notify_backoff_ms: 500,
            pending_confirmation_hours: crate::delivery::DEFAULT_PENDING_CONFIRMATION_HOURS,
        }
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }
}
