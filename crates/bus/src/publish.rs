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
        ensure_connected(&self.client)?;
        let text = encode(event)?;
        self.store(bus, &event.id, text, trace_header).await
    }

    /// Stores `events` on their bus in as few messages as the server's message size allows
    /// (one, for any PutEvents call within its default limits), all at once; returns each
    /// event's outcome, in order: its message's stream sequence, or why that message was
    /// not stored. A message is stored all or none, under its first event's id, so the
    /// same events sent again are stored once.
    pub async fn publish_all(
        &self,
        bus: &str,
        events: &[Event],
        trace_header: Option<&str>,
    ) -> Vec<Result<u64, BusError>> {
        if let Err(e) = ensure_connected(&self.client) {
            return events.iter().map(|_| Err(e.clone())).collect();
        }
        let texts: Vec<Result<Vec<u8>, BusError>> = events.iter().map(encode).collect();
        let lengths: Vec<usize> = texts
            .iter()
            .map(|t| t.as_ref().map_or(0, Vec::len))
            .collect();
        let runs = pack(&lengths, self.max_message_bytes());
        let stores = runs.iter().map(|run| {
            let mut payload = Vec::with_capacity(run.clone().map(|i| lengths[i] + 1).sum());
            for i in run.clone() {
                if let Ok(text) = &texts[i] {
                    if !payload.is_empty() {
                        payload.push(b'\n');
                    }
                    payload.extend_from_slice(text);
                }
            }
            self.store(bus, &events[run.start].id, payload, trace_header)
        });
        let stored = futures::future::join_all(stores).await;
        let mut outcomes = Vec::with_capacity(events.len());
        for (run, outcome) in runs.into_iter().zip(stored) {
            for i in run {
                outcomes.push(match &texts[i] {
                    Err(e) => Err(e.clone()),
                    Ok(_) => outcome.clone(),
                });
            }
        }
        outcomes
    }

    /// Stores one message of events (one per line) under `id`.
    async fn store(
        &self,
        bus: &str,
        id: &str,
        payload: Vec<u8>,
        trace_header: Option<&str>,
    ) -> Result<u64, BusError> {
        let mut message = PublishMessage::build()
            .payload(payload.into())
            .message_id(id);
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

    /// The most event text one message may carry: the server's `max_payload`, less room for
    /// the headers (the message id and a trace header).
    fn max_message_bytes(&self) -> usize {
        // An atomic read: `server_info()` would copy the whole INFO (a dozen strings) on
        // every call.
        let max_payload = match self.client.max_payload() {
            0 => crate::access::MAX_PAYLOAD,
            n => n,
        };
        max_payload.saturating_sub(HEADER_ROOM).max(1)
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

/// Room left in a message for its headers: `Nats-Msg-Id` and an X-Ray trace header, each
/// far below this.
const HEADER_ROOM: usize = 8 * 1024;

/// An event as stored: the text serde_json writes (one line, compact JSON has no newline).
fn encode(event: &Event) -> Result<Vec<u8>, BusError> {
    serde_json::to_vec(event)
        .map_err(|e| BusError::new(BusErrorKind::Internal, format!("cannot encode event: {e}")))
}

/// Consecutive runs of texts of `lengths` that fit, one per line, in `limit` bytes each; a
/// text longer than the limit alone is a run of its own (the server refuses it, as it would
/// refuse that event stored alone).
fn pack(lengths: &[usize], limit: usize) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, &length) in lengths.iter().enumerate() {
        let added = if i == start { length } else { length + 1 };
        if i > start && size + added > limit {
            runs.push(start..i);
            start = i;
            size = length;
        } else {
            size += added;
        }
    }
    if start < lengths.len() {
        runs.push(start..lengths.len());
    }
    runs
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
        let texts: Vec<Vec<u8>> = events.iter().map(|e| super::encode(e).unwrap()).collect();
        let payload = Bytes::from(texts.join(&b'\n'));
        let read: Vec<Bytes> = super::stored_events(&payload).collect();
        assert_eq!(read.len(), 3);
        for (stored, event) in read.iter().zip(&events) {
            assert_eq!(stored.as_ref(), serde_json::to_vec(event).unwrap());
        }
    }

    /// Texts go together while they fit the limit, one per line; one over the limit goes
    /// alone.
    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn events_are_packed_into_messages_that_fit() {
        assert_eq!(super::pack(&[], 10), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(super::pack(&[3, 3, 3], 11), [0..3]);
        // 3 + 1 + 3 + 1 + 3 = 11 bytes with the newlines: one more than 10.
        assert_eq!(super::pack(&[3, 3, 3], 10), [0..2, 2..3]);
        assert_eq!(super::pack(&[4, 20, 4, 4], 10), [0..1, 1..2, 2..4]);
        assert_eq!(super::pack(&[20], 10), [0..1]);
        let lengths = [100; 10];
        let runs = super::pack(&lengths, 350);
        assert_eq!(runs, [0..3, 3..6, 6..9, 9..10]);
        assert!(
            runs.iter()
                .all(|r| r.clone().map(|i| lengths[i] + 1).sum::<usize>() - 1 <= 350)
        );
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
