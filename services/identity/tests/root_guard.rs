//! Root credentials, as STS reports them (`arn:aws:iam::<account>:root`), are refused on
//! every call that changes the account, before anything changes; only EnsureAdmin with
//! `allow_root_bootstrap` runs, and then says to delete the root access keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Stack;
use groundwork_proto::v1 as pb;

fn assert_refused_root<T: std::fmt::Debug>(result: Result<T, tonic::Status>, call: &str) {
    let status = result.expect_err(call);
    assert_eq!(
        status.code(),
        tonic::Code::FailedPrecondition,
        "{call}: {}",
        status.message()
    );
    assert!(
        status.message().contains("root"),
        "{call}: {}",
        status.message()
    );
    assert!(
        status.message().contains("arn:aws:iam::123456789012:root"),
        "{call}: {}",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mutating_call_refuses_root_and_the_bootstrap_is_explicit() {
    let stack = Stack::start_as_root().await;
    let mut client = stack.client().await;
    // Something for the MFA and delete calls to act on, made behind the service's back.
    let iam = stack.iam().await;
    iam.create_user()
        .user_name("existing")
        .send()
        .await
        .unwrap();
    iam.create_group()
        .group_name("Admins")
        .send()
        .await
        .unwrap();

    assert_refused_root(
        client
            .ensure_admin(pb::EnsureAdminRequest {
                user_name: "admin".into(),
                ..Default::default()
            })
            .await,
        "EnsureAdmin",
    );
    assert_refused_root(
        client
            .delete_admin(pb::DeleteAdminRequest {
                user_name: "existing".into(),
                group_name: String::new(),
            })
            .await,
        "DeleteAdmin",
    );
    assert_refused_root(
        client
            .start_mfa_enrollment(pb::StartMfaEnrollmentRequest {
                user_name: "existing".into(),
                ..Default::default()
            })
            .await,
        "StartMfaEnrollment",
    );
    assert_refused_root(
        client
            .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest {
                user_name: "existing".into(),
                serial_number: String::new(),
                authentication_code_1: "123456".into(),
                authentication_code_2: "654321".into(),
            })
            .await,
        "CompleteMfaEnrollment",
    );
    assert_refused_root(
        client
            .ensure_mfa_policy(pb::EnsureMfaPolicyRequest::default())
            .await,
        "EnsureMfaPolicy",
    );
    assert_refused_root(
        client
            .ensure_password_policy(pb::EnsurePasswordPolicyRequest::default())
            .await,
        "EnsurePasswordPolicy",
    );

    // Nothing changed.
    let users: Vec<String> = iam
        .list_users()
        .send()
        .await
        .unwrap()
        .users
        .into_iter()
        .map(|u| u.user_name)
        .collect();
    assert_eq!(users, ["existing"]);
    assert!(
        iam.list_virtual_mfa_devices()
            .send()
            .await
            .unwrap()
            .virtual_mfa_devices
            .is_empty()
    );
    assert!(iam.get_account_password_policy().send().await.is_err());
    assert!(stack.detail_types().await.is_empty());

    // Reading is allowed, and the audit names the problem.
    let audit = client
        .audit_account(pb::AuditAccountRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(audit.caller.unwrap().is_root);
    let root_use = audit
        .findings
        .iter()
        .find(|f| f.cis_control == "1.7")
        .unwrap();
    assert_eq!(root_use.status, pb::CheckStatus::Fail as i32);
    let billing = client
        .describe_billing_access(pb::DescribeBillingAccessRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(billing.state, pb::BillingAccessState::Unknown as i32);

    // The one bootstrap step, asked for explicitly.
    let bootstrap = client
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: "admin".into(),
            allow_root_bootstrap: true,
            programmatic_access: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bootstrap.outcome, pb::Outcome::Created as i32);
    assert!(bootstrap.access_key.is_some());
    assert!(
        bootstrap
            .recommendations
            .iter()
            .any(|r| r.contains("delete the root access keys")),
        "{:?}",
        bootstrap.recommendations
    );
    let events = stack.events().await;
    let created = events
        .iter()
        .find(|e| e["detail-type"] == "Admin User Created")
        .unwrap();
    assert_eq!(created["detail"]["rootBootstrap"], true);
    stack.stop().await;
}
