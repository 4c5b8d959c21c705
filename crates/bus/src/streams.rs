//! Creating the JetStream streams a bus needs. Creation is idempotent, so every replica
//! of a service calls it at start-up.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::error::{BusError, BusErrorKind};
use crate::names;

/// Stream settings shared by every bus.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Stream replicas; [`crate::replicas::DETECT`] (0): 3 on a cluster of three or more
    /// nodes, 1 otherwise (see [`crate::replicas`]).
    pub replicas: usize,
    /// How long event ids are remembered for de-duplication.
    pub duplicate_window: Duration,
    /// How long accepted events are kept (the archive horizon); zero keeps them forever.
    pub max_age: Duration,
    /// Most bytes a bus stream keeps; the oldest events go first. -1: no limit.
    pub max_bytes: i64,
    /// How long dead letters are kept; zero keeps them forever.
    pub dlq_max_age: Duration,
    /// Most bytes a bus's DLQ keeps; the oldest dead letters go first. -1: no limit.
    pub dlq_max_bytes: i64,
}

/// How long a bus stream keeps events by default: 30 days.
pub const DEFAULT_EVENTS_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most bytes a bus stream keeps by default: 1 GiB.
pub const DEFAULT_EVENTS_MAX_BYTES: i64 = 1 << 30;
/// How long a DLQ keeps dead letters by default: 14 days, SQS's longest retention.
pub const DEFAULT_DLQ_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);
/// Most bytes a DLQ keeps by default: 256 MiB.
pub const DEFAULT_DLQ_MAX_BYTES: i64 = 256 << 20;

impl Default for StreamSettings {
    /// Limits that keep a small disk safe: every bus stream and DLQ is bounded in age
    /// and size (a stream without limits grew to 1.5 GB and nats-server to 1.9 GB RSS).
    fn default() -> Self {
        Self {
            replicas: crate::replicas::DETECT,
            duplicate_window: Duration::from_secs(120),
            max_age: DEFAULT_EVENTS_MAX_AGE,
            max_bytes: DEFAULT_EVENTS_MAX_BYTES,
            dlq_max_age: DEFAULT_DLQ_MAX_AGE,
            dlq_max_bytes: DEFAULT_DLQ_MAX_BYTES,
        }
    }
}

/// Longest stream name nats-server accepts.
pub const MAX_STREAM_NAME_LEN: usize = 255;

/// Whether a bus's streams (`EVENTS_<bus>`, `DLQ_<bus>`, the name escaped) have names
/// nats-server accepts: a bus name of 249 to 256 characters is valid for EventBridge but
/// not as a stream name.
pub fn bus_fits_stream_names(bus: &str) -> bool {
    names::events_stream(bus).len() <= MAX_STREAM_NAME_LEN
        && names::dlq_stream(bus).len() <= MAX_STREAM_NAME_LEN
}

/// The limits of a stream as given: age, bytes, oldest discarded first.
fn limited(mut config: stream::Config, max_age: Duration, max_bytes: i64) -> stream::Config {
    config.max_age = max_age;
    config.max_bytes = max_bytes;
    config.discard = stream::DiscardPolicy::Old;
    config
}

/// Applies the retention in `settings` to a bus's existing streams (they may have been
/// created before, without limits, or by a service with other settings). Only the owner
/// of the streams (the event bus) calls it; services that emit only create them.
pub async fn apply_bus_retention(
    js: &jetstream::Context,
    bus: &str,
    settings: &StreamSettings,
) -> Result<(), BusError> {
    for (name, max_age, max_bytes) in [
        (
            names::events_stream(bus),
            settings.max_age,
            settings.max_bytes,
        ),
        (
            names::dlq_stream(bus),
            settings.dlq_max_age,
            settings.dlq_max_bytes,
        ),
    ] {
        let mut stream = js.get_stream(&name).await.map_err(|e| {
            BusError::new(
                BusErrorKind::Unavailable,
                format!("cannot open stream {name}: {e}"),
            )
        })?;
        let info = stream.info().await.map_err(|e| {
            BusError::new(
                BusErrorKind::Unavailable,
                format!("cannot read stream {name}: {e}"),
            )
        })?;
        let config = &info.config;
        if config.max_age == max_age
            && config.max_bytes == max_bytes
            && config.discard == stream::DiscardPolicy::Old
        {
            continue;
        }
        let updated = limited(config.clone(), max_age, max_bytes);
        js.update_stream(updated).await.map_err(|e| {
            BusError::new(
                BusErrorKind::Rejected,
                format!("cannot set the retention of stream {name}: {e}"),
            )
        })?;
        tracing::info!(stream = %name, max_age_secs = max_age.as_secs(), max_bytes, "stream retention set");
    }
    Ok(())
}

/// Creates (or finds) the stream of a bus's accepted events.
pub async fn ensure_events_stream(
    js: &jetstream::Context,
    bus: &str,
    settings: &StreamSettings,
) -> Result<stream::Stream, BusError> {
    let config = limited(
        stream::Config {
            name: names::events_stream(bus),
            subjects: vec![names::events_subject(bus)],
            description: Some(format!("Events accepted on bus {bus}; also its archive")),
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            num_replicas: crate::replicas::for_context(js, settings.replicas).await?,
            duplicate_window: settings.duplicate_window,
            ..Default::default()
        },
        settings.max_age,
        settings.max_bytes,
    );
    get_or_create(js, config).await
}

/// `get_or_create_stream`, safe when another replica creates the same stream at the same
/// moment: a create that fails (on a cluster the loser of the race may be told the name is
/// in use "with a different configuration", or time out while the stream is placed) is
/// answered by reading the stream the other one made; only when there is still none after a
/// few tries is it an error.
async fn get_or_create(
    js: &jetstream::Context,
    config: stream::Config,
) -> Result<stream::Stream, BusError> {
    const ATTEMPTS: u32 = 5;
    let name = config.name.clone();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match js.get_or_create_stream(config.clone()).await {
            Ok(stream) => return Ok(raise_replicas(js, stream, config.num_replicas).await),
            Err(e) => {
                if let Ok(stream) = js.get_stream(&name).await {
                    return Ok(raise_replicas(js, stream, config.num_replicas).await);
                }
                if attempt >= ATTEMPTS {
                    return Err(stream_error(&name, e));
                }
                tracing::debug!(stream = %name, error = %e, attempt, "stream not created yet; trying again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
    }
}

/// How long [`raise_replicas`] waits for a raised stream to answer again.
const RAISE_SETTLE: Duration = Duration::from_secs(30);
/// How long [`raise_replicas`] awaits one answer about the stream.
const RAISE_ASK: Duration = Duration::from_millis(500);
/// How many times [`raise_replicas`] asks for the copies before it leaves it to the next
/// start.
const RAISE_ATTEMPTS: u32 = 3;

/// Gives a stream that keeps fewer copies than `wanted` that many (never fewer than it
/// has): a stream made at R1 before its cluster existed, or while a node was away, gets its
/// copies at the next start of a service that uses it, once the replicas are set or
/// detected as the cluster's. A refusal (a node still away, no room on the others) is
/// logged and the stream is used as it is; the next start tries again.
pub(crate) async fn raise_replicas(
    js: &jetstream::Context,
    mut stream: stream::Stream,
    wanted: usize,
) -> stream::Stream {
    let has = stream.cached_info().config.num_replicas;
    if has >= wanted {
        return stream;
    }
    let name = stream.cached_info().config.name.clone();
    let mut config = stream.cached_info().config.clone();
    config.num_replicas = wanted;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let refused = match js.update_stream(config.clone()).await {
            Ok(_) => break,
            Err(e) => e,
        };
        // An update whose answer was lost (a busy cluster, a request timed out) may have
        // been applied all the same: look before calling it refused.
        if keeps(&mut stream, wanted).await.is_some() {
            break;
        }
        if attempt >= RAISE_ATTEMPTS {
            tracing::warn!(
                stream = %name,
                has,
                wanted,
                error = %refused,
                "the stream keeps fewer copies than it should; raising them is tried again at \
                 the next start (or: nats stream edit --replicas)"
            );
            return stream;
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
    }
    tracing::info!(stream = %name, from = has, to = wanted, "stream replicas raised");
    // The stream has a new Raft group, which elects its leader before it answers again:
    // wait for that here rather than fail the caller's next request.
    let deadline = tokio::time::Instant::now() + RAISE_SETTLE;
    loop {
        // Asked often, each answer awaited briefly: a request the old group took is not
        // answered by the new one.
        if keeps(&mut stream, wanted).await == Some(true) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(stream = %name, "the stream has no leader yet after raising its replicas");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stream
}

/// Whether the stream has a leader, when its info (read within [`RAISE_ASK`]) says it
/// keeps `wanted` copies or more; `None` otherwise.
async fn keeps(stream: &mut stream::Stream, wanted: usize) -> Option<bool> {
    let info = tokio::time::timeout(RAISE_ASK, stream.info())
        .await
        .ok()?
        .ok()?;
    (info.config.num_replicas >= wanted)
        .then(|| info.cluster.as_ref().is_some_and(|c| c.leader.is_some()))
}

fn stream_error(name: &str, e: jetstream::context::CreateStreamError) -> BusError {
    creation_error(format!("cannot create stream {name}: {e}"), &e)
}

/// The error for a stream (or a KV bucket's stream) JetStream did not create: `message`,
/// of the kind `e` calls for, with what to do when the servers are out of room.
pub(crate) fn creation_error(
    message: String,
    e: &jetstream::context::CreateStreamError,
) -> BusError {
    use jetstream::ErrorCode;
    use jetstream::context::CreateStreamErrorKind as K;
    let kind = match e.kind() {
        K::TimedOut | K::JetStreamUnavailable => BusErrorKind::Unavailable,
        K::JetStream(js) => match js.error_code() {
            ErrorCode::INSUFFICIENT_RESOURCES
            | ErrorCode::STORAGE_RESOURCES_EXCEEDED
            | ErrorCode::MEMORY_RESOURCES_EXCEEDED => BusErrorKind::Exhausted,
            // "No suitable peers for placement": for want of space, or because a node is
            // away (restarting, or not yet heard from after the cluster started) and will
            // be back.
            ErrorCode::CLUSTER_NO_PEERS if js.to_string().contains("insufficient") => {
                BusErrorKind::Exhausted
            }
            ErrorCode::CLUSTER_NO_PEERS => BusErrorKind::Unavailable,
            _ => BusErrorKind::Rejected,
        },
        _ => BusErrorKind::Rejected,
    };
    let hint = if kind == BusErrorKind::Exhausted {
        "; each stream reserves its byte limit on every node that holds a copy: free space, \
         give the servers more (max_file_store) or lower the streams' limits"
    } else {
        ""
    };
    BusError::new(kind, format!("{message}{hint}"))
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
        num_replicas: crate::replicas::for_context(js, settings.replicas).await?,
        duplicate_window: settings.duplicate_window,
        ..Default::default()
    };
    get_or_create(js, config).await
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
        num_replicas: crate::replicas::for_context(js, settings.replicas).await?,
        duplicate_window: settings.duplicate_window,
        max_age,
        ..Default::default()
    };
    get_or_create(js, config).await
}

/// Creates (or finds) a bus's dead-letter stream.
pub async fn ensure_dlq_stream(
    js: &jetstream::Context,
    bus: &str,
    settings: &StreamSettings,
) -> Result<stream::Stream, BusError> {
    let config = limited(
        stream::Config {
            name: names::dlq_stream(bus),
            subjects: vec![names::dlq_subject(bus)],
            description: Some(format!(
                "Deliveries of bus {bus} that exhausted their retry policy"
            )),
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            num_replicas: crate::replicas::for_context(js, settings.replicas).await?,
            duplicate_window: settings.duplicate_window,
            ..Default::default()
        },
        settings.dlq_max_age,
        settings.dlq_max_bytes,
    );
    get_or_create(js, config).await
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A bus stream whose byte limit the server cannot reserve is refused as a limit, with
    /// what to do, not as an internal error.
    #[tokio::test]
    async fn a_stream_the_store_cannot_hold_is_a_limit_not_an_internal_error() {
        let nats = groundwork_testkit::NatsServer::start().unwrap();
        let js = jetstream::new(nats.admin().await.unwrap());
        let settings = StreamSettings {
            replicas: 1,
            max_bytes: 1 << 55,
            ..StreamSettings::default()
        };
        let e = ensure_events_stream(&js, "huge", &settings)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), BusErrorKind::Exhausted, "{e}");
        assert!(e.to_string().contains("max_file_store"), "{e}");
        let status = groundwork_kit::Error::from(e).into_status();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    }

    /// A stream and a bucket made at R1 on a cluster (before it was one, or while a node was
    /// away) get three copies when a service opens them again asking for three; asking for
    /// fewer never takes copies away. The bucket is opened by a service's own identity,
    /// whose permissions must allow the raise.
    #[tokio::test]
    async fn streams_and_buckets_made_with_one_copy_are_raised_never_lowered() {
        let cluster = groundwork_testkit::NatsCluster::start().unwrap();
        let admin = jetstream::new(cluster.admin().await.unwrap());
        let one = StreamSettings {
            replicas: 1,
            ..StreamSettings::default()
        };
        let three = StreamSettings {
            replicas: 3,
            ..StreamSettings::default()
        };
        let replicas = |s: &stream::Stream| s.cached_info().config.num_replicas;
        let made = ensure_events_stream(&admin, "grow", &one).await.unwrap();
        assert_eq!(replicas(&made), 1);
        let raised = ensure_events_stream(&admin, "grow", &three).await.unwrap();
        assert_eq!(replicas(&raised), 3);
        let again = ensure_events_stream(&admin, "grow", &one).await.unwrap();
        assert_eq!(replicas(&again), 3, "asking for one copy keeps the three");
        // The new copies catch up with the leader: a leader and two current followers.
        let mut stream = admin
            .get_stream(names::events_stream("grow"))
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let info = stream.info().await.unwrap();
            let cluster = info.cluster.as_ref().unwrap();
            let followers: Vec<_> = cluster
                .replicas
                .iter()
                .map(|r| (r.name.clone(), r.current))
                .collect();
            if cluster.leader.is_some()
                && followers.len() == 2
                && followers.iter().all(|(_, current)| *current)
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "leader {:?}, followers {followers:?}",
                cluster.leader
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }

        let budget = cluster
            .connect_options("budget")
            .unwrap()
            .connect(cluster.urls()[0].clone())
            .await
            .unwrap();
        let budget = jetstream::new(budget);
        let bucket = crate::kv::Bucket {
            name: names::BUDGET_WATCH_BUCKET,
            description: "test",
            history: 1,
        };
        crate::kv::open_bucket(&budget, &bucket, 1).await.unwrap();
        let kv_stream = format!("KV_{}", names::BUDGET_WATCH_BUCKET);
        let copies = |s: stream::Stream| s.cached_info().config.num_replicas;
        assert_eq!(copies(admin.get_stream(&kv_stream).await.unwrap()), 1);
        crate::kv::open_bucket(&budget, &bucket, 3).await.unwrap();
        assert_eq!(copies(admin.get_stream(&kv_stream).await.unwrap()), 3);
        crate::kv::open_bucket(&budget, &bucket, 1).await.unwrap();
        assert_eq!(copies(admin.get_stream(&kv_stream).await.unwrap()), 3);
    }
}
