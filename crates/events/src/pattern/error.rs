//! The errors of the pattern engine: an invalid pattern (with EventBridge's reason text) and
//! an event that cannot be matched because it is not a JSON object.

use thiserror::Error;

/// An event pattern that EventBridge would reject.
///
/// `Display` is exactly EventBridge's `InvalidEventPatternException` message, so callers can
/// pass it through to clients unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Event pattern is not valid. Reason: {reason}")]
pub struct PatternError {
    reason: String,
}

impl PatternError {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// The reason alone, as AWS words it (the text after `Reason: `).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// An event that cannot be matched at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    /// The event text is not valid JSON.
    #[error("event is not valid JSON: {0}")]
    InvalidJson(String),
    /// The event is valid JSON but not an object (EventBridge: `Parameter Event is not valid.`).
    #[error("event must be a JSON object")]
    NotAnObject,
}

/// The failure of the free function [`crate::pattern::matches`], which parses both sides.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MatchError {
    /// The pattern was rejected.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// The event was rejected.
    #[error(transparent)]
    Event(#[from] EventError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_eventbridge_message() {
        let e = PatternError::new("Empty arrays are not allowed");
        assert_eq!(
            e.to_string(),
            "Event pattern is not valid. Reason: Empty arrays are not allowed"
        );
        assert_eq!(e.reason(), "Empty arrays are not allowed");
    }
}
