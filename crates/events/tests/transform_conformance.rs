//! Every case of `conformance/eventbridge/test_events_inputs.snapshot.json` (what AWS
//! delivered through `InputPath` and `InputTransformer`, and the PutTargets errors it
//! returned), run through the pure transformer.
//!
//! The snapshot records outputs; the inputs are those of the recording tests: the event of
//! `TEST_EVENT_PATTERN`/`EVENT_DETAIL`, the path maps below, and the template, which is the
//! parameter in the case's name. For `test_input_transformer_nested_keys_replacement` the
//! event detail and paths are reconstructed from the recorded outputs (`userId` is the
//! payload's `acc_id`, `listsingle`/`listmulti` are lists, `systemstring` selects nothing,
//! `valid` is `true`). Placeholders of the recording (`<uuid:2>`, `date`, `<region>`) are
//! used as the envelope's values so that outputs compare as recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use groundwork_events::transform::{InputTransformer, RenderContext, TargetInput};
use serde_json::{Value, json};

const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../conformance/eventbridge/test_events_inputs.snapshot.json"
);

fn event(id: &str, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "core.update-account-command",
        "source": "core.update-account-command",
        "account": "111111111111",
        "time": "date",
        "region": "<region>",
        "resources": [],
        "detail": detail,
    })
}

fn event_detail() -> Value {
    json!({"command": "update-account", "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"}})
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn transformer(paths: &[(&str, &str)], template: &str) -> InputTransformer {
    InputTransformer {
        input_paths_map: map(paths),
        input_template: template.to_owned(),
    }
}

/// What one recorded label expects from one target.
struct Delivery {
    label: &'static str,
    input: Result<TargetInput, String>,
    event: Value,
    ingestion_time: &'static str,
}

const MATCH_ALL: &[(&str, &str)] = &[
    ("detail-type", "$.detail-type"),
    ("timestamp", "$.time"),
    ("command", "$.detail.command"),
];
const NOT_MATCH_ALL: &[(&str, &str)] = &[
    ("detail-type", "$.detail-type"),
    ("timestamp", "$.time"),
    ("command", "$.detail.notinmessage"),
];

fn validate(
    input: Option<&str>,
    path: Option<&str>,
    t: Option<InputTransformer>,
) -> Result<TargetInput, String> {
    TargetInput::validate("<target-id>", input, path, t).map_err(|e| e.to_string())
}

fn path_case(label: &'static str, path: &str, detail: Value) -> Delivery {
    Delivery {
        label,
        input: validate(None, Some(path), None),
        event: event("<uuid:3>", detail),
        ingestion_time: "date",
    }
}

fn template_cases(template: &str) -> Vec<Delivery> {
    vec![
        Delivery {
            label: "custom-variables-match-all",
            input: validate(None, None, Some(transformer(MATCH_ALL, template))),
            event: event("<uuid:3>", event_detail()),
            ingestion_time: "date",
        },
        Delivery {
            label: "custom-variables-not-match-all",
            input: validate(None, None, Some(transformer(NOT_MATCH_ALL, template))),
            event: event("<uuid:3>", event_detail()),
            ingestion_time: "date",
        },
    ]
}

/// The template a parametrised case was recorded with: its name's parameter.
fn parameter(name: &str) -> Option<String> {
    let open = name.find('[')?;
    let inner = name.get(open + 1..name.len() - 1)?;
    Some(inner.replace("\\n", "\n"))
}

fn cases_for(name: &str) -> Vec<Delivery> {
    let test = name.rsplit("::").next().unwrap();
    let base = test.split('[').next().unwrap();
    match base {
        "test_put_events_with_input_path" => vec![path_case("message", "$.detail", event_detail())],
        "test_put_events_with_input_path_nested" => {
            let detail = if test.ends_with("[event_detail1]") {
                json!({"command": "update-account", "payload": {"acc_id": "0a787ecb-4015", "payload": {"message": "baz", "id": "123"}}})
            } else {
                event_detail()
            };
            vec![path_case("message", "$.detail.payload", detail)]
        }
        "test_put_events_with_input_path_max_level_depth" => {
            vec![path_case(
                "message",
                "$.detail.payload.sf_id",
                event_detail(),
            )]
        }
        "test_put_events_with_input_path_multiple_targets" => vec![
            path_case("message-queue-1", "$.detail", event_detail()),
            Delivery {
                label: "message-queue-2",
                input: validate(None, None, None),
                event: event("<uuid:3>", event_detail()),
                ingestion_time: "date",
            },
        ],
        "test_put_events_with_input_transformer_input_template_string" => {
            let template = parameter(test).unwrap_or_else(|| {
                "\"Event of <detail-type> type, at time <timestamp>, info extracted from detail <command>\"".to_owned()
            });
            template_cases(&template)
        }
        "test_put_events_with_input_transformer_input_template_json" => template_cases(
            r#"{"detailType": <detail-type>,  "time": <timestamp>, "command": <command>}"#,
        ),
        "test_put_events_with_input_transformer_missing_keys" => vec![Delivery {
            label: "missing-key-exception-error",
            input: validate(
                None,
                None,
                Some(transformer(
                    MATCH_ALL,
                    "\"Event of <detail-type> type, with not defined key <notdefinedkey>\"",
                )),
            ),
            event: event("<uuid:3>", event_detail()),
            ingestion_time: "date",
        }],
        "test_put_event_input_path_and_input_transformer" => vec![Delivery {
            label: "duplicated-input-operations-error",
            input: validate(
                None,
                Some("$.detail"),
                Some(transformer(
                    MATCH_ALL,
                    r#"{"detailType": <detail-type>,  "time": <timestamp>, "command": <command>}"#,
                )),
            ),
            event: event("<uuid:3>", event_detail()),
            ingestion_time: "date",
        }],
        "test_input_transformer_predefined_variables" => {
            let template = parameter(test).unwrap();
            // The recording replaced the ingestion time by `date` in text and by
            // `<ingestion-time>` inside `originalEvent`.
            let ingestion_time = if template.starts_with('{') {
                "<ingestion-time>"
            } else {
                "date"
            };
            vec![Delivery {
                label: "messages",
                input: validate(None, None, Some(transformer(&[], &template))),
                event: event("<uuid:2>", event_detail()),
                ingestion_time,
            }]
        }
        "test_input_transformer_nested_keys_replacement" => {
            let template = parameter(test).unwrap();
            let paths = [
                ("userId", "$.detail.payload.acc_id"),
                ("payload", "$.detail.payload"),
                ("listsingle", "$.detail.listsingle"),
                ("listmulti", "$.detail.listmulti"),
                ("systemstring", "$.detail.systemstring"),
                ("valid", "$.detail.valid"),
            ];
            let detail = json!({
                "command": "update-account",
                "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"},
                "listsingle": ["HIGH"],
                "listmulti": ["ACTIVE", "INACTIVE"],
                "valid": true,
            });
            vec![Delivery {
                label: "input-transformed-messages",
                input: validate(None, None, Some(transformer(&paths, &template))),
                event: event("<uuid:3>", detail),
                ingestion_time: "date",
            }]
        }
        other => panic!("recorded case {name} ({other}) has no definition in this test"),
    }
}

#[test]
fn every_recorded_input_transformation_produces_what_aws_delivered() {
    let snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(SNAPSHOT).expect("conformance data"))
            .unwrap();
    let cases = snapshot.as_object().unwrap();
    assert_eq!(cases.len(), 31, "the recorded suite changed");
    let mut checked = 0;
    for (name, case) in cases {
        let recorded = &case["recorded-content"];
        for delivery in cases_for(name) {
            let ctx = RenderContext {
                rule_name: "<rule-name>",
                rule_arn: "arn:<partition>:events:<region>:111111111111:rule/<bus-name>/<rule-name>",
                ingestion_time: delivery.ingestion_time,
            };
            let expected = recorded.get(delivery.label);
            match (&delivery.input, expected) {
                (Err(message), Some(expected)) => {
                    assert_eq!(
                        expected["Error"]["Message"].as_str(),
                        Some(message.as_str()),
                        "{name}"
                    );
                }
                (Err(message), None) => panic!("{name}: refused ({message}), AWS accepted it"),
                (Ok(input), None) => {
                    // AWS delivered nothing: the output is not valid.
                    let rendered = input.render(&delivery.event, &ctx);
                    assert!(
                        rendered.is_err(),
                        "{name}: AWS delivered nothing, we render {rendered:?}"
                    );
                }
                (Ok(input), Some(expected)) => {
                    let body = &expected[0]["Body"];
                    let rendered = input
                        .render(&delivery.event, &ctx)
                        .unwrap_or_else(|e| panic!("{name} / {}: {e}", delivery.label));
                    match body {
                        Value::String(text) => {
                            assert_eq!(&rendered, text, "{name} / {}", delivery.label)
                        }
                        other => {
                            let got: Value = serde_json::from_str(&rendered).unwrap_or_else(|e| {
                                panic!("{name}: output {rendered} is not JSON: {e}")
                            });
                            assert_eq!(&got, other, "{name} / {}", delivery.label);
                        }
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 31);
}
