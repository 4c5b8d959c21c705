//! Reading the bus for notifications: a durable JetStream consumer on the bus stream,
//! shared by every replica (each event goes to one of them), that starts with the events
//! stored after it was first created. Each event is matched against [`Rules`] with the
//! bus's own pattern engine; a match is delivered through the [`Notifier`], and the event
//! is acknowledged once every channel delivered or gave up, so a crash in between means
//! the event is notified again, not lost.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::StreamExt;
use groundwork_bus::names;
use groundwork_kit::Shutdown;

use crate::error::Error;
use crate::notify::Notifier;
use crate::notify::format::Notification;
use crate::notify::rules::Rules;

/// Creates (or finds) the durable consumer and delivers until shutdown.
pub async fn run(
    js: async_nats::jetstream::Context,
    bus: String,
    rules: Rules,
    notifier: Notifier,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let stream_name = names::events_stream(&bus);
    let stream = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| Error::Unavailable(format!("cannot open stream {stream_name}: {e}")))?;
    let consumer = stream
        .get_or_create_consumer(
            names::ALERTING_NOTIFIER_CONSUMER,
            pull::Config {
                durable_name: Some(names::ALERTING_NOTIFIER_CONSUMER.to_owned()),
                description: Some("alerting: events to notify about".into()),
                deliver_policy: DeliverPolicy::New,
                ack_policy: AckPolicy::Explicit,
                // Longer than a delivery with every retry on every channel.
                ack_wait: Duration::from_secs(600),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| {
            Error::Unavailable(format!(
                "cannot create consumer {} on {stream_name}: {e}",
                names::ALERTING_NOTIFIER_CONSUMER
            ))
        })?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| Error::Unavailable(format!("cannot read {stream_name}: {e}")))?;
    tracing::info!(stream = %stream_name, "notifier listening");
    loop {
        let message = tokio::select! {
            () = shutdown.wait() => return Ok(()),
            next = messages.next() => match next {
                None => return Ok(()),
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "notifier consumer error; it recovers");
                    continue;
                }
            },
        };
        match serde_json::from_slice::<serde_json::Value>(&message.payload) {
            Ok(event) => {
                if let Some(rule) = rules.matching(&event) {
                    let notification = Notification::for_event(&event);
                    let deliveries = notifier.deliver(&notification).await;
                    let failed = deliveries.iter().filter(|d| d.error.is_some()).count();
                    tracing::info!(rule, event_id = %event["id"], channels = deliveries.len(), failed, "notification sent");
                }
            }
            Err(e) => tracing::warn!(error = %e, "an event on the bus is not JSON; skipped"),
        }
        if let Err(e) = message.ack().await {
            tracing::warn!(error = %e, "cannot acknowledge an event; it may be notified again");
        }
    }
}
