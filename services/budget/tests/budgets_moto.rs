//! EnsureBudget (create, unchanged, drift detected), Get/List/Delete, import of the AWS
//! CLI files, bad input and the SNS topic policy check, against a real moto_server and
//! nats-server. The update calls themselves (which moto lacks) are in `update_paths.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ACCOUNT, Stack, alert, email, ensure, events_of, first_day};
use groundwork_proto::v1 as pb;
use pb::BudgetKind;

#[tokio::test]
async fn the_first_day_budgets_are_created_then_unchanged_then_drift_is_reported_then_deleted() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;

    // Created: both budgets, with their notifications, in one call each.
    for (name, kind) in [
        ("credits", BudgetKind::Credits),
        ("spend", BudgetKind::Spend),
    ] {
        let r = client
            .ensure_budget(ensure(first_day(name, kind, "20")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.outcome, "CREATED", "{name}");
        assert!(r.changes.is_empty());
    }
    assert_eq!(stack.budget_names().await, ["credits", "spend"]);

    // AWS holds what was asked: a 20 USD COST budget, credits selected by RECORD_TYPE.
    let b = stack
        .budgets()
        .describe_budget()
        .account_id(ACCOUNT)
        .budget_name("credits")
        .send()
        .await
        .unwrap()
        .budget
        .unwrap();
    assert_eq!(b.budget_limit().unwrap().amount(), "20");
    assert_eq!(b.time_unit().as_str(), "MONTHLY");
    let dims = b.filter_expression().unwrap().dimensions().unwrap();
    assert_eq!(dims.key().as_str(), "RECORD_TYPE");
    assert_eq!(dims.values(), ["Credit"]);
    let spend = stack
        .budgets()
        .describe_budget()
        .account_id(ACCOUNT)
        .budget_name("spend")
        .send()
        .await
        .unwrap()
        .budget
        .unwrap();
    let not = spend
        .filter_expression()
        .unwrap()
        .not()
        .unwrap()
        .dimensions()
        .unwrap();
    assert_eq!(not.values(), ["Credit", "Refund"]);
    let notes = stack
        .budgets()
        .describe_notifications_for_budget()
        .account_id(ACCOUNT)
        .budget_name("spend")
        .send()
        .await
        .unwrap();
    let mut thresholds: Vec<f64> = notes
        .notifications()
        .iter()
        .map(|n| n.threshold())
        .collect();
    thresholds.sort_by(f64::total_cmp);
    assert_eq!(thresholds, [50.0, 75.0, 100.0]);

    // Applied again: unchanged (moto cannot report subscribers; the response says so).
    for (name, kind) in [
        ("credits", BudgetKind::Credits),
        ("spend", BudgetKind::Spend),
    ] {
        let r = client
            .ensure_budget(ensure(first_day(name, kind, "20")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.outcome, "UNCHANGED", "{name}: {:?}", r.changes);
        assert!(r.notes.iter().any(|n| n.contains("READ_SUBSCRIBERS")));
    }

    // 30 USD: reported as an update of the limit, by UpdateBudget (dry run: moto has no
    // UpdateBudget; the call itself is tested with aws-smithy-mocks).
    let r = client
        .ensure_budget(pb::EnsureBudgetRequest {
            budget: Some(first_day("spend", BudgetKind::Spend, "30")),
            dry_run: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "UPDATED");
    assert_eq!(r.changes.len(), 1);
    assert_eq!(r.changes[0].field, "budget_limit");
    assert_eq!(r.changes[0].before, "20 USD");
    assert_eq!(r.changes[0].after, "30 USD");
    assert_eq!(r.changes[0].action, "UpdateBudget");
    assert!(r.budget.unwrap().managed);

    // Get and List show the budgets with the spend AWS reports.
    let got = client
        .get_budget(pb::GetBudgetRequest {
            budget_name: "credits".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    let def = got.definition.unwrap();
    assert_eq!(def.kind, i32::from(BudgetKind::Credits));
    assert_eq!(def.notifications_with_subscribers.len(), 3);
    assert_eq!(got.actual_spend.unwrap().amount, "0");
    assert!(got.managed);
    let list = client
        .list_budgets(pb::ListBudgetsRequest {})
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = list
        .budgets
        .iter()
        .map(|b| b.definition.as_ref().unwrap().budget_name.clone())
        .collect();
    assert_eq!(names, ["credits", "spend"]);
    assert!(
        list.budgets
            .iter()
            .all(|b| b.forecasted_spend.is_some() && b.managed)
    );

    // Deleted; deleting again or reading it is NOT_FOUND.
    for name in ["credits", "spend"] {
        client
            .delete_budget(pb::DeleteBudgetRequest {
                budget_name: name.into(),
            })
            .await
            .unwrap();
    }
    assert!(stack.budget_names().await.is_empty());
    let status = client
        .delete_budget(pb::DeleteBudgetRequest {
            budget_name: "spend".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let status = client
        .get_budget(pb::GetBudgetRequest {
            budget_name: "spend".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);

    // Events: two created, two deleted, none for the unchanged runs or the dry run.
    let url = &stack.nats;
    let created = events_of(url, "Budget Created").await;
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["source"], "groundwork.budget");
    assert_eq!(created[0]["detail"]["budget"], "credits");
    assert_eq!(created[0]["detail"]["kind"], "credits");
    assert_eq!(
        created[0]["resources"][0],
        format!("arn:aws:budgets::{ACCOUNT}:budget/credits")
    );
    assert!(
        !created[0].to_string().contains("ops@example.com"),
        "addresses stay out of events"
    );
    assert_eq!(events_of(url, "Budget Deleted").await.len(), 2);
    assert!(events_of(url, "Budget Updated").await.is_empty());
    stack.service.stop().await;
}

fn invalid(mutate: impl FnOnce(&mut pb::BudgetDefinition)) -> pb::EnsureBudgetRequest {
    let mut def = first_day("bad", BudgetKind::Spend, "20");
    mutate(&mut def);
    ensure(def)
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field_and_creates_nothing() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let n0 = "budget.notifications_with_subscribers[0]";
    let cases: Vec<(&str, pb::EnsureBudgetRequest, String)> = vec![
        (
            "amount zero",
            invalid(|d| d.budget_limit.as_mut().unwrap().amount = "0".into()),
            "budget.budget_limit.amount".into(),
        ),
        (
            "amount negative",
            invalid(|d| d.budget_limit.as_mut().unwrap().amount = "-20".into()),
            "budget.budget_limit.amount".into(),
        ),
        (
            "amount not a number",
            invalid(|d| d.budget_limit.as_mut().unwrap().amount = "twenty".into()),
            "budget.budget_limit.amount".into(),
        ),
        (
            "unknown currency",
            invalid(|d| d.budget_limit.as_mut().unwrap().unit = "XYZ".into()),
            "budget.budget_limit.unit".into(),
        ),
        (
            "unknown time unit",
            invalid(|d| d.time_unit = "WEEKLY".into()),
            "budget.time_unit".into(),
        ),
        (
            "threshold above range",
            invalid(|d| {
                d.notifications_with_subscribers[0]
                    .notification
                    .as_mut()
                    .unwrap()
                    .threshold = 1500.0
            }),
            format!("{n0}.notification.threshold"),
        ),
        (
            "threshold zero",
            invalid(|d| {
                d.notifications_with_subscribers[0]
                    .notification
                    .as_mut()
                    .unwrap()
                    .threshold = 0.0
            }),
            format!("{n0}.notification.threshold"),
        ),
        (
            "eleven emails",
            invalid(|d| {
                d.notifications_with_subscribers[0].subscribers = (0..11)
                    .map(|i| email(&format!("ops{i}@example.com")))
                    .collect()
            }),
            format!("{n0}.subscribers"),
        ),
        (
            "malformed email",
            invalid(|d| {
                d.notifications_with_subscribers[0].subscribers = vec![email("ops.example.com")]
            }),
            format!("{n0}.subscribers[0].address"),
        ),
        (
            "two topics",
            invalid(|d| {
                d.notifications_with_subscribers[0].subscribers = ["a", "b"]
                    .iter()
                    .map(|t| pb::Subscriber {
                        subscription_type: "SNS".into(),
                        address: format!("arn:aws:sns:us-east-1:{ACCOUNT}:{t}"),
                    })
                    .collect()
            }),
            format!("{n0}.subscribers"),
        ),
        (
            "eleven notifications",
            invalid(|d| {
                d.notifications_with_subscribers = (1..=11)
                    .map(|t| {
                        alert(
                            "ACTUAL",
                            f64::from(t) * 10.0,
                            vec![email("ops@example.com")],
                        )
                    })
                    .collect()
            }),
            "budget.notifications_with_subscribers".into(),
        ),
        (
            "unknown notification type",
            invalid(|d| {
                d.notifications_with_subscribers[0]
                    .notification
                    .as_mut()
                    .unwrap()
                    .notification_type = "PAST".into()
            }),
            format!("{n0}.notification.notification_type"),
        ),
        ("no kind", invalid(|d| d.kind = 0), "budget.kind".into()),
        (
            "name with a colon",
            invalid(|d| d.budget_name = "a:b".into()),
            "budget.budget_name".into(),
        ),
    ];
    for (what, request, field) in cases {
        let status = client.ensure_budget(request).await.unwrap_err();
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{what}: {}",
            status.message()
        );
        assert!(
            status.message().starts_with(&format!("{field}: ")),
            "{what}: '{}' should name {field}",
            status.message()
        );
    }
    assert!(stack.budget_names().await.is_empty(), "nothing was created");
    assert!(events_of(&stack.nats, "Budget Created").await.is_empty());
    stack.service.stop().await;
}

fn example(name: &str) -> String {
    let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn importing_the_sample_cli_files_gives_the_same_budget_as_the_native_request() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let request = pb::ImportAwsCliJsonRequest {
        budget_json: example("budget.json"),
        notifications_with_subscribers_json: example("budget-notifications-with-subscribers.json"),
        apply: false,
        dry_run: false,
    };
    let imported = client
        .import_aws_cli_json(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(imported.result.is_none());
    assert!(
        stack.budget_names().await.is_empty(),
        "converting alone creates nothing"
    );
    let native = first_day("spend", BudgetKind::Spend, "20");
    assert_eq!(imported.budget.unwrap(), native);

    // Applied, it creates the budget; the native request then finds nothing to change.
    let applied = client
        .import_aws_cli_json(pb::ImportAwsCliJsonRequest {
            apply: true,
            ..request
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.result.unwrap().outcome, "CREATED");
    let again = client
        .ensure_budget(ensure(native))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, "UNCHANGED", "{:?}", again.changes);

    // Malformed files are refused with the JSON path of the fault.
    let status = client
        .import_aws_cli_json(pb::ImportAwsCliJsonRequest {
            budget_json: example("budget.json").replace("\"TimeUnit\"", "\"TimeUnits\""),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status
            .message()
            .starts_with("budget_json at $.TimeUnits: unknown field"),
        "{}",
        status.message()
    );
    let status = client
        .import_aws_cli_json(pb::ImportAwsCliJsonRequest {
            budget_json: example("budget.json"),
            notifications_with_subscribers_json: example(
                "budget-notifications-with-subscribers.json",
            )
            .replacen("ops@example.com", "ops-at-example.com", 1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status
            .message()
            .starts_with("notifications_with_subscribers_json at $[0].Subscribers[0].Address: "),
        "{}",
        status.message()
    );
    stack.service.stop().await;
}

async fn topic(stack: &Stack, name: &str, managed: bool) -> String {
    let sns = stack.sns();
    let mut create = sns.create_topic().name(name);
    if managed {
        create = create.tags(
            aws_sdk_sns::types::Tag::builder()
                .key("managed-by")
                .value("groundwork")
                .build()
                .unwrap(),
        );
    }
    create.send().await.unwrap().topic_arn.unwrap()
}

fn with_topic(name: &str, arn: &str) -> pb::EnsureBudgetRequest {
    let mut def = first_day(name, BudgetKind::Spend, "20");
    def.notifications_with_subscribers[2]
        .subscribers
        .push(pb::Subscriber {
            subscription_type: "SNS".into(),
            address: arn.into(),
        });
    ensure(def)
}

#[tokio::test]
async fn an_sns_topic_budgets_cannot_publish_to_is_refused_with_the_fix_unless_groundwork_manages_it()
 {
    let stack = Stack::start().await;
    let mut client = stack.client().await;

    // Someone else's topic with the default policy: refused before anything is created,
    // with the statement to add.
    let foreign = topic(&stack, "team-alerts", false).await;
    let status = client
        .ensure_budget(with_topic("spend", &foreign))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::FailedPrecondition,
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("budgets.amazonaws.com"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("set-topic-attributes"),
        "{}",
        status.message()
    );
    assert!(stack.budget_names().await.is_empty());

    // Groundwork's own topic: its policy is fixed, then the budget is created.
    let own = topic(&stack, "billing-alarm", true).await;
    let r = client
        .ensure_budget(with_topic("spend", &own))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "CREATED");
    assert!(
        r.notes.iter().any(|n| n.contains("AllowAWSBudgetsPublish")),
        "{:?}",
        r.notes
    );
    let policy = stack
        .sns()
        .get_topic_attributes()
        .topic_arn(&own)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove("Policy")
        .unwrap();
    assert!(
        groundwork_budget::sns_policy::allows_budgets(&policy, &own),
        "{policy}"
    );

    // A missing topic is a precondition too.
    let missing = format!("arn:aws:sns:us-east-1:{ACCOUNT}:nope");
    let status = client
        .ensure_budget(with_topic("other", &missing))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status.message().contains("does not exist"),
        "{}",
        status.message()
    );
    stack.service.stop().await;
}

#[tokio::test]
async fn aws_down_is_unavailable() {
    let stack = Stack::start_with(|s| s.common.aws_max_attempts = 1).await;
    let mut client = stack.client().await;
    drop(stack.moto);
    let status = client
        .ensure_budget(ensure(first_day("spend", BudgetKind::Spend, "20")))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::Unavailable,
        "{}",
        status.message()
    );
    stack.service.stop().await;
}
