//! The deliverer: a durable consumer of `TARGETS` (shared by replicas) that makes each
//! delivery, retries failures with backoff through JetStream redelivery, and sends what
//! cannot be delivered to the bus's DLQ. A delivery is acknowledged only once its target
//! accepted it or it is stored in the DLQ.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use groundwork_bus::consumer::{self, Durable};
use groundwork_bus::{EventPublisher, names};
use groundwork_events::envelope::Event;
use groundwork_kit::Shutdown;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::catalog::Catalog;
use crate::delivery::{Delivery, event_for_targets, ingestion_time, nats_message, render};
use crate::dlq::{self, Failure};
use crate::retry::{Backoff, Exhausted};
use crate::targets::TargetKind;
use crate::webhook::WebhookClient;

/// Why one attempt failed, and whether another could succeed.
#[derive(Debug, Clone)]
pub struct DeliveryError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

impl DeliveryError {
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            retryable: true,
        }
    }

    pub fn terminal(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            retryable: false,
        }
    }
}

/// Makes deliveries.
#[derive(Debug, Clone)]
pub struct Deliverer {
    pub js: jetstream::Context,
    pub publisher: EventPublisher,
    pub catalog: Catalog,
    pub webhook: WebhookClient,
    pub backoff: Backoff,
    pub webhook_timeout: Duration,
    pub ack_wait: Duration,
    pub in_flight: Arc<Semaphore>,
}

/// The UUID namespace of forwarded event ids. Fixed for good: an id is the UUID v5 of
/// the delivery id in this namespace, so a forward retried after a restart or a toolchain
/// upgrade gets the same id and JetStream stores it once. Changing this constant changes
/// every forwarded id.
const FORWARDED_EVENT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0xd61a_a0de_d0fc_4c55_a734_7a36_3f88_f0e4);

/// A stable event id for a delivery to another bus, so that a retried delivery is stored
/// once there: UUID v5 (SHA-1, RFC 9562) of the delivery id, which does not depend on
/// the Rust release as `std`'s `DefaultHasher` does.
fn forwarded_event_id(delivery_id: &str) -> String {
    uuid::Uuid::new_v5(&FORWARDED_EVENT_NAMESPACE, delivery_id.as_bytes()).to_string()
}

impl Deliverer {
    /// Delivers until shutdown through the shared durable consumer of `TARGETS` (kept
    /// going after errors by the consumer runner), many deliveries at once.
    pub async fn run(self, shutdown: Shutdown) {
        let this = Arc::new(self);
        let durable = Durable::new(
            names::TARGETS_STREAM,
            names::DELIVERY_CONSUMER,
            "Makes deliveries to targets",
        )
        .ack_wait(this.ack_wait)
        .max_ack_pending(20_000)
        .batch(1000);
        let js = this.js.clone();
        consumer::run(&js, &durable, shutdown.token(), |message| {
            let this = Arc::clone(&this);
            async move {
                let Ok(permit) = this.in_flight.clone().acquire_owned().await else {
                    return;
                };
                tokio::spawn(async move {
                    this.handle(message).await;
                    drop(permit);
                });
            }
        })
        .await;
    }

    async fn handle(&self, message: jetstream::Message) {
        let delivery = match serde_json::from_slice::<Delivery>(&message.payload) {
            Ok(delivery) => delivery,
            Err(e) => return self.dead_letter_unreadable(&message, &e.to_string()).await,
        };
        let (attempt, sequence) = message
            .info()
            .map(|i| {
                (
                    u32::try_from(i.delivered).unwrap_or(u32::MAX),
                    i.stream_sequence,
                )
            })
            .unwrap_or((1, 0));
        let error = match self.deliver(&delivery, &message).await {
            Ok(()) => {
                let _ = message.ack().await;
                return;
            }
            Err(e) => e,
        };
        let policy = delivery.target.retry_policy;
        let retries_done = attempt.saturating_sub(1);
        let exhausted = if !error.retryable {
            None
        } else if retries_done >= policy.maximum_retry_attempts {
            Some(Exhausted::MaximumRetryAttempts)
        } else {
            let delay = self.backoff.delay(attempt);
            let age_after = crate::buses::now_ms() - delivery.ingested_ms
                + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            if age_after > i64::from(policy.maximum_event_age_in_seconds) * 1000 {
                Some(Exhausted::MaximumEventAgeInSeconds)
            } else {
                tracing::debug!(delivery = %delivery.id, attempt, code = %error.code, delay_ms = delay.as_millis() as u64, "delivery failed; retrying");
                let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                return;
            }
        };
        tracing::warn!(
            delivery = %delivery.id,
            target = %delivery.target.display_arn(),
            code = %error.code,
            attempts = attempt,
            exhausted = exhausted.map(Exhausted::as_str),
            "delivery failed for good; dead-lettered"
        );
        let failure = Failure {
            code: &error.code,
            message: &error.message,
            exhausted,
            retry_attempts: retries_done,
        };
        let stored = dlq::store(&self.js, &delivery, &failure, sequence).await;
        settle_dead_letter(&message, stored).await;
    }

    /// A delivery that does not decode can never be made: it goes to its bus's DLQ with
    /// the reason (never dropped); while the DLQ cannot take it, it stays queued.
    async fn dead_letter_unreadable(&self, message: &jetstream::Message, reason: &str) {
        let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        // The consumer reads `groundwork.targets.>` only, so the subject names the bus.
        let bus = names::bus_from_targets_subject(message.subject.as_str())
            .unwrap_or_else(|| groundwork_events::envelope::DEFAULT_BUS.to_owned());
        tracing::warn!(%bus, sequence, "an unreadable delivery was dead-lettered");
        let unreadable = dlq::Unreadable {
            bus: &bus,
            payload: &message.payload,
            code: "UNREADABLE_DELIVERY",
            reason: &format!("the delivery cannot be read: {reason}"),
            stream: names::TARGETS_STREAM,
            sequence,
        };
        let stored = dlq::store_unreadable(&self.js, &unreadable).await;
        settle_dead_letter(message, stored).await;
    }

    async fn deliver(
        &self,
        delivery: &Delivery,
        message: &jetstream::Message,
    ) -> Result<(), DeliveryError> {
        let kind = TargetKind::parse(&delivery.target.arn)
            .map_err(|e| DeliveryError::terminal("INVALID_TARGET", e))?;
        let replay = delivery.replay_name.as_deref();
        let event = event_for_targets(&delivery.event, replay);
        if let TargetKind::Bus { bus } = kind {
            return self.forward(delivery, &event, &bus).await;
        }
        let body = render(
            &delivery.target,
            &event,
            &delivery.rule,
            &delivery.rule_arn,
            &ingestion_time(delivery.ingested_ms),
        )?;
        let event_id = delivery.event_id().to_owned();
        match kind {
            TargetKind::Nats { subject } => {
                let publish = nats_message(
                    body.into(),
                    &delivery.id,
                    &event_id,
                    &delivery.rule_arn,
                    replay,
                );
                let ack = self
                    .js
                    .send_publish(subject, publish)
                    .await
                    .map_err(|e| DeliveryError::retryable("NATS_UNAVAILABLE", e.to_string()))?;
                ack.await
                    .map_err(|e| DeliveryError::retryable("NATS_UNAVAILABLE", e.to_string()))?;
                Ok(())
            }
            TargetKind::Webhook { url } => {
                // Extends the ack wait while the webhook takes its time.
                let _ = message.ack_with(AckKind::Progress).await;
                let timeout = delivery
                    .target
                    .http_timeout_ms
                    .map(|ms| Duration::from_millis(u64::from(ms)))
                    .unwrap_or(self.webhook_timeout)
                    .min(self.ack_wait);
                let mut headers = vec![
                    ("x-groundwork-event-id", event_id.as_str()),
                    ("x-groundwork-delivery-id", delivery.id.as_str()),
                    ("x-groundwork-rule-arn", delivery.rule_arn.as_str()),
                ];
                if let Some(replay) = &delivery.replay_name {
                    headers.push(("x-groundwork-replay-name", replay.as_str()));
                }
                self.webhook.post(&url, body, &headers, timeout).await
            }
            TargetKind::Bus { .. } => Ok(()),
        }
    }

    /// PutEvents into another bus as a trusted internal producer, with a stable id.
    async fn forward(
        &self,
        delivery: &Delivery,
        event: &Value,
        bus: &str,
    ) -> Result<(), DeliveryError> {
        if !self.catalog.has_bus(bus) {
            return Err(DeliveryError::terminal(
                "RESOURCE_NOT_FOUND",
                format!("Event bus {bus} does not exist."),
            ));
        }
        let mut forwarded: Event = serde_json::from_value(event.clone())
            .map_err(|e| DeliveryError::terminal("INVALID_EVENT", e.to_string()))?;
        forwarded.id = forwarded_event_id(&delivery.id);
        forwarded.replay_name = None;
        self.publisher
            .publish(bus, &forwarded, None)
            .await
            .map(|_| ())
            .map_err(|e| {
                if e.is_retryable() {
                    DeliveryError::retryable("NATS_UNAVAILABLE", e.to_string())
                } else {
                    DeliveryError::terminal("BUS_REJECTED", e.to_string())
                }
            })
    }
}

/// Acknowledges a delivery once its dead letter is stored; while the DLQ cannot take it,
/// the delivery stays queued and comes back a second later.
async fn settle_dead_letter<E: std::fmt::Display>(
    message: &jetstream::Message,
    stored: Result<(), E>,
) {
    match stored {
        Ok(()) => {
            let _ = message.ack().await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "dead letter not stored; the delivery stays queued");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The id of one forward, pinned: it must never change, or a forward retried across
    /// an upgrade would be stored twice on the other bus. (Computed independently with
    /// Python's `uuid.uuid5(UUID("d61aa0de-d0fc-4c55-a734-7a363f88f0e4"), …)`.)
    #[test]
    fn a_forwarded_id_is_pinned() {
        assert_eq!(
            forwarded_event_id("6a7e8feb-b491-4cf7-a9f1-bf3703467718:orders:to-audit"),
            "50433847-0e8c-518d-9e90-f0ccd22d7f07"
        );
    }

    #[test]
    fn forwarded_ids_are_stable_uuids() {
        let a = forwarded_event_id("e:r:t");
        assert_eq!(a, forwarded_event_id("e:r:t"));
        assert_ne!(a, forwarded_event_id("e:r:u"));
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(crate::delivery::ingestion_time(0), "1970-01-01T00:00:00Z");
    }
}
