//! Plan reads the live state: after the example spec is applied, someone changes the
//! account by hand — detaches AdministratorAccess and the MFA policy from the group, takes
//! the admin out of it, raises the billing alarm's threshold. The plan names exactly those
//! resources and fields; an apply puts them back; the plan is then a no-op again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use groundwork_e2e::flow;
use groundwork_e2e::{ACCOUNT, EXAMPLE_SPEC, Stack};
use groundwork_proto::v1 as pb;
use pb::SetupRunStatus;

const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

async fn plan(stack: &Stack) -> Vec<(String, pb::PlanAction, Vec<String>)> {
    let mut changes: Vec<_> = stack
        .orchestrator()
        .await
        .plan_spec(pb::PlanSpecRequest {
            spec_toml: EXAMPLE_SPEC.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .changes
        .into_iter()
        .filter(|c| c.action() != pb::PlanAction::Unchanged)
        .map(|c| {
            let action = c.action();
            let mut fields: Vec<String> = c.fields.into_iter().map(|f| f.field).collect();
            fields.sort();
            (c.resource, action, fields)
        })
        .collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    changes
}

async fn apply(stack: &Stack) -> pb::SetupRun {
    let run = flow::apply_to_the_end(stack, EXAMPLE_SPEC).await.unwrap();
    assert_eq!(run.status(), SetupRunStatus::Completed, "{run:#?}");
    run
}

async fn group_policies(stack: &Stack) -> Vec<String> {
    let mut arns: Vec<String> = stack
        .iam()
        .list_attached_group_policies()
        .group_name("Admins")
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    arns.sort();
    arns
}

async fn alarm_threshold(stack: &Stack) -> f64 {
    stack
        .cloudwatch()
        .describe_alarms()
        .alarm_names("billing-alarm")
        .send()
        .await
        .unwrap()
        .metric_alarms()[0]
        .threshold()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_finds_changes_made_by_hand_and_apply_puts_them_back() {
    let stack = Stack::start().await.unwrap();
    apply(&stack).await;
    assert_eq!(plan(&stack).await, vec![], "right after the apply");
    let mfa_policy = format!("arn:aws:iam::{ACCOUNT}:policy/Groundwork-RequireMFA");
    let as_applied = group_policies(&stack).await;
    assert_eq!(
        as_applied,
        vec![mfa_policy.clone(), ADMIN_POLICY.to_owned()]
    );

    // By hand, straight to the account.
    let iam = stack.iam();
    for arn in [ADMIN_POLICY, mfa_policy.as_str()] {
        iam.detach_group_policy()
            .group_name("Admins")
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    }
    iam.remove_user_from_group()
        .group_name("Admins")
        .user_name("admin")
        .send()
        .await
        .unwrap();
    flow::set_alarm_threshold(&stack, 500.0).await.unwrap();
    assert_eq!(alarm_threshold(&stack).await, 500.0);

    // The plan names what changed, and nothing else.
    let drift = plan(&stack).await;
    assert_eq!(
        drift,
        vec![
            (
                "admin-user/admin".to_owned(),
                pb::PlanAction::Update,
                vec!["group".to_owned(), "group_policies".to_owned()]
            ),
            (
                "billing-alarm/billing-alarm".to_owned(),
                pb::PlanAction::Update,
                vec!["threshold_usd".to_owned()]
            ),
            (
                "mfa-policy/Groundwork-RequireMFA".to_owned(),
                pb::PlanAction::Create,
                vec!["group".to_owned(), "policy_name".to_owned()]
            ),
        ],
        "{drift:#?}"
    );

    // Apply puts it back; the plan is a no-op again.
    apply(&stack).await;
    assert_eq!(group_policies(&stack).await, as_applied);
    assert_eq!(alarm_threshold(&stack).await, 20.0);
    let groups: Vec<String> = iam
        .list_groups_for_user()
        .user_name("admin")
        .send()
        .await
        .unwrap()
        .groups()
        .iter()
        .map(|g| g.group_name().to_owned())
        .collect();
    assert_eq!(groups, vec!["Admins".to_owned()]);
    assert_eq!(plan(&stack).await, vec![], "after the second apply");
    stack.stop().await;
}
