//! Notification channels: a webhook that fails at first is retried with backoff until it
//! accepts; the Slack format posts `{"text": …}`; the SNS topic receives the message.
//! Alerting's rules on the event bus: created once, left alone when changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Stack, WebhookServer, moto_sent_notifications};
use groundwork_proto::v1 as pb;

#[tokio::test]
async fn a_failing_webhook_is_retried_and_slack_gets_text_and_sns_gets_the_message() {
    let slack = WebhookServer::start().await;
    let slack_url = format!("slack={}", slack.url());
    let stack = Stack::start_with(|s| s.webhooks.push(slack_url.parse().unwrap())).await;
    let mut client = stack.client().await;
    client
        .ensure_topic(pb::EnsureTopicRequest {
            name: "billing-alarm".into(),
            tags: vec![],
        })
        .await
        .unwrap();
    stack.webhook.answer_with(&[503, 500]);
    slack.answer_with(&[404]);

    let report = client
        .send_test_notification(pb::SendTestNotificationRequest {
            message: "hello from the test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let by_channel = |c: &str| {
        report
            .deliveries
            .iter()
            .find(|d| d.channel == c)
            .unwrap()
            .clone()
    };

    let sns = by_channel("sns");
    assert!(sns.delivered, "{sns:?}");
    let sent = moto_sent_notifications(
        &stack.moto,
        "arn:aws:sns:us-east-1:123456789012:billing-alarm",
    );
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0][1]
            .as_str()
            .unwrap()
            .starts_with("hello from the test")
    );

    // 503, 500, then 200: delivered on the third attempt.
    let webhook = by_channel("webhook");
    assert!(webhook.delivered, "{webhook:?}");
    assert_eq!(webhook.attempts, 3);
    assert_eq!(stack.webhook.received().len(), 3);
    assert_eq!(
        stack.webhook.received()[2].body["detail"]["message"],
        "hello from the test"
    );
    // The report never shows a webhook's path (it may hold a token).
    assert!(
        !webhook.destination.contains("/hook"),
        "{}",
        webhook.destination
    );

    // 404 is terminal: one attempt, reported as failed.
    let slack_delivery = by_channel("slack");
    assert!(!slack_delivery.delivered);
    assert_eq!(slack_delivery.attempts, 1);
    assert!(
        slack_delivery.error.contains("404"),
        "{}",
        slack_delivery.error
    );
    let text = slack.received()[0].body["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(text, "*Groundwork test notification*\nhello from the test");
    stack.stop().await;
}

#[tokio::test]
async fn the_rules_are_created_once_on_the_event_bus_and_a_changed_rule_is_left_alone() {
    let stack = Stack::start().await;
    stack.wait_for_rules().await;
    let mut bus = stack.eventbus().await;
    let rules = bus
        .list_rules(pb::ListRulesRequest {
            name_prefix: "groundwork-alerting-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .rules;
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "groundwork-alerting-alarm-state",
            "groundwork-alerting-budget-threshold",
            "groundwork-alerting-failed-step"
        ]
    );
    let targets = bus
        .list_targets_by_rule(pb::ListTargetsByRuleRequest {
            rule: "groundwork-alerting-alarm-state".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .targets;
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].arn, "nats:alerting.notify");

    // Someone narrows the alarm rule to ALARM only (`groundwork rules`); a restart of
    // alerting (ensure_rules again) creates nothing and keeps the change.
    let narrowed = r#"{"source":["aws.cloudwatch"],"detail-type":["CloudWatch Alarm State Change"],"detail":{"state":{"value":["ALARM"]}}}"#;
    bus.put_rule(pb::PutRuleRequest {
        name: "groundwork-alerting-alarm-state".into(),
        event_pattern: narrowed.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let url = format!("http://{}", stack.eventbus_addr);
    let created = groundwork_alerting::notify::bus_rules::ensure_rules(&url, None, "default")
        .await
        .unwrap();
    assert!(created.is_empty());
    let rule = bus
        .describe_rule(pb::DescribeRuleRequest {
            name: "groundwork-alerting-alarm-state".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rule.event_pattern, narrowed);
    stack.stop().await;
}
