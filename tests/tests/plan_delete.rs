//! Terraform-like deletes: after the example spec is applied, one budget and the billing
//! alarm are taken out of it. The plan names exactly those two as deletions (they were
//! applied before and still exist), the apply removes them from the account and leaves the
//! rest alone, and the plan is then a no-op.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use groundwork_e2e::flow;
use groundwork_e2e::{EXAMPLE_SPEC, Stack, step};
use groundwork_proto::v1 as pb;
use pb::{SetupRunStatus, SetupStepState};

const SPEND_BUDGET: &str = r#"[[budgets]]
name = "monthly-spend"
kind = "spend"
limit_usd = 20
thresholds_percent = [50, 75, 100]
notify_on = ["actual"]
forecast_thresholds_percent = [100]
emails = ["ops@example.com"]
"#;

/// The example without the `monthly-spend` budget and without its billing alarm.
fn smaller_spec() -> String {
    let without_budget = EXAMPLE_SPEC.replacen(SPEND_BUDGET, "", 1);
    assert_ne!(
        without_budget, EXAMPLE_SPEC,
        "the example has the spend budget"
    );
    let alarm_at = without_budget
        .find("[[alerting.billing_alarms]]")
        .expect("the example has a billing alarm");
    // The alarm is the last table of the example: cut it and what follows.
    without_budget[..alarm_at].to_owned()
}

async fn plan(stack: &Stack, spec: &str) -> Vec<(String, pb::PlanAction)> {
    let mut changes: Vec<_> = stack
        .orchestrator()
        .await
        .plan_spec(pb::PlanSpecRequest {
            spec_toml: spec.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .changes
        .into_iter()
        .filter(|c| c.action() != pb::PlanAction::Unchanged)
        .map(|c| {
            let action = c.action();
            (c.resource, action)
        })
        .collect();
    changes.sort();
    changes
}

async fn apply(stack: &Stack, spec: &str) -> pb::SetupRun {
    let run = flow::apply_to_the_end(stack, spec).await.unwrap();
    assert_eq!(run.status(), SetupRunStatus::Completed, "{run:#?}");
    run
}

async fn budget_names(stack: &Stack) -> Vec<String> {
    let mut names: Vec<String> = stack
        .budgets()
        .describe_budgets()
        .account_id(groundwork_e2e::ACCOUNT)
        .send()
        .await
        .unwrap()
        .budgets()
        .iter()
        .map(|b| b.budget_name().to_owned())
        .collect();
    names.sort();
    names
}

async fn alarm_names(stack: &Stack) -> Vec<String> {
    stack
        .cloudwatch()
        .describe_alarms()
        .send()
        .await
        .unwrap()
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resource_removed_from_the_spec_is_planned_as_a_delete_and_removed_by_apply() {
    let stack = Stack::start().await.unwrap();
    apply(&stack, EXAMPLE_SPEC).await;
    assert_eq!(
        budget_names(&stack).await,
        vec!["monthly-credits".to_owned(), "monthly-spend".to_owned()]
    );
    assert_eq!(alarm_names(&stack).await, vec!["billing-alarm".to_owned()]);

    let smaller = smaller_spec();
    assert_eq!(
        plan(&stack, &smaller).await,
        vec![
            (
                "billing-alarm/billing-alarm".to_owned(),
                pb::PlanAction::Delete
            ),
            ("budget/monthly-spend".to_owned(), pb::PlanAction::Delete),
        ],
        "only what left the spec, as deletions"
    );

    let run = apply(&stack, &smaller).await;
    for removed in ["billing-alarm/billing-alarm", "budget/monthly-spend"] {
        let s = step(&run, removed).unwrap_or_else(|| panic!("a step deletes {removed}"));
        assert_eq!(
            s.state(),
            SetupStepState::Succeeded,
            "{removed}: {}",
            s.error
        );
        assert_eq!(s.outcome, "deleted", "{removed}");
    }
    assert_eq!(
        budget_names(&stack).await,
        vec!["monthly-credits".to_owned()],
        "the other budget stays"
    );
    assert_eq!(alarm_names(&stack).await, Vec::<String>::new());

    // Gone from the account and from what Groundwork manages: nothing left to do.
    assert_eq!(plan(&stack, &smaller).await, vec![], "after the apply");
    stack.stop().await;
}
