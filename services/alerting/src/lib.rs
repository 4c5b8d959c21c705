//! The alerting service: the SNS topic and its subscriptions, the CloudWatch billing
//! alarm (always in us-east-1), alarm state changes as events on the bus, and
//! notifications by SNS and webhooks for the events that matter.
//!
//! Layout:
//! - [`settings`]: flags and environment (`GROUNDWORK_ALERTING__*`).
//! - [`model`]: validated domain types (topic names and ARNs, endpoints, thresholds).
//! - [`topic`]: SNS — EnsureTopic, EnsureSubscription, ListSubscriptions.
//! - [`alarm_spec`]: a metric alarm in one normalised form; the billing alarms.
//! - [`import`]: `alarm_config.json` (`put-metric-alarm --cli-input-json`) with JSON paths
//!   in its errors.
//! - [`delivery`]: whether alerts to a topic arrive (its policy and KMS key let AWS
//!   Budgets and CloudWatch publish; no subscription pending too long), as findings.
//! - [`alarm`]: CloudWatch — putting an alarm only when it differs, billing metrics.
//! - [`alarm_event`]: the `CloudWatch Alarm State Change` event, in AWS's shape.
//! - [`watch_store`]: last-seen states in JetStream KV, changed by compare-and-set, with
//!   an outbox so each transition is published once.
//! - [`watchers`]: the alarm and subscription-confirmation watchers.
//! - [`notify`]: rules on the event bus with their targets (alerting's NATS subject, the
//!   webhooks, Slack's body by input transformer), and the consumer that publishes the
//!   deliveries to alerting's subject to SNS.
//! - [`service`]: the operations on domain types; [`grpc`]: the `groundwork.v1.Alerting`
//!   service on top.
//! - [`error`]: the service's error type and its mapping to gRPC status codes.
//!
//! [`serve`] runs it all until shutdown; `main.rs` hands it to kit's one service `main`.

pub mod alarm;
pub mod alarm_event;
pub mod alarm_spec;
pub mod delivery;
pub mod error;
pub mod grpc;
pub mod import;
pub mod model;
pub mod notify;
pub mod service;
pub mod settings;
pub mod topic;
pub mod watch_store;
pub mod watchers;

use std::time::Duration;

use groundwork_bus::Emitter;
use groundwork_cloud::BILLING_REGION;
use groundwork_events::envelope::Origin;
use groundwork_kit::Shutdown;
use groundwork_proto::v1::alerting_server::AlertingServer;
use tokio::net::TcpListener;

pub use error::Error;
pub use settings::Settings;

use crate::model::TopicRef;
use crate::notify::Notifier;
use crate::notify::rules::Rules;
use crate::notify::targets::{MAX_WEBHOOKS, WebhookTargets};
use crate::watch_store::WatchStore;
use crate::watchers::Watchers;

/// Connects to NATS with the service's name.
pub async fn connect(settings: &Settings) -> Result<async_nats::Client, Error> {
    Ok(groundwork_bus::connect::for_service(&settings.common, "groundwork-alerting").await?)
}

/// What the service runs on besides its settings: AWS (the shared SDK configuration;
/// every call goes to us-east-1) and the NATS connection.
pub type Deps = groundwork_kit::service::Deps<aws_config::SdkConfig, async_nats::Client>;

/// Runs the alerting service on `listener` until `shutdown`: the gRPC API, the watchers
/// and the notifier.
pub async fn serve(
    settings: Settings,
    deps: Deps,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let Deps { aws, nats: client } = deps;
    let billing = groundwork_cloud::config::billing(&aws);
    let timeout = settings.common.nats_timeout();
    let origin = Origin {
        account: settings.common.account.clone(),
        region: BILLING_REGION.to_owned(),
    };
    let emitter = Emitter::new(
        client.clone(),
        timeout,
        origin.clone(),
        groundwork_bus::access::Principal::Alerting,
        settings.bus.clone(),
    )?;
    // The audit trail of this service's API goes out through its emitter.
    let audit: groundwork_kit::audit::Audit = std::sync::Arc::new(emitter.clone());
    let js = groundwork_bus::connect::jetstream(&client, timeout);
    let store = WatchStore::open(&js, emitter.clone(), settings.common.stream_replicas).await?;

    let topic = if settings.notify_topic.is_empty() {
        None
    } else {
        Some(TopicRef::parse("notify_topic", &settings.notify_topic)?)
    };
    if settings.webhooks.len() > MAX_WEBHOOKS {
        return Err(Error::invalid(
            "webhooks",
            format!(
                "at most {MAX_WEBHOOKS}: each is a target of alerting's rules, which take 5 targets with alerting's own"
            ),
        ));
    }
    let webhooks_on_bus = settings.notify && !settings.eventbus_url.is_empty();
    let notifier = Notifier::new(
        aws_sdk_sns::Client::new(&billing),
        topic,
        settings.webhooks.clone(),
        webhooks_on_bus,
        settings.notify_attempts,
        Duration::from_millis(settings.notify_backoff_ms),
    );
    // A rule whose pattern does not parse is a bug here, not a problem for the bus.
    Rules::standard().map_err(|e| Error::internal(e.to_string()))?;

    let mut tasks = Vec::new();
    if settings.watch {
        let watchers = Watchers {
            cloudwatch: aws_sdk_cloudwatch::Client::new(&billing),
            sns: aws_sdk_sns::Client::new(&billing),
            store: store.clone(),
            origin,
        };
        tasks.push(tokio::spawn(
            watchers.run(settings.poll_interval(), shutdown.clone()),
        ));
    }
    if webhooks_on_bus {
        let eventbus = groundwork_kit::client::Target::new(
            settings.eventbus_url.clone(),
            settings.common.client_token()?,
            "GROUNDWORK_EVENTBUS_URL",
        )
        .with_tls(settings.common.client_tls()?);
        tasks.push(tokio::spawn(notify::bus_rules::ensure_rules_in_background(
            eventbus,
            settings.bus.clone(),
            WebhookTargets {
                webhooks: settings.webhooks.clone(),
                attempts: settings.notify_attempts,
            },
            shutdown.clone(),
        )));
        let js = js.clone();
        let notifier = notifier.clone();
        let shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            notify::consumer::run(js, notifier, shutdown).await;
        }));
    }

    let alerting = service::Alerting::new(&billing, emitter, store, notifier);
    let api = grpc::AlertingApi::new(alerting, settings.pending_confirmation_hours);
    let served = groundwork_kit::grpc::serve_api(
        listener,
        AlertingServer::new(api),
        &settings.common,
        audit,
        &shutdown,
    )
    .await;
    for task in tasks {
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "a background task failed");
        }
    }
    groundwork_bus::connect::drain(&client).await;
    Ok(served?)
}
