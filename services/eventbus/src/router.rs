//! The router: a durable consumer of a bus stream (shared by replicas) that matches each
//! event against the bus's enabled rules and makes one delivery per (rule, target)
//! ([`fan_out`]: NATS-subject targets straight into `DELIVERIES`, the others into
//! `TARGETS`). An event is acknowledged only once all its deliveries are stored; many
//! events are in flight at once, each publishing asynchronously.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::DeliverPolicy;
use groundwork_bus::consumer::{self, Durable};
use groundwork_bus::names;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::delivery::{Routed, fan_out, unreadable};
use crate::error::{Error, ErrorKind};

/// What every bus's router shares.
#[derive(Debug, Clone)]
pub struct Router {
    pub js: jetstream::Context,
    pub catalog: Catalog,
    pub ack_wait: Duration,
    pub in_flight: Arc<Semaphore>,
}

impl Router {
    /// Routes `bus` until `stop`, through the bus's shared durable consumer (kept going
    /// after errors by the consumer runner). Many events are routed at once, up to the
    /// in-flight limit.
    pub async fn run(self, bus: String, stop: CancellationToken) {
        let this = Arc::new(self);
        let durable = Durable::new(
            names::events_stream(&bus),
            names::ROUTER_CONSUMER,
            format!("Routes the events of bus {bus}"),
        )
        .ack_wait(this.ack_wait)
        .max_ack_pending(20_000)
        .batch(1000)
        .deliver_policy(DeliverPolicy::All);
        let js = this.js.clone();
        consumer::run(&js, &durable, &stop, |message| {
            let this = Arc::clone(&this);
            let bus = bus.clone();
            async move {
                let Ok(permit) = this.in_flight.clone().acquire_owned().await else {
                    return;
                };
                tokio::spawn(async move {
                    this.route(&bus, message).await;
                    drop(permit);
                });
            }
        })
        .await;
    }

    async fn route(&self, bus: &str, message: jetstream::Message) {
        match self.deliver(bus, &message).await {
            Ok(_) => {}
            // Only PutEvents and the bus's own producers write here, and what they accept
            // is readable (see `groundwork_events::limits`): an unreadable event was never
            // accepted, matches no rule and is not dead-lettered.
            Err(e) if e.kind() == ErrorKind::InvalidArgument => {
                tracing::warn!(%bus, error = %e, "an unreadable event on the bus stream was skipped");
            }
            Err(e) => {
                tracing::warn!(%bus, error = %e, "deliveries not stored; the event will be routed again");
                consumer::nak_after(&message, Duration::from_millis(500)).await;
                return;
            }
        }
        consumer::ack(&message).await;
    }

    /// Matches the event and stores its deliveries; returns how many. Matching reads the
    /// stored text; the event is decoded only if a delivery needs it.
    async fn deliver(&self, bus: &str, message: &jetstream::Message) -> Result<usize, Error> {
        let table = self.catalog.rules(bus);
        let text = std::str::from_utf8(&message.payload).map_err(|e| unreadable(&e))?;
        let matched = table
            .matcher
            .matches_json(text)
            .map_err(|e| unreadable(&e))?;
        if matched.is_empty() {
            return Ok(0);
        }
        let message_id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str());
        let event = Routed::stored(message.payload.clone(), message_id)?;
        let ingested_ms = message
            .info()
            .map(|i| i64::try_from(i.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
            .unwrap_or_else(|_| crate::buses::now_ms());
        fan_out(&self.js, bus, &table, &matched, &event, ingested_ms, None).await
    }
}
