//! Bad input gets INVALID_ARGUMENT naming the field, and leaves nothing half-made: after
//! every refusal the account is as it was, and a good request then converges.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Stack, assert_invalid, two_consecutive_codes};
use groundwork_proto::v1 as pb;

/// Users and groups in moto, to show nothing was created.
async fn users_and_groups(stack: &Stack) -> (usize, usize) {
    let iam = stack.iam().await;
    let users = iam.list_users().send().await.unwrap().users.len();
    let groups = iam.list_groups().send().await.unwrap().groups.len();
    (users, groups)
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_admin_requests_name_the_field_and_create_nothing() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;

    assert_invalid(
        client.ensure_admin(pb::EnsureAdminRequest::default()).await,
        "user_name",
    );
    for bad in ["has space", "slash/user", &"x".repeat(65), "émile"] {
        assert_invalid(
            client
                .ensure_admin(pb::EnsureAdminRequest {
                    user_name: bad.into(),
                    ..Default::default()
                })
                .await,
            "user_name",
        );
    }
    assert_invalid(
        client
            .ensure_admin(pb::EnsureAdminRequest {
                user_name: "admin".into(),
                group_name: "bad group".into(),
                ..Default::default()
            })
            .await,
        "group_name",
    );
    // A well-formed ARN of a policy that does not exist: found out before any change.
    assert_invalid(
        client
            .ensure_admin(pb::EnsureAdminRequest {
                user_name: "admin".into(),
                group_policy_arns: vec![
                    "arn:aws:iam::aws:policy/AdministratorAccess".into(),
                    "arn:aws:iam::aws:policy/NoSuchPolicy".into(),
                ],
                ..Default::default()
            })
            .await,
        "group_policy_arns[1]",
    );
    assert_invalid(
        client
            .ensure_admin(pb::EnsureAdminRequest {
                user_name: "admin".into(),
                user_policy_arns: vec!["arn:aws:iam::123456789012:policy/Missing".into()],
                ..Default::default()
            })
            .await,
        "user_policy_arns[0]",
    );
    assert_invalid(
        client
            .ensure_admin(pb::EnsureAdminRequest {
                user_name: "admin".into(),
                user_policy_arns: vec!["AdministratorAccess".into()],
                ..Default::default()
            })
            .await,
        "user_policy_arns[0]",
    );
    assert_eq!(users_and_groups(&stack).await, (0, 0));

    // The next good request converges from nothing.
    let created = client
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.outcome, pb::Outcome::Created as i32);
    assert_eq!(stack.detail_types().await, ["Admin User Created"]);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_mfa_codes_are_refused_and_the_device_stays_disabled() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    client
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let started = client
        .start_mfa_enrollment(pb::StartMfaEnrollmentRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let with = |c1: &str, c2: &str| pb::CompleteMfaEnrollmentRequest {
        user_name: "admin".into(),
        serial_number: started.serial_number.clone(),
        authentication_code_1: c1.into(),
        authentication_code_2: c2.into(),
    };
    assert_invalid(
        client.complete_mfa_enrollment(with("", "")).await,
        "authentication_code_1",
    );
    assert_invalid(
        client
            .complete_mfa_enrollment(with("12345", "123456"))
            .await,
        "authentication_code_1",
    );
    assert_invalid(
        client
            .complete_mfa_enrollment(with("123456", "12a456"))
            .await,
        "authentication_code_2",
    );
    assert_invalid(
        client
            .complete_mfa_enrollment(with("123456", "123456"))
            .await,
        "authentication_code_2",
    );
    assert_invalid(
        client
            .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest {
                serial_number: "arn:aws:iam::123456789012:user/admin".into(),
                ..with("123456", "654321")
            })
            .await,
        "serial_number",
    );
    let devices = stack
        .iam()
        .await
        .list_mfa_devices()
        .user_name("admin")
        .send()
        .await
        .unwrap()
        .mfa_devices;
    assert!(devices.is_empty(), "no device was enabled");

    // Right codes afterwards still work: the refusals left nothing in the way.
    let (c1, c2) = two_consecutive_codes(&started.base32_string_seed);
    let done = client
        .complete_mfa_enrollment(with(&c1, &c2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.outcome, pb::Outcome::Created as i32);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_requests_name_the_missing_field() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    assert_invalid(
        client
            .start_mfa_enrollment(pb::StartMfaEnrollmentRequest::default())
            .await,
        "user_name",
    );
    assert_invalid(
        client
            .start_mfa_enrollment(pb::StartMfaEnrollmentRequest {
                user_name: "admin".into(),
                device_name: "no spaces please".into(),
            })
            .await,
        "device_name",
    );
    assert_invalid(
        client
            .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest::default())
            .await,
        "user_name",
    );
    assert_invalid(
        client.delete_admin(pb::DeleteAdminRequest::default()).await,
        "user_name",
    );
    assert_invalid(
        client
            .ensure_mfa_policy(pb::EnsureMfaPolicyRequest {
                policy_name: "bad name".into(),
                ..Default::default()
            })
            .await,
        "policy_name",
    );
    assert_invalid(
        client
            .ensure_password_policy(pb::EnsurePasswordPolicyRequest {
                minimum_password_length: Some(5),
                ..Default::default()
            })
            .await,
        "minimum_password_length",
    );
    assert_invalid(
        client
            .audit_account(pb::AuditAccountRequest {
                access_key_max_age_days: Some(0),
            })
            .await,
        "access_key_max_age_days",
    );
    // MFA for a user who does not exist is NOT_FOUND, with what to do.
    let status = client
        .start_mfa_enrollment(pb::StartMfaEnrollmentRequest {
            user_name: "nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert!(status.message().contains("EnsureAdmin"));
    assert_eq!(users_and_groups(&stack).await, (0, 0));
    let policy = stack.iam().await.get_account_password_policy().send().await;
    assert!(policy.is_err(), "no password policy was set");
    assert!(stack.detail_types().await.is_empty());
    stack.stop().await;
}
