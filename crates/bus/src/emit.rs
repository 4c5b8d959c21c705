//! Publishing Groundwork's own events (`groundwork.<service>` sources, and the mirrors of
//! AWS events) as a trusted internal producer, straight onto a bus stream.
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

use crate::error::{BusError, BusErrorKind};
use crate::publish::EventPublisher;
use crate::streams::{StreamSettings, ensure_events_stream};

/// Publishes events of one source onto one bus.
#[derive(Debug, Clone)]
pub struct Emitter {
    publisher: EventPublisher,
    origin: Origin,
    source: String,
    bus: String,
}

/// Whether an emitted event is stored already or still being retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitted {
    Stored,
    Retrying,
}

impl Emitter {
    /// An emitter for `source` (e.g. `groundwork.identity`) on `bus`; creates the bus
    /// stream if it does not exist yet.
    pub async fn new(
        client: async_nats::Client,
        timeout: Duration,
        origin: Origin,
        source: impl Into<String>,
        bus: impl Into<String>,
        streams: &StreamSettings,
    ) -> Result<Self, BusError> {
        let publisher = EventPublisher::new(client, timeout);
        let bus = bus.into();
        ensure_events_stream(publisher.jetstream(), &bus, streams).await?;
        Ok(Self {
            publisher,
            origin,
            source: source.into(),
            bus,
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
        match self.publisher.publish(&self.bus, &event, None).await {
            Ok(_) => Ok((event, Emitted::Stored)),
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, event_id = %event.id, detail_type, "event not stored yet; retrying in the background");
                let publisher = self.publisher.clone();
                let bus = self.bus.clone();
                let retry = event.clone();
                tokio::spawn(async move { retry_until_stored(publisher, bus, retry).await });
                Ok((event, Emitted::Retrying))
            }
            Err(e) => Err(e),
        }
    }
}

/// Stores `event` again (same id: JetStream stores it once) with kit's background backoff:
/// ten minutes of tries while NATS is away.
async fn retry_until_stored(publisher: EventPublisher, bus: String, event: Event) {
    let stored = groundwork_kit::retry::retry(Backoff::BACKGROUND, "storing an event", || {
        publisher.publish(&bus, &event, None)
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
