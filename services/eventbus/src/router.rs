//! The router: a durable consumer of a bus stream (shared by replicas) that matches each
//! event against the bus's enabled rules and makes one delivery per (rule, target)
//! ([`crate::delivery::fan_out`]: NATS-subject targets straight into `DELIVERIES`, the others into
//! `TARGETS`). A stored message (the events of one PutEvents call) is acknowledged only
//! once all its events' deliveries are stored; many messages are in flight at once, each
//! publishing asynchronously.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::DeliverPolicy;
use bytes::Bytes;
use groundwork_bus::consumer::{self, Durable};
use groundwork_bus::names;
use groundwork_bus::publish::stored_events;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::catalog::{BusRules, Catalog};
use crate::delivery::{Routed, start_fan_out, unreadable};
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
        if let Err(e) = self.deliver(bus, &message).await {
            tracing::warn!(%bus, error = %e, "deliveries not stored; the events will be routed again");
            consumer::nak_after(&message, Duration::from_millis(500)).await;
            return;
        }
        consumer::ack(&message).await;
    }

    /// Routes every event of a stored message (one or more, see
    /// [`groundwork_bus::publish`]); returns how many deliveries were stored. Every
    /// event's deliveries are sent before any acknowledgement is awaited, so all of them are
    /// in flight at once. The message is acknowledged only once all of them are stored, and
    /// routed again whole otherwise: the deliveries already stored are stored once (their
    /// ids de-duplicate).
    async fn deliver(&self, bus: &str, message: &jetstream::Message) -> Result<usize, Error> {
        let table = self.catalog.rules(bus);
        let ingested_ms = message
            .info()
            .map(|i| i64::try_from(i.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
            .unwrap_or_else(|_| crate::buses::now_ms());
        let events: Vec<Bytes> = stored_events(&message.payload).collect();
        // A message of one event carries its id as the message id; a message of several
        // carries the first one's, and each event's own id is read from its text.
        let message_id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str())
            .filter(|_| events.len() == 1);
        let mut matched = Vec::with_capacity(events.len());
        for text in events {
            match matching(&table, text, message_id) {
                Ok(Some(event)) => matched.push(event),
                Ok(None) => {}
                Err(e) => skip_unreadable(bus, e)?,
            }
        }
        let mut started = Vec::with_capacity(matched.len());
        for (event, rules) in &matched {
            match start_fan_out(&self.js, bus, &table, rules, event, ingested_ms, None).await {
                Ok(s) => started.push(s),
                Err(e) => skip_unreadable(bus, e)?,
            }
        }
        let mut count = 0;
        for s in started {
            count += s.finish().await?;
        }
        Ok(count)
    }
}

/// Matches one event against the bus's rules: the event and the rules it matched, or
/// `None` when it matched none. Matching reads the stored text; the event is decoded only
/// if a delivery needs it.
fn matching(
    table: &BusRules,
    text: Bytes,
    message_id: Option<&str>,
) -> Result<Option<(Routed, Vec<String>)>, Error> {
    let utf8 = std::str::from_utf8(&text).map_err(|e| unreadable(&e))?;
    let matched = table
        .matcher
        .matches_json(utf8)
        .map_err(|e| unreadable(&e))?;
    if matched.is_empty() {
        return Ok(None);
    }
    Ok(Some((Routed::stored(text, message_id)?, matched)))
}

/// Only PutEvents and the bus's own producers write to a bus stream, and what they accept
/// is readable (see `groundwork_events::limits`): an unreadable event was never accepted,
/// matches no rule and is not dead-lettered, so it is skipped. Any other error stands.
fn skip_unreadable(bus: &str, e: Error) -> Result<(), Error> {
    if e.kind() == ErrorKind::InvalidArgument {
        tracing::warn!(%bus, error = %e, "an unreadable event on the bus stream was skipped");
        return Ok(());
    }
    Err(e)
}
