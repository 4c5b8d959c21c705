//! A person who lost a one-time secret gets a new one: RestartMfaEnrollment replaces the
//! device that was never enabled (a new seed, which enables it), and
//! ResetLoginPassword sets a new password on the login profile. Each decision is an event
//! that holds no secret, and no log line holds one either. What cannot be done is refused
//! with FAILED_PRECONDITION: a restart once a device is enabled, a reset without console
//! access.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Stack, two_consecutive_codes};
use groundwork_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_seed_or_password_is_issued_again_as_an_event_without_the_secret() {
    let captured = groundwork_testkit::logs::capture(
        "debug,groundwork_identity=trace,groundwork_bus=trace,groundwork_cloud=trace,groundwork_kit=trace",
    )
    .expect("the test installs the only log subscriber");
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let admin = client
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first_password = admin.initial_password;
    let first = client
        .start_mfa_enrollment(pb::StartMfaEnrollmentRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // The seed was lost: a new device, a new seed.
    let again = client
        .restart_mfa_enrollment(pb::RestartMfaEnrollmentRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.serial_number, first.serial_number);
    assert_ne!(again.base32_string_seed, first.base32_string_seed);
    assert!(again.otpauth_uri.contains(&again.base32_string_seed));
    assert!(again.qr_code_png.starts_with(b"\x89PNG"));

    // The new seed enables the device (the sandbox does not check codes, so the codes are
    // computed from the seed as an authenticator app would; AWS checks them).
    let (new1, new2) = two_consecutive_codes(&again.base32_string_seed);
    client
        .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest {
            user_name: "admin".into(),
            serial_number: again.serial_number.clone(),
            authentication_code_1: new1,
            authentication_code_2: new2,
        })
        .await
        .unwrap();
    let enabled = client
        .restart_mfa_enrollment(pb::RestartMfaEnrollmentRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        enabled.code(),
        tonic::Code::FailedPrecondition,
        "{enabled:?}"
    );

    // The password was lost: a new one, on the login profile.
    let reset = client
        .reset_login_password(pb::ResetLoginPasswordRequest {
            user_name: "admin".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(reset.new_password, first_password);
    assert!(reset.new_password.len() >= 14);
    assert!(reset.password_reset_required);
    assert_eq!(
        reset.console_sign_in_url,
        "https://123456789012.signin.aws.amazon.com/console"
    );
    let profile = stack
        .iam()
        .await
        .get_login_profile()
        .user_name("admin")
        .send()
        .await
        .unwrap();
    assert!(profile.login_profile().unwrap().password_reset_required());

    // Without console access there is nothing to reset.
    client
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: "robot".into(),
            console_access: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    let none = client
        .reset_login_password(pb::ResetLoginPasswordRequest {
            user_name: "robot".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(none.code(), tonic::Code::FailedPrecondition, "{none:?}");
    let missing = client
        .reset_login_password(pb::ResetLoginPasswordRequest {
            user_name: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing:?}");

    let events = stack.events().await;
    let every_event = serde_json::to_string(&stack.all_events().await).unwrap();
    stack.stop().await;

    let restarted = events
        .iter()
        .find(|e| e["detail-type"] == "MFA Enrollment Restarted")
        .expect("MFA Enrollment Restarted");
    assert_eq!(restarted["source"], "groundwork.identity");
    assert_eq!(restarted["detail"]["userName"], "admin");
    assert_eq!(restarted["detail"]["serialNumber"], again.serial_number);
    assert_eq!(restarted["detail"]["replaced"], true);
    let reset_event = events
        .iter()
        .find(|e| e["detail-type"] == "Login Password Reset")
        .expect("Login Password Reset");
    assert_eq!(
        reset_event["detail"]["userArn"],
        "arn:aws:iam::123456789012:user/admin"
    );
    assert_eq!(reset_event["detail"]["passwordResetRequired"], true);

    let logs = captured.text();
    assert!(
        logs.contains("console password reset"),
        "logs were captured"
    );
    for (what, secret) in [
        ("first password", first_password.as_str()),
        ("new password", reset.new_password.as_str()),
        ("first seed", first.base32_string_seed.as_str()),
        ("new seed", again.base32_string_seed.as_str()),
    ] {
        assert!(secret.len() >= 14, "{what} is a real secret");
        assert!(!logs.contains(secret), "the {what} is in the logs");
        assert!(!every_event.contains(secret), "the {what} is in an event");
    }
}
