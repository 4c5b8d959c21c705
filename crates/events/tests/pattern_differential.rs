//! Differential property test: the compiled `RuleSet` must agree with the reference
//! interpreter (`EventPattern::matches`) on generated patterns and events, through both the
//! decoded-event path and the JSON-text scanner.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use groundwork_events::pattern::{EventPattern, RuleSet};
use proptest::prelude::*;
use serde_json::{Value, json};

const KEYS: &[&str] = &["a", "b", "c"];
const STRINGS: &[&str] = &[
    "x", "X", "xy", "yx", "Xy", "", "10.0.0.1", "10.0.1.7", "a.b", "*",
];
const NUMBERS: &[f64] = &[0.0, 1.0, 1.5, -2.0, 100.0, 1e9];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(STRINGS).prop_map(|s| json!(s)),
        prop::sample::select(NUMBERS).prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

/// Events over a tiny vocabulary, with arrays of objects so array consistency matters.
fn event_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..4).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(KEYS), event_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn string_list() -> impl Strategy<Value = Value> {
    prop::collection::vec(prop::sample::select(&STRINGS[..5]), 1..3).prop_map(|v| json!(v))
}

fn matcher() -> impl Strategy<Value = Value> {
    let s = || prop::sample::select(STRINGS);
    let nonempty = || prop::sample::select(&STRINGS[..5]);
    let wild = || prop::sample::select(&["x*", "*y", "*", "x*y", "", "*.*", "\\*"][..]);
    prop_oneof![
        scalar(),
        s().prop_map(|v| json!({"prefix": v})),
        s().prop_map(|v| json!({"suffix": v})),
        s().prop_map(|v| json!({"prefix": {"equals-ignore-case": v}})),
        s().prop_map(|v| json!({"suffix": {"equals-ignore-case": v}})),
        s().prop_map(|v| json!({"equals-ignore-case": v})),
        wild().prop_map(|v| json!({"wildcard": v})),
        s().prop_map(|v| json!({"anything-but": v})),
        string_list().prop_map(|v| json!({"anything-but": v})),
        prop::sample::select(NUMBERS).prop_map(|v| json!({"anything-but": v})),
        prop::sample::select(NUMBERS).prop_map(|v| json!({"anything-but": [v, 5]})),
        nonempty().prop_map(|v| json!({"anything-but": {"prefix": v}})),
        string_list().prop_map(|v| json!({"anything-but": {"suffix": v}})),
        string_list().prop_map(|v| json!({"anything-but": {"equals-ignore-case": v}})),
        wild().prop_map(|v| json!({"anything-but": {"wildcard": v}})),
        prop::sample::select(NUMBERS).prop_map(|v| json!({"numeric": [">=", v]})),
        prop::sample::select(NUMBERS).prop_map(|v| json!({"numeric": ["<", v]})),
        prop::sample::select(NUMBERS).prop_map(|v| json!({"numeric": ["=", v]})),
        Just(json!({"numeric": [">", -5, "<=", 1.5]})),
        Just(json!({"cidr": "10.0.0.0/24"})),
        any::<bool>().prop_map(|b| json!({"exists": b})),
    ]
}

/// A path of one to three keys, written either nested or dotted.
fn field() -> impl Strategy<Value = (Vec<&'static str>, bool, Vec<Value>)> {
    (
        prop::collection::vec(prop::sample::select(KEYS), 1..4),
        any::<bool>(),
        prop::collection::vec(matcher(), 1..4),
    )
}

fn insert(
    obj: &mut serde_json::Map<String, Value>,
    path: &[&str],
    dotted: bool,
    matchers: Vec<Value>,
) {
    if dotted || path.len() == 1 {
        obj.insert(path.join("."), Value::Array(matchers));
        return;
    }
    let child = obj.entry(path[0].to_owned()).or_insert_with(|| json!({}));
    if !child.is_object() {
        *child = json!({});
    }
    if let Value::Object(m) = child {
        insert(m, &path[1..], dotted, matchers);
    }
}

fn pattern() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(field(), 1..4),
        prop::option::of(prop::collection::vec(
            prop::collection::vec(field(), 1..3),
            2..4,
        )),
    )
        .prop_map(|(fields, or)| {
            let mut obj = serde_json::Map::new();
            for (path, dotted, m) in fields {
                insert(&mut obj, &path, dotted, m);
            }
            if let Some(branches) = or {
                let branches: Vec<Value> = branches
                    .into_iter()
                    .map(|fs| {
                        let mut b = serde_json::Map::new();
                        for (path, dotted, m) in fs {
                            insert(&mut b, &path, dotted, m);
                        }
                        Value::Object(b)
                    })
                    .collect();
                obj.insert("$or".to_owned(), Value::Array(branches));
            }
            Value::Object(obj).to_string()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn ruleset_agrees_with_reference(
        patterns in prop::collection::vec(pattern(), 1..6),
        events in prop::collection::vec(event(), 1..6),
    ) {
        let mut rules = RuleSet::new();
        let mut parsed = Vec::new();
        for (i, text) in patterns.iter().enumerate() {
            // Some generated patterns are invalid (e.g. nested paths clashing); skip those.
            if let Ok(p) = EventPattern::parse(text) {
                let name = format!("r{i}");
                rules.add_rule(name.clone(), &p);
                parsed.push((name, p));
            }
        }
        for ev in &events {
            let want: Vec<String> = parsed
                .iter()
                .filter(|(_, p)| p.matches(ev))
                .map(|(n, _)| n.clone())
                .collect();
            prop_assert_eq!(&rules.matches(ev), &want, "event {}", ev);
            prop_assert_eq!(&rules.matches_json(&ev.to_string()).unwrap(), &want, "event {}", ev);
        }
        // Removing a rule must leave the others' answers unchanged.
        if let Some((name, _)) = parsed.first().cloned() {
            rules.remove_rule(&name);
            for ev in &events {
                let want: Vec<String> = parsed[1..]
                    .iter()
                    .filter(|(_, p)| p.matches(ev))
                    .map(|(n, _)| n.clone())
                    .collect();
                prop_assert_eq!(&rules.matches(ev), &want);
            }
        }
    }
}
