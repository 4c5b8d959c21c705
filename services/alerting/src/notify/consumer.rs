//! Reading alerting's deliveries: the event bus routes the events alerting's rules match
//! to the NATS-subject target `nats:alerting.notify`, stored in the `DELIVERIES` stream.
//! A durable consumer filtered on that subject, shared by every replica (each delivery
//! goes to one of them), publishes each to the SNS topic through the [`Notifier`] and
//! acknowledges it once SNS took it or the failure is final — a crash in between means
//! the event is published again, not lost. A retryable failure is retried by JetStream:
//! the delivery is NAKed with the notifier's backoff, so a pending retry survives a
//! restart. (Webhooks are not this consumer's: they are the event bus's targets.)

use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::StreamExt;
use groundwork_bus::names;
use groundwork_kit::Shutdown;

use crate::error::Error;
use crate::notify::Notifier;
use crate::notify::format::Notification;

/// Creates (or finds) the durable consumer and notifies until shutdown.
pub async fn run(
    js: async_nats::jetstream::Context,
    notifier: Notifier,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let stream_name = names::DELIVERIES_STREAM;
    let subject = names::deliver_subject(names::ALERTING_NOTIFY_TARGET);
    let stream = js.get_stream(stream_name).await.map_err(|e| {
        Error::Unavailable(format!(
            "cannot open stream {stream_name} (is the event bus running?): {e}"
        ))
    })?;
    let consumer = stream
        .get_or_create_consumer(
            names::ALERTING_NOTIFIER_CONSUMER,
            pull::Config {
                durable_name: Some(names::ALERTING_NOTIFIER_CONSUMER.to_owned()),
                description: Some("alerting: events to notify about".into()),
                filter_subject: subject.clone(),
                // Deliveries exist only for alerting's rules: none is stale.
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                // Longer than one SNS publish with the SDK's own retries.
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
    tracing::info!(%subject, "notifier listening");
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
        let rule = message
            .headers
            .as_ref()
            .and_then(|h| h.get(names::RULE_ARN_HEADER))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        match serde_json::from_slice::<serde_json::Value>(&message.payload) {
            Ok(event) => {
                let notification = Notification::for_event(&event);
                let attempt = message
                    .info()
                    .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
                    .unwrap_or(1);
                let outcome = match notifier.publish(&notification).await {
                    Ok(()) => {
                        if notifier.has_topic() {
                            tracing::info!(%rule, event_id = %event["id"], attempt, "notification published to SNS");
                        }
                        AckKind::Ack
                    }
                    Err(e) => match notifier.retry_delay(attempt).filter(|_| e.retryable) {
                        Some(delay) => {
                            tracing::debug!(%rule, event_id = %event["id"], attempt, error = %e.message, delay_ms = delay.as_millis() as u64, "SNS publish failed; retrying");
                            AckKind::Nak(Some(delay))
                        }
                        None => {
                            tracing::warn!(%rule, event_id = %event["id"], attempt, error = %e.message, "notification not published to SNS");
                            AckKind::Ack
                        }
                    },
                };
                if let Err(e) = message.ack_with(outcome).await {
                    tracing::warn!(error = %e, "cannot acknowledge a delivery; it may be notified again");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, %rule, "a delivery is not JSON (an input transformer on the rule?); dropped");
                let _ = message.ack_with(AckKind::Term).await;
            }
        }
    }
}
