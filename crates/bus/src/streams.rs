//! Creating the JetStream streams a bus needs. Creation is idempotent, so every replica
//! of a service calls it at start-up.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::error::{BusError, BusErrorKind};
use crate::names;

/// Stream settings shared by every bus.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Stream replicas: 1 on one server, 3 in a cluster.
    pub replicas: usize,
    /// How long event ids are remembered for de-duplication.
    pub duplicate_window: Duration,
    /// How long accepted events are kept (the archive horizon); zero keeps them forever.
    pub max_age: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::ZERO,
        }
    }
}

/// Creates (or finds) the stream of a bus's accepted events.
pub async fn ensure_events_stream(
    js: &jetstream::Context,
    bus: &str,
    settings: &StreamSettings,
) -> Result<stream::Stream, BusError> {
    let config = stream::Config {
        name: names::events_stream(bus),
        subjects: vec![names::events_subject(bus)],
        description: Some(format!("Events accepted on bus {bus}; also its archive")),
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        duplicate_window: settings.duplicate_window,
        max_age: settings.max_age,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| stream_error(&names::events_stream(bus), e))
}

fn stream_error(name: &str, e: jetstream::context::CreateStreamError) -> BusError {
    use jetstream::context::CreateStreamErrorKind as K;
    let kind = match e.kind() {
        K::TimedOut | K::JetStreamUnavailable => BusErrorKind::Unavailable,
        _ => BusErrorKind::Rejected,
    };
    BusError::new(kind, format!("cannot create stream {name}: {e}"))
}

/// Creates (or finds) the `TARGETS` work queue: one message per delivery to make, removed
/// once the delivery is done or dead-lettered.
pub async fn ensure_targets_stream(
    js: &jetstream::Context,
    settings: &StreamSettings,
) -> Result<stream::Stream, BusError> {
    let config = stream::Config {
        name: names::TARGETS_STREAM.to_owned(),
        subjects: vec![names::TARGETS_ALL.to_owned()],
        description: Some("Deliveries to make: one per (event, rule, target)".into()),
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        duplicate_window: settings.duplicate_window,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| stream_error(names::TARGETS_STREAM, e))
}

/// Creates (or finds) the `DELIVERIES` stream that NATS-subject targets receive through.
pub async fn ensure_deliveries_stream(
    js: &jetstream::Context,
    settings: &StreamSettings,
    max_age: Duration,
) -> Result<stream::Stream, BusError> {
    let config = stream::Config {
        name: names::DELIVERIES_STREAM.to_owned(),
        subjects: vec![names::DELIVER_ALL.to_owned()],
        description: Some("What NATS-subject targets received".into()),
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        duplicate_window: settings.duplicate_window,
        max_age,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| stream_error(names::DELIVERIES_STREAM, e))
}

/// Creates (or finds) a bus's dead-letter stream.
pub async fn ensure_dlq_stream(
    js: &jetstream::Context,
    bus: &str,
    settings: &StreamSettings,
) -> Result<stream::Stream, BusError> {
    let config = stream::Config {
        name: names::dlq_stream(bus),
        subjects: vec![names::dlq_subject(bus)],
        description: Some(format!(
            "Deliveries of bus {bus} that exhausted their retry policy"
        )),
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        duplicate_window: settings.duplicate_window,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| stream_error(&names::dlq_stream(bus), e))
}

/// The KV bucket of buses, rules, targets, archives and replays.
pub const RULES: crate::kv::Bucket = crate::kv::Bucket {
    name: names::RULES_BUCKET,
    description: "Event bus buses, rules and targets, archives and replays",
    history: 1,
};

/// Opens (or creates) the KV bucket of buses, rules, targets, archives and replays.
pub async fn ensure_rules_bucket(
    js: &jetstream::Context,
    settings: &StreamSettings,
) -> Result<jetstream::kv::Store, BusError> {
    crate::kv::open_bucket(js, &RULES, settings.replicas).await
}
