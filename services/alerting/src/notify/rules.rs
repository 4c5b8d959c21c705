//! The rules alerting notifies for: event patterns in EventBridge's language, created on
//! the event bus at start-up (see [`bus_rules`](super::bus_rules)), which matches them.
//! Alarm state changes (to ALARM, and back to OK), budget thresholds crossed, and failed
//! setup steps. [`Rules`] parses them with the bus's own pattern engine, so a typo is
//! caught at start-up and in tests rather than by the bus.

use groundwork_events::pattern::{EventPattern, PatternError};

/// A rule: a name and its pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleDef {
    pub name: &'static str,
    pub description: &'static str,
    pub pattern: &'static str,
}

/// The rules alerting creates.
pub const RULES: &[RuleDef] = &[
    RuleDef {
        name: "groundwork-alerting-alarm-state",
        description: "CloudWatch alarms entering ALARM or returning to OK",
        pattern: r#"{"source":["aws.cloudwatch"],"detail-type":["CloudWatch Alarm State Change"],"detail":{"state":{"value":["ALARM","OK"]}}}"#,
    },
    RuleDef {
        name: "groundwork-alerting-budget-threshold",
        description: "Budget thresholds crossed",
        pattern: r#"{"source":["groundwork.budget"],"detail-type":["Budget Threshold Crossed"]}"#,
    },
    RuleDef {
        name: "groundwork-alerting-failed-step",
        description: "Setup steps that failed",
        pattern: r#"{"source":[{"prefix":"groundwork."}],"detail-type":[{"suffix":"Failed"}]}"#,
    },
];

/// The rules, parsed.
#[derive(Debug, Clone)]
pub struct Rules(Vec<(RuleDef, EventPattern)>);

impl Rules {
    pub fn standard() -> Result<Self, PatternError> {
        RULES
            .iter()
            .map(|r| EventPattern::parse(r.pattern).map(|p| (*r, p)))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The name of the first rule that matches the event.
    pub fn matching(&self, event: &serde_json::Value) -> Option<&'static str> {
        self.0
            .iter()
            .find(|(_, pattern)| pattern.matches(event))
            .map(|(def, _)| def.name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rules_match_what_they_are_for_and_nothing_else() {
        let rules = Rules::standard().unwrap();
        let alarm = |value: &str| {
            json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
                   "detail": {"state": {"value": value}}})
        };
        assert_eq!(
            rules.matching(&alarm("ALARM")),
            Some("groundwork-alerting-alarm-state")
        );
        assert_eq!(
            rules.matching(&alarm("OK")),
            Some("groundwork-alerting-alarm-state")
        );
        assert_eq!(rules.matching(&alarm("INSUFFICIENT_DATA")), None);
        assert!(
            rules
                .matching(&json!({"source": "groundwork.budget", "detail-type": "Budget Threshold Crossed", "detail": {}}))
                .is_some()
        );
        assert!(
            rules
                .matching(&json!({"source": "groundwork.orchestrator", "detail-type": "Step Failed", "detail": {}}))
                .is_some()
        );
        assert_eq!(
            rules.matching(&json!({"source": "groundwork.alerting", "detail-type": "Subscription Confirmed", "detail": {}})),
            None
        );
    }
}
