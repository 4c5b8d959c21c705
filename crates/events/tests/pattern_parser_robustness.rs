//! The pattern parser never panics: arbitrary JSON and arbitrary text are either rejected
//! with a reason or accepted and matchable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use groundwork_events::pattern::{EventPattern, RuleSet};
use proptest::prelude::*;
use serde_json::{Value, json};

const OPERATORS: &[&str] = &[
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "anything-but",
    "numeric",
    "cidr",
    "exists",
    "exact",
    "$or",
    "a",
    "b.c",
    "",
    "<",
    ">=",
    "=",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|n| json!(n)),
        prop::sample::select(OPERATORS).prop_map(|s| json!(s)),
        "[a-z*\\\\/.:0-9]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(OPERATORS), inner), 0..4).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn fixed_event() -> Value {
    json!({"a": "x", "b": {"c": [1, "10.0.0.1", null, {"d": true}]}, "prefix": "a*b"})
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(pattern in any_json()) {
        let text = pattern.to_string();
        if let Ok(p) = EventPattern::parse(&text) {
            let event = fixed_event();
            let single = p.matches(&event);
            let mut rules = RuleSet::new();
            rules.add_rule("r", &p);
            prop_assert_eq!(rules.matches(&event).len() == 1, single);
        } else if let Err(e) = EventPattern::parse(&text) {
            prop_assert!(e.to_string().starts_with("Event pattern is not valid. Reason: "));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        let _ = EventPattern::parse(&text);
        let rules = RuleSet::new();
        let _ = rules.matches_json(&text);
    }
}
