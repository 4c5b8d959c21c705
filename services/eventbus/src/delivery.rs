//! Deliveries: one per (event, rule, target), made by the router's fan-out.
//!
//! A NATS-subject target's delivery is rendered by the router and stored straight in the
//! `DELIVERIES` stream: a JetStream store is the whole delivery, so it needs no second
//! queue. Every other delivery (webhooks, other buses) is stored in `TARGETS` as a
//! [`Delivery`] document for the deliverer, which retries and dead-letters; so is a
//! NATS-subject delivery whose input cannot be rendered or whose direct store failed, so
//! that the deliverer applies the target's retry policy and DLQ to it as to any other.
//!
//! The message id is `<event id>:<rule>:<target id>` (plus the replay name for replays) in
//! both streams, so an event routed again after a crash produces no duplicate.

use std::borrow::Cow;
use std::sync::OnceLock;

use async_nats::HeaderName;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use bytes::Bytes;
use groundwork_bus::names;
use groundwork_events::transform::RenderContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::catalog::BusRules;
use crate::deliverer::DeliveryError;
use crate::error::Error;
use crate::rules::RuleRecord;
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
        event_id_of(&self.event)
    }
}

pub fn delivery_id(event_id: &str, rule: &str, target: &str, replay: Option<&str>) -> String {
    match replay {
        Some(replay) => format!("{event_id}:{rule}:{target}:{replay}"),
        None => format!("{event_id}:{rule}:{target}"),
    }
}

/// A time as the envelope writes it (`2024-05-01T12:00:00Z`).
pub fn envelope_time(t: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// The ingestion time of an event stored at `ms` (Unix milliseconds), as inputs see it.
pub fn ingestion_time(ms: i64) -> String {
    envelope_time(
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    )
}

/// The event as targets receive it: with `replay-name` on replays.
pub fn event_for_targets<'a>(event: &'a Value, replay: Option<&str>) -> Cow<'a, Value> {
    match replay {
        Some(replay) if event.is_object() => {
            let mut event = event.clone();
            if let Some(obj) = event.as_object_mut() {
                obj.insert("replay-name".into(), Value::String(replay.to_owned()));
            }
            Cow::Owned(event)
        }
        _ => Cow::Borrowed(event),
    }
}

/// A target's input for an event (see [`event_for_targets`]).
pub fn render(
    target: &Target,
    event: &Value,
    rule: &str,
    rule_arn: &str,
    ingestion_time: &str,
) -> Result<String, DeliveryError> {
    let input = target
        .input()
        .map_err(|e| DeliveryError::terminal("INVALID_INPUT", e.to_string()))?;
    input
        .render(
            event,
            &RenderContext {
                rule_name: rule,
                rule_arn,
                ingestion_time,
            },
        )
        .map_err(|e| DeliveryError::terminal("TRANSFORMATION_FAILED", e.to_string()))
}

/// The message a NATS-subject target receives in `DELIVERIES`.
pub fn nats_message(
    body: Bytes,
    delivery_id: &str,
    event_id: &str,
    rule_arn: &str,
    replay: Option<&str>,
) -> PublishMessage {
    // Names built from static text: no validation or copy per delivery.
    let mut publish = PublishMessage::build()
        .payload(body)
        .message_id(delivery_id)
        .header(HeaderName::from_static(names::EVENT_ID_HEADER), event_id)
        .header(HeaderName::from_static(names::RULE_ARN_HEADER), rule_arn);
    if let Some(replay) = replay {
        publish = publish.header(HeaderName::from_static(names::REPLAY_NAME_HEADER), replay);
    }
    publish
}

/// An event being routed: its id, the text stored on its bus when the caller has it, and
/// its decoded value, decoded only once a delivery needs more than the stored text (an
/// input to render, or a [`Delivery`] document). Matching reads the text itself, so an
/// event whose targets all take it whole is never decoded.
#[derive(Debug)]
pub struct Routed {
    id: String,
    stored: Option<Bytes>,
    value: OnceLock<Value>,
}

impl Routed {
    /// An event as stored on its bus stream. `message_id` is the stream's `Nats-Msg-Id` of
    /// a message holding this event alone, which the bus sets to the event id (it
    /// deduplicates on it); without one, the id is read from the event.
    pub fn stored(stored: Bytes, message_id: Option<&str>) -> Result<Self, Error> {
        let mut routed = Self {
            id: message_id.unwrap_or_default().to_owned(),
            stored: Some(stored),
            value: OnceLock::new(),
        };
        if routed.id.is_empty()
            && let Some(id) = leading_id(routed.stored.as_deref().unwrap_or_default())
        {
            id.clone_into(&mut routed.id);
        }
        if routed.id.is_empty() {
            // Reads the id alone (the rest is skipped, not decoded): a target that takes
            // the whole event never needs more.
            #[derive(Deserialize)]
            struct IdOnly<'a> {
                #[serde(borrow, default)]
                id: Cow<'a, str>,
            }
            let stored = routed.stored.as_deref().unwrap_or_default();
            let read = serde_json::from_slice::<IdOnly<'_>>(stored).map_err(|e| unreadable(&e))?;
            routed.id = read.id.into_owned();
        }
        Ok(routed)
    }

    /// An event already decoded (replays read and filter it first).
    pub fn decoded(value: Value) -> Self {
        Self {
            id: event_id_of(&value).to_owned(),
            stored: None,
            value: OnceLock::from(value),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The decoded event; decodes the stored text on first use.
    pub fn value(&self) -> Result<&Value, Error> {
        if let Some(value) = self.value.get() {
            return Ok(value);
        }
        let stored = self.stored.as_deref().unwrap_or_default();
        let value = serde_json::from_slice::<Value>(stored).map_err(|e| unreadable(&e))?;
        if !value.is_object() {
            return Err(unreadable(&"not a JSON object"));
        }
        Ok(self.value.get_or_init(|| value))
    }
}

/// The id of an event the bus wrote itself, read from where it always is: the bus writes
/// the envelope's fields in order (`{"version":"0","id":"…",…`, see
/// [`groundwork_events::envelope::Event`]), so the id is found without scanning the rest of
/// the event. `None` for any other text (escapes in the id included), which is then read
/// as JSON.
fn leading_id(text: &[u8]) -> Option<&str> {
    let rest = text.strip_prefix(br#"{"version":""#)?;
    let rest = &rest[rest.iter().position(|&b| b == b'"' || b == b'\\')?..];
    let rest = rest.strip_prefix(br#"","id":""#)?;
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    if rest[end] != b'"' || end == 0 {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

/// An event that cannot be decoded: it can never be delivered, so the router skips it.
pub(crate) fn unreadable(e: &dyn std::fmt::Display) -> Error {
    Error::invalid("event", format!("not a readable event: {e}"))
}

fn event_id_of(event: &Value) -> &str {
    event.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// One event's deliveries being made.
struct FanOut<'a> {
    js: &'a jetstream::Context,
    bus: &'a str,
    event: &'a Routed,
    ingested_ms: i64,
    replay: Option<&'a str>,
    /// `TARGETS`'s subject for the bus, written on the first queued delivery.
    targets_subject: OnceLock<String>,
}

impl FanOut<'_> {
    /// Stores a delivery in `TARGETS` for the deliverer; returns its pending ack.
    async fn queue(
        &self,
        id: String,
        rule_name: &str,
        rule: &RuleRecord,
        target: &Target,
    ) -> Result<PublishAckFuture, Error> {
        let delivery = Delivery {
            id,
            bus: self.bus.to_owned(),
            rule: rule_name.to_owned(),
            rule_arn: rule.arn.clone(),
            target: target.clone(),
            event: self.event.value()?.clone(),
            ingested_ms: self.ingested_ms,
            replay_name: self.replay.map(str::to_owned),
        };
        let payload = serde_json::to_vec(&delivery)
            .map_err(|e| Error::internal(format!("cannot encode a delivery: {e}")))?;
        let message = PublishMessage::build()
            .payload(payload.into())
            .message_id(&delivery.id);
        self.js
            .send_publish(
                self.targets_subject
                    .get_or_init(|| names::targets_subject(self.bus))
                    .clone(),
                message,
            )
            .await
            .map_err(|e| Error::unavailable(format!("cannot store a delivery: {e}")))
    }
}

/// Makes the deliveries of every target of every matched rule and returns how many, once
/// JetStream stored them all, each either in `DELIVERIES` (NATS-subject targets) or in
/// `TARGETS` (everything else, and NATS-subject deliveries that could not be stored
/// directly). All stores are in flight at once ([`start_fan_out`], then
/// [`Started::finish`]).
pub async fn fan_out(
    js: &jetstream::Context,
    bus: &str,
    table: &BusRules,
    matched: &[String],
    event: &Routed,
    ingested_ms: i64,
    replay: Option<&str>,
) -> Result<usize, Error> {
    start_fan_out(js, bus, table, matched, event, ingested_ms, replay)
        .await?
        .finish()
        .await
}

/// A NATS-subject delivery sent to `DELIVERIES`, with what queueing it in `TARGETS` takes
/// if JetStream does not store it.
struct Direct<'a> {
    ack: PublishAckFuture,
    id: String,
    rule_name: &'a str,
    rule: &'a RuleRecord,
    target: &'a Target,
}

/// One event's deliveries, sent and not yet known to be stored.
pub struct Started<'a> {
    fan: FanOut<'a>,
    direct: Vec<Direct<'a>>,
    queued: Vec<PublishAckFuture>,
}

/// Sends the stores of an event's deliveries (see [`fan_out`]) without waiting for
/// JetStream's acks, so that a caller routing several events has all their stores in flight
/// at once and then waits for each acknowledgement once ([`Started::finish`]), instead of
/// polling every event's pending stores whenever one of them is acknowledged.
///
/// A target that takes the whole event (no input settings) receives the text stored on
/// the bus as it is, when the event has it, instead of the event decoded and written
/// again (the same JSON text for every event the bus stored itself, as it writes events
/// exactly as serde_json writes a value). Fails with `InvalidArgument` for an event that
/// cannot be decoded, which can never be delivered.
pub async fn start_fan_out<'a>(
    js: &'a jetstream::Context,
    bus: &'a str,
    table: &'a BusRules,
    matched: &'a [String],
    event: &'a Routed,
    ingested_ms: i64,
    replay: Option<&'a str>,
) -> Result<Started<'a>, Error> {
    let fan = FanOut {
        js,
        bus,
        event,
        ingested_ms,
        replay,
        targets_subject: OnceLock::new(),
    };
    let mut shown = None;
    let mut ingestion = None;
    let mut direct = Vec::new();
    let mut queued = Vec::new();
    for rule_name in matched {
        let Some(rule) = table.rules.get(rule_name) else {
            continue;
        };
        for (index, target) in rule.targets.iter().enumerate() {
            let id = delivery_id(event.id(), rule_name, &target.id, replay);
            if let Some(subject) = table.nats_subject(rule_name, index) {
                let whole_event = event
                    .stored
                    .as_ref()
                    .filter(|_| replay.is_none() && target.takes_whole_event());
                let body = match whole_event {
                    Some(bytes) => Ok(bytes.clone()),
                    None => {
                        if shown.is_none() {
                            shown = Some(event_for_targets(event.value()?, replay));
                        }
                        let shown = shown.as_deref().unwrap_or(&Value::Null);
                        let ingestion_time =
                            ingestion.get_or_insert_with(|| ingestion_time(ingested_ms));
                        render(target, shown, rule_name, &rule.arn, ingestion_time).map(Bytes::from)
                    }
                };
                // An input that cannot be rendered goes to the deliverer, which
                // dead-letters it with the reason.
                if let Ok(body) = body {
                    let message = nats_message(body, &id, event.id(), &rule.arn, replay);
                    match js.send_publish(subject.clone(), message).await {
                        Ok(ack) => {
                            direct.push(Direct {
                                ack,
                                id,
                                rule_name,
                                rule,
                                target,
                            });
                            continue;
                        }
                        Err(e) => {
                            tracing::debug!(delivery = %id, error = %e, "direct store failed; queueing the delivery");
                        }
                    }
                }
            }
            queued.push(fan.queue(id, rule_name, rule, target).await?);
        }
    }
    Ok(Started {
        fan,
        direct,
        queued,
    })
}

impl std::fmt::Debug for Started<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("event", &self.fan.event.id())
            .field("direct", &self.direct.len())
            .field("queued", &self.queued.len())
            .finish()
    }
}

impl Started<'_> {
    /// Waits until every delivery is stored and returns how many there are. A
    /// NATS-subject delivery that JetStream did not store is queued in `TARGETS` instead,
    /// where the deliverer retries it and dead-letters it per the target's policy. The
    /// stores were all sent already, so waiting for their acks one after another takes no
    /// longer than waiting for them together.
    pub async fn finish(self) -> Result<usize, Error> {
        let Self {
            fan,
            direct,
            mut queued,
        } = self;
        let count = direct.len() + queued.len();
        for d in direct {
            if let Err(e) = d.ack.await {
                tracing::debug!(delivery = %d.id, error = %e, "direct store failed; queueing the delivery");
                queued.push(fan.queue(d.id, d.rule_name, d.rule, d.target).await?);
            }
        }
        for ack in queued {
            ack.await
                .map_err(|e| Error::unavailable(format!("a delivery was not stored: {e}")))?;
        }
        Ok(count)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use groundwork_events::envelope::Event;
    use time::OffsetDateTime;

    /// The id read where the bus writes it is the id JSON decoding reads, and any text not
    /// written that way is left to the decoder.
    #[test]
    fn the_leading_id_is_the_decoded_id_or_none() {
        let event = Event {
            version: "0".into(),
            id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718".into(),
            detail_type: "t".into(),
            source: "s".into(),
            account: "123456789012".into(),
            time: OffsetDateTime::UNIX_EPOCH,
            region: "us-east-1".into(),
            resources: vec![],
            detail: serde_json::json!({"id": "not this one"}),
            replay_name: None,
        };
        let stored = serde_json::to_vec(&event).unwrap();
        assert_eq!(super::leading_id(&stored), Some(event.id.as_str()));
        for other in [
            r#"{"id":"a","version":"0"}"#,
            r#"{"version":"0","detail":{},"id":"a"}"#,
            r#"{"version":"0","id":"a\"b"}"#,
            r#"{"version":"0","id":""}"#,
            r#"{"version":"0\"","id":"a"}"#,
            r#"{"version":"0","id":"a"#,
            r#" {"version":"0","id":"a"}"#,
            "",
        ] {
            assert_eq!(super::leading_id(other.as_bytes()), None, "{other}");
        }
        let routed = super::Routed::stored(stored.into(), None).unwrap();
        assert_eq!(routed.id(), event.id);
        let escaped = br#"{"version":"0","id":"a\"b","detail":{}}"#;
        let routed = super::Routed::stored(bytes::Bytes::from_static(escaped), None).unwrap();
        assert_eq!(routed.id(), "a\"b");
    }

    /// A whole-event target receives the stored bytes; the deliverer writes the parsed
    /// event again. Both must be the same text for what the bus stores.
    #[test]
    fn a_stored_event_reads_back_to_the_same_text() {
        let event = Event {
            version: "0".into(),
            id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718".into(),
            detail_type: "Bench \"quoted\" é".into(),
            source: "bench".into(),
            account: "123456789012".into(),
            time: OffsetDateTime::UNIX_EPOCH,
            region: "us-east-1".into(),
            resources: vec![],
            detail: serde_json::json!({
                "k": 7, "f": 0.1, "big": 1.0e300, "neg": -3, "s": "a\nb\u{1}</>", "z": null,
                "nested": {"b": [1, 2.5, true], "a": {}}
            }),
            replay_name: None,
        };
        let stored = serde_json::to_vec(&event).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(parsed.to_string().into_bytes(), stored);
    }
}
