//! Dead letters: deliveries that exhausted their retry policy (or failed for good) are
//! stored in `DLQ_<bus>` with EventBridge's DLQ attributes as headers (`RULE_ARN`,
//! `TARGET_ARN`, `ERROR_CODE`, `ERROR_MESSAGE`, `EXHAUSTED_RETRY_CONDITION`,
//! `RETRY_ATTEMPTS`) and the delivery as payload. Neither holds a webhook URL's path,
//! query or user info, which may be a credential: the target's ARN is written as
//! [`redact_target_arn`] shows it, in the headers and in the payload. Redrive therefore
//! takes each target from its rule as it is now (as EventBridge's redrive sends to the
//! current target), puts the delivery back in `TARGETS` and removes it from the DLQ once
//! it is re-queued; a dead letter whose rule or target is gone stays.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use groundwork_bus::names::{self, dlq_headers};
use time::OffsetDateTime;

use groundwork_events::redact::{redact_target_arn, redact_urls_in};

use crate::catalog::Catalog;
use crate::delivery::Delivery;
use crate::error::{Error, unavailable};
use crate::retry::{Exhausted, RetryPolicy};
use crate::targets::Target;

/// Why a delivery is dead.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub code: &'a str,
    pub message: &'a str,
    pub exhausted: Option<Exhausted>,
    pub retry_attempts: u32,
}

/// A dead letter as listed.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub sequence: u64,
    pub delivery: Delivery,
    pub rule_arn: String,
    pub target_arn: String,
    pub error_code: String,
    pub error_message: String,
    pub exhausted_retry_condition: String,
    pub retry_attempts: u32,
    pub time: OffsetDateTime,
}

/// Header values must be one line.
fn header_value(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.chars().take(1024).collect()
}

/// `text` with every occurrence of the target's URL (should one have slipped into an
/// error message) replaced by its redacted form.
fn without_url(text: &str, arn: &str) -> String {
    let shown = redact_target_arn(arn);
    if arn.is_empty() || shown == arn {
        text.to_owned()
    } else {
        text.replace(arn, &shown)
    }
}

/// Stores a dead letter; `source_sequence` (the delivery's position in `TARGETS`) makes
/// the message id unique per attempt, so a redriven delivery can die again.
pub async fn store(
    js: &jetstream::Context,
    delivery: &Delivery,
    failure: &Failure<'_>,
    source_sequence: u64,
) -> Result<(), Error> {
    let mut letter = delivery.clone();
    letter.target.arn = redact_target_arn(&delivery.target.arn);
    let payload = serde_json::to_vec(&letter)
        .map_err(|e| Error::internal(format!("cannot encode a dead letter: {e}")))?;
    let mut message = PublishMessage::build()
        .payload(payload.into())
        .message_id(format!("{}:{source_sequence}", delivery.id))
        .header(dlq_headers::RULE_ARN, header_value(&delivery.rule_arn))
        .header(
            dlq_headers::TARGET_ARN,
            header_value(&delivery.target.display_arn()),
        )
        .header(dlq_headers::ERROR_CODE, header_value(failure.code))
        // Messages are written without URLs; a webhook's error text is checked again.
        .header(
            dlq_headers::ERROR_MESSAGE,
            header_value(&without_url(failure.message, &delivery.target.arn)),
        )
        .header(
            dlq_headers::RETRY_ATTEMPTS,
            failure.retry_attempts.to_string(),
        )
        .header(names::EVENT_ID_HEADER, header_value(delivery.event_id()));
    if let Some(exhausted) = failure.exhausted {
        message = message.header(dlq_headers::EXHAUSTED_RETRY_CONDITION, exhausted.as_str());
    }
    js.send_publish(names::dlq_subject(&delivery.bus), message)
        .await
        .map_err(|e| unavailable("cannot store a dead letter", e))?
        .await
        .map_err(|e| unavailable("a dead letter was not stored", e))?;
    Ok(())
}

/// A delivery in `TARGETS` that does not decode. It can never be made, but it is not
/// dropped: it goes to the bus's DLQ as it is (any URL in it redacted, for a delivery holds
/// its target's), with the reason.
#[derive(Debug, Clone, Copy)]
pub struct Unreadable<'a> {
    pub bus: &'a str,
    pub payload: &'a [u8],
    /// `UNREADABLE_DELIVERY`.
    pub code: &'a str,
    pub reason: &'a str,
    /// The stream it came from and its sequence there: the dead letter's id.
    pub stream: &'a str,
    pub sequence: u64,
}

/// Stores an [`Unreadable`] dead letter.
pub async fn store_unreadable(
    js: &jetstream::Context,
    unreadable: &Unreadable<'_>,
) -> Result<(), Error> {
    let text = String::from_utf8_lossy(unreadable.payload);
    let payload = redact_urls_in(&text);
    let message = PublishMessage::build()
        .payload(payload.into_bytes().into())
        .message_id(format!(
            "unreadable:{}:{}",
            unreadable.stream, unreadable.sequence
        ))
        .header(dlq_headers::ERROR_CODE, header_value(unreadable.code))
        .header(
            dlq_headers::ERROR_MESSAGE,
            header_value(&redact_urls_in(unreadable.reason)),
        )
        .header(dlq_headers::RETRY_ATTEMPTS, "0");
    js.send_publish(names::dlq_subject(unreadable.bus), message)
        .await
        .map_err(|e| unavailable("cannot store a dead letter", e))?
        .await
        .map_err(|e| unavailable("a dead letter was not stored", e))?;
    Ok(())
}

/// The delivery of a dead letter; for an [`Unreadable`] one, a delivery with no rule or
/// target whose event is the stored text.
fn delivery_of(bus: &str, payload: &[u8]) -> Delivery {
    serde_json::from_slice::<Delivery>(payload).unwrap_or_else(|_| Delivery {
        id: String::new(),
        bus: bus.to_owned(),
        rule: String::new(),
        rule_arn: String::new(),
        target: Target {
            id: String::new(),
            arn: String::new(),
            input: None,
            input_path: None,
            input_transformer: None,
            retry_policy: RetryPolicy::default(),
            http_timeout_ms: None,
        },
        event: serde_json::Value::String(String::from_utf8_lossy(payload).into_owned()),
        ingested_ms: 0,
        replay_name: None,
    })
}

fn header(headers: Option<&HeaderMap>, name: &str) -> String {
    headers
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// The oldest dead letters of a bus, at most `limit`.
pub async fn list(
    js: &jetstream::Context,
    bus: &str,
    limit: usize,
) -> Result<Vec<DeadLetter>, Error> {
    let mut stream = js
        .get_stream(names::dlq_stream(bus))
        .await
        .map_err(|e| unavailable("cannot open the DLQ", e))?;
    let state = stream
        .info()
        .await
        .map_err(|e| unavailable("cannot read the DLQ", e))?
        .state
        .clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return Ok(out);
    }
    for sequence in state.first_sequence..=state.last_sequence {
        if out.len() >= limit {
            break;
        }
        let Ok(raw) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let delivery = delivery_of(bus, &raw.payload);
        let headers = Some(&raw.headers);
        out.push(DeadLetter {
            sequence,
            rule_arn: header(headers, dlq_headers::RULE_ARN),
            target_arn: header(headers, dlq_headers::TARGET_ARN),
            error_code: header(headers, dlq_headers::ERROR_CODE),
            error_message: header(headers, dlq_headers::ERROR_MESSAGE),
            exhausted_retry_condition: header(headers, dlq_headers::EXHAUSTED_RETRY_CONDITION),
            retry_attempts: header(headers, dlq_headers::RETRY_ATTEMPTS)
                .parse()
                .unwrap_or(0),
            time: raw.time,
            delivery,
        });
    }
    Ok(out)
}

/// Sends up to `count` dead letters (all when 0), oldest first, back for delivery; each
/// leaves the DLQ once it is stored in `TARGETS` again. Returns how many were redriven.
pub async fn redrive(
    js: &jetstream::Context,
    catalog: &Catalog,
    bus: &str,
    count: usize,
) -> Result<u32, Error> {
    let letters = list(js, bus, if count == 0 { usize::MAX } else { count }).await?;
    let stream = js
        .get_stream(names::dlq_stream(bus))
        .await
        .map_err(|e| unavailable("cannot open the DLQ", e))?;
    let mut redriven = 0;
    for mut letter in letters {
        let current = catalog.rule(bus, &letter.delivery.rule).and_then(|rule| {
            rule.targets
                .iter()
                .find(|t| t.id == letter.delivery.target.id)
                .cloned()
        });
        let Some(target) = current else {
            tracing::warn!(%bus, rule = %letter.delivery.rule, target = %letter.delivery.target.id, sequence = letter.sequence, "the target of a dead letter is gone; it stays in the DLQ");
            continue;
        };
        letter.delivery.target = target;
        let payload = serde_json::to_vec(&letter.delivery)
            .map_err(|e| Error::internal(format!("cannot encode a delivery: {e}")))?;
        let message = PublishMessage::build()
            .payload(payload.into())
            .message_id(format!(
                "{}:redrive:{}",
                letter.delivery.id, letter.sequence
            ));
        js.send_publish(names::targets_subject(bus), message)
            .await
            .map_err(|e| unavailable("cannot re-queue a dead letter", e))?
            .await
            .map_err(|e| unavailable("a dead letter was not re-queued", e))?;
        stream
            .delete_message(letter.sequence)
            .await
            .map_err(|e| unavailable("cannot remove a redriven dead letter", e))?;
        redriven += 1;
    }
    tracing::info!(%bus, redriven, "dead letters redriven");
    Ok(redriven)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_in_an_error_message_is_redacted() {
        let url = "https://hooks.slack.com/services/T0/B0/s3cret";
        assert_eq!(
            without_url(&format!("{url} answered 404"), url),
            "https://hooks.slack.com/... answered 404"
        );
        assert_eq!(
            without_url("nats:a.b is gone", "nats:a.b"),
            "nats:a.b is gone"
        );
    }
}
