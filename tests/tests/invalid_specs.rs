//! Acceptance: invalid specs (an unknown field, a bad email, a negative amount, a policy
//! that does not exist) are refused by ValidateSpec and by ApplySpec with the TOML path and
//! the reason, and nothing reaches AWS: the front before moto sees no mutating call, and
//! moto holds no user, budget, topic or alarm.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use groundwork_e2e::{ACCOUNT, EXAMPLE_SPEC, Stack};
use groundwork_proto::v1 as pb;

/// The example with one change; panics if `from` is not in it.
fn edited(from: &str, to: &str) -> String {
    assert!(EXAMPLE_SPEC.contains(from), "{from}");
    EXAMPLE_SPEC.replacen(from, to, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_specs_fail_validate_and_apply_with_path_and_reason_and_create_nothing() {
    let stack = Stack::start().await.unwrap();
    let mut orchestrator = stack.orchestrator().await;
    let cases = [
        (
            "an unknown field",
            edited(
                "group = \"Admins\"",
                "group = \"Admins\"\nadmn_group = \"x\"",
            ),
            "identity.admn_group",
            "unknown field",
        ),
        (
            "a bad email",
            edited(
                "emails = [\"ops@example.com\"]",
                "emails = [\"ops-at-example.com\"]",
            ),
            "budgets[0].emails[0]",
            "ops-at-example.com",
        ),
        (
            "a negative amount",
            edited("limit_usd = 20", "limit_usd = -5"),
            "budgets[0].limit_usd",
            "greater than 0",
        ),
        (
            // Well-formed, so only the account can tell: identity's CheckPolicies.
            "a policy that does not exist",
            edited(
                "\"arn:aws:iam::aws:policy/AdministratorAccess\"]",
                "\"arn:aws:iam::aws:policy/AdministratorAccess\", \"arn:aws:iam::aws:policy/NoSuchPolicyAnywhere\"]",
            ),
            "identity.group_policies[1]",
            "arn:aws:iam::aws:policy/NoSuchPolicyAnywhere does not exist",
        ),
    ];
    for (what, spec, path, reason) in &cases {
        let v = orchestrator
            .validate_spec(pb::ValidateSpecRequest {
                spec_toml: spec.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!v.valid, "{what}");
        let problem = v
            .problems
            .iter()
            .find(|p| p.path == *path)
            .unwrap_or_else(|| panic!("{what}: no problem at {path}: {:?}", v.problems));
        assert!(
            problem.reason.contains(reason),
            "{what}: {}",
            problem.reason
        );
        assert!(problem.line > 0, "{what}: the line is given");

        let refused = orchestrator
            .apply_spec(pb::ApplySpecRequest {
                spec_toml: spec.clone(),
                resume_run_id: String::new(),
            })
            .await
            .expect_err(what);
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{what}");
        assert!(
            refused.message().contains(path) && refused.message().contains(reason),
            "{what}: {}",
            refused.message()
        );
    }

    // No change was asked of AWS (the services' watchers only read), and nothing exists.
    let mutating: Vec<String> = stack
        .inbox
        .calls()
        .into_iter()
        .filter(|c| {
            let action = c.rsplit('.').next().unwrap_or(c);
            [
                "Create",
                "Put",
                "Update",
                "Delete",
                "Attach",
                "Subscribe",
                "Enable",
                "Set",
                "Tag",
                "Add",
                "Upload",
            ]
            .iter()
            .any(|verb| action.starts_with(verb))
        })
        .collect();
    assert_eq!(mutating, Vec::<String>::new());
    let users = stack.iam().list_users().send().await.unwrap();
    assert!(users.users().is_empty());
    let budgets = stack
        .budgets()
        .describe_budgets()
        .account_id(ACCOUNT)
        .send()
        .await;
    if let Ok(b) = budgets {
        assert!(b.budgets().is_empty());
    }
    assert!(
        stack
            .sns()
            .list_topics()
            .send()
            .await
            .unwrap()
            .topics()
            .is_empty()
    );
    assert!(
        stack
            .cloudwatch()
            .describe_alarms()
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .is_empty()
    );
    // And no run was recorded.
    let runs = orchestrator
        .list_runs(pb::ListRunsRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner();
    assert!(runs.runs.is_empty());

    stack.stop().await;
}
