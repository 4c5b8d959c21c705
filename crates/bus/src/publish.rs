//! Storing events on a bus stream, and reading them back.
//!
//! A bus stream message holds one or more events, one JSON object per line, as serde_json
//! writes them (compact JSON never holds a raw newline): a PutEvents call stores its
//! entries for one bus as one message, so that the server stores, delivers and has
//! acknowledged one message per call instead of one per entry. A message of one event is
//! the one-line case, so every message ever stored reads the same way ([`stored_events`]).
//! The `Nats-Msg-Id` is the (first) event's id, so a publish retried after a lost ack is
//! stored once.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use groundwork_events::envelope::Event;

use crate::connect::ensure_connected;
use crate::error::{BusError, BusErrorKind};
use crate::names;

/// Header carrying the producer's X-Ray trace header along with the event.
pub const TRACE_HEADER: &str = "Groundwork-Trace-Header";

/// Stores events on bus streams and waits for JetStream's acknowledgement.
#[derive(Clone, Debug)]
pub struct EventPublisher {
    client: async_nats::Client,
    js: jetstream::Context,
}

impl EventPublisher {
    pub fn new(client: async_nats::Client, timeout: Duration) -> Self {
        let js = crate::connect::jetstream(&client, timeout);
        Self { client, js }
    }

    /// Stores one event on its bus; returns once JetStream has stored it. A duplicate id
    /// is acknowledged without storing the event again.
    pub async fn publish(
        &self,
        bus: &str,
        event: &Event,
        trace_header: Option<&str>,
    ) -> Result<u64, BusError> {
        self.publish_all(bus, std::slice::from_ref(event), trace_header)
            .await
    }

    /// Stores `events` (at least one) on their bus as one message, all or none; returns
    /// once JetStream has stored it. The message id is the first event's, so the same
    /// events sent again are stored once.
    pub async fn publish_all(
        &self,
        bus: &str,
        events: &[Event],
        trace_header: Option<&str>,
    ) -> Result<u64, BusError> {
        ensure_connected(&self.client)?;
        let first = events
            .first()
            .ok_or_else(|| BusError::new(BusErrorKind::Internal, "no event to store"))?;
        let payload = encode_events(events)?;
        let mut message = PublishMessage::build()
            .payload(payload.into())
            .message_id(&first.id);
        if let Some(trace) = trace_header {
            message = message.header(TRACE_HEADER, trace);
        }
        let subject = names::events_subject(bus);
        let ack = self
            .js
            .send_publish(subject, message)
            .await
            .map_err(|e| publish_error(bus, e))?
            .await
            .map_err(|e| publish_error(bus, e))?;
        Ok(ack.sequence)
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

/// The events of one message: one JSON object per line.
fn encode_events(events: &[Event]) -> Result<Vec<u8>, BusError> {
    let mut payload = Vec::with_capacity(events.len() * 512);
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            payload.push(b'\n');
        }
        serde_json::to_writer(&mut payload, event).map_err(|e| {
            BusError::new(BusErrorKind::Internal, format!("cannot encode event: {e}"))
        })?;
    }
    Ok(payload)
}

/// The events a bus stream message holds, each as the text stored (no copy): one per line.
pub fn stored_events(payload: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        while start < payload.len() {
            let end = payload[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(payload.len(), |i| start + i);
            let line = payload.slice(start..end);
            start = end + 1;
            if !line.trim_ascii().is_empty() {
                return Some(line);
            }
        }
        None
    })
}

fn publish_error(bus: &str, e: jetstream::context::PublishError) -> BusError {
    let kind = match e.kind() {
        // "No stream found" is the client's reading of a publish that no server answered
        // ("no responders"): on a cluster, what a stream says while it elects a new leader
        // after the loss of a node. Callers check that the bus exists before they publish,
        // so it passes: retry, as for a timeout.
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::StreamNotFound => BusErrorKind::Unavailable,
        _ => BusErrorKind::Internal,
    };
    let hint = match (kind, e.kind()) {
        (BusErrorKind::Unavailable, PublishErrorKind::StreamNotFound) => {
            "; no NATS server answered for the bus stream (a cluster electing its leader), \
             try again shortly"
        }
        (BusErrorKind::Unavailable, _) => "; NATS JetStream did not answer, try again shortly",
        _ => "",
    };
    BusError::new(
        kind,
        format!("storing an event on bus {bus} failed: {e}{hint}"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use async_nats::jetstream::context::{PublishError, PublishErrorKind};
    use bytes::Bytes;
    use groundwork_events::envelope::Event;
    use time::OffsetDateTime;

    fn event(id: &str, detail: serde_json::Value) -> Event {
        Event {
            version: "0".into(),
            id: id.into(),
            detail_type: "T".into(),
            source: "s".into(),
            account: "123456789012".into(),
            time: OffsetDateTime::UNIX_EPOCH,
            region: "us-east-1".into(),
            resources: vec![],
            detail,
            replay_name: None,
        }
    }

    /// Several events stored as one message read back as the same events, one by one,
    /// each as the text serde_json writes for it, even with newlines inside strings.
    #[test]
    fn events_stored_together_read_back_one_by_one() {
        let events = [
            event(
                "a",
                serde_json::json!({"text": "line 1\nline 2\r\n", "n": 1}),
            ),
            event("b", serde_json::json!({})),
            event("c", serde_json::json!({"nested": {"list": ["\n"]}})),
        ];
        let payload = Bytes::from(super::encode_events(&events).unwrap());
        let read: Vec<Bytes> = super::stored_events(&payload).collect();
        assert_eq!(read.len(), 3);
        for (stored, event) in read.iter().zip(&events) {
            assert_eq!(stored.as_ref(), serde_json::to_vec(event).unwrap());
        }
    }

    /// A message of one event (every message stored before events were batched) is one
    /// line; blank lines are no events.
    #[test]
    fn a_single_event_is_the_one_line_case() {
        let one = serde_json::to_vec(&event("a", serde_json::json!({"k": 1}))).unwrap();
        let payload = Bytes::from(one.clone());
        assert_eq!(
            super::stored_events(&payload).collect::<Vec<_>>(),
            std::slice::from_ref(&one)
        );
        let mut padded = one.clone();
        padded.extend_from_slice(b"\n\n");
        padded.extend_from_slice(&one);
        padded.push(b'\n');
        let padded = Bytes::from(padded);
        assert_eq!(super::stored_events(&padded).count(), 2);
        assert_eq!(super::stored_events(&Bytes::new()).count(), 0);
    }

    use crate::error::BusErrorKind;

    #[test]
    fn a_stream_without_a_leader_is_unavailable_for_a_moment_not_a_refusal() {
        for kind in [
            PublishErrorKind::StreamNotFound,
            PublishErrorKind::TimedOut,
            PublishErrorKind::BrokenPipe,
        ] {
            let e = super::publish_error("default", PublishError::new(kind));
            assert_eq!(e.kind(), BusErrorKind::Unavailable, "{e}");
            assert!(e.is_retryable());
            assert!(e.to_string().contains("try again shortly"), "{e}");
        }
        let other = super::publish_error("default", PublishError::new(PublishErrorKind::Other));
        assert_eq!(other.kind(), BusErrorKind::Internal);
    }
}
