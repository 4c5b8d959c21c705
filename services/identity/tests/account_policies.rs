//! The account-wide settings against moto: the password policy with CIS defaults, the
//! MFA-enforcement policy on the admin group, and the billing-access check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Stack;
use groundwork_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread")]
async fn the_password_policy_takes_cis_defaults_and_converges() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let first = client
        .ensure_password_policy(pb::EnsurePasswordPolicyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.outcome, pb::Outcome::Created as i32);
    let policy = first.policy.unwrap();
    assert_eq!(policy.minimum_password_length, 14);
    assert_eq!(policy.password_reuse_prevention, 24);
    assert!(policy.require_symbols && policy.require_numbers);
    assert!(policy.require_uppercase_characters && policy.require_lowercase_characters);

    // AWS holds exactly that.
    let stored = stack
        .iam()
        .await
        .get_account_password_policy()
        .send()
        .await
        .unwrap()
        .password_policy
        .unwrap();
    assert_eq!(stored.minimum_password_length, Some(14));
    assert_eq!(stored.password_reuse_prevention, Some(24));
    assert_eq!(stored.max_password_age, Some(90));

    let again = client
        .ensure_password_policy(pb::EnsurePasswordPolicyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, pb::Outcome::Unchanged as i32);

    let longer = client
        .ensure_password_policy(pb::EnsurePasswordPolicyRequest {
            minimum_password_length: Some(20),
            max_password_age: Some(0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(longer.outcome, pb::Outcome::Updated as i32);
    assert_eq!(longer.policy.unwrap().minimum_password_length, 20);

    // The audit's password controls now pass, and new passwords follow the policy.
    let audit = client
        .audit_account(pb::AuditAccountRequest::default())
        .await
        .unwrap()
        .into_inner();
    for control in ["1.8", "1.9"] {
        let f = audit
            .findings
            .iter()
            .find(|f| f.cis_control == control)
            .unwrap();
        assert_eq!(f.status, pb::CheckStatus::Pass as i32, "{control}");
    }
    let admin = client
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut strict = groundwork_identity::password_policy::PasswordPolicy::CIS;
    strict.minimum_password_length = 20;
    assert!(groundwork_identity::password::satisfies(
        &admin.initial_password,
        &strict
    ));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mfa_policy_is_attached_to_the_group_and_converges() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let missing = client
        .ensure_mfa_policy(pb::EnsureMfaPolicyRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        missing.code(),
        tonic::Code::NotFound,
        "the group must exist first"
    );

    client
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let created = client
        .ensure_mfa_policy(pb::EnsureMfaPolicyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.outcome, pb::Outcome::Created as i32);
    assert_eq!(
        created.policy_arn,
        "arn:aws:iam::123456789012:policy/Groundwork-RequireMFA"
    );
    let iam = stack.iam().await;
    let attached = iam
        .list_attached_group_policies()
        .group_name("Admins")
        .send()
        .await
        .unwrap()
        .attached_policies
        .unwrap();
    assert!(
        attached
            .iter()
            .any(|p| p.policy_arn.as_deref() == Some(created.policy_arn.as_str()))
    );
    let version = iam
        .get_policy_version()
        .policy_arn(&created.policy_arn)
        .version_id("v1")
        .send()
        .await
        .unwrap()
        .policy_version
        .unwrap();
    let document = version.document.unwrap();
    assert!(document.contains("BlockMostAccessUnlessSignedInWithMFA"));
    assert!(document.contains("aws:MultiFactorAuthPresent"));

    let again = client
        .ensure_mfa_policy(pb::EnsureMfaPolicyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.outcome,
        pb::Outcome::Unchanged as i32,
        "{:?}",
        again.changes
    );

    // Someone edits the policy: the next call puts the document back.
    iam.create_policy_version()
        .policy_arn(&created.policy_arn)
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    let repaired = client
        .ensure_mfa_policy(pb::EnsureMfaPolicyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(repaired.outcome, pb::Outcome::Updated as i32);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_access_gives_the_manual_step_and_checks_it() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let billing = client
        .describe_billing_access(pb::DescribeBillingAccessRequest {})
        .await
        .unwrap()
        .into_inner();
    // moto does not enforce IAM, so the billing read as an IAM user succeeds.
    assert_eq!(billing.state, pb::BillingAccessState::AppearsDone as i32);
    assert_eq!(
        billing.console_url,
        "https://console.aws.amazon.com/billing/home#/account"
    );
    assert!(
        billing
            .instructions
            .iter()
            .any(|s| s.contains("Activate IAM Access"))
    );
    assert!(billing.evidence.contains("DescribeBudgets"));
    stack.stop().await;
}
