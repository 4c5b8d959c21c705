//! The guardrails' IAM side against moto: the "deny new spend" policy and the execution
//! role AWS Budgets assumes are created, reported unchanged, put back in place when they
//! drift, and deleted, even while the policy is attached.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ACCOUNT, Stack};
use groundwork_identity::guardrails;
use groundwork_proto::v1 as pb;
use serde_json::Value;

fn grants() -> pb::BudgetsActionGrants {
    pb::BudgetsActionGrants {
        deny_new_spend: true,
        policy_arns: vec![],
        group_names: vec!["Admins".into()],
        user_names: vec![],
        stop_instances: vec![pb::StopInstancesGrant {
            kind: "EC2".into(),
            region: "eu-west-1".into(),
            instance_ids: vec!["i-0123456789abcdef0".into()],
        }],
    }
}

fn parse(text: &str) -> Value {
    guardrails::parse_document(text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deny_policy_is_created_then_unchanged_then_its_drift_is_a_new_version_then_deleted() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let iam = stack.iam().await;
    let arn = "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend";

    let first = client
        .ensure_guardrail_policy(pb::EnsureGuardrailPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.outcome, pb::Outcome::Created as i32);
    assert_eq!(first.arn, arn);
    let policy = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    assert_eq!(policy.path(), Some("/groundwork/"));
    let version = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(policy.default_version_id().unwrap())
        .send()
        .await
        .unwrap()
        .policy_version
        .unwrap();
    assert_eq!(
        parse(version.document().unwrap()),
        guardrails::deny_new_spend_document()
    );

    let again = client
        .ensure_guardrail_policy(pb::EnsureGuardrailPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, pb::Outcome::Unchanged as i32);
    assert!(again.changes.is_empty());

    // Someone makes the policy deny less: the next ensure puts the document back as the
    // default version, in place.
    iam.create_policy_version()
        .policy_arn(arn)
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:CreateBucket","Resource":"*"}]}"#,
        )
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    let described = client
        .describe_guardrail_resources(pb::DescribeGuardrailResourcesRequest {
            grants: Some(grants()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(described.policy_exists && !described.policy_current);
    let fixed = client
        .ensure_guardrail_policy(pb::EnsureGuardrailPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fixed.outcome, pb::Outcome::Updated as i32);
    assert_eq!(
        fixed.changes,
        vec![format!("updated the document of {arn}")]
    );
    let described = client
        .describe_guardrail_resources(pb::DescribeGuardrailResourcesRequest {
            grants: Some(grants()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(described.policy_current);

    // Attached (as a budget action leaves it), it is still deleted: detached first.
    iam.create_group()
        .group_name("Admins")
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name("Admins")
        .policy_arn(arn)
        .send()
        .await
        .unwrap();
    let deleted = client
        .delete_guardrail_policy(pb::DeleteGuardrailPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.outcome, pb::Outcome::Deleted as i32);
    assert!(
        deleted
            .changes
            .contains(&"attachment to group Admins".to_owned()),
        "{:?}",
        deleted.changes
    );
    assert!(iam.get_policy().policy_arn(arn).send().await.is_err());
    let gone = client
        .delete_guardrail_policy(pb::DeleteGuardrailPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(gone.outcome, pb::Outcome::Absent as i32);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_budgets_role_is_created_least_privilege_and_drift_in_trust_or_permissions_is_put_back()
{
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let iam = stack.iam().await;
    let role_name = guardrails::BUDGETS_ACTION_ROLE;

    let first = client
        .ensure_budgets_action_role(pb::EnsureBudgetsActionRoleRequest {
            grants: Some(grants()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.outcome, pb::Outcome::Created as i32);
    assert_eq!(
        first.arn,
        "arn:aws:iam::123456789012:role/groundwork/Groundwork-BudgetsActionRole"
    );
    let role = iam
        .get_role()
        .role_name(role_name)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(role.path(), "/groundwork/");
    let trust = parse(role.assume_role_policy_document().unwrap());
    assert_eq!(trust, guardrails::budgets_trust_document(ACCOUNT));
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "budgets.amazonaws.com"
    );
    let permissions = iam
        .get_role_policy()
        .role_name(role_name)
        .policy_name(guardrails::BUDGETS_ACTION_ROLE_POLICY)
        .send()
        .await
        .unwrap();
    let permissions = parse(permissions.policy_document());
    let text = permissions.to_string();
    assert!(text.contains("iam:AttachGroupPolicy"));
    assert!(text.contains("arn:aws:iam::123456789012:group/Admins"));
    assert!(text.contains("AWS-StopEC2Instance"));
    assert!(!text.contains("iam:PassRole") && !text.contains("\"iam:*\""));

    let again = client
        .ensure_budgets_action_role(pb::EnsureBudgetsActionRoleRequest {
            grants: Some(grants()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, pb::Outcome::Unchanged as i32, "{again:?}");

    // The trust opened to every account, and the permissions widened: both put back.
    iam.update_assume_role_policy()
        .role_name(role_name)
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"budgets.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(role_name)
        .policy_name(guardrails::BUDGETS_ACTION_ROLE_POLICY)
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let described = client
        .describe_guardrail_resources(pb::DescribeGuardrailResourcesRequest {
            grants: Some(grants()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(described.role_exists && !described.role_current);
    let fixed = client
        .ensure_budgets_action_role(pb::EnsureBudgetsActionRoleRequest {
            grants: Some(grants()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fixed.outcome, pb::Outcome::Updated as i32);
    assert_eq!(fixed.changes.len(), 2, "{:?}", fixed.changes);
    let described = client
        .describe_guardrail_resources(pb::DescribeGuardrailResourcesRequest {
            grants: Some(grants()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(described.role_current);

    // Other grants (another group) are another document: an update, not a new role.
    let mut wider = grants();
    wider.group_names.push("Developers".into());
    let widened = client
        .ensure_budgets_action_role(pb::EnsureBudgetsActionRoleRequest {
            grants: Some(wider),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(widened.outcome, pb::Outcome::Updated as i32);

    let deleted = client
        .delete_budgets_action_role(pb::DeleteBudgetsActionRoleRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.outcome, pb::Outcome::Deleted as i32);
    assert!(iam.get_role().role_name(role_name).send().await.is_err());
    let gone = client
        .delete_budgets_action_role(pb::DeleteBudgetsActionRoleRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(gone.outcome, pb::Outcome::Absent as i32);
    stack.stop().await;
}

/// A change that makes grants invalid.
type Mutation = Box<dyn Fn(&mut pb::BudgetsActionGrants)>;

#[tokio::test(flavor = "multi_thread")]
async fn bad_grants_are_invalid_argument_naming_the_field_and_create_nothing() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "grants.stop_instances[0].kind",
            Box::new(|g| g.stop_instances[0].kind = "LAMBDA".into()),
        ),
        (
            "grants.stop_instances[0].region",
            Box::new(|g| g.stop_instances[0].region = "europe".into()),
        ),
        (
            "grants.stop_instances[0].instance_ids",
            Box::new(|g| g.stop_instances[0].instance_ids = vec!["tag:env=dev".into()]),
        ),
        (
            "grants.group_names",
            Box::new(|g| g.group_names = vec!["Ad mins".into()]),
        ),
        (
            "grants.policy_arns",
            Box::new(|g| g.policy_arns = vec!["Groundwork-DenyNewSpend".into()]),
        ),
    ];
    for (field, mutate) in cases {
        let mut g = grants();
        mutate(&mut g);
        let err = client
            .ensure_budgets_action_role(pb::EnsureBudgetsActionRoleRequest { grants: Some(g) })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{field}");
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }
    let iam = stack.iam().await;
    assert!(
        iam.get_role()
            .role_name(guardrails::BUDGETS_ACTION_ROLE)
            .send()
            .await
            .is_err()
    );
    stack.stop().await;
}
