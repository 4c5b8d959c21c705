//! Bad input gets INVALID_ARGUMENT naming the field, and nothing is created in moto.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Stack;
use groundwork_proto::v1 as pb;
use tonic::Code;

fn assert_invalid(status: tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with(&format!("{field}: ")),
        "the message names {field}: {}",
        status.message()
    );
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_created() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;

    let topic = |name: &str| pb::EnsureTopicRequest {
        name: name.into(),
        tags: vec![],
    };
    assert_invalid(
        client
            .ensure_topic(topic("billing alarm"))
            .await
            .unwrap_err(),
        "name",
    );
    assert_invalid(
        client
            .ensure_topic(pb::EnsureTopicRequest {
                name: "ok".into(),
                tags: vec![pb::AlertingTag {
                    key: "aws:x".into(),
                    value: String::new(),
                }],
            })
            .await
            .unwrap_err(),
        "tags[0].key",
    );

    let subscribe =
        |protocol: pb::AlertingProtocol, endpoint: &str| pb::EnsureSubscriptionRequest {
            topic: "billing-alarm".into(),
            protocol: protocol as i32,
            endpoint: endpoint.into(),
        };
    for (protocol, endpoint) in [
        (pb::AlertingProtocol::Email, "ops.example.com"),
        (pb::AlertingProtocol::Sms, "555-0100"),
        (pb::AlertingProtocol::Https, "http://hooks.example.com/x"),
        (pb::AlertingProtocol::Https, "not a url"),
        (pb::AlertingProtocol::Sqs, "queue-name"),
    ] {
        assert_invalid(
            client
                .ensure_subscription(subscribe(protocol, endpoint))
                .await
                .unwrap_err(),
            "endpoint",
        );
    }
    assert_invalid(
        client
            .ensure_subscription(subscribe(
                pb::AlertingProtocol::Unspecified,
                "ops@example.com",
            ))
            .await
            .unwrap_err(),
        "protocol",
    );

    let alarm = |threshold_usd: f64, topic: &str| pb::EnsureBillingAlarmRequest {
        alarm_name: "billing-alarm".into(),
        kind: pb::BillingAlarmKind::DailyCharges as i32,
        threshold_usd,
        topic: topic.into(),
        description: String::new(),
        dry_run: false,
    };
    assert_invalid(
        client
            .ensure_billing_alarm(alarm(-5.0, "billing-alarm"))
            .await
            .unwrap_err(),
        "threshold_usd",
    );
    // The classic trap: a topic outside us-east-1.
    let status = client
        .ensure_billing_alarm(alarm(
            10.0,
            "arn:aws:sns:eu-west-1:123456789012:billing-alarm",
        ))
        .await
        .unwrap_err();
    assert_invalid(status.clone(), "topic");
    assert!(
        status.message().contains("Only us-east-1 is supported"),
        "{}",
        status.message()
    );

    for (json, field) in [
        ("{not json", "$"),
        (
            r#"{"AlarmName": "a", "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "Bigger"}"#,
            "$.ComparisonOperator",
        ),
        (
            r#"{"AlarmName": "a", "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanThreshold",
             "Metrics": [{"Id": "m1", "Expression": "RATE(m1"}]}"#,
            "$.Metrics[0].Expression",
        ),
        (
            r#"{"AlarmName": "a", "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanThreshold",
             "Metrics": [{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "AWS/Billing", "MetricName": "EstimatedCharges"}, "Period": 86400, "Stat": "Maximum"}}],
             "AlarmActions": ["arn:aws:sns:eu-west-1:123456789012:billing-alarm"]}"#,
            "$.AlarmActions[0]",
        ),
    ] {
        assert_invalid(
            client
                .import_alarm_config_json(pb::ImportAlarmConfigJsonRequest { json: json.into() })
                .await
                .unwrap_err(),
            field,
        );
    }

    // Nothing was created.
    let topics = stack.sns().list_topics().send().await.unwrap();
    assert!(topics.topics().is_empty());
    let subs = stack.sns().list_subscriptions().send().await.unwrap();
    assert!(subs.subscriptions().is_empty());
    let alarms = stack.cloudwatch().describe_alarms().send().await.unwrap();
    assert!(alarms.metric_alarms().is_empty());
    stack.stop().await;
}

#[tokio::test]
async fn a_topic_that_does_not_exist_is_not_found_with_the_way_to_create_it() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let status = client
        .ensure_subscription(pb::EnsureSubscriptionRequest {
            topic: "billing-alarm".into(),
            protocol: pb::AlertingProtocol::Email as i32,
            endpoint: "ops@example.com".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status
            .message()
            .contains("groundwork alerting topic billing-alarm"),
        "{}",
        status.message()
    );
    stack.stop().await;
}
