//! The NATS ingress: producers in any language send a PutEvents request as JSON
//! (`{"Entries": [...]}`, EventBridge's field names) to `groundwork.events.put.<bus>` and
//! get the PutEvents result as JSON in the reply. A request refused as a whole is answered
//! `{"Error": {"Code": "ValidationException", "Message": …}}`, as EventBridge's HTTP API does.

use futures::StreamExt;
use groundwork_bus::names;
use groundwork_events::envelope::{Producer, PutEventsRequest};
use groundwork_kit::Shutdown;
use serde_json::json;

use crate::error::{Error, ErrorKind, VALIDATION};
use crate::put_events::Ingest;

/// Serves the ingress subject (subscribed with [`listen`]) until shutdown.
pub async fn run(
    client: async_nats::Client,
    subscription: async_nats::Subscriber,
    ingest: Ingest,
    shutdown: Shutdown,
) {
    serve(client, subscription, shutdown, move |subject, payload| {
        let ingest = ingest.clone();
        async move { handle(&ingest, &subject, &payload).await }
    })
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

/// Answers the requests of `subscription` until shutdown, each with `handler`'s JSON.
pub async fn serve<F, Fut>(
    client: async_nats::Client,
    mut subscription: async_nats::Subscriber,
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
        let answer = handler(message.subject.to_string(), message.payload);
        let client = client.clone();
        tokio::spawn(async move {
            let answer = answer.await;
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
