//! Acceptance: applying the same spec a second time is a no-op. After a first apply that a
//! person finished (MFA codes, confirmation link), the plan shows every resource unchanged,
//! and the second run completes without waiting and makes no mutating AWS call (every call
//! the services make passes the front before moto, which records it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use groundwork_e2e::{EXAMPLE_SPEC, Stack, otpauth_secret, step, two_consecutive_codes};
use groundwork_proto::v1 as pb;
use pb::{SetupRunStatus, SetupStepState};

/// Follows an apply stream to its end (or a status), collecting secrets and statuses.
async fn apply(
    stack: &Stack,
    stop_at: SetupRunStatus,
) -> (
    pb::SetupRun,
    Vec<pb::OneTimeSecret>,
    Vec<SetupRunStatus>,
    tonic::Streaming<pb::SetupRunUpdate>,
) {
    let mut stream = stack
        .orchestrator()
        .await
        .apply_spec(pb::ApplySpecRequest {
            spec_toml: EXAMPLE_SPEC.into(),
            resume_run_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut secrets = Vec::new();
    let mut statuses = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(update) = stream.next().await {
            let update = update.unwrap();
            secrets.extend(update.secrets);
            if let Some(run) = update.run {
                statuses.push(run.status());
                if run.status() == stop_at || run.status() == SetupRunStatus::Failed {
                    return Some(run);
                }
            }
        }
        None
    })
    .await
    .expect("the run moved on in time")
    .expect("the stream ended early");
    (found, secrets, statuses, stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_apply_of_the_same_spec_changes_nothing_and_does_not_wait() {
    let stack = Stack::start().await.unwrap();

    // The first apply, finished by a person.
    let (waiting, secrets, _, mut stream) = apply(&stack, SetupRunStatus::Waiting).await;
    let uri = secrets
        .iter()
        .find(|s| s.name == "mfa_otpauth_uri")
        .unwrap();
    let (c1, c2) = two_consecutive_codes(&otpauth_secret(&uri.value).unwrap()).unwrap();
    let serial = step(&waiting, "mfa-device/admin").unwrap().outputs["serial_number"].clone();
    stack
        .identity()
        .await
        .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest {
            user_name: "admin".into(),
            serial_number: serial,
            authentication_code_1: c1,
            authentication_code_2: c2,
        })
        .await
        .unwrap();
    let mail = stack.inbox.confirmation_for("ops@example.com").unwrap();
    aws_sdk_sns::Client::new(&groundwork_e2e::sdk_for(&stack.inbox.endpoint()).await)
        .confirm_subscription()
        .topic_arn(&mail.topic_arn)
        .token(&mail.token)
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(90), async {
        let mut last = None;
        while let Some(Ok(update)) = stream.next().await {
            last = update.run.or(last);
        }
        last
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(first.status(), SetupRunStatus::Completed, "{}", first.error);

    // The plan: everything unchanged.
    let plan = stack
        .orchestrator()
        .await
        .plan_spec(pb::PlanSpecRequest {
            spec_toml: EXAMPLE_SPEC.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let changed: Vec<(&str, pb::PlanAction, &Vec<pb::PlanFieldChange>)> = plan
        .changes
        .iter()
        .filter(|c| c.action() != pb::PlanAction::Unchanged)
        .map(|c| (c.resource.as_str(), c.action(), &c.fields))
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
    assert!(plan.noop);
    assert!(!plan.changes.is_empty());

    // The second run: completes, never waits, changes nothing.
    let calls_before = stack.inbox.calls().len();
    let (second, secrets, statuses, _) = apply(&stack, SetupRunStatus::Completed).await;
    assert_eq!(
        second.status(),
        SetupRunStatus::Completed,
        "{}",
        second.error
    );
    assert!(!statuses.contains(&SetupRunStatus::Waiting), "{statuses:?}");
    assert!(secrets.is_empty(), "no new secret: nothing was created");
    for s in &second.steps {
        match s.state() {
            SetupStepState::Succeeded => {
                assert_eq!(s.outcome, "unchanged", "{}", s.resource)
            }
            SetupStepState::ActionRequired => assert_eq!(s.kind, "console-step"),
            other => panic!("{} is {other:?}", s.resource),
        }
    }
    let mutating: Vec<String> = stack.inbox.calls()[calls_before..]
        .iter()
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
                "Detach",
                "Remove",
            ]
            .iter()
            .any(|verb| action.starts_with(verb))
        })
        .cloned()
        .collect();
    assert_eq!(mutating, Vec::<String>::new());

    stack.stop().await;
}
