//! The Free plan through the whole stack: the plan reports the account's credits and close
//! date, a credits budget takes its limit from the remaining credits (the Free Tier API
//! answered by testkit's stand-in, in front of moto), the apply records the watch, the plan
//! afterwards is a no-op, and on the Paid plan the plan fails naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use groundwork_e2e::{ACCOUNT, Stack, flow, step};
use groundwork_proto::v1 as pb;
use groundwork_testkit::AccountPlan;

const SPEC: &str = r#"
[account]
plan = "free"
credits_low_usd = 20
ending_within_days = 30

[[budgets]]
name = "free-credits"
kind = "credits"
limit_usd = "remaining-credits"
thresholds_percent = [50, 100]
emails = ["ops@example.com"]
"#;

async fn plan(stack: &Stack) -> Result<pb::PlanSpecResponse, tonic::Status> {
    stack
        .orchestrator()
        .await
        .plan_spec(pb::PlanSpecRequest {
            spec_toml: SPEC.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_credits_budget_takes_the_free_plans_remaining_credits() {
    let stack = Stack::start().await.unwrap();
    stack
        .standin
        .set_plan(AccountPlan::free(87.5, "2026-06-01T00:00:00Z"));

    let before = plan(&stack).await.unwrap();
    let account = before.account_plan.as_ref().unwrap();
    assert_eq!(account.plan_type(), pb::AccountPlanType::Free);
    assert_eq!(account.remaining_credits.as_ref().unwrap().amount, "87.5");
    assert_eq!(account.ends_at.as_ref().unwrap().seconds, 1_780_272_000);
    let created: Vec<&str> = before
        .changes
        .iter()
        .filter(|c| c.action() == pb::PlanAction::Create)
        .map(|c| c.resource.as_str())
        .collect();
    assert!(created.contains(&"account-plan/account"), "{created:?}");
    assert!(created.contains(&"budget/free-credits"), "{created:?}");

    let run = flow::apply_to_the_end(&stack, SPEC).await.unwrap();
    assert_eq!(run.status(), pb::SetupRunStatus::Completed, "{run:#?}");
    let budget = step(&run, "budget/free-credits").unwrap();
    assert_eq!(budget.outputs["limit_usd"], "87.50");
    let account = step(&run, "account-plan/account").unwrap();
    assert_eq!(account.outputs["plan"], "free");
    assert_eq!(account.outputs["remaining_credits"], "87.5 USD");
    assert_eq!(account.outputs["plan_ends"], "2026-06-01");
    assert!(account.outputs["report"].contains("the account closes"));
    let in_aws = stack
        .budgets()
        .describe_budget()
        .account_id(ACCOUNT)
        .budget_name("free-credits")
        .send()
        .await
        .unwrap();
    let limit = in_aws.budget().unwrap().budget_limit().unwrap();
    assert_eq!(limit.amount().parse::<f64>().unwrap(), 87.5);

    let after = plan(&stack).await.unwrap();
    assert!(after.noop, "{after:#?}");

    // Upgraded to the Paid plan: the spec no longer holds, and the plan says where.
    stack.standin.set_plan(AccountPlan::paid());
    let refused = plan(&stack).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(
        refused
            .message()
            .contains("budget free-credits: limit_usd = \"remaining-credits\""),
        "{refused:?}"
    );
    assert!(refused.message().contains("Paid plan"), "{refused:?}");
}
