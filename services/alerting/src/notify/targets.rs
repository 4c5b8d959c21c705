//! What alerting's rules on the event bus deliver to: alerting's own NATS subject (for
//! SNS), and every configured webhook as a webhook target of each rule, so that the event
//! bus makes, retries and dead-letters those deliveries as it does any other. A Slack
//! webhook's body (`{"text": …}`) is made by the target's input transformer, one per rule
//! ([`RuleDef::slack_template`]); a JSON webhook receives the event as it is.
//!
//! A webhook URL often *is* a credential (a Slack incoming-webhook URL carries its token
//! in the path), so outside the rule's own target it is only ever shown as
//! [`redact_url`] shows it: in `Debug`, logs and delivery reports.

use std::fmt;
use std::str::FromStr;

use groundwork_bus::names;
use groundwork_events::redact::redact_url;
use groundwork_proto::v1 as pb;

use crate::notify::rules::RuleDef;

/// The id of alerting's NATS-subject target on each of its rules.
pub const TARGET_ID: &str = "groundwork-alerting";

/// Most webhooks: a rule takes at most 5 targets, one of them alerting's own.
pub const MAX_WEBHOOKS: usize = 4;

/// The target ARN of alerting's own target: a NATS subject the event bus delivers to.
pub fn target_arn() -> String {
    format!("nats:{}", names::ALERTING_NOTIFY_TARGET)
}

/// What a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The event envelope, as JSON.
    Json,
    /// Slack's incoming-webhook body, `{"text": …}`.
    Slack,
}

/// A configured webhook: `URL` (JSON) or `slack=URL`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    pub format: WebhookFormat,
    url: String,
}

impl WebhookSpec {
    /// The URL, secret parts included: only for the target itself.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL as shown everywhere else (scheme, host and port).
    pub fn redacted(&self) -> String {
        redact_url(&self.url)
    }

    /// The channel name in delivery reports.
    pub fn channel(&self) -> &'static str {
        match self.format {
            WebhookFormat::Json => "webhook",
            WebhookFormat::Slack => "slack",
        }
    }
}

impl fmt::Debug for WebhookSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSpec")
            .field("format", &self.format)
            .field("url", &self.redacted())
            .finish()
    }
}

impl FromStr for WebhookSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (format, url) = match text.split_once('=') {
            Some(("slack", url)) => (WebhookFormat::Slack, url),
            Some(("json", url)) => (WebhookFormat::Json, url),
            _ => (WebhookFormat::Json, text),
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|_| "a webhook is URL or slack=URL, with an http(s) URL".to_owned())?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none_or(str::is_empty) {
            return Err("a webhook URL starts with https:// (or http://) and names a host".into());
        }
        Ok(Self {
            format,
            url: url.to_owned(),
        })
    }
}

/// Alerting's webhooks as targets of its rules.
#[derive(Debug, Clone, Default)]
pub struct WebhookTargets {
    pub webhooks: Vec<WebhookSpec>,
    /// Attempts per delivery, counting the first: the targets' retry policy allows one
    /// fewer retries.
    pub attempts: u32,
}

/// Whether a target id is one of alerting's webhook targets (see [`WebhookTargets`]).
pub fn is_webhook_target(id: &str) -> bool {
    id.strip_prefix(TARGET_ID)
        .is_some_and(|rest| rest.starts_with("-webhook-") || rest.starts_with("-slack-"))
}

impl WebhookTargets {
    /// The webhook targets of `rule`: ids `groundwork-alerting-webhook-<n>` and
    /// `groundwork-alerting-slack-<n>` (n from 1, in the order configured).
    pub fn for_rule(&self, rule: &RuleDef) -> Vec<pb::Target> {
        let retries = i32::try_from(self.attempts.saturating_sub(1).min(185)).unwrap_or(185);
        self.webhooks
            .iter()
            .enumerate()
            .map(|(i, hook)| pb::Target {
                id: format!("{TARGET_ID}-{}-{}", hook.channel(), i + 1),
                arn: hook.url().to_owned(),
                input_transformer: match hook.format {
                    WebhookFormat::Json => None,
                    WebhookFormat::Slack => Some(slack_transformer(rule)),
                },
                retry_policy: Some(pb::RetryPolicy {
                    maximum_retry_attempts: Some(retries),
                    maximum_event_age_in_seconds: None,
                }),
                ..Default::default()
            })
            .collect()
    }
}

/// The input transformer that makes Slack's body for a rule's events.
pub fn slack_transformer(rule: &RuleDef) -> pb::InputTransformer {
    pb::InputTransformer {
        input_paths_map: rule
            .slack_paths
            .iter()
            .map(|(name, path)| ((*name).to_owned(), (*path).to_owned()))
            .collect(),
        input_template: rule.slack_template.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::notify::format::Notification;
    use crate::notify::rules::{RULES, TEST_NOTIFICATION};
    use groundwork_events::transform::{InputTransformer, RenderContext, TargetInput};
    use serde_json::{Value, json};

    /// What Slack receives for `event` through `rule`'s target, rendered by the event
    /// bus's own transformer.
    fn slack_body(rule: &str, event: &Value) -> Value {
        let rule = RULES.iter().find(|r| r.name == rule).unwrap();
        let t = slack_transformer(rule);
        let input = TargetInput::validate(
            "slack",
            None,
            None,
            Some(InputTransformer {
                input_paths_map: t.input_paths_map.into_iter().collect(),
                input_template: t.input_template,
            }),
        )
        .unwrap();
        let ctx = RenderContext {
            rule_name: rule.name,
            rule_arn: "arn",
            ingestion_time: "2024-05-01T12:00:00Z",
        };
        serde_json::from_str(&input.render(event, &ctx).unwrap()).unwrap()
    }

    /// Slack's text is the notification's subject in bold, then its text.
    fn as_slack(n: &Notification) -> Value {
        json!({"text": format!("*{}*\n{}", n.subject, n.text)})
    }

    #[test]
    fn slack_gets_the_subject_and_text_sns_gets() {
        let alarm = json!({
            "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
            "region": "us-east-1",
            "detail": {"alarmName": "billing \"alarm\"",
                       "state": {"value": "ALARM", "reason": "Threshold Crossed: 1 datapoint [12.5]"},
                       "previousState": {"value": "OK"}}
        });
        assert_eq!(
            slack_body("groundwork-alerting-alarm-state", &alarm),
            as_slack(&Notification::for_event(&alarm))
        );
        let budget = json!({
            "source": "groundwork.budget", "detail-type": "Budget Threshold Crossed",
            "detail": {"budget": "monthly", "threshold": 80, "actual": 81.5,
                       "forecast": 120.25, "currency": "USD"}
        });
        assert_eq!(
            slack_body("groundwork-alerting-budget-threshold", &budget),
            as_slack(&Notification::for_event(&budget))
        );
        let test = Notification::test("hello \"there\"\nsecond line");
        let event = json!({"source": "groundwork.alerting", "detail-type": TEST_NOTIFICATION,
                           "detail": test.event["detail"]});
        assert_eq!(
            slack_body("groundwork-alerting-test-notification", &event),
            as_slack(&test)
        );
        let failed = json!({
            "source": "groundwork.orchestrator", "detail-type": "Setup Step Failed",
            "detail": {"runId": "r-1", "resource": "alerting.topic", "error": "AccessDenied",
                       "attempts": 3}
        });
        assert_eq!(
            slack_body("groundwork-alerting-failed-step", &failed)["text"],
            "*Setup Step Failed (groundwork.orchestrator)*\nSetup Step Failed from groundwork.orchestrator: alerting.topic in run r-1 after 3 attempts.\nError: AccessDenied"
        );
    }

    #[test]
    fn webhooks_become_targets_and_never_show_their_path() {
        let slack: WebhookSpec = "slack=https://hooks.slack.com/services/T0/B0/s3cr3t"
            .parse()
            .unwrap();
        assert_eq!(slack.format, WebhookFormat::Slack);
        assert_eq!(slack.redacted(), "https://hooks.slack.com/...");
        assert!(!format!("{slack:?}").contains("s3cr3t"));
        let json: WebhookSpec = "http://127.0.0.1:8080/hook".parse().unwrap();
        assert_eq!(json.format, WebhookFormat::Json);
        assert!("ftp://x/y".parse::<WebhookSpec>().is_err());
        assert!("slack=not a url".parse::<WebhookSpec>().is_err());

        let hooks = WebhookTargets {
            webhooks: vec![json, slack],
            attempts: 4,
        };
        let targets = hooks.for_rule(&RULES[0]);
        assert_eq!(targets[0].id, "groundwork-alerting-webhook-1");
        assert_eq!(targets[0].arn, "http://127.0.0.1:8080/hook");
        assert!(targets[0].input_transformer.is_none());
        assert_eq!(targets[1].id, "groundwork-alerting-slack-2");
        assert_eq!(
            targets[1].arn,
            "https://hooks.slack.com/services/T0/B0/s3cr3t"
        );
        assert_eq!(
            targets[1].input_transformer,
            Some(slack_transformer(&RULES[0]))
        );
        assert_eq!(
            targets[1].retry_policy.unwrap().maximum_retry_attempts,
            Some(3)
        );
        assert!(targets.iter().all(|t| is_webhook_target(&t.id)));
        assert!(!is_webhook_target(TARGET_ID));
        assert!(!is_webhook_target("someone-elses-webhook-1"));
    }
}
