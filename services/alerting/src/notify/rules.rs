//! The rules alerting notifies for: event patterns in EventBridge's language, created on
//! the event bus at start-up (see [`bus_rules`](super::bus_rules)), which matches them.
//! Alarm state changes (to ALARM, and back to OK), budget thresholds crossed, failed
//! setup steps, and alerting's own test notifications. Each rule also says what Slack
//! receives for its events: an input transformer, rendered by the event bus (as
//! [`Notification`](super::format::Notification) says it for SNS). [`Rules`] parses the
//! patterns with the bus's own pattern engine, so a typo is caught at start-up and in
//! tests rather than by the bus.

use groundwork_events::pattern::{EventPattern, PatternError};

/// A rule: a name, its pattern, and what its events become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleDef {
    pub name: &'static str,
    pub description: &'static str,
    pub pattern: &'static str,
    /// Whether alerting receives the events itself (its NATS-subject target), to publish
    /// them to SNS. Test notifications go to SNS from the call that sends them.
    pub sns: bool,
    /// Slack's body: the transformer's variables (name, JSON path) and its template.
    pub slack_paths: &'static [(&'static str, &'static str)],
    pub slack_template: &'static str,
}

/// The detail-type of a test notification (source `groundwork.alerting`).
pub const TEST_NOTIFICATION: &str =
    <groundwork_events::catalog::TestNotification as groundwork_events::catalog::CatalogEvent>::DETAIL_TYPE;

/// The rules alerting creates.
pub const RULES: &[RuleDef] = &[
    RuleDef {
        name: "groundwork-alerting-alarm-state",
        description: "CloudWatch alarms entering ALARM or returning to OK",
        pattern: r#"{"source":["aws.cloudwatch"],"detail-type":["CloudWatch Alarm State Change"],"detail":{"state":{"value":["ALARM","OK"]}}}"#,
        sns: true,
        slack_paths: &[
            ("name", "$.detail.alarmName"),
            ("state", "$.detail.state.value"),
            ("previous", "$.detail.previousState.value"),
            ("reason", "$.detail.state.reason"),
            ("region", "$.region"),
        ],
        slack_template: r#"{"text": "*<state>: \"<name>\" in <region>*\nAlarm \"<name>\" is now <state> (was <previous>).\nReason: <reason>"}"#,
    },
    RuleDef {
        name: "groundwork-alerting-budget-threshold",
        description: "Budget thresholds crossed",
        pattern: r#"{"source":["groundwork.budget"],"detail-type":["Budget Threshold Crossed"]}"#,
        sns: true,
        slack_paths: &[
            ("budget", "$.detail.budget"),
            ("threshold", "$.detail.threshold"),
            ("actual", "$.detail.actual"),
            ("forecast", "$.detail.forecast"),
            ("currency", "$.detail.currency"),
        ],
        slack_template: r#"{"text": "*Budget \"<budget>\" crossed <threshold>*\nBudget \"<budget>\" crossed its threshold <threshold>.\nActual: <actual> <currency>; forecast: <forecast> <currency>"}"#,
    },
    RuleDef {
        name: "groundwork-alerting-failed-step",
        description: "Setup steps that failed",
        pattern: r#"{"source":[{"prefix":"groundwork."}],"detail-type":[{"suffix":"Failed"}]}"#,
        sns: true,
        // A template can only place strings and numbers inside Slack's text, not the
        // detail object SNS shows: the fields of `Setup Step Failed` are named instead.
        slack_paths: &[
            ("detailType", "$.detail-type"),
            ("source", "$.source"),
            ("resource", "$.detail.resource"),
            ("run", "$.detail.runId"),
            ("attempts", "$.detail.attempts"),
            ("error", "$.detail.error"),
        ],
        slack_template: r#"{"text": "*<detailType> (<source>)*\n<detailType> from <source>: <resource> in run <run> after <attempts> attempts.\nError: <error>"}"#,
    },
    RuleDef {
        name: "groundwork-alerting-test-notification",
        description: "Test notifications sent with SendTestNotification",
        pattern: r#"{"source":["groundwork.alerting"],"detail-type":["Test Notification"]}"#,
        sns: false,
        slack_paths: &[("message", "$.detail.message")],
        slack_template: r#"{"text": "*Groundwork test notification*\n<message>"}"#,
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
        assert_eq!(
            rules.matching(&json!({"source": "groundwork.alerting", "detail-type": TEST_NOTIFICATION, "detail": {}})),
            Some("groundwork-alerting-test-notification")
        );
    }
}
