//! Names of subjects, streams, consumers and KV buckets. Nothing else builds them: call
//! sites use these functions so that the NATS layout (docs/ARCHITECTURE.md) lives in one place.
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

/// Subject prefix through which Groundwork's services emit their own events; the
/// emitting service and the bus follow (`groundwork.events.emit.<service>.<bus>`). NATS
/// lets each service publish only under its own name, so the event bus knows who sent an
/// event and stores only the sources that service owns.
pub const EMIT_PREFIX: &str = "groundwork.events.emit";

/// Subscription that receives every service's emits for every bus.
pub const EMIT_ALL: &str = "groundwork.events.emit.*.*";

/// Queue group shared by eventbus replicas on the ingress subject.
pub const INGRESS_QUEUE: &str = "eventbus";

/// Stream of deliveries to make: one message per (event, rule, target).
pub const TARGETS_STREAM: &str = "TARGETS";

/// KV bucket of rules and targets, per bus.
pub const RULES_BUCKET: &str = "eventbus-rules";

/// KV bucket of orchestrator run state.
pub const RUNS_BUCKET: &str = "orchestrator-runs";

/// KV bucket of the orchestrator's run leases (which replica drives a run, its fencing
/// token, until when) and the nudges that make the driving replica act at once.
pub const RUN_LEASES_BUCKET: &str = "orchestrator-run-leases";

/// KV bucket of the one-time secrets that wait for a person, each sealed with a key that
/// is not in NATS (AES-256-GCM); one key per secret, no history.
pub const ONE_TIME_SECRETS_BUCKET: &str = "orchestrator-one-time-secrets";

/// KV bucket of the budget watcher: managed budgets, threshold crossings already
/// published (per budget, period and threshold), and the watcher's leadership lease.
pub const BUDGET_WATCH_BUCKET: &str = "budget-watch";

/// KV bucket of what the alerting watchers saw last (alarm states, subscription
/// confirmations), changed only by compare-and-set so that a transition is published once.
pub const ALERTING_WATCH_BUCKET: &str = "alerting-watch";

/// Durable consumer through which alerting reads the deliveries it notifies about.
pub const ALERTING_NOTIFIER_CONSUMER: &str = "alerting-notifier";

/// The NATS-subject target of alerting's rules (`nats:alerting.notify`): deliveries
/// arrive on `deliver_subject(ALERTING_NOTIFY_TARGET)` in the `DELIVERIES` stream.
pub const ALERTING_NOTIFY_TARGET: &str = "alerting.notify";

/// Durable consumer through which the orchestrator reads the events that finish its
/// waiting steps.
pub const ORCHESTRATOR_RESUME_CONSUMER: &str = "orchestrator-resume";

/// The NATS-subject target of the orchestrator's resume rule (`nats:orchestrator.resume`):
/// deliveries arrive on `deliver_subject(ORCHESTRATOR_RESUME_TARGET)` in the `DELIVERIES`
/// stream.
pub const ORCHESTRATOR_RESUME_TARGET: &str = "orchestrator.resume";

/// KV bucket of the identity service's guardrails: per group, whether the kill switch
/// engaged it, by which event and since when, and who released it and why.
pub const IDENTITY_GUARDRAILS_BUCKET: &str = "identity-guardrails";

/// Durable consumer through which the identity service reads the kill switch's deliveries.
pub const IDENTITY_KILL_SWITCH_CONSUMER: &str = "identity-kill-switch";

/// The NATS-subject target of the kill switch's rule (`nats:identity.kill-switch`):
/// deliveries arrive on `deliver_subject(IDENTITY_KILL_SWITCH_TARGET)` in the `DELIVERIES`
/// stream.
pub const IDENTITY_KILL_SWITCH_TARGET: &str = "identity.kill-switch";

/// The ARN of a NATS-subject target (`nats:<name>`), as rules name it.
pub fn nats_target_arn(name: &str) -> String {
    format!("nats:{name}")
}

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

/// The subject through which `service` emits its own events onto `bus`.
pub fn emit_subject(service: &str, bus: &str) -> String {
    format!("{EMIT_PREFIX}.{service}.{}", escape_token(bus))
}

/// The service and the bus named by an emit subject.
pub fn parse_emit_subject(subject: &str) -> Option<(String, String)> {
    let rest = subject.strip_prefix(EMIT_PREFIX)?.strip_prefix('.')?;
    let (service, token) = rest.split_once('.')?;
    if service.is_empty() || token.contains('.') {
        return None;
    }
    Some((service.to_owned(), unescape_token(token)?))
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

/// The bus of a `TARGETS` subject (`groundwork.targets.<bus>`).
pub fn bus_from_targets_subject(subject: &str) -> Option<String> {
    let token = subject.strip_prefix(TARGETS_PREFIX)?.strip_prefix('.')?;
    unescape_token(token)
}

/// The subject a bus's dead letters are stored under.
pub fn dlq_subject(bus: &str) -> String {
    format!("{ROOT}.dlq.{}", escape_token(bus))
}

/// Subject prefix of deliveries in the `TARGETS` stream; the bus follows.
pub const TARGETS_PREFIX: &str = "groundwork.targets";

/// Every subject of the `TARGETS` stream.
pub const TARGETS_ALL: &str = "groundwork.targets.>";

/// The subject of a bus's deliveries in the `TARGETS` stream.
pub fn targets_subject(bus: &str) -> String {
    format!("{TARGETS_PREFIX}.{}", escape_token(bus))
}

/// Stream holding what NATS-subject targets received, so a slow reader loses nothing.
pub const DELIVERIES_STREAM: &str = "DELIVERIES";

/// Subject prefix of NATS-subject targets: a target `nats:orders.created` receives on
/// `groundwork.deliver.orders.created`.
pub const DELIVER_PREFIX: &str = "groundwork.deliver";

/// Every subject of the `DELIVERIES` stream.
pub const DELIVER_ALL: &str = "groundwork.deliver.>";

/// The subject a NATS-subject target receives on; `name` is one or more dot-separated
/// tokens (checked by [`is_valid_deliver_name`]).
pub fn deliver_subject(name: &str) -> String {
    format!("{DELIVER_PREFIX}.{name}")
}

/// Whether `name` can follow `groundwork.deliver.`: dot-separated non-empty tokens without
/// wildcards or whitespace.
pub fn is_valid_deliver_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'*' && b != b'>')
        })
}

/// Durable consumer of a bus stream that routes its events (shared by replicas).
pub const ROUTER_CONSUMER: &str = "router";

/// Durable consumer of the `TARGETS` stream that makes the deliveries (shared by replicas).
pub const DELIVERY_CONSUMER: &str = "deliverer";

/// KV key of a bus in [`RULES_BUCKET`].
pub fn bus_key(bus: &str) -> String {
    format!("bus.{}", escape_token(bus))
}

/// KV key of a rule (with its targets) in [`RULES_BUCKET`].
pub fn rule_key(bus: &str, rule: &str) -> String {
    format!("rule.{}.{}", escape_token(bus), escape_token(rule))
}

/// KV key in [`RULES_BUCKET`] of the names of a bus's rules, the one record that rule
/// creations on every replica change by compare-and-set, so the per-bus limit holds.
/// [`parse_rules_key`] does not read it: it names no rule.
pub fn rule_quota_key(bus: &str) -> String {
    format!("quota.rules.{}", escape_token(bus))
}

/// KV key in [`RULES_BUCKET`] of the names of the buses, for the limit on buses (as
/// [`rule_quota_key`] for rules).
pub const BUS_QUOTA_KEY: &str = "quota.buses";

/// KV key of an archive in [`RULES_BUCKET`].
pub fn archive_key(name: &str) -> String {
    format!("archive.{}", escape_token(name))
}

/// KV key of a replay in [`RULES_BUCKET`].
pub fn replay_key(name: &str) -> String {
    format!("replay.{}", escape_token(name))
}

/// What a key of [`RULES_BUCKET`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesKey {
    Bus(String),
    Rule { bus: String, rule: String },
    Archive(String),
    Replay(String),
}

/// Reads a key of [`RULES_BUCKET`]; `None` for keys this layout does not write.
pub fn parse_rules_key(key: &str) -> Option<RulesKey> {
    let mut parts = key.split('.');
    let kind = parts.next()?;
    let first = unescape_token(parts.next()?)?;
    let second = parts.next().map(unescape_token);
    if parts.next().is_some() {
        return None;
    }
    match (kind, second) {
        ("bus", None) => Some(RulesKey::Bus(first)),
        ("rule", Some(Some(rule))) => Some(RulesKey::Rule { bus: first, rule }),
        ("archive", None) => Some(RulesKey::Archive(first)),
        ("replay", None) => Some(RulesKey::Replay(first)),
        _ => None,
    }
}

/// Header of a delivery: the id of the event it carries.
pub const EVENT_ID_HEADER: &str = "Groundwork-Event-Id";

/// Header of a delivery: the ARN of the rule that matched.
pub const RULE_ARN_HEADER: &str = "Groundwork-Rule-Arn";

/// Header of a delivery: the replay that produced it, if any.
pub const REPLAY_NAME_HEADER: &str = "Groundwork-Replay-Name";

/// Dead-letter headers, EventBridge's DLQ message attributes.
pub mod dlq_headers {
    pub const RULE_ARN: &str = "RULE_ARN";
    pub const TARGET_ARN: &str = "TARGET_ARN";
    pub const ERROR_CODE: &str = "ERROR_CODE";
    pub const ERROR_MESSAGE: &str = "ERROR_MESSAGE";
    pub const EXHAUSTED_RETRY_CONDITION: &str = "EXHAUSTED_RETRY_CONDITION";
    pub const RETRY_ATTEMPTS: &str = "RETRY_ATTEMPTS";
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

    #[test]
    fn rules_bucket_keys_round_trip() {
        assert_eq!(
            parse_rules_key(&rule_key("orders.v1", "my.rule_1")),
            Some(RulesKey::Rule {
                bus: "orders.v1".into(),
                rule: "my.rule_1".into()
            })
        );
        assert_eq!(
            parse_rules_key(&bus_key("team/a")),
            Some(RulesKey::Bus("team/a".into()))
        );
        assert_eq!(
            parse_rules_key(&archive_key("a.b")),
            Some(RulesKey::Archive("a.b".into()))
        );
        assert_eq!(
            parse_rules_key(&replay_key("r")),
            Some(RulesKey::Replay("r".into()))
        );
        assert_eq!(parse_rules_key("other.x"), None);
        assert_eq!(targets_subject("a.b"), "groundwork.targets.a_2Eb");
    }

    #[test]
    fn deliver_names_are_subject_tokens() {
        assert!(is_valid_deliver_name("orders.created"));
        assert!(!is_valid_deliver_name("orders..created"));
        assert!(!is_valid_deliver_name("orders.*"));
        assert!(!is_valid_deliver_name("a b"));
        assert_eq!(deliver_subject("x.y"), "groundwork.deliver.x.y");
    }
}
