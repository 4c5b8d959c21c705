//! The NATS ingress: producers in any language send a PutEvents request as JSON
//! (`{"Entries": [...]}`, EventBridge's field names) to `groundwork.events.put.<bus>` and
//! get the PutEvents result as JSON in the reply. A request refused as a whole is answered
//! `{"Error": {"Code": "ValidationException", "Message": …}}`, as EventBridge's HTTP API does.

use std::sync::Arc;

use futures::StreamExt;
use groundwork_bus::names;
use groundwork_events::envelope::{Producer, PutEventsRequest};
use groundwork_kit::Shutdown;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::error::{Error, ErrorKind, VALIDATION};
use crate::put_events::Ingest;

/// Serves the ingress subject (subscribed with [`listen`]) until shutdown.
pub async fn run(
    client: async_nats::Client,
    subscription: async_nats::Subscriber,
    ingest: Ingest,
    in_flight: Arc<Semaphore>,
    shutdown: Shutdown,
) {
    serve(
        client,
        subscription,
        in_flight,
        shutdown,
        move |subject, payload| {
            let ingest = ingest.clone();
            async move { handle(&ingest, &subject, &payload).await }
        },
    )
    .await;
}

/// Subscribes to `subject` (a wildcard) in the event bus's queue group, so that replicas
/// share the requests; done before the service says it is ready.
pub async fn listen(
    client: &async_nats::Client,
    subject: &'static str,
) -> Result<async_nats::Subscriber, Error> {
    let subscription = client
        .queue_subscribe(subject, names::INGRESS_QUEUE.to_owned())
        .await
        .map_err(|e| Error::unavailable(format!("cannot subscribe to {subject}: {e}")))?;
    // Once the server has the subscription, a request sent after readiness finds it.
    client
        .flush()
        .await
        .map_err(|e| Error::unavailable(format!("cannot subscribe to {subject}: {e}")))?;
    tracing::info!(subject, "NATS ingress listening");
    Ok(subscription)
}

/// Answers the requests of `subscription` until shutdown, each with `handler`'s JSON, at
/// most as many at once as `in_flight` has permits. Past that the subscription waits:
/// requests queue in the client and, once its buffer is full, the server drops them for this
/// slow consumer; their senders time out and send again, as after any lost request. Without
/// the bound a flood of requests would each hold a task and a publish until memory ran out.
pub async fn serve<F, Fut>(
    client: async_nats::Client,
    mut subscription: async_nats::Subscriber,
    in_flight: Arc<Semaphore>,
    shutdown: Shutdown,
    handler: F,
) where
    F: Fn(String, bytes::Bytes) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value> + Send + 'static,
{
    loop {
        let message = tokio::select! {
            () = shutdown.wait() => break,
            message = subscription.next() => match message {
                Some(m) => m,
                None => break,
            },
        };
        let Some(reply) = message.reply.clone() else {
            tracing::debug!(subject = %message.subject, "ingress message without reply subject ignored");
            continue;
        };
        let permit = tokio::select! {
            () = shutdown.wait() => break,
            permit = in_flight.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let answer = handler(message.subject.to_string(), message.payload);
        let client = client.clone();
        tokio::spawn(async move {
            let answer = answer.await;
            drop(permit);
            if let Err(e) = client.publish(reply, answer.to_string().into()).await {
                tracing::warn!(error = %e, "cannot answer an ingress request");
            }
        });
    }
    let _ = subscription.unsubscribe().await;
}

/// The JSON answer to one ingress request.
pub async fn handle(ingest: &Ingest, subject: &str, payload: &[u8]) -> serde_json::Value {
    let Some(bus) = names::bus_from_ingress_subject(subject) else {
        return error_json(
            "ValidationException",
            &format!("'{subject}' does not name a bus"),
        );
    };
    let request = match PutEventsRequest::from_json(payload) {
        Ok(r) => r,
        Err(message) => return error_json("ValidationException", &message),
    };
    match ingest
        .put_events(&request.entries, Producer::External, Some(&bus))
        .await
    {
        Ok(result) => serde_json::to_value(result).unwrap_or_default(),
        Err(e) if e.reason() == VALIDATION => error_json("ValidationException", e.message()),
        Err(e) if e.kind() == ErrorKind::Unavailable => {
            error_json("ServiceUnavailable", e.message())
        }
        Err(e) => error_json("InternalException", &e.to_string()),
    }
}

fn error_json(code: &str, message: &str) -> serde_json::Value {
    json!({"Error": {"Code": code, "Message": message}})
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Six requests at once with two permits: every one is answered, never more than two
    /// handled at the same time.
    #[tokio::test]
    async fn requests_are_handled_at_most_in_flight_at_once() {
        let nats = groundwork_testkit::NatsServer::start().unwrap();
        let client = nats.admin().await.unwrap();
        let subscription = listen(&client, "bound.>").await.unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve(
            client.clone(),
            subscription,
            Arc::new(Semaphore::new(2)),
            shutdown.clone(),
            {
                let (running, most) = (running.clone(), most.clone());
                move |_, _| {
                    let (running, most) = (running.clone(), most.clone());
                    async move {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        json!({"ok": true})
                    }
                }
            },
        ));
        let answers = futures::future::join_all(
            (0..6).map(|i| client.request(format!("bound.{i}"), "{}".into())),
        )
        .await;
        for answer in answers {
            assert_eq!(answer.unwrap().payload.as_ref(), br#"{"ok":true}"#);
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        shutdown.trigger();
        server.await.unwrap();
    }
}
