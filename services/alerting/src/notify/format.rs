//! What an SNS notification says: a subject and a text for people, then the event itself.
//! Pure. (Slack says the same subject and text, made by the event bus's input transformer
//! of each rule: see [`rules`](super::rules).)

use groundwork_events::catalog::{
    BudgetThresholdCrossed, CatalogEvent, CloudWatchAlarmStateChange, TestNotification,
};
use serde_json::{Value, json};

/// A notification about one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// One line, at most 100 characters (SNS's limit for email subjects).
    pub subject: String,
    /// A few lines for people.
    pub text: String,
    /// The event envelope (or, for a test notification, a small object).
    pub event: Value,
}

impl Notification {
    /// A notification describing `event` (an EventBridge envelope).
    pub fn for_event(event: &Value) -> Self {
        let source = event["source"].as_str().unwrap_or_default();
        let detail_type = event["detail-type"].as_str().unwrap_or_default();
        let detail = &event["detail"];
        let region = event["region"].as_str().unwrap_or_default();
        let (subject, text) = if let Some(Ok(alarm)) = CloudWatchAlarmStateChange::decode(event) {
            let name = &alarm.alarm_name;
            let now = &alarm.state.value;
            let before = &alarm.previous_state.value;
            let reason = &alarm.state.reason;
            (
                format!("{now}: \"{name}\" in {region}"),
                format!("Alarm \"{name}\" is now {now} (was {before}).\nReason: {reason}"),
            )
        } else if detail_type == BudgetThresholdCrossed::DETAIL_TYPE {
            // Read by key, not through the typed detail: the text must show each value as
            // the Slack input transformer of the same rule does, i.e. as the JSON has it
            // (`80` stays `80`), and a missing one as `?`.
            let field = |k: &str| match &detail[k] {
                Value::String(s) => s.clone(),
                Value::Null => "?".to_owned(),
                other => other.to_string(),
            };
            let budget = field("budget");
            (
                format!("Budget \"{budget}\" crossed {}", field("threshold")),
                format!(
                    "Budget \"{budget}\" crossed its threshold {}.\nActual: {} {}; forecast: {} {}",
                    field("threshold"),
                    field("actual"),
                    field("currency"),
                    field("forecast"),
                    field("currency"),
                ),
            )
        } else {
            (
                format!("{detail_type} ({source})"),
                format!("{detail_type} from {source}:\n{detail}"),
            )
        };
        Self {
            subject: truncate(&subject, 100),
            text,
            event: event.clone(),
        }
    }

    /// A test notification.
    pub fn test(message: &str) -> Self {
        let text = if message.is_empty() {
            "This is a test notification from Groundwork alerting: this channel works."
        } else {
            message
        };
        Self {
            subject: "Groundwork test notification".into(),
            text: text.to_owned(),
            event: json!({
                "source": TestNotification::SOURCE,
                "detail-type": TestNotification::DETAIL_TYPE,
                "detail": TestNotification { message: text.to_owned() }.to_detail().unwrap_or_default(),
            }),
        }
    }

    /// The SNS message: the text, then the event.
    pub fn sns_message(&self) -> String {
        format!(
            "{}\n\n{}",
            self.text,
            serde_json::to_string_pretty(&self.event).unwrap_or_default()
        )
    }
}

/// SNS subjects are ASCII without line breaks, at most `max` characters.
fn truncate(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .collect();
    if clean.len() <= max {
        clean
    } else {
        format!("{}...", &clean[..max - 3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alarm_notification_names_the_alarm_and_its_states() {
        let event = json!({
            "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
            "region": "us-east-1",
            "detail": {"alarmName": "billing-alarm",
                       "state": {"value": "ALARM", "reason": "Threshold Crossed"},
                       "previousState": {"value": "OK"}}
        });
        let n = Notification::for_event(&event);
        assert_eq!(n.subject, "ALARM: \"billing-alarm\" in us-east-1");
        assert!(n.text.contains("is now ALARM (was OK)"));
        assert!(n.sns_message().contains("\"alarmName\": \"billing-alarm\""));
    }

    #[test]
    fn a_budget_notification_shows_the_threshold_and_the_spend() {
        let event = json!({
            "source": "groundwork.budget", "detail-type": "Budget Threshold Crossed",
            "region": "us-east-1",
            "detail": {"budget": "monthly", "threshold": 80.0, "thresholdType": "PERCENTAGE",
                       "notificationType": "ACTUAL", "comparisonOperator": "GREATER_THAN",
                       "thresholdAmount": 8.0, "limit": 10.0, "actual": 8.5, "forecast": null,
                       "currency": "USD", "period": "2024-05"}
        });
        let n = Notification::for_event(&event);
        assert_eq!(n.subject, "Budget \"monthly\" crossed 80.0");
        assert_eq!(
            n.text,
            "Budget \"monthly\" crossed its threshold 80.0.\nActual: 8.5 USD; forecast: ? USD"
        );
    }

    #[test]
    fn subjects_fit_sns() {
        let long = "é".repeat(200);
        let n = Notification::for_event(&json!({"source": "x", "detail-type": long, "detail": {}}));
        assert!(n.subject.len() <= 100 && n.subject.is_ascii());
    }
}
