//! Storing events on a bus stream. The event id is the `Nats-Msg-Id`, so a publish that
//! is retried after a lost ack is stored once.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
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
        let payload = serde_json::to_vec(event).map_err(|e| {
            BusError::new(BusErrorKind::Internal, format!("cannot encode event: {e}"))
        })?;
        let mut message = PublishMessage::build()
            .payload(payload.into())
            .message_id(&event.id);
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
mod tests {
    use async_nats::jetstream::context::{PublishError, PublishErrorKind};

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
