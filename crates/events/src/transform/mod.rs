//! Target input: what a target receives for an event, as EventBridge computes it.
//!
//! A target gets the whole event, a constant (`Input`), the part of the event a JSON path
//! selects (`InputPath`), or the output of an input transformer (`InputTransformer`: up to
//! 100 variables taken from the event by JSON paths, placed into a template of up to 8,192
//! characters, plus the reserved `<aws.events.*>` variables).
//!
//! Layout:
//! - [`path`]: the JSON path subset EventBridge accepts (`$.a.b`, `$.a[0]`, `$`).
//! - [`template`]: placeholder substitution with EventBridge's quoting rules.
//! - [`error`]: validation errors with EventBridge's messages, and render errors.
//!
//! ```
//! use groundwork_events::transform::{InputTransformer, RenderContext, TargetInput};
//! use serde_json::json;
//!
//! let transformer = InputTransformer {
//!     input_paths_map: [("status".to_owned(), "$.detail.status".to_owned())].into(),
//!     input_template: r#"{"state": <status>}"#.to_owned(),
//! };
//! let input = TargetInput::validate("t1", None, None, Some(transformer)).unwrap();
//! let event = json!({"detail": {"status": "RUNNING"}});
//! let ctx = RenderContext { rule_name: "r", rule_arn: "arn", ingestion_time: "t" };
//! assert_eq!(input.render(&event, &ctx).unwrap(), r#"{"state": "RUNNING"}"#);
//! ```

mod error;
pub mod path;
pub mod template;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::{RenderError, TransformError};
pub use path::JsonPath;

/// Most variables an `InputPathsMap` may define.
pub const MAX_INPUT_PATHS: usize = 100;

/// Longest `InputTemplate`, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 8192;

/// Reserved variables, usable in any template without a path.
pub const RULE_NAME: &str = "aws.events.rule-name";
pub const RULE_ARN: &str = "aws.events.rule-arn";
pub const EVENT: &str = "aws.events.event";
pub const EVENT_JSON: &str = "aws.events.event.json";
pub const INGESTION_TIME: &str = "aws.events.event.ingestion-time";

const RESERVED: [&str; 5] = [RULE_NAME, RULE_ARN, EVENT, EVENT_JSON, INGESTION_TIME];

/// An input transformer as the API takes it (EventBridge's field names in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputTransformer {
    #[serde(default)]
    pub input_paths_map: BTreeMap<String, String>,
    pub input_template: String,
}

/// What a target receives, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetInput {
    /// The whole event.
    Event,
    /// A constant JSON text (`Input`).
    Constant(String),
    /// The part of the event a path selects (`InputPath`).
    Path(JsonPath),
    /// Variables from the event placed into a template (`InputTransformer`).
    Transformer {
        paths: BTreeMap<String, JsonPath>,
        template: String,
    },
}

/// What the reserved variables stand for, for one delivery.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    pub rule_name: &'a str,
    pub rule_arn: &'a str,
    /// When the event was ingested, in the envelope's time format.
    pub ingestion_time: &'a str,
}

impl TargetInput {
    /// Validates a target's input settings as PutTargets does; at most one may be given.
    pub fn validate(
        target_id: &str,
        input: Option<&str>,
        input_path: Option<&str>,
        transformer: Option<InputTransformer>,
    ) -> Result<Self, TransformError> {
        let given = usize::from(input.is_some())
            + usize::from(input_path.is_some())
            + usize::from(transformer.is_some());
        if given > 1 {
            return Err(TransformError::new(format!(
                "Only one of Input, InputPath, or InputTransformer must be provided for target {target_id}."
            )));
        }
        if let Some(input) = input {
            serde_json::from_str::<Value>(input).map_err(|_| {
                TransformError::new(format!("Input for target {target_id} is not valid JSON."))
            })?;
            return Ok(Self::Constant(input.to_owned()));
        }
        if let Some(path) = input_path {
            let path = JsonPath::parse(path).map_err(|reason| {
                TransformError::new(format!(
                    "InputPath for target {target_id} is not a valid JSON path: {reason}"
                ))
            })?;
            return Ok(Self::Path(path));
        }
        let Some(transformer) = transformer else {
            return Ok(Self::Event);
        };
        if transformer.input_paths_map.len() > MAX_INPUT_PATHS {
            return Err(TransformError::new(format!(
                "InputPathsMap for target {target_id} has {} variables; at most {MAX_INPUT_PATHS} are allowed.",
                transformer.input_paths_map.len()
            )));
        }
        if transformer.input_template.is_empty() {
            return Err(TransformError::new(format!(
                "InputTemplate for target {target_id} must not be empty."
            )));
        }
        if transformer.input_template.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(TransformError::new(format!(
                "InputTemplate for target {target_id} is longer than {MAX_TEMPLATE_CHARS} characters."
            )));
        }
        let mut paths = BTreeMap::new();
        for (name, path) in &transformer.input_paths_map {
            if name.starts_with("AWS") || name.starts_with("aws.") {
                return Err(TransformError::new(format!(
                    "InputPathsMap for target {target_id} contains invalid key {name}: keys can't start with AWS."
                )));
            }
            if !template::is_variable_name(name) {
                return Err(TransformError::new(format!(
                    "InputPathsMap for target {target_id} contains invalid key {name}."
                )));
            }
            let parsed = JsonPath::parse(path).map_err(|reason| {
                TransformError::new(format!(
                    "InputPathsMap for target {target_id} has an invalid JSON path for {name}: {reason}"
                ))
            })?;
            paths.insert(name.clone(), parsed);
        }
        for name in template::placeholders(&transformer.input_template) {
            if !paths.contains_key(name) && !RESERVED.contains(&name) {
                return Err(TransformError::new(format!(
                    "InputTemplate for target {target_id} contains invalid placeholder {name}."
                )));
            }
        }
        Ok(Self::Transformer {
            paths,
            template: transformer.input_template,
        })
    }

    /// The text the target receives for `event`.
    pub fn render(&self, event: &Value, ctx: &RenderContext<'_>) -> Result<String, RenderError> {
        match self {
            Self::Event => Ok(event.to_string()),
            Self::Constant(text) => Ok(text.clone()),
            Self::Path(path) => Ok(path
                .select(event)
                .map_or_else(String::new, Value::to_string)),
            Self::Transformer { paths, template } => {
                let lookup = |name: &str| -> Option<Value> {
                    if let Some(path) = paths.get(name) {
                        return path.select(event).cloned();
                    }
                    match name {
                        RULE_NAME => Some(Value::String(ctx.rule_name.to_owned())),
                        RULE_ARN => Some(Value::String(ctx.rule_arn.to_owned())),
                        INGESTION_TIME => Some(Value::String(ctx.ingestion_time.to_owned())),
                        EVENT => Some(event_metadata(event, ctx.ingestion_time)),
                        EVENT_JSON => Some(event.clone()),
                        _ => None,
                    }
                };
                template::render(template, &lookup, MAX_RENDERED_BYTES)
            }
        }
    }
}

/// The largest input a transformer may render: EventBridge's largest event (256 KiB). A
/// larger output is a delivery that cannot be made (dead-lettered with its reason), not a
/// string built in memory.
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;

/// `<aws.events.event>`: the envelope without `detail`, with `detailType` and the
/// ingestion time, in the order EventBridge writes it.
fn event_metadata(event: &Value, ingestion_time: &str) -> Value {
    let field = |name: &str| event.get(name).cloned().unwrap_or(Value::Null);
    let mut out = serde_json::Map::new();
    out.insert("id".into(), field("id"));
    out.insert("account".into(), field("account"));
    out.insert("detailType".into(), field("detail-type"));
    out.insert("time".into(), Value::String(ingestion_time.to_owned()));
    out.insert("source".into(), field("source"));
    out.insert("region".into(), field("region"));
    out.insert("resources".into(), field("resources"));
    out.insert("version".into(), field("version"));
    if let Some(replay) = event.get("replay-name") {
        out.insert("replayName".into(), replay.clone());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const CTX: RenderContext<'static> = RenderContext {
        rule_name: "r",
        rule_arn: "arn:aws:events:us-east-1:1:rule/r",
        ingestion_time: "2024-01-01T00:00:00Z",
    };

    #[test]
    fn only_one_input_kind_is_accepted() {
        let err = TargetInput::validate("t", Some("{}"), Some("$.a"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Only one of Input, InputPath, or InputTransformer must be provided for target t."
        );
    }

    #[test]
    fn unknown_placeholders_are_refused_and_reserved_ones_accepted() {
        let t = InputTransformer {
            input_paths_map: BTreeMap::new(),
            input_template: "\"<aws.events.rule-name> <nope>\"".into(),
        };
        let err = TargetInput::validate("t", None, None, Some(t)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "InputTemplate for target t contains invalid placeholder nope."
        );
    }

    #[test]
    fn too_many_variables_or_too_long_templates_are_refused() {
        let map = (0..101)
            .map(|i| (format!("v{i}"), "$.a".to_owned()))
            .collect();
        let t = InputTransformer {
            input_paths_map: map,
            input_template: "\"x\"".into(),
        };
        assert!(TargetInput::validate("t", None, None, Some(t)).is_err());
        let t = InputTransformer {
            input_paths_map: BTreeMap::new(),
            input_template: "x".repeat(MAX_TEMPLATE_CHARS + 1),
        };
        assert!(TargetInput::validate("t", None, None, Some(t)).is_err());
    }

    #[test]
    fn the_whole_event_a_constant_and_a_path() {
        let event = json!({"detail": {"a": [1, 2]}});
        assert_eq!(
            TargetInput::Event.render(&event, &CTX).unwrap(),
            event.to_string()
        );
        let c = TargetInput::validate("t", Some(r#"{"k": 1}"#), None, None).unwrap();
        assert_eq!(c.render(&event, &CTX).unwrap(), r#"{"k": 1}"#);
        let p = TargetInput::validate("t", None, Some("$.detail.a[1]"), None).unwrap();
        assert_eq!(p.render(&event, &CTX).unwrap(), "2");
    }
}
