//! Fuzz target: arbitrary bytes as a NATS ingress request (`{"Entries": [...]}`), read with
//! the function the ingress uses, then checked as PutEvents checks it (request limits, then
//! each entry). Nothing may panic; a refused request has a message to answer with.
#![no_main]

use groundwork_events::envelope::{
    Producer, PutEventsLimits, PutEventsRequest, validate_entry, validate_request,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let request = match PutEventsRequest::from_json(data) {
        Ok(request) => request,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    if let Err(e) = validate_request(&request.entries, &PutEventsLimits::default()) {
        assert!(!e.to_string().is_empty());
        return;
    }
    for entry in &request.entries {
        if let Err(e) = validate_entry(entry, Producer::External) {
            assert!(!e.message.is_empty());
        }
    }
});
