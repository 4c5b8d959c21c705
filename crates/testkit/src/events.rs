//! Reading what a bus stream holds, as tests check it.

use async_nats::jetstream;

use crate::TestkitError;

/// Every event stored on `stream` (a bus stream, `EVENTS_<bus>`), in order, as JSON
/// values: each message's events one by one (see `groundwork_bus::publish`), the audit
/// trail's included. Empty when the stream does not exist; a text that is not JSON is an
/// error, as the bus never stores one.
pub async fn stored(
    js: &jetstream::Context,
    stream: &str,
) -> Result<Vec<serde_json::Value>, TestkitError> {
    let name = stream;
    let Ok(mut stream) = js.get_stream(name).await else {
        return Ok(Vec::new());
    };
    let Ok(last) = stream.info().await.map(|i| i.state.last_sequence) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for seq in 1..=last {
        // A sequence may be gone (retention, a deleted message).
        let Ok(message) = stream.get_raw_message(seq).await else {
            continue;
        };
        for text in groundwork_bus::publish::stored_events(&message.payload) {
            let event = serde_json::from_slice(&text).map_err(|e| TestkitError::NotAnEvent {
                stream: name.to_owned(),
                sequence: seq,
                reason: format!("{e}: {}", String::from_utf8_lossy(&text)),
            })?;
            out.push(event);
        }
    }
    Ok(out)
}

/// [`stored`], without the audit trail's API calls (tested on their own, in the e2e crate).
pub async fn stored_without_audit(
    js: &jetstream::Context,
    stream: &str,
) -> Result<Vec<serde_json::Value>, TestkitError> {
    let mut events = stored(js, stream).await?;
    events.retain(|e| e["source"] != "groundwork.audit");
    Ok(events)
}
