//! The router: a durable consumer of a bus stream (shared by replicas) that matches each
//! event against the bus's enabled rules and makes one delivery per (rule, target)
//! ([`fan_out`]: NATS-subject targets straight into `DELIVERIES`, the others into
//! `TARGETS`). An event is acknowledged only once all its deliveries are stored; many
//! events are in flight at once, each publishing asynchronously.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt;
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
    /// Routes `bus` until `stop`; reconnects its consumer after errors.
    pub async fn run(self, bus: String, stop: CancellationToken) {
        let this = Arc::new(self);
        while !stop.is_cancelled() {
            if let Err(e) = this.consume(&bus, &stop).await {
                tracing::warn!(%bus, error = %e, "router interrupted; resuming shortly");
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    async fn consume(self: &Arc<Self>, bus: &str, stop: &CancellationToken) -> Result<(), String> {
        let stream = self
            .js
            .get_stream(names::events_stream(bus))
            .await
            .map_err(|e| e.to_string())?;
        let consumer = stream
            .get_or_create_consumer(
                names::ROUTER_CONSUMER,
                consumer::pull::Config {
                    durable_name: Some(names::ROUTER_CONSUMER.to_owned()),
                    description: Some(format!("Routes the events of bus {bus}")),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    max_ack_pending: 20_000,
                    max_deliver: -1,
                    deliver_policy: consumer::DeliverPolicy::All,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(1000)
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(%bus, "router started");
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            let message = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::debug!(%bus, error = %e, "router consumer error");
                    continue;
                }
                None => return Err("the consumer stream ended".into()),
            };
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                return Ok(());
            };
            let this = Arc::clone(self);
            let bus = bus.to_owned();
            tokio::spawn(async move {
                this.route(&bus, message).await;
                drop(permit);
            });
        }
    }

    async fn route(&self, bus: &str, message: jetstream::Message) {
        match self.deliver(bus, &message).await {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::InvalidArgument => {
                tracing::warn!(%bus, error = %e, "an unreadable event on the bus stream was skipped");
            }
            Err(e) => {
                tracing::warn!(%bus, error = %e, "deliveries not stored; the event will be routed again");
                let _ = message
                    .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                    .await;
                return;
            }
        }
        if let Err(e) = message.ack().await {
            tracing::debug!(%bus, error = %e, "ack lost; the event will be routed again (deduplicated)");
        }
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
