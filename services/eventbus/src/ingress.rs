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

/// Serves the ingress subject until shutdown; replicas share the work through a queue group.
pub async fn run(
    client: async_nats::Client,
    ingest: Ingest,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let mut subscription = client
        .queue_subscribe(names::INGRESS_ALL, names::INGRESS_QUEUE.to_owned())
        .await
        .map_err(|e| {
            Error::unavailable(format!("cannot subscribe to {}: {e}", names::INGRESS_ALL))
        })?;
    tracing::info!(subject = names::INGRESS_ALL, "NATS ingress listening");
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
        let ingest = ingest.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let answer = handle(&ingest, message.subject.as_str(), &message.payload).await;
            if let Err(e) = client.publish(reply, answer.to_string().into()).await {
                tracing::warn!(error = %e, "cannot answer an ingress request");
            }
        });
    }
    let _ = subscription.unsubscribe().await;
    Ok(())
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
