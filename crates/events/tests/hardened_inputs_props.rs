//! The properties the fuzz targets in `fuzz/` check, as proptests bounded to a few seconds
//! so that they run with every `cargo test`: PutEvents entry validation, the NATS ingress
//! request, and the input transformer's template never panic; what PutEvents accepts can
//! be read by every later stage (finding 5 of issue 15); a rendered input stays bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use groundwork_events::envelope::{
    EntryErrorCode, Event, Origin, Producer, PutEventsEntry, PutEventsLimits, PutEventsRequest,
    validate_entry, validate_request,
};
use groundwork_events::limits::{MAX_DETAIL_DEPTH, json_depth};
use groundwork_events::transform::{
    InputTransformer, MAX_RENDERED_BYTES, RenderContext, TargetInput,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// JSON nested up to `depth` levels, from a small alphabet of keys and leaves.
fn nested_json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z<>\"\\\\/:{}\\[\\]]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 256, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(("[a-c]", inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// An object `depth` levels deep at its deepest, built around `inner`.
fn wrap(inner: Value, levels: usize) -> Value {
    (0..levels).fold(inner, |v, i| {
        if i % 2 == 0 {
            json!({ "k": v })
        } else {
            json!([v])
        }
    })
}

fn origin() -> Origin {
    Origin {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

fn entry(detail: String) -> PutEventsEntry {
    PutEventsEntry {
        source: Some("props".into()),
        detail_type: Some("Props".into()),
        detail: Some(detail),
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// An entry is accepted exactly when its detail is an object nested at most
    /// MAX_DETAIL_DEPTH deep; an accepted event reads back, also inside a delivery inside a
    /// dead letter.
    #[test]
    fn what_put_events_accepts_every_stage_reads(
        inner in nested_json(6),
        levels in 0usize..140,
    ) {
        let detail = json!({ "d": wrap(inner, levels) });
        let text = detail.to_string();
        let depth = json_depth(&text);
        match validate_entry(&entry(text.clone()), Producer::External) {
            Ok(valid) => {
                prop_assert!(depth <= MAX_DETAIL_DEPTH, "depth {} accepted", depth);
                let stored = valid.into_event(&origin(), time::OffsetDateTime::UNIX_EPOCH).to_json();
                let back: Event = serde_json::from_str(&stored).unwrap();
                prop_assert_eq!(back.to_json(), stored.clone());
                let wrapped = format!(r#"{{"letter":{{"delivery":{{"event":{stored}}}}}}}"#);
                prop_assert!(serde_json::from_str::<Value>(&wrapped).is_ok());
            }
            Err(e) => {
                prop_assert!(depth > MAX_DETAIL_DEPTH, "depth {} refused: {}", depth, e);
                prop_assert_eq!(e.code, EntryErrorCode::InvalidArgument);
            }
        }
    }

    /// Arbitrary entry fields never panic the validation.
    #[test]
    fn arbitrary_entries_never_panic(
        source in proptest::option::of("\\PC{0,300}"),
        detail_type in proptest::option::of("\\PC{0,140}"),
        detail in proptest::option::of("[{}\\[\\]\":a-z0-9, ]{0,64}"),
        bus in proptest::option::of("[a-z:/\\-0-9.]{0,40}"),
        resources in prop::collection::vec("\\PC{0,8}", 0..3),
        seconds in proptest::option::of(-377_705_116_800i64..253_402_300_800i64),
    ) {
        let entry = PutEventsEntry {
            source,
            detail_type,
            detail,
            event_bus_name: bus,
            resources,
            time: seconds.and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok()),
            ..Default::default()
        };
        if let Ok(valid) = validate_entry(&entry, Producer::External) {
            prop_assert!(valid.source.chars().count() <= 256);
            prop_assert!(valid.detail_type.chars().count() <= 128);
            let stored = valid.into_event(&origin(), time::OffsetDateTime::UNIX_EPOCH).to_json();
            prop_assert!(serde_json::from_str::<Event>(&stored).is_ok(), "{}", stored);
        }
    }

    /// The NATS ingress reads arbitrary bytes without panicking; a request it reads is
    /// checked as PutEvents checks it.
    #[test]
    fn arbitrary_ingress_requests_never_panic(
        body in prop_oneof![
            "\\PC{0,80}",
            prop::collection::vec(("[A-Za-z]{0,10}", "\\PC{0,12}"), 0..4).prop_map(|fields| {
                let entry: serde_json::Map<String, Value> =
                    fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
                json!({ "Entries": [entry] }).to_string()
            }),
        ],
    ) {
        match PutEventsRequest::from_json(body.as_bytes()) {
            Ok(request) => {
                if validate_request(&request.entries, &PutEventsLimits::default()).is_ok() {
                    for entry in &request.entries {
                        let _ = validate_entry(entry, Producer::External);
                    }
                }
            }
            Err(message) => prop_assert!(message.starts_with("the request is not a PutEvents request")),
        }
    }

    /// A transformer's template never panics and its output never passes the bound, even
    /// for templates that repeat the largest variable many times.
    #[test]
    fn templates_render_within_the_bound(
        template in "(<d>|<all>|<a>|<aws.events.event.json>|<aws.events.event>|<rule>|[\"a-z{}:,<> \\\\]){0,64}",
        repeat in 1usize..2000,
        size in 0usize..4096,
    ) {
        let event = json!({
            "version": "0", "id": "1", "detail-type": "T", "source": "s", "account": "1",
            "time": "2024-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
            "detail": { "a": "x".repeat(size), "n": 1 }
        });
        let paths: BTreeMap<String, String> = [("d", "$.detail"), ("a", "$.detail.a"), ("all", "$")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let template = if repeat > 1000 { "<d>".repeat(repeat) } else { template };
        let Ok(input) = TargetInput::validate(
            "t",
            None,
            None,
            Some(InputTransformer { input_paths_map: paths, input_template: template }),
        ) else {
            return Ok(());
        };
        let ctx = RenderContext {
            rule_name: "r",
            rule_arn: "arn:aws:events:us-east-1:1:rule/r",
            ingestion_time: "2024-01-01T00:00:00Z",
        };
        if let Ok(out) = input.render(&event, &ctx) {
            prop_assert!(out.len() <= MAX_RENDERED_BYTES);
        }
    }
}
