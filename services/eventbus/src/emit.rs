//! Groundwork's services emit their own events through `groundwork.events.emit.<service>.<bus>`
//! (request/reply; the payload is the whole event, id included, so that a retried send is
//! stored once). NATS lets each service publish only under its own name (see
//! `groundwork_bus::access`), so the subject says who sent the event; the event bus stores
//! it only when that service owns the event's source — identity alone emits
//! `groundwork.identity`, alerting alone `aws.cloudwatch` — and the event is as valid as
//! PutEvents would require. Everyone else goes through PutEvents, where `aws.*` and
//! `groundwork.*` are refused.

use std::sync::Arc;

use groundwork_bus::access::Principal;
use groundwork_bus::emit::{EmitReply, SERVICE_UNAVAILABLE};
use groundwork_bus::{BusErrorKind, names};
use groundwork_events::envelope::{Event, Producer, PutEventsEntry, validate_entry};
use groundwork_kit::Shutdown;
use tokio::sync::Semaphore;

use crate::put_events::Ingest;

/// Serves every service's emit subject (subscribed with `ingress::listen` on
/// `names::EMIT_ALL`) until shutdown.
pub async fn run(
    client: async_nats::Client,
    subscription: async_nats::Subscriber,
    ingest: Ingest,
    in_flight: Arc<Semaphore>,
    shutdown: Shutdown,
) {
    crate::ingress::serve(
        client,
        subscription,
        in_flight,
        shutdown,
        move |subject, payload| {
            let ingest = ingest.clone();
            async move {
                let reply = handle(&ingest, &subject, &payload).await;
                serde_json::to_value(reply).unwrap_or_default()
            }
        },
    )
    .await;
}

fn refused(code: &str, message: impl Into<String>) -> EmitReply {
    EmitReply::Error {
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Checks and stores one emitted event.
pub async fn handle(ingest: &Ingest, subject: &str, payload: &[u8]) -> EmitReply {
    let Some((service, bus)) = names::parse_emit_subject(subject) else {
        return refused(
            "ValidationException",
            format!("'{subject}' is not an emit subject"),
        );
    };
    let owned = Principal::from_name(&service).map_or(&[][..], Principal::owned_sources);
    let event: Event = match serde_json::from_slice(payload) {
        Ok(event) => event,
        Err(e) => return refused("ValidationException", format!("not an event: {e}")),
    };
    if !owned.contains(&event.source.as_str()) {
        tracing::warn!(%service, source = %event.source, "an emitted event with a source its sender does not own was refused");
        return refused(
            "NotAuthorizedForSourceException",
            format!(
                "{service} may not emit events with source {}; it may emit {}",
                event.source,
                if owned.is_empty() {
                    "none".to_owned()
                } else {
                    owned.join(", ")
                }
            ),
        );
    }
    // An audit record is the sender's own: it names the sender's gRPC service.
    if event.source == groundwork_events::catalog::sources::AUDIT {
        let own = Principal::from_name(&service).and_then(Principal::grpc_service);
        if own.is_none() || event.detail["service"].as_str() != own {
            tracing::warn!(%service, "an audit record of another service was refused");
            return refused(
                "NotAuthorizedForSourceException",
                format!("{service} may record only its own API calls"),
            );
        }
    }
    // The envelope must be what PutEvents would have accepted.
    let entry = PutEventsEntry {
        time: Some(event.time),
        source: Some(event.source.clone()),
        resources: event.resources.clone(),
        detail_type: Some(event.detail_type.clone()),
        detail: Some(event.detail.to_string()),
        event_bus_name: Some(bus.clone()),
        trace_header: None,
    };
    if let Err(e) = validate_entry(&entry, Producer::TrustedInternal) {
        return refused(e.code.as_str(), e.message);
    }
    if event.id.is_empty() || event.replay_name.is_some() {
        return refused(
            "ValidationException",
            "an emitted event needs an id and cannot be a replay",
        );
    }
    match ingest.knows_bus(&bus).await {
        Ok(true) => {}
        Ok(false) => {
            return refused(
                "ResourceNotFoundException",
                format!("Event bus {bus} does not exist."),
            );
        }
        Err(e) => return refused(SERVICE_UNAVAILABLE, e.to_string()),
    }
    match ingest.publisher().publish(&bus, &event, None).await {
        Ok(sequence) => EmitReply::Sequence(sequence),
        Err(e) if e.kind() == BusErrorKind::Unavailable => {
            refused(SERVICE_UNAVAILABLE, e.to_string())
        }
        Err(e) => refused("InternalException", e.to_string()),
    }
}
