//! PutEvents: validate a request as EventBridge does and store the accepted events on their
//! bus stream before answering (one message per bus and call, see
//! [`groundwork_bus::publish`]). The gRPC API and the NATS ingress both call [`Ingest`].

use std::sync::Arc;

use groundwork_bus::{BusErrorKind, EventPublisher};
use groundwork_events::envelope::{
    EntryError, Event, Origin, Producer, PutEventsEntry, PutEventsLimits, PutEventsResult,
    PutEventsResultEntry, is_local_bus, validate_entry, validate_request,
};
use time::OffsetDateTime;

use crate::catalog::Catalog;
use crate::error::{Error, invalid_request};

/// The accepted entries of one call that are stored together: same bus, same trace header.
struct Group {
    bus: String,
    trace: Option<String>,
    /// Where each event's result goes.
    indexes: Vec<usize>,
    events: Vec<Event>,
}

/// Accepts PutEvents requests for the buses that exist.
#[derive(Debug, Clone)]
pub struct Ingest {
    publisher: EventPublisher,
    origin: Arc<Origin>,
    limits: PutEventsLimits,
    catalog: Catalog,
}

impl Ingest {
    pub fn new(
        publisher: EventPublisher,
        origin: Origin,
        limits: PutEventsLimits,
        catalog: Catalog,
    ) -> Self {
        Self {
            publisher,
            origin: Arc::new(origin),
            limits,
            catalog,
        }
    }

    /// Whether `bus` exists (caught up with the other replicas when not known here).
    pub async fn knows_bus(&self, bus: &str) -> Result<bool, Error> {
        self.catalog.knows_bus(bus).await
    }

    pub fn publisher(&self) -> &EventPublisher {
        &self.publisher
    }

    /// Applies a request. `only_bus` is the bus named by the ingress subject: entries
    /// naming another bus are refused.
    ///
    /// A request-level problem (count, size) refuses everything. When NATS is unreachable
    /// and nothing was stored yet, the whole call is `Unavailable` so that the producer
    /// simply retries; once one entry is stored, later failures are reported per entry
    /// (`InternalException`), as EventBridge does, so that only those are sent again.
    pub async fn put_events(
        &self,
        entries: &[PutEventsEntry],
        producer: Producer,
        only_bus: Option<&str>,
    ) -> Result<PutEventsResult, Error> {
        validate_request(entries, &self.limits).map_err(invalid_request)?;
        groundwork_bus::connect::ensure_connected(self.publisher.client())?;
        let now = OffsetDateTime::now_utc();
        // Validate every entry first, then store the valid ones concurrently: their acks
        // are awaited together instead of one round trip after another.
        let mut results: Vec<Option<PutEventsResultEntry>> = Vec::with_capacity(entries.len());
        let mut pending = Vec::new();
        let mut caught_up = false;
        for entry in entries {
            let mut valid = match validate_entry(entry, producer) {
                Ok(valid) => valid,
                Err(e) => {
                    results.push(Some(PutEventsResultEntry::failed(&e)));
                    continue;
                }
            };
            let named = entry.event_bus_name.as_deref().unwrap_or_default();
            if !is_local_bus(named, &self.origin) {
                results.push(Some(PutEventsResultEntry::failed(
                    &EntryError::invalid_bus_arn(named),
                )));
                continue;
            }
            // On the ingress, an entry that names no bus is for the subject's bus (and a
            // missing one is reported by that name, not as `default`).
            if let Some(bus) = only_bus.filter(|_| named.is_empty()) {
                bus.clone_into(&mut valid.bus);
            }
            // A bus not known here may have been made through another replica a moment ago.
            if !self.catalog.has_bus(&valid.bus) && !caught_up {
                self.catalog.catch_up().await?;
                caught_up = true;
            }
            if only_bus.is_some_and(|b| b != valid.bus) || !self.catalog.has_bus(&valid.bus) {
                results.push(Some(PutEventsResultEntry::failed(
                    &EntryError::bus_not_found(&valid.bus),
                )));
                continue;
            }
            let bus = valid.bus.clone();
            let trace = valid.trace_header.clone();
            let event = valid.into_event(&self.origin, now);
            pending.push((results.len(), bus, trace, event));
            results.push(None);
        }
        // The entries for one bus (with the same trace header) are stored together, as one
        // message where the server's message size allows: the server stores, delivers and
        // has acknowledged one message per call instead of one per entry. Every group is
        // stored at once; their acks are awaited together.
        let mut groups: Vec<Group> = Vec::new();
        for (index, bus, trace, event) in pending {
            match groups.iter_mut().find(|g| g.bus == bus && g.trace == trace) {
                Some(group) => {
                    group.indexes.push(index);
                    group.events.push(event);
                }
                None => groups.push(Group {
                    bus,
                    trace,
                    indexes: vec![index],
                    events: vec![event],
                }),
            }
        }
        let stored = futures::future::join_all(groups.iter().map(|g| {
            self.publisher
                .publish_all(&g.bus, &g.events, g.trace.as_deref())
        }))
        .await;
        let stored_any = stored.iter().flatten().any(Result::is_ok);
        for (group, outcomes) in groups.into_iter().zip(stored) {
            let bus = group.bus;
            for ((index, event), outcome) in
                group.indexes.into_iter().zip(group.events).zip(outcomes)
            {
                results[index] = Some(match outcome {
                    Ok(_) => {
                        tracing::debug!(event_id = %event.id, %bus, source = %event.source, "event stored");
                        PutEventsResultEntry::accepted(event.id)
                    }
                    Err(e) if e.kind() == BusErrorKind::Unavailable && !stored_any => {
                        return Err(e.into());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %bus, "event not stored");
                        PutEventsResultEntry::failed(&EntryError::internal(e.to_string()))
                    }
                });
            }
        }
        let results = results.into_iter().flatten().collect();
        Ok(PutEventsResult::from_entries(results))
    }
}
