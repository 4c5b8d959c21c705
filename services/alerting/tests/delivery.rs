//! Alerts that are sure to arrive: CheckAlertDelivery against a real moto_server (SNS and
//! KMS). A topic whose policy lets neither AWS Budgets nor CloudWatch publish, a topic
//! encrypted with a customer managed key they may not use, one encrypted with the AWS
//! managed `alias/aws/sns`: each is a finding with its exact fix, and the fixes asked for
//! make the findings go. A subscription pending confirmation longer than allowed is a
//! finding too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use aws_smithy_mocks::{RuleMode, mock, mock_client};
use common::Stack;
use groundwork_alerting::delivery::{self, PendingSince};
use groundwork_alerting::model::TopicArn;
use groundwork_alerting::watch_store::WatchStore;
use groundwork_bus::Emitter;
use groundwork_cloud::delivery::{
    Publisher, key_allows, key_statement, topic_allows, topic_statement,
};
use groundwork_events::envelope::Origin;
use groundwork_proto::v1 as pb;
use time::OffsetDateTime;

const ACCOUNT: &str = "123456789012";
const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:billing-alarm";

async fn create_topic(client: &mut pb::alerting_client::AlertingClient<common::Channel>) {
    client
        .ensure_topic(pb::EnsureTopicRequest {
            name: "billing-alarm".into(),
            tags: vec![],
        })
        .await
        .unwrap();
}

async fn check(
    client: &mut pb::alerting_client::AlertingClient<common::Channel>,
    fix: bool,
    fix_key_policy: bool,
) -> pb::CheckAlertDeliveryResponse {
    client
        .check_alert_delivery(pb::CheckAlertDeliveryRequest {
            topic: "billing-alarm".into(),
            fix,
            fix_key_policy,
            pending_confirmation_hours: 0,
        })
        .await
        .unwrap()
        .into_inner()
}

fn ids(r: &pb::CheckAlertDeliveryResponse) -> Vec<&str> {
    r.findings.iter().map(|f| f.id.as_str()).collect()
}

async fn topic_policy(stack: &Stack) -> String {
    stack
        .sns()
        .get_topic_attributes()
        .topic_arn(TOPIC_ARN)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove("Policy")
        .unwrap_or_default()
}

async fn encrypt_topic(stack: &Stack, key: &str) {
    stack
        .sns()
        .set_topic_attributes()
        .topic_arn(TOPIC_ARN)
        .attribute_name("KmsMasterKeyId")
        .attribute_value(key)
        .send()
        .await
        .unwrap();
}

fn kms(stack: &Stack) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&stack.aws)
}

async fn key_policy(stack: &Stack, key_id: &str) -> String {
    kms(stack)
        .get_key_policy()
        .key_id(key_id)
        .policy_name("default")
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
}

#[tokio::test]
async fn a_topic_policy_without_the_services_is_found_fixed_and_then_clean() {
    let stack = Stack::start_with(|s| s.watch = false).await;
    let mut client = stack.client().await;
    create_topic(&mut client).await;

    // SNS's default policy lets the account's own principals publish, not the services.
    let found = check(&mut client, false, false).await;
    assert_eq!(found.topic_arn, TOPIC_ARN);
    assert_eq!(
        ids(&found),
        ["topic-policy-budgets", "topic-policy-cloudwatch"]
    );
    let budgets = &found.findings[0];
    assert_eq!(budgets.severity, pb::AlertDeliverySeverity::High as i32);
    assert_eq!(budgets.resource, TOPIC_ARN);
    assert!(!budgets.fixed);
    // The fix is the exact statement, with its conditions.
    let statement = topic_statement(Publisher::Budgets, TOPIC_ARN, ACCOUNT).to_string();
    assert!(budgets.fix.contains(&statement), "{}", budgets.fix);
    assert!(
        budgets
            .fix
            .contains(r#""aws:SourceArn":"arn:aws:budgets::123456789012:*""#),
        "{}",
        budgets.fix
    );
    assert!(
        found.findings[1]
            .fix
            .contains(r#""aws:SourceArn":"arn:aws:cloudwatch:us-east-1:123456789012:alarm:*""#),
        "{}",
        found.findings[1].fix
    );
    // Reading changed nothing.
    assert!(!topic_allows(
        &topic_policy(&stack).await,
        TOPIC_ARN,
        Publisher::Budgets
    ));

    let fixed = check(&mut client, true, false).await;
    assert_eq!(ids(&fixed), ids(&found));
    assert!(
        fixed.findings.iter().all(|f| f.fixed),
        "{:?}",
        fixed.findings
    );

    // Budget's own check (the same shared statements) now sees the topic as open to it,
    // and the default statement is still there.
    let policy = topic_policy(&stack).await;
    assert!(
        topic_allows(&policy, TOPIC_ARN, Publisher::Budgets),
        "{policy}"
    );
    assert!(
        topic_allows(&policy, TOPIC_ARN, Publisher::CloudWatch),
        "{policy}"
    );
    assert!(policy.contains("__default_statement_ID"), "{policy}");

    let clean = check(&mut client, false, false).await;
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    stack.stop().await;
}

#[tokio::test]
async fn a_customer_key_without_the_grant_is_fixed_only_when_the_key_fix_is_asked_for() {
    let stack = Stack::start_with(|s| s.watch = false).await;
    let mut client = stack.client().await;
    create_topic(&mut client).await;
    check(&mut client, true, false).await;
    let key = kms(&stack)
        .create_key()
        .description("billing-alarm alerts")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    kms(&stack)
        .create_alias()
        .alias_name("alias/groundwork-alerts")
        .target_key_id(key.key_id())
        .send()
        .await
        .unwrap();
    // The topic names its key by alias, as people usually do: DescribeKey resolves it.
    encrypt_topic(&stack, "alias/groundwork-alerts").await;
    let key_arn = key.arn().unwrap().to_owned();

    let found = check(&mut client, true, false).await;
    assert_eq!(ids(&found), ["key-policy"], "{:?}", found.findings);
    let finding = &found.findings[0];
    assert_eq!(finding.resource, key_arn);
    assert!(
        !finding.fixed,
        "the topic fix alone leaves the key policy alone"
    );
    for p in Publisher::ALL {
        let statement = key_statement(p, ACCOUNT).to_string();
        assert!(finding.fix.contains(&statement), "{p}: {}", finding.fix);
    }
    assert!(
        finding.message.contains("alias/groundwork-alerts"),
        "{}",
        finding.message
    );
    assert!(!key_allows(
        &key_policy(&stack, key.key_id()).await,
        Publisher::Budgets
    ));

    let fixed = check(&mut client, false, true).await;
    assert_eq!(ids(&fixed), ["key-policy"]);
    assert!(fixed.findings[0].fixed);
    let policy = key_policy(&stack, key.key_id()).await;
    for p in Publisher::ALL {
        assert!(key_allows(&policy, p), "{p}: {policy}");
    }
    // The key's own statement (the account's root) is kept.
    assert!(policy.contains(":root"), "{policy}");

    let clean = check(&mut client, false, false).await;
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    stack.stop().await;
}

#[tokio::test]
async fn the_aws_managed_sns_key_is_a_finding_no_key_policy_can_fix() {
    let stack = Stack::start_with(|s| s.watch = false).await;
    let mut client = stack.client().await;
    create_topic(&mut client).await;
    check(&mut client, true, false).await;
    encrypt_topic(&stack, "alias/aws/sns").await;

    let r = check(&mut client, true, true).await;
    assert_eq!(ids(&r), ["aws-managed-key"], "{:?}", r.findings);
    let finding = &r.findings[0];
    assert!(!finding.fixed);
    assert!(
        finding.message.contains("alias/aws/sns"),
        "{}",
        finding.message
    );
    assert!(
        finding.fix.contains("customer managed key"),
        "{}",
        finding.fix
    );
    assert!(
        finding.fix.contains("aws kms create-key"),
        "{}",
        finding.fix
    );
    assert!(finding.fix.contains("KmsMasterKeyId"), "{}", finding.fix);
    assert!(
        finding
            .fix
            .contains(&key_statement(Publisher::CloudWatch, ACCOUNT).to_string()),
        "{}",
        finding.fix
    );

    // Still there: nothing Groundwork may change makes the AWS managed key usable.
    let again = check(&mut client, false, true).await;
    assert_eq!(ids(&again), ["aws-managed-key"]);
    stack.stop().await;
}

#[tokio::test]
async fn bad_requests_and_missing_topics_say_what_is_wrong() {
    let stack = Stack::start_with(|s| s.watch = false).await;
    let mut client = stack.client().await;
    let status = client
        .check_alert_delivery(pb::CheckAlertDeliveryRequest {
            topic: "billing-alarm".into(),
            pending_confirmation_hours: 9000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("pending_confirmation_hours"),
        "{}",
        status.message()
    );
    let status = client
        .check_alert_delivery(pb::CheckAlertDeliveryRequest {
            topic: "arn:aws:sns:eu-west-1:123456789012:billing-alarm".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let status = client
        .check_alert_delivery(pb::CheckAlertDeliveryRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "{}", status.message());
    assert!(
        status.message().contains("billing-alarm"),
        "{}",
        status.message()
    );
    stack.stop().await;
}

/// The watch store on the stack's NATS, connected as the alerting service.
async fn store(stack: &Stack) -> WatchStore {
    let client = stack.nats.client("alerting").await.unwrap();
    let js = groundwork_bus::connect::jetstream(&client, Duration::from_secs(2));
    let emitter = Emitter::new(
        client,
        Duration::from_secs(2),
        Origin {
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
        },
        groundwork_bus::access::Principal::Alerting,
        "default",
    )
    .unwrap();
    WatchStore::open(&js, emitter, 1).await.unwrap()
}

#[tokio::test]
async fn an_email_subscription_pending_longer_than_allowed_is_a_finding() {
    // moto confirms every subscription at once, so SNS's answer for a pending one is
    // played by a mock in the shape AWS gives it (SubscriptionArn "PendingConfirmation");
    // the time it was first seen pending is kept in the real KV bucket on a real NATS.
    let stack = Stack::start_with(|s| s.watch = false).await;
    let store = store(&stack).await;
    let list = mock!(aws_sdk_sns::Client::list_subscriptions_by_topic)
        .match_requests(|r| r.topic_arn() == Some(TOPIC_ARN) && r.next_token().is_none())
        .then_output(|| {
            aws_sdk_sns::operation::list_subscriptions_by_topic::ListSubscriptionsByTopicOutput::builder()
                .subscriptions(
                    aws_sdk_sns::types::Subscription::builder()
                        .subscription_arn("PendingConfirmation")
                        .owner(ACCOUNT)
                        .protocol("email")
                        .endpoint("ops@example.com")
                        .topic_arn(TOPIC_ARN)
                        .build(),
                )
                .subscriptions(
                    aws_sdk_sns::types::Subscription::builder()
                        .subscription_arn(format!("{TOPIC_ARN}:0f6d2f36-6b86-4b0e-9f43-4b8c5ec4e8a1"))
                        .owner(ACCOUNT)
                        .protocol("email")
                        .endpoint("finance@example.com")
                        .topic_arn(TOPIC_ARN)
                        .build(),
                )
                .build()
        });
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&list]);
    let topic = TopicArn::parse("topic", TOPIC_ARN).unwrap();
    let first_seen = OffsetDateTime::now_utc();

    // First seen now: recorded, not yet a finding.
    let now = delivery::check_subscriptions(&sns, &store, &topic, 24, first_seen)
        .await
        .unwrap();
    assert!(now.is_empty(), "{now:?}");
    let key = delivery::pending_key(TOPIC_ARN, "email", "ops@example.com");
    let (recorded, _) = store.get::<PendingSince>(&key).await.unwrap().unwrap();
    assert_eq!(recorded.observed, PendingSince::at(first_seen));
    // The confirmed one is not tracked.
    let confirmed = delivery::pending_key(TOPIC_ARN, "email", "finance@example.com");
    assert!(
        store
            .get::<PendingSince>(&confirmed)
            .await
            .unwrap()
            .is_none()
    );

    // 23 hours on: still within the allowed day.
    let later = first_seen + time::Duration::hours(23);
    assert!(
        delivery::check_subscriptions(&sns, &store, &topic, 24, later)
            .await
            .unwrap()
            .is_empty()
    );

    // 25 hours on: a finding, counted from the recorded moment (a later pass does not
    // move it).
    let late = first_seen + time::Duration::hours(25);
    let found = delivery::check_subscriptions(&sns, &store, &topic, 24, late)
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f.kind.id(), "subscription-pending");
    assert_eq!(f.resource, "email ops@example.com");
    assert!(f.message.contains("25 hours"), "{}", f.message);
    assert!(f.fix.contains("Confirm subscription"), "{}", f.fix);
    assert!(
        f.fix.contains("aws sns subscribe --topic-arn arn:aws:sns:us-east-1:123456789012:billing-alarm --protocol email --notification-endpoint ops@example.com"),
        "{}",
        f.fix
    );
    assert_eq!(list.num_calls(), 3);
    stack.stop().await;
}

#[tokio::test]
async fn a_subscription_created_pending_counts_from_its_creation_and_is_forgotten_once_confirmed() {
    // EnsureSubscription records the moment for a pending subscription; moto confirms at
    // once, so here the service records nothing, and the check over moto finds nothing.
    let stack = Stack::start_with(|s| s.watch = false).await;
    let mut client = stack.client().await;
    create_topic(&mut client).await;
    check(&mut client, true, false).await;
    client
        .ensure_subscription(pb::EnsureSubscriptionRequest {
            topic: "billing-alarm".into(),
            protocol: pb::AlertingProtocol::Email as i32,
            endpoint: "ops@example.com".into(),
        })
        .await
        .unwrap();
    let store = store(&stack).await;
    let key = delivery::pending_key(TOPIC_ARN, "email", "ops@example.com");
    assert!(store.get::<PendingSince>(&key).await.unwrap().is_none());

    // A moment left from when it was pending (an earlier pass) is dropped now that SNS
    // says confirmed, and there is no finding even with a one-hour limit.
    store
        .baseline(
            &key,
            &PendingSince::at(OffsetDateTime::now_utc() - time::Duration::days(2)),
        )
        .await
        .unwrap();
    let r = client
        .check_alert_delivery(pb::CheckAlertDeliveryRequest {
            topic: "billing-alarm".into(),
            pending_confirmation_hours: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert!(store.get::<PendingSince>(&key).await.unwrap().is_none());
    stack.stop().await;
}
