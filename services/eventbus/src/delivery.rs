//! Deliveries: one message in the `TARGETS` stream per (event, rule, target), and the
//! fan-out that writes them. The message id is `<event id>:<rule>:<target id>` (plus the
//! replay name for replays), so an event routed again after a crash produces no duplicate.

use async_nats::jetstream::{self, message::PublishMessage};
use groundwork_bus::names;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::BusRules;
use crate::error::Error;
use crate::targets::Target;

/// What the deliverer needs to make one delivery: the target as it was when the event
/// was routed, and the event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub bus: String,
    pub rule: String,
    pub rule_arn: String,
    pub target: Target,
    pub event: Value,
    /// When the event was stored on its bus (Unix milliseconds): the start of its age.
    pub ingested_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_name: Option<String>,
}

impl Delivery {
    pub fn event_id(&self) -> &str {
        self.event.get("id").and_then(Value::as_str).unwrap_or("")
    }
}

pub fn delivery_id(event_id: &str, rule: &str, target: &str, replay: Option<&str>) -> String {
    match replay {
        Some(replay) => format!("{event_id}:{rule}:{target}:{replay}"),
        None => format!("{event_id}:{rule}:{target}"),
    }
}

/// Stores one delivery per target of every matched rule (restricted to `only` when
/// given) and returns how many, once JetStream acknowledged them all.
pub async fn fan_out(
    js: &jetstream::Context,
    bus: &str,
    table: &BusRules,
    matched: &[String],
    event: &Value,
    ingested_ms: i64,
    replay: Option<&str>,
) -> Result<usize, Error> {
    let event_id = event.get("id").and_then(Value::as_str).unwrap_or_default();
    let subject = names::targets_subject(bus);
    let mut acks = Vec::new();
    for rule_name in matched {
        let Some(rule) = table.rules.get(rule_name) else {
            continue;
        };
        for target in &rule.targets {
            let delivery = Delivery {
                id: delivery_id(event_id, rule_name, &target.id, replay),
                bus: bus.to_owned(),
                rule: rule_name.clone(),
                rule_arn: rule.arn.clone(),
                target: target.clone(),
                event: event.clone(),
                ingested_ms,
                replay_name: replay.map(str::to_owned),
            };
            let payload = serde_json::to_vec(&delivery)
                .map_err(|e| Error::Internal(format!("cannot encode a delivery: {e}")))?;
            let message = PublishMessage::build()
                .payload(payload.into())
                .message_id(&delivery.id);
            let ack = js
                .send_publish(subject.clone(), message)
                .await
                .map_err(|e| Error::Unavailable(format!("cannot store a delivery: {e}")))?;
            acks.push(ack);
        }
    }
    let count = acks.len();
    for result in
        futures::future::join_all(acks.into_iter().map(std::future::IntoFuture::into_future)).await
    {
        result.map_err(|e| Error::Unavailable(format!("a delivery was not stored: {e}")))?;
    }
    Ok(count)
}
