//! The EventBridge event-pattern language.
//!
//! Layout:
//! - [`parse`](self::parse): pattern JSON → sub-patterns, with EventBridge's reason texts;
//! - `model`: sub-patterns, fields and matchers, and what one matcher says about one value;
//! - `numeric`, `cidr`, `wildcard`: the operators with their own grammar;
//! - `flatten`: events as leaves with their array memberships, including a byte scanner that
//!   reads only the fields the rules use;
//! - `reference`: the plain recursive interpreter behind [`EventPattern::matches`];
//! - [`RuleSet`] (`ruleset`, `trie`): many named rules compiled into per-path indexes.
//!
//! ```
//! use groundwork_events::pattern::{EventPattern, RuleSet};
//!
//! let pattern = EventPattern::parse(r#"{"source": [{"prefix": "aws."}]}"#).unwrap();
//! assert!(pattern.matches_json(r#"{"source": "aws.ec2"}"#).unwrap());
//!
//! let mut rules = RuleSet::new();
//! rules.add_rule("ec2", &pattern);
//! assert_eq!(rules.matches_json(r#"{"source": "aws.ec2"}"#).unwrap(), vec!["ec2"]);
//! ```

mod cidr;
mod error;
mod flatten;
mod fxhash;
mod model;
mod numeric;
mod parse;
mod reference;
mod ruleset;
mod trie;
mod wildcard;

use serde_json::Value;

pub use error::{EventError, MatchError, PatternError};
pub use parse::PatternLimits;
pub use ruleset::RuleSet;

use model::SubPattern;

/// A validated event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPattern {
    source: String,
    subs: Vec<SubPattern>,
}

impl EventPattern {
    /// Parses and validates a pattern with EventBridge's limits.
    pub fn parse(pattern_json: &str) -> Result<Self, PatternError> {
        Self::parse_with_limits(pattern_json, &PatternLimits::default())
    }

    /// Parses and validates a pattern with the given limits.
    pub fn parse_with_limits(
        pattern_json: &str,
        limits: &PatternLimits,
    ) -> Result<Self, PatternError> {
        let subs = parse::parse(pattern_json, limits)?;
        Ok(Self {
            source: pattern_json.to_owned(),
            subs,
        })
    }

    /// The pattern text as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// How many `$or` combinations the pattern expands into.
    pub fn combinations(&self) -> usize {
        self.subs.len()
    }

    pub(crate) fn sub_patterns(&self) -> &[SubPattern] {
        &self.subs
    }

    /// Whether a decoded event matches. An event that is not an object matches nothing.
    pub fn matches(&self, event: &Value) -> bool {
        event.is_object() && reference::matches(&self.subs, event)
    }

    /// Whether an event given as JSON text matches; the text must be a JSON object.
    pub fn matches_json(&self, event_json: &str) -> Result<bool, EventError> {
        let event = parse_event(event_json)?;
        Ok(reference::matches(&self.subs, &event))
    }
}

impl std::fmt::Display for EventPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for EventPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn parse_event(event_json: &str) -> Result<Value, EventError> {
    let event: Value =
        serde_json::from_str(event_json).map_err(|e| EventError::InvalidJson(e.to_string()))?;
    if !event.is_object() {
        return Err(EventError::NotAnObject);
    }
    Ok(event)
}

/// Parses a pattern and an event and tells whether they match (EventBridge's
/// `TestEventPattern`).
pub fn matches(pattern_json: &str, event_json: &str) -> Result<bool, MatchError> {
    let pattern = EventPattern::parse(pattern_json)?;
    Ok(pattern.matches_json(event_json)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn free_function_reports_both_sides() {
        assert!(matches(r#"{"a":["x"]}"#, r#"{"a":"x"}"#).unwrap());
        assert!(matches!(
            matches(r#"{"a":"x"}"#, "{}"),
            Err(MatchError::Pattern(_))
        ));
        assert_eq!(
            matches(r#"{"a":["x"]}"#, "[1]").unwrap_err(),
            MatchError::Event(EventError::NotAnObject)
        );
        assert!(matches!(
            matches(r#"{"a":["x"]}"#, "nope"),
            Err(MatchError::Event(EventError::InvalidJson(_)))
        ));
    }
}
