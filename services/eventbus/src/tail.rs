//! Following a bus: an ordered (ephemeral) consumer on the bus stream, forwarded to a
//! gRPC stream event by event (a stored message may hold several, which share its stream
//! sequence) until the client hangs up or the service shuts down.

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use std::collections::VecDeque;

use futures::StreamExt;
use groundwork_bus::names;
use groundwork_bus::publish::stored_events;
use groundwork_kit::Shutdown;
use groundwork_proto::v1::TailEventsResponse;
use tokio::sync::mpsc;
use tonic::Status;

use crate::error::Error;

/// Where a tail starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TailStart {
    New,
    Beginning,
    Last(u64),
    Since(time::OffsetDateTime),
}

/// Starts following `bus`; events arrive on the returned channel.
pub async fn start(
    js: &async_nats::jetstream::Context,
    bus: &str,
    start: TailStart,
    shutdown: Shutdown,
) -> Result<mpsc::Receiver<Result<TailEventsResponse, Status>>, Error> {
    let stream_name = names::events_stream(bus);
    let stream = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| Error::unavailable(format!("cannot open stream {stream_name}: {e}")))?;
    // `Last(n)` starts n messages back, which hold n events or more (a message holds one
    // or more): the events up to the stream's last message then are held back, and only
    // the last n of them are sent.
    let mut backlog: Option<Backlog> = None;
    let deliver_policy = match start {
        TailStart::New => DeliverPolicy::New,
        TailStart::Beginning => DeliverPolicy::All,
        TailStart::Since(start_time) => DeliverPolicy::ByStartTime { start_time },
        TailStart::Last(n) => {
            let info = stream.get_info().await.map_err(|e| {
                Error::unavailable(format!("cannot read stream {stream_name}: {e}"))
            })?;
            let last = info.state.last_sequence;
            let first = info
                .state
                .first_sequence
                .max(last.saturating_sub(n.saturating_sub(1)));
            if n == 0 || last == 0 {
                DeliverPolicy::New
            } else {
                backlog = Some(Backlog {
                    until: last,
                    keep: usize::try_from(n).unwrap_or(usize::MAX),
                    events: VecDeque::new(),
                });
                DeliverPolicy::ByStartSequence {
                    start_sequence: first,
                }
            }
        }
    };
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy,
            description: Some("groundwork events tail".into()),
            ..Default::default()
        })
        .await
        .map_err(|e| Error::unavailable(format!("cannot follow stream {stream_name}: {e}")))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| Error::unavailable(format!("cannot follow stream {stream_name}: {e}")))?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                () = shutdown.wait() => break,
                () = tx.closed() => break,
                next = messages.next() => next,
            };
            let message = match next {
                None => break,
                Some(Ok(message)) => message,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "tail consumer error; the ordered consumer recovers");
                    continue;
                }
            };
            let sequence = message
                .info()
                .map(|i| i.stream_sequence)
                .unwrap_or_default();
            let events = stored_events(&message.payload).map(|text| TailEventsResponse {
                event_json: String::from_utf8_lossy(&text).into_owned(),
                sequence,
            });
            let ready: Vec<TailEventsResponse> = match backlog.as_mut() {
                Some(held) => {
                    for event in events {
                        if held.events.len() == held.keep {
                            held.events.pop_front();
                        }
                        held.events.push_back(event);
                    }
                    if sequence < held.until {
                        continue;
                    }
                    backlog.take().map(|h| h.events.into()).unwrap_or_default()
                }
                None => events.collect(),
            };
            for item in ready {
                if tx.send(Ok(item)).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// The events `Last(n)` holds back until the stream's last message at the start is read.
struct Backlog {
    until: u64,
    keep: usize,
    events: VecDeque<TailEventsResponse>,
}
