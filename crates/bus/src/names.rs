//! Names of subjects, streams, consumers and KV buckets. Nothing else builds them: call
//! sites use these functions so that the NATS layout of DESIGN.md lives in one place.
//!
//! Bus names may hold `.` and `/` (EventBridge allows both), which NATS does not allow in
//! stream names and which would split a subject token, so a bus name is escaped into a
//! single token: letters, digits and `-` stay; `_` becomes `__`; any other byte `_XX`.

/// Prefix of every Groundwork subject.
pub const ROOT: &str = "groundwork";

/// Subject prefix of the PutEvents ingress; the bus follows.
pub const INGRESS_PREFIX: &str = "groundwork.events.put";

/// Subscription that receives PutEvents for every bus.
pub const INGRESS_ALL: &str = "groundwork.events.put.>";

/// Queue group shared by eventbus replicas on the ingress subject.
pub const INGRESS_QUEUE: &str = "eventbus";

/// Stream of deliveries to make: one message per (event, rule, target).
pub const TARGETS_STREAM: &str = "TARGETS";

/// KV bucket of rules and targets, per bus.
pub const RULES_BUCKET: &str = "eventbus-rules";

/// KV bucket of orchestrator run state.
pub const RUNS_BUCKET: &str = "orchestrator-runs";

/// Escapes a bus name into one NATS token that is also valid in a stream name.
pub fn escape_token(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => out.push(char::from(b)),
            b'_' => out.push_str("__"),
            other => out.push_str(&format!("_{other:02X}")),
        }
    }
    out
}

/// Reverses [`escape_token`]; `None` for text that no bus name escapes to.
pub fn unescape_token(token: &str) -> Option<String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            if bytes.get(i + 1) == Some(&b'_') {
                out.push(b'_');
                i += 2;
            } else {
                let hex = token.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The ingress subject producers send PutEvents requests to.
pub fn ingress_subject(bus: &str) -> String {
    format!("{INGRESS_PREFIX}.{}", escape_token(bus))
}

/// The bus named by an ingress subject.
pub fn bus_from_ingress_subject(subject: &str) -> Option<String> {
    let token = subject.strip_prefix(INGRESS_PREFIX)?.strip_prefix('.')?;
    if token.contains('.') {
        return None;
    }
    unescape_token(token)
}

/// The stream holding a bus's accepted events (also its archive).
pub fn events_stream(bus: &str) -> String {
    format!("EVENTS_{}", escape_token(bus))
}

/// The subject a bus's accepted events are stored under.
pub fn events_subject(bus: &str) -> String {
    format!("{ROOT}.bus.{}", escape_token(bus))
}

/// The stream holding a bus's dead letters.
pub fn dlq_stream(bus: &str) -> String {
    format!("DLQ_{}", escape_token(bus))
}

/// The subject a bus's dead letters are stored under.
pub fn dlq_subject(bus: &str) -> String {
    format!("{ROOT}.dlq.{}", escape_token(bus))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bus_names_escape_to_valid_tokens_and_back() {
        for name in ["default", "orders.v1", "team/app_bus", "a-b", "_", "x.y/z_"] {
            let token = escape_token(name);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{token}"
            );
            assert_eq!(unescape_token(&token).unwrap(), name);
        }
        assert_eq!(events_stream("default"), "EVENTS_default");
        assert_eq!(events_stream("orders.v1"), "EVENTS_orders_2Ev1");
        // Distinct names never share a stream.
        assert_ne!(escape_token("a_2E"), escape_token("a.")); // "a__2E" vs "a_2E"
    }

    #[test]
    fn ingress_subject_round_trips() {
        let subject = ingress_subject("orders.v1");
        assert_eq!(subject, "groundwork.events.put.orders_2Ev1");
        assert_eq!(
            bus_from_ingress_subject(&subject).as_deref(),
            Some("orders.v1")
        );
        assert_eq!(bus_from_ingress_subject("groundwork.events.put.a.b"), None);
        assert_eq!(bus_from_ingress_subject("other.subject"), None);
    }
}
