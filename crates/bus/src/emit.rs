//! Publishing Groundwork's own events (`groundwork.<service>` sources, and the mirrors of
//! AWS events) through the service's own emit subject
//! (`groundwork.events.emit.<service>.<bus>`): the event bus checks that the service owns
//! the event's source and stores it under its id, then answers. Only the event bus may
//! write to bus streams (see [`crate::access`]).
//!
//! A service calls [`Emitter::emit_event`] with a detail struct of the event catalog
//! (`groundwork_events::catalog`), which names the event's source and detail-type, after the fact it reports has happened. If NATS is
//! away at that moment the event is not lost: the same event (same id, so JetStream
//! de-duplicates) is retried in the background until it is stored or the retry horizon
//! passes.

use std::time::Duration;

use groundwork_events::catalog::CatalogEvent;
use groundwork_events::envelope::{Event, Origin, Producer, PutEventsEntry, validate_entry};
use serde_json::Value;
use time::OffsetDateTime;

use groundwork_kit::retry::Backoff;
use serde::{Deserialize, Serialize};

use crate::access::Principal;
use crate::connect::ensure_connected;
use crate::error::{BusError, BusErrorKind};
use crate::names;

/// Publishes events of one source onto one bus.
#[derive(Debug, Clone)]
pub struct Emitter {
    sender: Sender,
    origin: Origin,
    source: String,
    bus: String,
}

/// The event bus's answer to an emitted event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmitReply {
    /// Stored (or already stored under this id) at this stream sequence.
    Sequence(u64),
    /// Refused, with an EventBridge-style error code.
    Error {
        #[serde(rename = "Code")]
        code: String,
        #[serde(rename = "Message")]
        message: String,
    },
}

/// Code of an [`EmitReply::Error`] the sender may retry.
pub const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";

/// Sends complete events (id included) to the event bus through one service's emit
/// subject, and waits for them to be stored.
#[derive(Debug, Clone)]
struct Sender {
    client: async_nats::Client,
    timeout: Duration,
    service: &'static str,
}

impl Sender {
    async fn send(&self, bus: &str, event: &Event) -> Result<u64, BusError> {
        ensure_connected(&self.client)?;
        let payload = serde_json::to_vec(event).map_err(|e| {
            BusError::new(BusErrorKind::Internal, format!("cannot encode event: {e}"))
        })?;
        let subject = names::emit_subject(self.service, bus);
        let request = self.client.request(subject, payload.into());
        let reply = match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                return Err(BusError::unavailable(
                    "no event bus is answering on NATS yet; the event is sent again shortly",
                ));
            }
            Ok(Err(e)) => {
                return Err(BusError::unavailable(format!(
                    "the event bus did not take the event: {e}"
                )));
            }
            Err(_) => {
                return Err(BusError::unavailable(
                    "the event bus did not answer in time; the event is sent again shortly",
                ));
            }
        };
        match serde_json::from_slice::<EmitReply>(&reply.payload) {
            Ok(EmitReply::Sequence(sequence)) => Ok(sequence),
            Ok(EmitReply::Error { code, message }) if code == SERVICE_UNAVAILABLE => {
                Err(BusError::unavailable(message))
            }
            Ok(EmitReply::Error { code, message }) => Err(BusError::new(
                BusErrorKind::Rejected,
                format!("the event bus refused the event ({code}): {message}"),
            )),
            Err(e) => Err(BusError::new(
                BusErrorKind::Internal,
                format!("the event bus answered something unreadable: {e}"),
            )),
        }
    }
}

/// Whether an emitted event is stored already or still being retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitted {
    Stored,
    Retrying,
}

impl Emitter {
    /// An emitter of `service` on `bus`, sending through that service's emit subject (its
    /// NATS identity may publish only there). Its own events carry the service's own
    /// source, the first it owns (`groundwork.identity` for identity, the audit trail's
    /// for the event bus).
    pub fn new(
        client: async_nats::Client,
        timeout: Duration,
        origin: Origin,
        service: Principal,
        bus: impl Into<String>,
    ) -> Result<Self, BusError> {
        let source = service.owned_sources().first().ok_or_else(|| {
            BusError::new(
                BusErrorKind::Internal,
                format!("{} emits no events of its own", service.name()),
            )
        })?;
        Ok(Self {
            sender: Sender {
                client,
                timeout,
                service: service.name(),
            },
            origin,
            source: (*source).to_owned(),
            bus: bus.into(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Publishes an event of the catalog, with its own source and detail-type; otherwise
    /// as [`Emitter::emit`].
    pub async fn emit_event<E: CatalogEvent>(
        &self,
        event: &E,
        resources: Vec<String>,
    ) -> Result<(Event, Emitted), BusError> {
        let detail = event.to_detail().map_err(|e| {
            BusError::new(
                BusErrorKind::Internal,
                format!("the detail of {} is not JSON: {e}", E::DETAIL_TYPE),
            )
        })?;
        self.emit_as(E::SOURCE, E::DETAIL_TYPE, detail, resources)
            .await
    }

    /// Builds the event (validated as PutEvents would) and stores it; if NATS is
    /// unavailable, keeps retrying it in the background and says so.
    pub async fn emit(
        &self,
        detail_type: &str,
        detail: Value,
        resources: Vec<String>,
    ) -> Result<(Event, Emitted), BusError> {
        self.emit_as(&self.source.clone(), detail_type, detail, resources)
            .await
    }

    /// Like [`Emitter::emit`] with another source, for events that mirror AWS's (e.g.
    /// `aws.cloudwatch`), which only trusted internal producers may publish.
    pub async fn emit_as(
        &self,
        source: &str,
        detail_type: &str,
        detail: Value,
        resources: Vec<String>,
    ) -> Result<(Event, Emitted), BusError> {
        let entry = PutEventsEntry {
            source: Some(source.to_owned()),
            detail_type: Some(detail_type.to_owned()),
            detail: Some(detail.to_string()),
            resources,
            event_bus_name: Some(self.bus.clone()),
            ..Default::default()
        };
        let valid = validate_entry(&entry, Producer::TrustedInternal)
            .map_err(|e| BusError::new(BusErrorKind::Rejected, e.to_string()))?;
        let event = valid.into_event(&self.origin, OffsetDateTime::now_utc());
        match self.sender.send(&self.bus, &event).await {
            Ok(_) => Ok((event, Emitted::Stored)),
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, event_id = %event.id, detail_type, "event not stored yet; retrying in the background");
                let sender = self.sender.clone();
                let bus = self.bus.clone();
                let retry = event.clone();
                tokio::spawn(async move { retry_until_stored(sender, bus, retry).await });
                Ok((event, Emitted::Retrying))
            }
            Err(e) => Err(e),
        }
    }

    /// Stores an event built beforehand (e.g. kept in an outbox) under its own id, so
    /// that sending it again stores it once; returns its stream sequence. No background
    /// retry: the caller keeps the event until this succeeds.
    pub async fn publish(&self, event: &Event) -> Result<u64, BusError> {
        self.sender.send(&self.bus, event).await
    }
}

/// Sends `event` again (same id: the bus stores it once) with kit's background backoff:
/// ten minutes of tries while NATS or the event bus is away.
async fn retry_until_stored(sender: Sender, bus: String, event: Event) {
    let stored = groundwork_kit::retry::retry(Backoff::BACKGROUND, "storing an event", || {
        sender.send(&bus, &event)
    })
    .await;
    match stored {
        Ok(_) => tracing::info!(event_id = %event.id, "event stored after retry"),
        Err(e) if e.is_retryable() => {
            tracing::error!(error = %e, event_id = %event.id, "event could not be stored within the retry horizon");
        }
        Err(e) => {
            tracing::error!(error = %e, event_id = %event.id, "event refused by the bus; dropped");
        }
    }
}
