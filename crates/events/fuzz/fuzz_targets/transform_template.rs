//! Fuzz target: an input transformer's template and the event it renders. The bytes up to
//! the first NUL are the template, the rest the event's JSON (a fixed event when it is not
//! JSON). Validation and rendering must never panic, and a rendered input is never larger
//! than `MAX_RENDERED_BYTES`: a template repeating a large value is refused, not built.
#![no_main]

use std::collections::BTreeMap;

use groundwork_events::transform::{
    InputTransformer, MAX_RENDERED_BYTES, RenderContext, TargetInput,
};
use libfuzzer_sys::fuzz_target;

const EVENT: &str = r#"{"version":"0","id":"1","detail-type":"T","source":"s","account":"1",
"time":"2024-01-01T00:00:00Z","region":"us-east-1","resources":["r"],
"detail":{"a":"x","n":5,"big":"0123456789012345678901234567890123456789","l":[1,{"b":null}]}}"#;

fuzz_target!(|data: &[u8]| {
    let (template, event) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(template) = std::str::from_utf8(template) else {
        return;
    };
    let event = serde_json::from_slice::<serde_json::Value>(event)
        .ok()
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::from_str(EVENT).unwrap_or_default());
    let paths: BTreeMap<String, String> = [
        ("d", "$.detail"),
        ("a", "$.detail.a"),
        ("big", "$.detail.big"),
        ("all", "$"),
        ("l", "$.detail.l[1].b"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let Ok(input) = TargetInput::validate(
        "t",
        None,
        None,
        Some(InputTransformer {
            input_paths_map: paths,
            input_template: template.to_owned(),
        }),
    ) else {
        return;
    };
    let ctx = RenderContext {
        rule_name: "r",
        rule_arn: "arn:aws:events:us-east-1:1:rule/r",
        ingestion_time: "2024-01-01T00:00:00Z",
    };
    if let Ok(out) = input.render(&event, &ctx) {
        assert!(
            out.len() <= MAX_RENDERED_BYTES,
            "{} bytes rendered",
            out.len()
        );
    }
});
