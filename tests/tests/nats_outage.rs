//! Acceptance: nats-server stops for five seconds in the middle of a run (the run store,
//! the bus and every service's connection go with it) and comes back with its JetStream
//! store. The run goes on once it is back and completes; nothing is created twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use groundwork_e2e::flow::{MFA_STEP, apply, do_person_steps, finished, sandbox_snapshot, until};
use groundwork_e2e::{EXAMPLE_SPEC, Stack, step};
use groundwork_proto::v1 as pb;
use pb::{SetupRunStatus, SetupStepState};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_survives_nats_stopping_for_five_seconds() {
    let mut stack = Stack::start().await.unwrap();
    stack.inbox.set_delay(Duration::from_millis(100));
    let mut rx = apply(&stack, EXAMPLE_SPEC, "").await.unwrap();
    let mut secrets = Vec::new();
    let started = until(&mut rx, &mut secrets, "a first step done", |r| {
        r.steps
            .iter()
            .any(|s| s.state() == SetupStepState::Succeeded)
    })
    .await
    .unwrap();
    let run_id = started.run_id.clone();
    assert!(!finished(&started));

    // Five seconds without NATS, in the middle of the run.
    stack.nats.stop();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stack.nats.start_again().unwrap();
    stack.inbox.set_delay(Duration::ZERO);

    // The apply stream may have broken with NATS; the person then attaches again with
    // `apply --resume`, which also hands out a seed that reached nobody.
    let waiting = match until(&mut rx, &mut secrets, "WAITING", |r| {
        r.status() == SetupRunStatus::Waiting
            && step(r, MFA_STEP).is_some_and(|s| s.state() == SetupStepState::Waiting)
    })
    .await
    {
        Ok(run) if secrets.iter().any(|s| s.name == "mfa_otpauth_uri") => run,
        _ => {
            rx = apply(&stack, "", &run_id).await.unwrap();
            until(&mut rx, &mut secrets, "WAITING after resume", |r| {
                r.status() == SetupRunStatus::Waiting
                    && step(r, MFA_STEP).is_some_and(|s| s.state() == SetupStepState::Waiting)
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(waiting.run_id, run_id);
    do_person_steps(&stack, &waiting, &secrets).await.unwrap();
    let done = until(&mut rx, &mut secrets, "the run's end", finished)
        .await
        .unwrap();
    assert_eq!(done.status(), SetupRunStatus::Completed, "{done:#?}");

    let sandbox = sandbox_snapshot(&stack).await.unwrap();
    assert_eq!(sandbox["users"], ["admin"]);
    assert_eq!(
        sandbox["mfa devices"],
        ["arn:aws:iam::123456789012:mfa/admin"]
    );
    assert_eq!(sandbox["budgets"], ["monthly-credits", "monthly-spend"]);
    assert_eq!(sandbox["topics"].len(), 1);
    assert_eq!(sandbox["subscriptions"].len(), 1);
    assert_eq!(sandbox["alarms"], ["billing-alarm"]);
    stack.stop().await;
}
