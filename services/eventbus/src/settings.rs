//! The event bus's settings, in layers (defaults, a TOML file, environment, flags;
//! `GROUNDWORK_EVENTBUS__*`).

use std::net::SocketAddr;

use clap::Parser;
use groundwork_kit::CommonSettings;
use groundwork_kit::config::{parse_listen, ports};

/// Everything the event bus can be told.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "groundwork-eventbus",
    version,
    about = "EventBridge on NATS JetStream"
)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonSettings,

    /// Address of the gRPC API.
    #[arg(long, env = "GROUNDWORK_EVENTBUS__LISTEN", default_value_t = ports::listen(ports::EVENTBUS), value_parser = parse_listen)]
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

    /// How long event ids are remembered for de-duplication, in seconds.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__DUPLICATE_WINDOW_SECS",
        default_value_t = 120
    )]
    pub duplicate_window_secs: u64,

    /// Most rules one bus may hold (EventBridge: 300).
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__MAX_RULES_PER_BUS",
        default_value_t = 300
    )]
    pub max_rules_per_bus: usize,

    /// First retry delay of a failed delivery, in milliseconds; it doubles with every
    /// attempt (with jitter) up to `retry_max_delay_ms`.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__RETRY_BASE_DELAY_MS",
        default_value_t = 1000
    )]
    pub retry_base_delay_ms: u64,

    /// Longest delay between two attempts of a delivery, in milliseconds.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__RETRY_MAX_DELAY_MS",
        default_value_t = 60_000
    )]
    pub retry_max_delay_ms: u64,

    /// How long a webhook may take to answer, in milliseconds, unless its target says.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub webhook_timeout_ms: u64,

    /// How long the router may hold an event before JetStream gives it to another router
    /// (after a crash), in milliseconds.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__ROUTER_ACK_WAIT_MS",
        default_value_t = 30_000
    )]
    pub router_ack_wait_ms: u64,

    /// How long a delivery may be in progress before JetStream hands it out again (after a
    /// crash), in milliseconds; a webhook call extends it.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__DELIVERY_ACK_WAIT_MS",
        default_value_t = 60_000
    )]
    pub delivery_ack_wait_ms: u64,

    /// Events and deliveries handled at once by one process.
    #[arg(long, env = "GROUNDWORK_EVENTBUS__CONCURRENCY", default_value_t = 2048)]
    pub concurrency: usize,

    /// Most replays running at once (EventBridge: 10).
    #[arg(long, env = "GROUNDWORK_EVENTBUS__MAX_REPLAYS", default_value_t = 10)]
    pub max_replays: usize,

    /// How long NATS-subject targets' deliveries are kept in the DELIVERIES stream, in hours.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__DELIVERIES_MAX_AGE_HOURS",
        default_value_t = 168
    )]
    pub deliveries_max_age_hours: u64,

    /// How long a bus stream keeps accepted events (the archive horizon), in hours; 0
    /// keeps them until `events_max_bytes` is reached.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__EVENTS_MAX_AGE_HOURS",
        default_value_t = DEFAULT_EVENTS_MAX_AGE_HOURS
    )]
    pub events_max_age_hours: u64,

    /// Most bytes one bus stream keeps; the oldest events go first. -1: no limit.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__EVENTS_MAX_BYTES",
        default_value_t = groundwork_bus::streams::DEFAULT_EVENTS_MAX_BYTES,
        allow_negative_numbers = true
    )]
    pub events_max_bytes: i64,

    /// How long a bus's DLQ keeps dead letters, in hours; 0 keeps them until
    /// `dlq_max_bytes` is reached.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__DLQ_MAX_AGE_HOURS",
        default_value_t = DEFAULT_DLQ_MAX_AGE_HOURS
    )]
    pub dlq_max_age_hours: u64,

    /// Most bytes one bus's DLQ keeps; the oldest dead letters go first. -1: no limit.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS__DLQ_MAX_BYTES",
        default_value_t = groundwork_bus::streams::DEFAULT_DLQ_MAX_BYTES,
        allow_negative_numbers = true
    )]
    pub dlq_max_bytes: i64,

    /// Most buses, `default` included (each costs nats-server two streams).
    #[arg(long, env = "GROUNDWORK_EVENTBUS__MAX_BUSES", default_value_t = 100)]
    pub max_buses: usize,
}

/// 30 days.
const DEFAULT_EVENTS_MAX_AGE_HOURS: u64 = 30 * 24;
/// 14 days.
const DEFAULT_DLQ_MAX_AGE_HOURS: u64 = 14 * 24;

impl Settings {
    /// The retention and replication of every bus's streams.
    pub fn streams(&self) -> groundwork_bus::StreamSettings {
        let hours = |h: u64| std::time::Duration::from_secs(h.saturating_mul(3600));
        groundwork_bus::StreamSettings {
            replicas: self.common.stream_replicas,
            duplicate_window: std::time::Duration::from_secs(self.duplicate_window_secs),
            max_age: hours(self.events_max_age_hours),
            max_bytes: self.events_max_bytes,
            dlq_max_age: hours(self.dlq_max_age_hours),
            dlq_max_bytes: self.dlq_max_bytes,
        }
    }
}

impl Settings {
    /// Defaults for tests and embedding, with the given common settings (NATS server and
    /// credentials).
    pub fn on(common: CommonSettings) -> Self {
        Self {
            common,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            buses: vec!["default".into()],
            max_request_bytes: groundwork_events::envelope::DEFAULT_MAX_REQUEST_BYTES,
            duplicate_window_secs: 120,
            max_rules_per_bus: 300,
            retry_base_delay_ms: 1000,
            retry_max_delay_ms: 60_000,
            webhook_timeout_ms: 10_000,
            router_ack_wait_ms: 30_000,
            delivery_ack_wait_ms: 60_000,
            concurrency: 2048,
            max_replays: 10,
            deliveries_max_age_hours: 168,
            events_max_age_hours: DEFAULT_EVENTS_MAX_AGE_HOURS,
            events_max_bytes: groundwork_bus::streams::DEFAULT_EVENTS_MAX_BYTES,
            dlq_max_age_hours: DEFAULT_DLQ_MAX_AGE_HOURS,
            dlq_max_bytes: groundwork_bus::streams::DEFAULT_DLQ_MAX_BYTES,
            max_buses: 100,
        }
    }
}
