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
use async_nats::jetstream::consumer::DeliverPolicy;
use groundwork_bus::consumer::{self, Durable};
use groundwork_bus::names;
use groundwork_kit::Shutdown;

use crate::notify::Notifier;
use crate::notify::format::Notification;

/// Notifies until shutdown through the shared durable consumer of alerting's target (the
/// consumer runner opens it again after an outage, or until the event bus has created its
/// `DELIVERIES` stream).
pub async fn run(js: async_nats::jetstream::Context, notifier: Notifier, shutdown: Shutdown) {
    // Deliveries exist only for alerting's rules: none is stale. The ack wait is longer than
    // one SNS publish with the SDK's own retries.
    let durable = Durable::new(
        names::DELIVERIES_STREAM,
        names::ALERTING_NOTIFIER_CONSUMER,
        "alerting: events to notify about",
    )
    .filter(names::deliver_subject(names::ALERTING_NOTIFY_TARGET))
    .deliver_policy(DeliverPolicy::All)
    .ack_wait(Duration::from_secs(600));
    consumer::run(&js, &durable, shutdown.token(), |message| {
        let notifier = notifier.clone();
        async move { notify(&notifier, &message).await }
    })
    .await;
}

/// Publishes one delivery to SNS, and acknowledges it, NAKs it for a retry, or drops it.
async fn notify(notifier: &Notifier, message: &async_nats::jetstream::Message) {
    let rule = message
        .headers
        .as_ref()
        .and_then(|h| h.get(names::RULE_ARN_HEADER))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    let event = match serde_json::from_slice::<serde_json::Value>(&message.payload) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, %rule, "a delivery is not JSON (an input transformer on the rule?); dropped");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
    };
    let notification = Notification::for_event(&event);
    let attempt = message
        .info()
        .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
        .unwrap_or(1);
    match notifier.publish(&notification).await {
        Ok(()) => {
            if notifier.has_topic() {
                tracing::info!(%rule, event_id = %event["id"], attempt, "notification published to SNS");
            }
            consumer::ack(message).await;
        }
        Err(e) => match notifier.retry_delay(attempt).filter(|_| e.retryable) {
            Some(delay) => {
                tracing::debug!(%rule, event_id = %event["id"], attempt, error = %e.message, delay_ms = delay.as_millis() as u64, "SNS publish failed; retrying");
                consumer::nak_after(message, delay).await;
            }
            None => {
                tracing::warn!(%rule, event_id = %event["id"], attempt, error = %e.message, "notification not published to SNS");
                consumer::ack(message).await;
            }
        },
    }
}
