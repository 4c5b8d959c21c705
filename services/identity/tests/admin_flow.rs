//! The whole path against moto, as a person runs it: audit → ensure the admin (password
//! returned once) → MFA start and complete with codes from an authenticator → a second
//! ensure that changes nothing → an audit that shows the user with MFA. Then teardown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Stack, two_consecutive_codes};
use groundwork_identity::password::satisfies;
use groundwork_identity::password_policy::PasswordPolicy;
use groundwork_proto::v1 as pb;

fn admin_request() -> pb::EnsureAdminRequest {
    pb::EnsureAdminRequest {
        user_name: "admin".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_ensure_mfa_ensure_again_audit() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;

    // A fresh account: not root, root without MFA, no password policy, no users.
    let audit = client
        .audit_account(pb::AuditAccountRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!audit.caller.as_ref().unwrap().is_root);
    assert!(audit.password_policy.is_none());
    let failed: Vec<&str> = audit
        .findings
        .iter()
        .filter(|f| f.status == pb::CheckStatus::Fail as i32)
        .map(|f| f.cis_control.as_str())
        .collect();
    assert_eq!(failed, ["1.5", "1.8", "1.9"], "{:#?}", audit.findings);
    assert_eq!(audit.failed_count, 3);
    assert!(
        audit
            .findings
            .iter()
            .all(|f| f.severity != pb::Severity::Unspecified as i32 && !f.title.is_empty())
    );

    // The admin: created, with a password returned this once.
    let created = client
        .ensure_admin(admin_request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.outcome, pb::Outcome::Created as i32);
    assert_eq!(created.group_name, "Admins");
    assert_eq!(created.user_arn, "arn:aws:iam::123456789012:user/admin");
    assert!(satisfies(
        &created.initial_password,
        &PasswordPolicy::AWS_DEFAULT
    ));
    assert!(created.initial_password.len() >= 24);
    assert_eq!(
        created.console_sign_in_url,
        "https://123456789012.signin.aws.amazon.com/console"
    );
    assert!(created.access_key.is_none());

    // What moto now holds.
    let iam = stack.iam().await;
    let groups = iam
        .list_groups_for_user()
        .user_name("admin")
        .send()
        .await
        .unwrap()
        .groups;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].group_name, "Admins");
    let policies = iam
        .list_attached_group_policies()
        .group_name("Admins")
        .send()
        .await
        .unwrap()
        .attached_policies
        .unwrap();
    assert_eq!(
        policies[0].policy_arn.as_deref(),
        Some("arn:aws:iam::aws:policy/AdministratorAccess")
    );
    iam.get_login_profile()
        .user_name("admin")
        .send()
        .await
        .expect("a login profile exists");

    // MFA: the person scans the QR code; the app's codes enable the device.
    let started = client
        .start_mfa_enrollment(pb::StartMfaEnrollmentRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(started.serial_number, "arn:aws:iam::123456789012:mfa/admin");
    assert_eq!(started.base32_string_seed.len(), 64);
    assert!(
        started
            .otpauth_uri
            .starts_with("otpauth://totp/Amazon%20Web%20Services:admin%40123456789012?")
    );
    assert!(
        started
            .otpauth_uri
            .contains(&format!("secret={}", started.base32_string_seed))
    );
    assert_eq!(&started.qr_code_png[..8], b"\x89PNG\r\n\x1a\n");
    let (code_1, code_2) = two_consecutive_codes(&started.base32_string_seed);
    let completed = client
        .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest {
            user_name: "admin".into(),
            serial_number: started.serial_number.clone(),
            authentication_code_1: code_1,
            authentication_code_2: code_2,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(completed.outcome, pb::Outcome::Created as i32);
    let devices = iam
        .list_mfa_devices()
        .user_name("admin")
        .send()
        .await
        .unwrap()
        .mfa_devices;
    assert_eq!(devices[0].serial_number, started.serial_number);

    // The same request again: nothing changes, no password.
    let again = client
        .ensure_admin(admin_request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, pb::Outcome::Unchanged as i32);
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert!(again.initial_password.is_empty());

    // The audit sees the console user with MFA.
    let audit = client
        .audit_account(pb::AuditAccountRequest::default())
        .await
        .unwrap()
        .into_inner();
    let admin = audit
        .users
        .iter()
        .find(|u| u.user_name == "admin")
        .expect("the admin is in the report");
    assert!(admin.password_enabled && admin.mfa_active);
    let console_mfa = audit
        .findings
        .iter()
        .find(|f| f.cis_control == "1.10")
        .unwrap();
    assert_eq!(console_mfa.status, pb::CheckStatus::Pass as i32);

    assert_eq!(
        stack.detail_types().await,
        [
            "Account Audited",
            "Admin User Created",
            "MFA Enrollment Started",
            "MFA Device Enabled",
            "Account Audited",
        ]
    );
    let events = stack.events().await;
    assert!(events.iter().all(|e| e["source"] == "groundwork.identity"));
    assert_eq!(events[1]["detail"]["userName"], "admin");
    assert_eq!(events[1]["resources"][0], created.user_arn);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_admin_reads_membership_policies_and_console_access() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let describe = |user: &str, group: &str| pb::DescribeAdminRequest {
        user_name: user.into(),
        group_name: group.into(),
    };
    let nothing = client
        .describe_admin(describe("admin", "Admins"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nothing, pb::DescribeAdminResponse::default());

    client.ensure_admin(admin_request()).await.unwrap();
    let made = client
        .describe_admin(describe("admin", "Admins"))
        .await
        .unwrap()
        .into_inner();
    assert!(made.user_exists && made.group_exists && made.in_group && made.console_access);
    assert_eq!(
        made.group_policy_arns,
        ["arn:aws:iam::aws:policy/AdministratorAccess"]
    );
    assert!(made.user_policy_arns.is_empty());
    assert_eq!(made.access_keys, 0);

    // Only the group, and a change made by hand.
    stack
        .iam()
        .await
        .remove_user_from_group()
        .group_name("Admins")
        .user_name("admin")
        .send()
        .await
        .unwrap();
    let group = client
        .describe_admin(describe("", "Admins"))
        .await
        .unwrap()
        .into_inner();
    assert!(group.group_exists && !group.user_exists && !group.in_group);
    let user = client
        .describe_admin(describe("admin", "Admins"))
        .await
        .unwrap()
        .into_inner();
    assert!(user.user_exists && !user.in_group);

    // Neither: a person-readable refusal.
    let refused = client.describe_admin(describe("", "")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("user_name"), "{refused:?}");
    // Reads change nothing and say nothing on the bus.
    assert_eq!(stack.detail_types().await, ["Admin User Created"]);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_made_admin_is_completed_by_the_next_call() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    // As if an earlier call stopped right after CreateUser.
    stack
        .iam()
        .await
        .create_user()
        .user_name("admin")
        .send()
        .await
        .unwrap();

    let response = client
        .ensure_admin(admin_request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.outcome, pb::Outcome::Updated as i32);
    assert_eq!(
        response.changes,
        [
            "created group Admins",
            "attached arn:aws:iam::aws:policy/AdministratorAccess to group Admins",
            "added admin to group Admins",
            "created a console login profile for admin",
        ]
    );
    assert!(!response.initial_password.is_empty());
    assert_eq!(stack.detail_types().await, ["Admin User Updated"]);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn programmatic_access_returns_a_working_key_once() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let request = pb::EnsureAdminRequest {
        programmatic_access: true,
        console_access: Some(false),
        user_policy_arns: vec!["arn:aws:iam::aws:policy/job-function/Billing".into()],
        ..admin_request()
    };
    let first = client
        .ensure_admin(request.clone())
        .await
        .unwrap()
        .into_inner();
    let key = first.access_key.expect("a new key");
    assert!(key.access_key_id.starts_with("AKIA"));
    assert!(!key.secret_access_key.is_empty());
    assert!(first.initial_password.is_empty(), "no console access asked");

    // The key is the admin's: STS (moto) says so.
    let sdk = common::sdk_for(&stack.moto.endpoint())
        .await
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    key.access_key_id.clone(),
                    key.secret_access_key.clone(),
                    None,
                    None,
                    "tests",
                ),
            ),
        )
        .build();
    let me = groundwork_cloud::CallerIdentity::fetch(&sdk).await.unwrap();
    assert_eq!(me.arn, "arn:aws:iam::123456789012:user/admin");

    let second = client.ensure_admin(request).await.unwrap().into_inner();
    assert_eq!(second.outcome, pb::Outcome::Unchanged as i32);
    assert!(second.access_key.is_none());
    let attached = stack
        .iam()
        .await
        .list_attached_user_policies()
        .user_name("admin")
        .send()
        .await
        .unwrap()
        .attached_policies
        .unwrap();
    assert_eq!(attached.len(), 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_admin_removes_the_user_and_everything_attached() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    client
        .ensure_admin(pb::EnsureAdminRequest {
            programmatic_access: true,
            user_policy_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            ..admin_request()
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
    let (c1, c2) = two_consecutive_codes(&started.base32_string_seed);
    client
        .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest {
            user_name: "admin".into(),
            serial_number: String::new(),
            authentication_code_1: c1,
            authentication_code_2: c2,
        })
        .await
        .unwrap();

    let deleted = client
        .delete_admin(pb::DeleteAdminRequest {
            user_name: "admin".into(),
            group_name: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.outcome, pb::Outcome::Deleted as i32);
    assert_eq!(deleted.removed.len(), 6, "{:?}", deleted.removed);
    assert_eq!(deleted.removed.last().unwrap(), "user admin");

    let iam = stack.iam().await;
    let err = iam.get_user().user_name("admin").send().await.unwrap_err();
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&err),
        Some("NoSuchEntity")
    );
    let devices = iam
        .list_virtual_mfa_devices()
        .send()
        .await
        .unwrap()
        .virtual_mfa_devices;
    assert!(devices.is_empty(), "the virtual device is deleted too");
    iam.get_group()
        .group_name("Admins")
        .send()
        .await
        .expect("the group stays");

    // With the group named, a second call removes the group the first one left.
    let group = client
        .delete_admin(pb::DeleteAdminRequest {
            user_name: "admin".into(),
            group_name: "Admins".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(group.outcome, pb::Outcome::Deleted as i32);
    assert_eq!(
        group.removed.last().unwrap(),
        "group Admins",
        "{:?}",
        group.removed
    );
    let err = iam
        .get_group()
        .group_name("Admins")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&err),
        Some("NoSuchEntity")
    );

    let again = client
        .delete_admin(pb::DeleteAdminRequest {
            user_name: "admin".into(),
            group_name: "Admins".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, pb::Outcome::Absent as i32);
    assert_eq!(
        stack.detail_types().await.last().map(String::as_str),
        Some("Admin User Deleted")
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_enrollment_is_replaced_and_an_enabled_device_is_kept() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    client.ensure_admin(admin_request()).await.unwrap();
    let start = || pb::StartMfaEnrollmentRequest {
        user_name: "admin".into(),
        ..Default::default()
    };
    let abandoned = client
        .start_mfa_enrollment(start())
        .await
        .unwrap()
        .into_inner();
    let fresh = client
        .start_mfa_enrollment(start())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(abandoned.serial_number, fresh.serial_number);
    assert_ne!(abandoned.base32_string_seed, fresh.base32_string_seed);
    let (c1, c2) = two_consecutive_codes(&fresh.base32_string_seed);
    let complete = pb::CompleteMfaEnrollmentRequest {
        user_name: "admin".into(),
        serial_number: fresh.serial_number.clone(),
        authentication_code_1: c1,
        authentication_code_2: c2,
    };
    client
        .complete_mfa_enrollment(complete.clone())
        .await
        .unwrap();
    // Completing again is "already done".
    let again = client
        .complete_mfa_enrollment(complete)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, pb::Outcome::Unchanged as i32);
    // A new enrollment would replace a working second factor: refused.
    let status = client.start_mfa_enrollment(start()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(status.message().contains("already has the MFA device"));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mfa_policy_and_the_password_policy_can_be_removed_again() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    client.ensure_admin(admin_request()).await.unwrap();
    let ensured = client
        .ensure_mfa_policy(pb::EnsureMfaPolicyRequest::default())
        .await
        .unwrap()
        .into_inner();
    let iam = stack.iam().await;

    let deleted = client
        .delete_mfa_policy(pb::DeleteMfaPolicyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.outcome, pb::Outcome::Deleted as i32);
    assert!(
        deleted
            .removed
            .iter()
            .any(|r| r == "attachment to group Admins"),
        "{:?}",
        deleted.removed
    );
    let err = iam
        .get_policy()
        .policy_arn(&ensured.policy_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&err),
        Some("NoSuchEntity")
    );
    let attached = iam
        .list_attached_group_policies()
        .group_name("Admins")
        .send()
        .await
        .unwrap();
    assert!(
        !attached
            .attached_policies()
            .iter()
            .any(|p| p.policy_arn() == Some(ensured.policy_arn.as_str())),
        "detached from the group"
    );
    let again = client
        .delete_mfa_policy(pb::DeleteMfaPolicyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, pb::Outcome::Absent as i32);

    client
        .ensure_password_policy(pb::EnsurePasswordPolicyRequest::default())
        .await
        .unwrap();
    iam.get_account_password_policy().send().await.unwrap();
    let removed = client
        .delete_password_policy(pb::DeletePasswordPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.outcome, pb::Outcome::Deleted as i32);
    let err = iam.get_account_password_policy().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&err),
        Some("NoSuchEntity")
    );
    let removed = client
        .delete_password_policy(pb::DeletePasswordPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.outcome, pb::Outcome::Absent as i32);
    stack.stop().await;
}
