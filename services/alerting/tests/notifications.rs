//! Notification channels: a webhook is a target of alerting's rules on the event bus,
//! which retries it with backoff until it accepts; a 404 is terminal and the delivery a
//! dead letter of the bus; the Slack format posts `{"text": …}` (made by the target's
//! input transformer); the SNS topic receives the message.
//! Alerting's rules on the event bus: created once, left alone when changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Stack, WebhookServer, eventually, moto_sent_notifications};
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
    stack.wait_for_rules().await;
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

    // The webhooks are handed to the event bus; the report never shows a webhook's path
    // (it may hold a token).
    let webhook = by_channel("webhook");
    assert!(webhook.queued && !webhook.delivered, "{webhook:?}");
    assert!(webhook.error.is_empty(), "{webhook:?}");
    assert!(
        !webhook.destination.contains("/hook"),
        "{}",
        webhook.destination
    );
    assert!(by_channel("slack").queued);

    // 503, 500, then 200: delivered by the event bus on the third attempt.
    let received = eventually(
        "the third webhook attempt",
        Duration::from_secs(20),
        || async {
            let received = stack.webhook.received();
            (received.len() >= 3).then_some(received)
        },
    )
    .await;
    assert_eq!(received[2].body["detail"]["message"], "hello from the test");

    // 404 is terminal: one attempt, then the delivery is a dead letter on the bus, shown
    // without the webhook's path.
    let mut bus = stack.eventbus().await;
    let letter = eventually("the Slack dead letter", Duration::from_secs(20), || {
        let mut bus = bus.clone();
        async move {
            bus.list_dead_letters(pb::ListDeadLettersRequest::default())
                .await
                .ok()?
                .into_inner()
                .dead_letters
                .into_iter()
                .find(|l| l.error_code == "HTTP_404")
        }
    })
    .await;
    assert_eq!(letter.retry_attempts, 0);
    assert!(letter.error_message.contains("404"), "{letter:?}");
    assert!(!letter.target_arn.contains("/hook"), "{letter:?}");
    assert_eq!(slack.received().len(), 1);
    let text = slack.received()[0].body["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(text, "*Groundwork test notification*\nhello from the test");

    // Nothing is left to deliver, and each webhook got what was said above, no more.
    eventually("every delivery done", Duration::from_secs(20), || async {
        let js = async_nats::jetstream::new(stack.nats_client().await);
        let mut targets = js.get_stream("TARGETS").await.ok()?;
        (targets.info().await.ok()?.state.messages == 0).then_some(())
    })
    .await;
    assert_eq!(stack.webhook.received().len(), 3);
    assert_eq!(slack.received().len(), 1);
    let letters = bus
        .list_dead_letters(pb::ListDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(letters.len(), 1, "{letters:?}");
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
            "groundwork-alerting-failed-step",
            "groundwork-alerting-test-notification"
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
    // Alerting's own target (for SNS) and the stack's one webhook, retried by the bus
    // as many times as alerting was told.
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert_eq!(targets[0].id, "groundwork-alerting");
    assert_eq!(targets[0].arn, "nats:alerting.notify");
    assert_eq!(targets[1].id, "groundwork-alerting-webhook-1");
    assert_eq!(targets[1].arn, stack.webhook.url());
    assert!(targets[1].input_transformer.is_none());
    assert_eq!(
        targets[1].retry_policy.unwrap().maximum_retry_attempts,
        Some(i32::try_from(stack.notify_attempts).unwrap() - 1)
    );

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
    let eventbus = groundwork_kit::client::Target::new(
        format!("http://{}", stack.eventbus_addr),
        Some(common::API_TOKEN.into()),
        "GROUNDWORK_EVENTBUS_URL",
    );
    let created = groundwork_alerting::notify::bus_rules::ensure_rules(
        &eventbus,
        "default",
        &stack.webhook_targets(),
    )
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

    // Started again without webhooks: alerting's webhook target goes, its own stays.
    groundwork_alerting::notify::bus_rules::ensure_rules(
        &eventbus,
        "default",
        &groundwork_alerting::notify::targets::WebhookTargets::default(),
    )
    .await
    .unwrap();
    let targets = bus
        .list_targets_by_rule(pb::ListTargetsByRuleRequest {
            rule: "groundwork-alerting-alarm-state".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .targets;
    let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["groundwork-alerting"]);
    stack.stop().await;
}
