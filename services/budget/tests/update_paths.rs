//! The paths moto does not implement — UpdateBudget, UpdateNotification,
//! Create/DeleteSubscriber, DescribeSubscribersForNotification — tested at the SDK
//! boundary with aws-smithy-mocks (the AWS SDK's own test tool): the service runs
//! in-process against a real nats-server, and AWS answers from mock rules that also record
//! which calls were made. Also the root guard, which moto cannot exercise (its STS never
//! reports a root ARN).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_budgets::Client as Budgets;
use aws_sdk_budgets::operation::create_budget::CreateBudgetOutput;
use aws_sdk_budgets::operation::create_notification::CreateNotificationOutput;
use aws_sdk_budgets::operation::create_subscriber::CreateSubscriberOutput;
use aws_sdk_budgets::operation::delete_budget::DeleteBudgetOutput;
use aws_sdk_budgets::operation::delete_notification::DeleteNotificationOutput;
use aws_sdk_budgets::operation::delete_subscriber::DeleteSubscriberOutput;
use aws_sdk_budgets::operation::describe_budget::DescribeBudgetOutput;
use aws_sdk_budgets::operation::describe_notifications_for_budget::DescribeNotificationsForBudgetOutput;
use aws_sdk_budgets::operation::describe_subscribers_for_notification::DescribeSubscribersForNotificationOutput;
use aws_sdk_budgets::operation::update_budget::{UpdateBudgetError, UpdateBudgetOutput};
use aws_sdk_budgets::operation::update_notification::UpdateNotificationOutput;
use aws_sdk_budgets::types as sdk;
use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use common::{ACCOUNT, Service, email, ensure, events_of, first_day};
use groundwork_budget::{AwsClients, Settings};
use groundwork_proto::v1 as pb;
use groundwork_testkit::NatsServer;
use pb::BudgetKind;

/// AWS as the mocks hold it: a 20 USD spend budget with ACTUAL alerts at `thresholds`,
/// each to `subscriber`.
struct Aws {
    thresholds: Vec<f64>,
    subscriber: &'static str,
    /// Calls that change something, in order.
    log: Arc<Mutex<Vec<String>>>,
}

fn spend_budget(amount: &str) -> sdk::Budget {
    sdk::Budget::builder()
        .budget_name("spend")
        .budget_limit(
            sdk::Spend::builder()
                .amount(amount)
                .unit("USD")
                .build()
                .unwrap(),
        )
        .time_unit(sdk::TimeUnit::Monthly)
        .budget_type(sdk::BudgetType::Cost)
        .filter_expression(
            sdk::Expression::builder()
                .not(
                    sdk::Expression::builder()
                        .dimensions(
                            sdk::ExpressionDimensionValues::builder()
                                .key(sdk::Dimension::RecordType)
                                .values("Credit")
                                .values("Refund")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build(),
        )
        .calculated_spend(
            sdk::CalculatedSpend::builder()
                .actual_spend(
                    sdk::Spend::builder()
                        .amount("4.2")
                        .unit("USD")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
        .unwrap()
}

fn notification(threshold: f64) -> sdk::Notification {
    sdk::Notification::builder()
        .notification_type(sdk::NotificationType::Actual)
        .comparison_operator(sdk::ComparisonOperator::GreaterThan)
        .threshold(threshold)
        .threshold_type(sdk::ThresholdType::Percentage)
        .build()
        .unwrap()
}

/// Every rule, so that each test can count the calls it expects and the ones it forbids.
struct Rules {
    sts: Rule,
    describe: Rule,
    notifications: Rule,
    subscribers: Rule,
    update_budget: Rule,
    update_notification: Rule,
    create_subscriber: Rule,
    delete_subscriber: Rule,
    create_budget: Rule,
    delete_budget: Rule,
    create_notification: Rule,
    delete_notification: Rule,
}

impl Aws {
    fn new(thresholds: &[f64], subscriber: &'static str) -> Self {
        Self {
            thresholds: thresholds.to_vec(),
            subscriber,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn rules(&self, caller_arn: &'static str, update_budget: Option<Rule>) -> Rules {
        let log = |name: &'static str| {
            let log = self.log.clone();
            move |detail: String| log.lock().unwrap().push(format!("{name} {detail}"))
        };
        let thresholds = self.thresholds.clone();
        let subscriber = self.subscriber;
        let record = log("UpdateBudget");
        let update_notification = log("UpdateNotification");
        let create_subscriber = log("CreateSubscriber");
        let delete_subscriber = log("DeleteSubscriber");
        Rules {
            sts: mock!(aws_sdk_sts::Client::get_caller_identity).then_output(move || {
                GetCallerIdentityOutput::builder()
                    .account(ACCOUNT)
                    .arn(caller_arn)
                    .user_id("AIDAEXAMPLE")
                    .build()
            }),
            describe: mock!(Budgets::describe_budget)
                .match_requests(|r| {
                    r.account_id() == Some(ACCOUNT) && r.budget_name() == Some("spend")
                })
                .then_output(|| {
                    DescribeBudgetOutput::builder()
                        .budget(spend_budget("20"))
                        .build()
                }),
            notifications: mock!(Budgets::describe_notifications_for_budget).then_output(
                move || {
                    DescribeNotificationsForBudgetOutput::builder()
                        .set_notifications(Some(
                            thresholds.iter().map(|t| notification(*t)).collect(),
                        ))
                        .build()
                },
            ),
            subscribers: mock!(Budgets::describe_subscribers_for_notification).then_output(
                move || {
                    DescribeSubscribersForNotificationOutput::builder()
                        .subscribers(
                            sdk::Subscriber::builder()
                                .subscription_type(sdk::SubscriptionType::Email)
                                .address(subscriber)
                                .build()
                                .unwrap(),
                        )
                        .build()
                },
            ),
            update_budget: update_budget.unwrap_or_else(|| {
                mock!(Budgets::update_budget).then_compute_output(move |r| {
                    let b = r.new_budget().unwrap();
                    record(format!(
                        "{} {}",
                        b.budget_name(),
                        b.budget_limit().unwrap().amount()
                    ));
                    UpdateBudgetOutput::builder().build()
                })
            }),
            update_notification: mock!(Budgets::update_notification).then_compute_output(
                move |r| {
                    update_notification(format!(
                        "{} -> {}",
                        r.old_notification().unwrap().threshold(),
                        r.new_notification().unwrap().threshold()
                    ));
                    UpdateNotificationOutput::builder().build()
                },
            ),
            create_subscriber: mock!(Budgets::create_subscriber).then_compute_output(move |r| {
                create_subscriber(format!(
                    "{} {}",
                    r.notification().unwrap().threshold(),
                    r.subscriber().unwrap().address()
                ));
                CreateSubscriberOutput::builder().build()
            }),
            delete_subscriber: mock!(Budgets::delete_subscriber).then_compute_output(move |r| {
                delete_subscriber(format!(
                    "{} {}",
                    r.notification().unwrap().threshold(),
                    r.subscriber().unwrap().address()
                ));
                DeleteSubscriberOutput::builder().build()
            }),
            create_budget: mock!(Budgets::create_budget)
                .then_output(|| CreateBudgetOutput::builder().build()),
            delete_budget: mock!(Budgets::delete_budget)
                .then_output(|| DeleteBudgetOutput::builder().build()),
            create_notification: mock!(Budgets::create_notification)
                .then_output(|| CreateNotificationOutput::builder().build()),
            delete_notification: mock!(Budgets::delete_notification)
                .then_output(|| DeleteNotificationOutput::builder().build()),
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Rules {
    fn clients(&self) -> AwsClients {
        let budgets = mock_client!(
            aws_sdk_budgets,
            RuleMode::MatchAny,
            [
                &self.describe,
                &self.notifications,
                &self.subscribers,
                &self.update_budget,
                &self.update_notification,
                &self.create_subscriber,
                &self.delete_subscriber,
                &self.create_budget,
                &self.delete_budget,
                &self.create_notification,
                &self.delete_notification,
            ]
        );
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&self.sts]);
        AwsClients {
            budgets,
            sts,
            // Neither the Free Tier API nor SNS is called in these tests.
            freetier: aws_sdk_freetier::Client::new(&aws_config::SdkConfig::builder().build()),
            sns_config: aws_config::SdkConfig::builder().build(),
        }
    }

    /// The calls that would lose the budget's history must never happen.
    fn assert_never_recreated(&self) {
        assert_eq!(self.create_budget.num_calls(), 0, "CreateBudget");
        assert_eq!(self.delete_budget.num_calls(), 0, "DeleteBudget");
    }
}

async fn service(nats: &NatsServer, clients: AwsClients) -> Service {
    common::start_bus(nats).await;
    let mut settings = Settings::on(nats.settings_for("budget"));
    settings.watch_interval_secs = 0;
    settings.read_subscribers = true;
    Service::start(settings, clients).await
}

#[tokio::test]
async fn thirty_usd_is_one_update_budget_in_place_and_reported_updated() {
    let nats = NatsServer::start().unwrap();
    let aws = Aws::new(&[50.0, 75.0, 100.0], "ops@example.com");
    let rules = aws.rules("arn:aws:iam::123456789012:user/admin", None);
    let service = service(&nats, rules.clients()).await;
    let mut client = service.client().await;

    let r = client
        .ensure_budget(ensure(first_day("spend", BudgetKind::Spend, "30")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "UPDATED");
    assert_eq!(r.changes.len(), 1, "{:?}", r.changes);
    assert_eq!(
        (
            r.changes[0].field.as_str(),
            r.changes[0].before.as_str(),
            r.changes[0].after.as_str()
        ),
        ("budget_limit", "20 USD", "30 USD")
    );
    assert_eq!(aws.log(), ["UpdateBudget spend 30"]);
    rules.assert_never_recreated();
    assert_eq!(
        rules.create_notification.num_calls() + rules.delete_notification.num_calls(),
        0
    );
    assert_eq!(r.budget.unwrap().actual_spend.unwrap().amount, "4.2");

    let updated = events_of(&nats, "Budget Updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["detail"]["changes"][0]["field"], "budget_limit");
    assert_eq!(updated[0]["detail"]["changes"][0]["after"], "30 USD");
    service.stop().await;
}

#[tokio::test]
async fn the_same_budget_with_the_same_subscribers_is_unchanged_and_calls_nothing_that_changes() {
    let nats = NatsServer::start().unwrap();
    let aws = Aws::new(&[50.0, 75.0, 100.0], "ops@example.com");
    let rules = aws.rules("arn:aws:iam::123456789012:user/admin", None);
    let service = service(&nats, rules.clients()).await;
    let mut client = service.client().await;
    let r = client
        .ensure_budget(ensure(first_day("spend", BudgetKind::Spend, "20")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "UNCHANGED", "{:?}", r.changes);
    assert!(
        r.notes.is_empty(),
        "subscribers were read and compared: {:?}",
        r.notes
    );
    assert_eq!(
        rules.subscribers.num_calls(),
        3,
        "one read per notification"
    );
    assert!(aws.log().is_empty());
    rules.assert_never_recreated();
    assert!(events_of(&nats, "Budget Updated").await.is_empty());
    service.stop().await;
}

#[tokio::test]
async fn a_moved_threshold_and_a_new_email_are_corrected_in_place_adding_before_removing() {
    let nats = NatsServer::start().unwrap();
    let aws = Aws::new(&[50.0, 75.0, 100.0], "old@example.com");
    let rules = aws.rules("arn:aws:iam::123456789012:user/admin", None);
    let service = service(&nats, rules.clients()).await;
    let mut client = service.client().await;

    let mut def = first_day("spend", BudgetKind::Spend, "20");
    def.notifications_with_subscribers[1]
        .notification
        .as_mut()
        .unwrap()
        .threshold = 80.0;
    for n in &mut def.notifications_with_subscribers {
        n.subscribers = vec![email("new@example.com")];
    }
    let r = client
        .ensure_budget(ensure(def))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "UPDATED");
    assert_eq!(
        aws.log(),
        [
            "UpdateNotification 75 -> 80",
            "CreateSubscriber 50 new@example.com",
            "CreateSubscriber 80 new@example.com",
            "CreateSubscriber 100 new@example.com",
            "DeleteSubscriber 50 old@example.com",
            "DeleteSubscriber 80 old@example.com",
            "DeleteSubscriber 100 old@example.com",
        ]
    );
    rules.assert_never_recreated();
    assert_eq!(
        rules.update_budget.num_calls(),
        0,
        "the budget itself did not change"
    );
    assert_eq!(
        rules.create_notification.num_calls() + rules.delete_notification.num_calls(),
        0
    );
    let fields: Vec<&str> = r.changes.iter().map(|c| c.field.as_str()).collect();
    assert!(
        fields.contains(&"notifications[ACTUAL GREATER_THAN 75 %]"),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"notifications[ACTUAL GREATER_THAN 80 %].subscribers"),
        "{fields:?}"
    );
    service.stop().await;
}

#[tokio::test]
async fn throttling_on_update_is_unavailable_so_the_caller_retries() {
    let nats = NatsServer::start().unwrap();
    let aws = Aws::new(&[50.0, 75.0, 100.0], "ops@example.com");
    let throttled = mock!(Budgets::update_budget).then_error(|| {
        UpdateBudgetError::ThrottlingException(
            // The metadata AWS's deserializer would attach to a throttling answer.
            sdk::error::ThrottlingException::builder()
                .message("Rate exceeded")
                .meta(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("ThrottlingException")
                        .message("Rate exceeded")
                        .build(),
                )
                .build(),
        )
    });
    let rules = aws.rules("arn:aws:iam::123456789012:user/admin", Some(throttled));
    let service = service(&nats, rules.clients()).await;
    let mut client = service.client().await;
    let status = client
        .ensure_budget(ensure(first_day("spend", BudgetKind::Spend, "30")))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::Unavailable,
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("Rate exceeded"),
        "{}",
        status.message()
    );
    rules.assert_never_recreated();
    service.stop().await;
}

#[tokio::test]
async fn root_credentials_are_refused_before_any_budget_call() {
    let nats = NatsServer::start().unwrap();
    let aws = Aws::new(&[50.0], "ops@example.com");
    let rules = aws.rules("arn:aws:iam::123456789012:root", None);
    let service = service(&nats, rules.clients()).await;
    let mut client = service.client().await;
    let status = client
        .ensure_budget(ensure(first_day("spend", BudgetKind::Spend, "20")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status.message().contains("root credentials"),
        "{}",
        status.message()
    );
    let status = client
        .delete_budget(pb::DeleteBudgetRequest {
            budget_name: "spend".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(rules.describe.num_calls(), 0);
    rules.assert_never_recreated();
    service.stop().await;
}
