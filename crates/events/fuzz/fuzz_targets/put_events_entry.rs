//! Fuzz target: arbitrary bytes as one PutEvents entry (EventBridge's JSON field names), or,
//! when they are not one, as the `Detail` of an otherwise valid entry. Validation must never
//! panic, and what it accepts must be readable by every later stage: the stored event reads
//! back as the same event, and wrapped twice more (a delivery document, a dead letter) it
//! is still within serde_json's nesting limit.
#![no_main]

use groundwork_events::envelope::{
    Event, Origin, Producer, PutEventsEntry, entry_size, validate_entry,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let entry = match serde_json::from_slice::<PutEventsEntry>(data) {
        Ok(entry) => entry,
        Err(_) => PutEventsEntry {
            source: Some("fuzz".into()),
            detail_type: Some("Fuzz".into()),
            detail: Some(String::from_utf8_lossy(data).into_owned()),
            ..Default::default()
        },
    };
    let _ = entry_size(&entry);
    let Ok(valid) = validate_entry(&entry, Producer::External) else {
        return;
    };
    let origin = Origin {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let event = valid.into_event(&origin, time::OffsetDateTime::UNIX_EPOCH);
    let stored = event.to_json();
    let back: Event = serde_json::from_str(&stored).expect("an accepted event reads back");
    assert_eq!(back.to_json(), stored);
    let wrapped = format!(r#"{{"letter":{{"delivery":{{"event":{stored}}}}}}}"#);
    serde_json::from_str::<serde_json::Value>(&wrapped)
        .expect("an accepted event inside a delivery inside a dead letter reads back");
});
