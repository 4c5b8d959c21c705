//! Secrets appear only in the responses that create them: a full run is made with every
//! log line captured (TRACE for Groundwork's crates, DEBUG for everything else, the AWS
//! SDK included) and every bus event read back, and neither holds the password, the
//! secret access key or the MFA seed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Stack, two_consecutive_codes};
use groundwork_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_a_log_line_or_an_event() {
    let captured = groundwork_testkit::logs::capture(
            "debug,groundwork_identity=trace,groundwork_bus=trace,groundwork_cloud=trace,groundwork_kit=trace",
    )
    .expect("the test installs the only log subscriber");

    let stack = Stack::start().await;
    let mut client = stack.client().await;
    client
        .audit_account(pb::AuditAccountRequest::default())
        .await
        .unwrap();
    client
        .ensure_password_policy(pb::EnsurePasswordPolicyRequest::default())
        .await
        .unwrap();
    let admin = client
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: "admin".into(),
            programmatic_access: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let password = admin.initial_password.clone();
    let secret_key = admin.access_key.unwrap().secret_access_key;
    let started = client
        .start_mfa_enrollment(pb::StartMfaEnrollmentRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let seed = started.base32_string_seed.clone();
    let (c1, c2) = two_consecutive_codes(&seed);
    client
        .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest {
            user_name: "admin".into(),
            serial_number: started.serial_number,
            authentication_code_1: c1,
            authentication_code_2: c2,
        })
        .await
        .unwrap();
    client
        .ensure_mfa_policy(pb::EnsureMfaPolicyRequest::default())
        .await
        .unwrap();
    client
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: "admin".into(),
            programmatic_access: true,
            user_policy_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .audit_account(pb::AuditAccountRequest::default())
        .await
        .unwrap();
    client
        .describe_billing_access(pb::DescribeBillingAccessRequest {})
        .await
        .unwrap();
    client
        .delete_admin(pb::DeleteAdminRequest {
            user_name: "admin".into(),
            group_name: String::new(),
        })
        .await
        .unwrap();
    let events = stack.events().await;
    // For the leak check: every event, the audit trail's API calls included.
    let every_event = stack.all_events().await;
    stack.stop().await;

    let secrets = [
        ("password", password.as_str()),
        ("secret access key", secret_key.as_str()),
        ("MFA seed", seed.as_str()),
    ];
    for (what, secret) in &secrets {
        assert!(secret.len() >= 20, "{what} is a real secret");
    }

    let logs = captured.text();
    // The capture works: the service's own lines, the AWS SDK's and spans are there.
    assert!(logs.contains("admin ensured"), "service logs were captured");
    assert!(logs.contains("MFA enrollment started"));
    assert!(logs.contains("aws_smithy"), "SDK logs were captured");
    assert!(logs.lines().count() > 100);
    for (what, secret) in &secrets {
        assert!(!logs.contains(secret), "the {what} is in the logs");
    }

    let names: Vec<&str> = events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Account Audited",
            "Admin User Created",
            "MFA Enrollment Started",
            "MFA Device Enabled",
            "Admin User Updated",
            "Account Audited",
            "Admin User Deleted",
        ]
    );
    let all_events = serde_json::to_string(&every_event).unwrap();
    for (what, secret) in &secrets {
        assert!(!all_events.contains(secret), "the {what} is in an event");
    }
}
