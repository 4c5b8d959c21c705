//! Durable JetStream consumers, one way: [`run`] keeps a pull consumer of a stream going
//! until shutdown — finding or creating it, pulling in batches, handing every message to
//! the caller's handler, and starting again (with backoff) after any error, so a NATS
//! restart or a deleted consumer is survived. The handler acknowledges: [`ack`] once the
//! message is done, [`nak_after`] to have JetStream redeliver it later (the durable retry
//! that survives a crash).
//!
//! A consumer that disappears while its runner is alive (deleted by hand or by a NATS
//! operator) is created again where it left off: while messages are in flight the runner
//! samples the consumer's ack floor (the last stream sequence below which everything is
//! acknowledged) every [`POSITION_SAMPLE`], until all are acknowledged, and re-creates a lost consumer from the sequence after it, never
//! with the configured deliver policy, which for a router is `All` (the whole history
//! delivered again). At most the messages acknowledged during the last sample interval
//! are delivered twice, which the handlers' message ids de-duplicate. A consumer that does
//! not exist when the runner starts is created with the configured policy.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt;
use groundwork_kit::retry::Backoff;
use tokio_util::sync::CancellationToken;

/// How often a runner samples its consumer's ack floor (see the module documentation).
pub const POSITION_SAMPLE: Duration = Duration::from_millis(250);

/// A durable pull consumer of `stream`.
#[derive(Debug, Clone)]
pub struct Durable {
    pub stream: String,
    /// The consumer's configuration; `durable_name` is set from it or must be.
    pub config: consumer::pull::Config,
    /// Messages pulled per request.
    pub batch: usize,
}

impl Durable {
    /// A durable consumer named `name` of `stream`, explicit acks, redelivered after
    /// `ack_wait` forever (the handler decides when to give up).
    pub fn new(stream: impl Into<String>, name: &str, description: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            config: consumer::pull::Config {
                durable_name: Some(name.to_owned()),
                description: Some(description.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                max_deliver: -1,
                ..Default::default()
            },
            batch: 100,
        }
    }

    /// Only messages on this subject (or wildcard).
    pub fn filter(mut self, subject: impl Into<String>) -> Self {
        self.config.filter_subject = subject.into();
        self
    }

    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.config.ack_wait = wait;
        self
    }

    pub fn max_ack_pending(mut self, n: i64) -> Self {
        self.config.max_ack_pending = n;
        self
    }

    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n;
        self
    }

    /// Where a newly created consumer starts (an existing one keeps its position).
    pub fn deliver_policy(mut self, policy: consumer::DeliverPolicy) -> Self {
        self.config.deliver_policy = policy;
        self
    }

    fn name(&self) -> &str {
        self.config.durable_name.as_deref().unwrap_or("unnamed")
    }
}

/// How long one pull request waits on the server before a new one replaces it. A request
/// sent while a clustered consumer is still being placed or changing leader can be lost
/// without an answer; the next one goes out after this long, so a replica started beside
/// another takes its share of the work within seconds rather than after the client's
/// default of 30 s (two event-bus replicas started at the same moment on a three-node
/// cluster: both pulling after 35 s with the default, about 10 s with this;
/// `services/eventbus/tests/cluster_concurrent_start.rs`).
const PULL_EXPIRES: Duration = Duration::from_secs(5);
/// Idle heartbeats the server sends while a pull request waits (below [`PULL_EXPIRES`]):
/// missing ones tell the client its request was lost.
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);

/// Consumes `durable` until `stop` is cancelled, calling `handle` for every message in
/// order of arrival (a handler that wants concurrency spawns and returns). Errors are
/// logged and the consumer is opened again after a backoff; this only returns at `stop`.
pub async fn run<F, Fut>(
    js: &jetstream::Context,
    durable: &Durable,
    stop: &CancellationToken,
    mut handle: F,
) where
    F: FnMut(jetstream::Message) -> Fut,
    Fut: Future<Output = ()>,
{
    let backoff = Backoff::FOREVER;
    let mut failures = 0u32;
    let mut position = None;
    while !stop.is_cancelled() {
        match consume(js, durable, stop, &mut handle, &mut failures, &mut position).await {
            Ok(()) => return,
            Err(e) => {
                failures += 1;
                tracing::warn!(
                    consumer = durable.name(),
                    stream = %durable.stream,
                    error = %e,
                    "consumer interrupted; starting again shortly"
                );
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff.jittered(failures)) => {}
        }
    }
}

async fn consume<F, Fut>(
    js: &jetstream::Context,
    durable: &Durable,
    stop: &CancellationToken,
    handle: &mut F,
    failures: &mut u32,
    position: &mut Option<u64>,
) -> Result<(), String>
where
    F: FnMut(jetstream::Message) -> Fut,
    Fut: Future<Output = ()>,
{
    let stream = js
        .get_stream(&durable.stream)
        .await
        .map_err(|e| format!("stream {}: {e}", durable.stream))?;
    let config = match *position {
        // Seen before by this runner: if it is gone, it starts again after what it
        // had acknowledged (an existing consumer keeps its own position).
        Some(acked) => consumer::pull::Config {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: acked + 1,
            },
            ..durable.config.clone()
        },
        None => durable.config.clone(),
    };
    let consumer = stream
        .get_or_create_consumer(durable.name(), config)
        .await
        .map_err(|e| format!("consumer {}: {e}", durable.name()))?;
    *position = Some(consumer.cached_info().ack_floor.stream_sequence);
    let mut busy = false;
    let mut sample = tokio::time::interval(POSITION_SAMPLE);
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(durable.batch)
        .expires(PULL_EXPIRES)
        .heartbeat(PULL_HEARTBEAT)
        .messages()
        .await
        .map_err(|e| format!("pulling from {}: {e}", durable.name()))?;
    tracing::info!(consumer = durable.name(), stream = %durable.stream, "consumer started");
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = sample.tick() => {
                // Only while something is in flight: an idle consumer costs no request.
                if busy && let Ok(info) = stream.consumer_info(durable.name()).await {
                    *position = Some(info.ack_floor.stream_sequence);
                    busy = info.num_ack_pending > 0 || info.num_pending > 0;
                }
                continue;
            }
            next = messages.next() => next,
        };
        match next {
            Some(Ok(message)) => {
                *failures = 0;
                busy = true;
                handle(message).await;
            }
            // Missed heartbeats and the like: the pull stream recovers by itself.
            Some(Err(e)) => tracing::debug!(consumer = durable.name(), error = %e, "pull error"),
            None => return Err("the message stream ended".into()),
        }
    }
}

/// Acknowledges a message that is done; a lost ack only means a redelivery.
pub async fn ack(message: &jetstream::Message) {
    if let Err(e) = message.ack().await {
        tracing::debug!(error = %e, "ack not sent; the message will be redelivered");
    }
}

/// Asks JetStream to redeliver the message after `delay`.
pub async fn nak_after(message: &jetstream::Message, delay: Duration) {
    if let Err(e) = message.ack_with(AckKind::Nak(Some(delay))).await {
        tracing::debug!(error = %e, "nak not sent; the message will be redelivered after ack_wait");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn survives_a_deleted_consumer_and_stops_on_request() {
        let nats = groundwork_testkit::NatsServer::start().unwrap();
        let client = nats.admin().await.unwrap();
        let js = jetstream::new(client);
        js.create_stream(jetstream::stream::Config {
            name: "T".into(),
            subjects: vec!["t.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        let durable = Durable::new("T", "worker", "test").filter("t.a");
        let stop = CancellationToken::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = {
            let (js, durable, stop) = (js.clone(), durable.clone(), stop.clone());
            tokio::spawn(async move {
                run(&js, &durable, &stop, |m| {
                    let tx = tx.clone();
                    async move {
                        tx.send(m.payload.clone()).unwrap();
                        ack(&m).await;
                    }
                })
                .await;
            })
        };
        js.publish("t.b", "skipped".into())
            .await
            .unwrap()
            .await
            .unwrap();
        js.publish("t.a", "one".into())
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(rx.recv().await.unwrap(), "one");
        // Until the runner has sampled the ack of "one", it would be delivered again.
        let stream = js.get_stream("T").await.unwrap();
        while stream
            .consumer_info("worker")
            .await
            .unwrap()
            .ack_floor
            .stream_sequence
            < 2
        {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(POSITION_SAMPLE * 3).await;
        js.get_stream("T")
            .await
            .unwrap()
            .delete_consumer("worker")
            .await
            .unwrap();
        js.publish("t.a", "two".into())
            .await
            .unwrap()
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap()
            .unwrap();
        // The consumer was recreated where it left off, not from the stream's first
        // message ("one" is not delivered again).
        assert_eq!(got, "two");
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
