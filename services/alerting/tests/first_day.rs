//! The standard first-day setup against a real moto_server: topic `billing-alarm`, an
//! email subscription, a daily-charges billing alarm at 10 USD — created, present in
//! moto, and unchanged when applied again. Also the import of `alarm_config.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Stack;
use groundwork_proto::v1 as pb;

const CREATED: i32 = pb::AlertingChange::Created as i32;
const UNCHANGED: i32 = pb::AlertingChange::Unchanged as i32;

async fn apply(client: &mut pb::alerting_client::AlertingClient<common::Channel>) -> [i32; 3] {
    let topic = client
        .ensure_topic(pb::EnsureTopicRequest {
            name: "billing-alarm".into(),
            tags: vec![pb::AlertingTag {
                key: "managed-by".into(),
                value: "groundwork".into(),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        topic.topic_arn,
        "arn:aws:sns:us-east-1:123456789012:billing-alarm"
    );
    let subscription = client
        .ensure_subscription(pb::EnsureSubscriptionRequest {
            topic: "billing-alarm".into(),
            protocol: pb::AlertingProtocol::Email as i32,
            endpoint: "ops@example.com".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let alarm = client
        .ensure_billing_alarm(pb::EnsureBillingAlarmRequest {
            alarm_name: "billing-alarm".into(),
            kind: pb::BillingAlarmKind::DailyCharges as i32,
            threshold_usd: 10.0,
            topic: topic.topic_arn.clone(),
            description: String::new(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        alarm.alarm_arn,
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:billing-alarm"
    );
    [topic.change, subscription.change, alarm.change]
}

#[tokio::test]
async fn the_first_day_setup_is_created_in_moto_and_unchanged_when_applied_again() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;

    assert_eq!(apply(&mut client).await, [CREATED, CREATED, CREATED]);

    // Everything is in moto, in us-east-1, as requested.
    let sns = stack.sns();
    let arn = "arn:aws:sns:us-east-1:123456789012:billing-alarm";
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "managed-by" && t.value() == "groundwork")
    );
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(subs.subscriptions().len(), 1);
    assert_eq!(subs.subscriptions()[0].protocol(), Some("email"));
    assert_eq!(subs.subscriptions()[0].endpoint(), Some("ops@example.com"));
    let alarms = stack
        .cloudwatch()
        .describe_alarms()
        .alarm_names("billing-alarm")
        .send()
        .await
        .unwrap();
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.threshold(), Some(10.0));
    assert_eq!(alarm.treat_missing_data(), Some("breaching"));
    assert_eq!(alarm.alarm_actions(), [arn.to_owned()]);
    let metrics = alarm.metrics();
    assert_eq!(metrics.len(), 2);
    let m1 = metrics[0].metric_stat().unwrap();
    assert_eq!(m1.metric().unwrap().namespace(), Some("AWS/Billing"));
    assert_eq!(m1.metric().unwrap().metric_name(), Some("EstimatedCharges"));
    assert_eq!(m1.metric().unwrap().dimensions()[0].value(), Some("USD"));
    assert_eq!(m1.period(), Some(86_400));
    assert_eq!(
        metrics[1].expression(),
        Some("IF(RATE(m1)>0,RATE(m1)*86400,0)")
    );

    // Applied again: nothing changes, nothing is duplicated.
    assert_eq!(apply(&mut client).await, [UNCHANGED, UNCHANGED, UNCHANGED]);
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(subs.subscriptions().len(), 1);

    // The listing shows the subscription and its confirmation state (moto confirms at once).
    let listed = client
        .list_subscriptions(pb::ListAlertingSubscriptionsRequest {
            topic: "billing-alarm".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.subscriptions.len(), 1);
    assert_eq!(
        listed.subscriptions[0].status,
        pb::SubscriptionStatus::Confirmed as i32
    );

    // The creations were announced on the bus, once each.
    let events = stack.events().await;
    let types: Vec<&str> = events
        .iter()
        .filter(|e| e["source"] == "groundwork.alerting")
        .filter_map(|e| e["detail-type"].as_str())
        .collect();
    assert_eq!(
        types,
        ["Topic Created", "Subscription Created", "Alarm Created"]
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_changed_threshold_updates_the_alarm_and_the_total_form_is_a_plain_maximum() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    apply(&mut client).await;
    let request = |threshold_usd, kind: pb::BillingAlarmKind| pb::EnsureBillingAlarmRequest {
        alarm_name: "billing-alarm".into(),
        kind: kind as i32,
        threshold_usd,
        topic: "billing-alarm".into(),
        description: String::new(),
        dry_run: false,
    };
    // A dry run says what would change, and changes nothing.
    let threshold = |stack: &Stack| {
        let cw = stack.cloudwatch();
        async move {
            cw.describe_alarms()
                .alarm_names("billing-alarm")
                .send()
                .await
                .unwrap()
                .metric_alarms()[0]
                .threshold()
        }
    };
    let before = threshold(&stack).await;
    let planned = client
        .ensure_billing_alarm(pb::EnsureBillingAlarmRequest {
            dry_run: true,
            ..request(20.0, pb::BillingAlarmKind::DailyCharges)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(planned.change, pb::AlertingChange::Updated as i32);
    // The default description names the threshold, so it changes with it.
    assert_eq!(planned.differing, ["description", "threshold"]);
    assert_eq!(threshold(&stack).await, before);
    let absent = client
        .ensure_billing_alarm(pb::EnsureBillingAlarmRequest {
            alarm_name: "not-there-yet".into(),
            dry_run: true,
            ..request(20.0, pb::BillingAlarmKind::DailyCharges)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(absent.change, CREATED);
    assert!(absent.alarm_arn.is_empty());

    let updated = client
        .ensure_billing_alarm(request(20.0, pb::BillingAlarmKind::DailyCharges))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.change, pb::AlertingChange::Updated as i32);

    let total = client
        .ensure_billing_alarm(pb::EnsureBillingAlarmRequest {
            alarm_name: "billing-total".into(),
            ..request(50.0, pb::BillingAlarmKind::Total)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(total.change, CREATED);
    let alarms = stack
        .cloudwatch()
        .describe_alarms()
        .alarm_names("billing-total")
        .send()
        .await
        .unwrap();
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.namespace(), Some("AWS/Billing"));
    assert_eq!(alarm.metric_name(), Some("EstimatedCharges"));
    assert_eq!(alarm.statistic().map(|s| s.as_str()), Some("Maximum"));
    assert_eq!(alarm.period(), Some(21_600));
    assert_eq!(alarm.threshold(), Some(50.0));
    stack.stop().await;
}

#[tokio::test]
async fn the_imported_alarm_config_is_the_same_alarm_as_the_native_request() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    client
        .ensure_topic(pb::EnsureTopicRequest {
            name: "billing-alarm".into(),
            tags: vec![],
        })
        .await
        .unwrap();
    let json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/alarm_config.json"
    ))
    .unwrap();
    let imported = client
        .import_alarm_config_json(pb::ImportAlarmConfigJsonRequest { json: json.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.change, CREATED);
    assert_eq!(imported.alarm_name, "DailyEstimatedCharges");
    // The native form of the same alarm finds nothing to change.
    let native = client
        .ensure_billing_alarm(pb::EnsureBillingAlarmRequest {
            alarm_name: "DailyEstimatedCharges".into(),
            kind: pb::BillingAlarmKind::DailyCharges as i32,
            threshold_usd: 10.0,
            topic: "billing-alarm".into(),
            description: "Daily estimated charges reached 10 USD".into(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(native.change, UNCHANGED);
    let again = client
        .import_alarm_config_json(pb::ImportAlarmConfigJsonRequest { json })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.change, UNCHANGED);
    stack.stop().await;
}

#[tokio::test]
async fn billing_alerts_report_the_manual_step_and_whether_metrics_arrive() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let before = client
        .describe_billing_alerts(pb::DescribeBillingAlertsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!before.billing_metrics_arriving);
    assert!(
        before
            .manual_step
            .contains("Receive CloudWatch billing alerts")
    );
    assert!(before.console_url.starts_with("https://"));

    // Play AWS: the billing metric starts arriving.
    stack
        .cloudwatch()
        .put_metric_data()
        .namespace("AWS/Billing")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("EstimatedCharges")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("Currency")
                        .value("USD")
                        .build(),
                )
                .value(1.5)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let after = client
        .describe_billing_alerts(pb::DescribeBillingAlertsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(after.billing_metrics_arriving);
    stack.stop().await;
}
