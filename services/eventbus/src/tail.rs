//! Following a bus: an ordered (ephemeral) consumer on the bus stream, forwarded to a
//! gRPC stream until the client hangs up or the service shuts down.

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use futures::StreamExt;
use groundwork_bus::names;
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
            let item = match next {
                None => break,
                Some(Ok(message)) => {
                    let sequence = message
                        .info()
                        .map(|i| i.stream_sequence)
                        .unwrap_or_default();
                    Ok(TailEventsResponse {
                        event_json: String::from_utf8_lossy(&message.payload).into_owned(),
                        sequence,
                    })
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "tail consumer error; the ordered consumer recovers");
                    continue;
                }
            };
            if tx.send(item).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}
