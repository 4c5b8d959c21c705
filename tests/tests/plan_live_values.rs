//! The plan shows the values in place, not placeholders: after the example spec is applied,
//! the spend budget's limit and the billing alarm's threshold are changed by hand; the plan's
//! "before" side of each is what AWS now holds, under the spec's field names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_budgets::types::{NotificationWithSubscribers, Spend, Subscriber, SubscriptionType};
use groundwork_e2e::flow;
use groundwork_e2e::{ACCOUNT, EXAMPLE_SPEC, Stack};
use groundwork_proto::v1 as pb;
use pb::SetupRunStatus;

async fn apply(stack: &Stack) {
    let run = flow::apply_to_the_end(stack, EXAMPLE_SPEC).await.unwrap();
    assert_eq!(run.status(), SetupRunStatus::Completed, "{run:#?}");
}

/// The plan's changed fields: (resource, field, before, after), values as JSON text.
async fn plan(stack: &Stack) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for c in stack
        .orchestrator()
        .await
        .plan_spec(pb::PlanSpecRequest {
            spec_toml: EXAMPLE_SPEC.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .changes
    {
        for f in c.fields {
            out.push((c.resource.clone(), f.field, f.before_json, f.after_json));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_plan_shows_the_values_in_place() {
    let stack = Stack::start().await.unwrap();
    apply(&stack).await;

    // By hand: the spend budget's limit to 35 USD (moto has no UpdateBudget: the budget is
    // made again with its notifications), the alarm's threshold to 500 USD.
    let budgets = stack.budgets();
    let mut budget = budgets
        .describe_budget()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .send()
        .await
        .unwrap()
        .budget
        .unwrap();
    let mut notifications = Vec::new();
    for n in budgets
        .describe_notifications_for_budget()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .send()
        .await
        .unwrap()
        .notifications()
    {
        // moto does not list subscribers: the spec's one, as the apply made it.
        let subscribers = vec![
            Subscriber::builder()
                .subscription_type(SubscriptionType::Email)
                .address("ops@example.com")
                .build()
                .unwrap(),
        ];
        notifications.push(
            NotificationWithSubscribers::builder()
                .notification(n.clone())
                .set_subscribers(Some(subscribers))
                .build()
                .unwrap(),
        );
    }
    budgets
        .delete_budget()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .send()
        .await
        .unwrap();
    budget.budget_limit = Some(Spend::builder().amount("35").unit("USD").build().unwrap());
    budget.calculated_spend = None;
    budgets
        .create_budget()
        .account_id(ACCOUNT)
        .budget(budget)
        .set_notifications_with_subscribers(Some(notifications))
        .send()
        .await
        .unwrap();
    flow::set_alarm_threshold(&stack, 500.0).await.unwrap();

    let s = |v: &str| v.to_owned();
    assert_eq!(
        plan(&stack).await,
        vec![
            (
                s("billing-alarm/billing-alarm"),
                s("threshold_usd"),
                s("\"500\""),
                s("\"20\"")
            ),
            (
                s("budget/monthly-spend"),
                s("limit_usd"),
                s("\"35\""),
                s("\"20\"")
            ),
        ]
    );
    stack.stop().await;
}
