//! EnsureBudget and the KMS key of an SNS topic its alerts go to, against a real
//! moto_server (SNS and KMS): a key AWS Budgets may not use is a note with its fix, and
//! the budget is still created (its email subscribers get the alerts). The statements are
//! the shared ones of `groundwork_cloud::delivery`, as alerting's CheckAlertDelivery uses
//! them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ACCOUNT, Stack, ensure, first_day};
use groundwork_cloud::delivery::{self, Publisher};
use groundwork_proto::v1 as pb;

/// A topic Groundwork manages (so that its policy is fixed), encrypted with `key`.
async fn encrypted_topic(stack: &Stack, key: &str) -> String {
    let sns = stack.sns();
    let arn = sns
        .create_topic()
        .name("billing-alarm")
        .tags(
            aws_sdk_sns::types::Tag::builder()
                .key("managed-by")
                .value("groundwork")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("KmsMasterKeyId")
        .attribute_value(key)
        .send()
        .await
        .unwrap();
    arn
}

fn with_topic(arn: &str) -> pb::EnsureBudgetRequest {
    let mut def = first_day("spend", pb::BudgetKind::Spend, "20");
    def.notifications_with_subscribers[0]
        .subscribers
        .push(pb::Subscriber {
            subscription_type: "SNS".into(),
            address: arn.into(),
        });
    ensure(def)
}

#[tokio::test]
async fn a_customer_key_budgets_may_not_use_is_a_note_with_the_key_statement() {
    let stack = Stack::start().await;
    let kms = delivery::kms_client(&stack.sdk, "us-east-1");
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let arn = encrypted_topic(&stack, key.arn().unwrap()).await;

    let r = stack
        .client()
        .await
        .ensure_budget(with_topic(&arn))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "CREATED");
    let statement = delivery::key_statement(Publisher::Budgets, ACCOUNT).to_string();
    let note = r
        .notes
        .iter()
        .find(|n| n.contains("KMS key"))
        .unwrap_or_else(|| panic!("{:?}", r.notes));
    assert!(note.contains(&statement), "{note}");
    // Only Budgets is budget's concern: the CloudWatch statement is alerting's.
    assert!(!note.contains("cloudwatch.amazonaws.com"), "{note}");
    // The topic policy was fixed as before, with the shared statement.
    assert!(
        r.notes.iter().any(|n| n.contains("AllowAWSBudgetsPublish")),
        "{:?}",
        r.notes
    );

    // Once the key policy has the statement, the note is gone.
    let policy = kms
        .get_key_policy()
        .key_id(key.key_id())
        .policy_name("default")
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    kms.put_key_policy()
        .key_id(key.key_id())
        .policy_name("default")
        .policy(delivery::with_key_statements(
            &policy,
            ACCOUNT,
            &[Publisher::Budgets],
        ))
        .send()
        .await
        .unwrap();
    let again = stack
        .client()
        .await
        .ensure_budget(with_topic(&arn))
        .await
        .unwrap()
        .into_inner();
    // (moto has no DescribeSubscribersForNotification: the service notes that too.)
    assert!(
        !again.notes.iter().any(|n| n.contains("KMS key")),
        "{:?}",
        again.notes
    );
    assert!(
        !again.notes.is_empty() && again.notes.iter().all(|n| n.contains("subscribers")),
        "{:?}",
        again.notes
    );
    stack.service.stop().await;
}

#[tokio::test]
async fn the_aws_managed_sns_key_is_a_note_with_the_way_to_a_customer_key() {
    let stack = Stack::start().await;
    let arn = encrypted_topic(&stack, "alias/aws/sns").await;
    let r = stack
        .client()
        .await
        .ensure_budget(with_topic(&arn))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "CREATED");
    let note = r
        .notes
        .iter()
        .find(|n| n.contains("alias/aws/sns"))
        .unwrap_or_else(|| panic!("{:?}", r.notes));
    assert!(note.contains("customer managed key"), "{note}");
    assert!(note.contains("KmsMasterKeyId"), "{note}");
    stack.service.stop().await;
}
