//! Acceptance: the facts that finish waiting steps (`MFA Device Enabled`, `Subscription
//! Confirmed`) are published while the orchestrator is down. Its rule on the event bus
//! routes them to its NATS target all the same, and when it starts again its durable
//! consumer hands them over: the run completes well before the periodic check of waiting
//! steps (a minute in the test stack) could have finished it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use groundwork_e2e::flow::{MFA_STEP, SUB_STEP, apply, do_person_steps, finished, until};
use groundwork_e2e::{EXAMPLE_SPEC, Stack, eventually, step};
use groundwork_proto::v1 as pb;
use pb::{SetupRunStatus, SetupStepState};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn facts_published_while_the_orchestrator_is_down_resume_it_when_it_starts() {
    let mut stack =
        Stack::start_with_orchestrator_process(Path::new(env!("CARGO_BIN_EXE_e2e-orchestrator")))
            .await
            .unwrap();
    let mut rx = apply(&stack, EXAMPLE_SPEC, "").await.unwrap();
    let mut secrets = Vec::new();
    let waiting = until(&mut rx, &mut secrets, "WAITING", |r| {
        r.status() == SetupRunStatus::Waiting
            && [MFA_STEP, SUB_STEP]
                .iter()
                .all(|s| step(r, s).is_some_and(|s| s.state() == SetupStepState::Waiting))
    })
    .await
    .unwrap();
    let run_id = waiting.run_id.clone();

    stack.kill_orchestrator();
    do_person_steps(&stack, &waiting, &secrets).await.unwrap();
    // Both facts are on the bus before the orchestrator is back.
    let published = eventually(Duration::from_secs(30), || async {
        let events = stack.events().await;
        let has = |t: &str| events.iter().any(|e| e["detail-type"] == t);
        (has("MFA Device Enabled") && has("Subscription Confirmed")).then_some(())
    })
    .await;
    assert!(published.is_some(), "the person's facts were not published");

    stack.restart_orchestrator().await.unwrap();
    let mut rx = apply(&stack, "", &run_id).await.unwrap();
    // Less than the periodic check's minute: only the events can finish the steps by then.
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        until(&mut rx, &mut secrets, "the run's end", finished),
    )
    .await
    .expect("the run did not resume on the events published while the orchestrator was down")
    .unwrap();
    assert_eq!(done.status(), SetupRunStatus::Completed, "{done:#?}");
    assert_eq!(done.run_id, run_id);
    assert_eq!(
        step(&done, MFA_STEP).unwrap().state(),
        SetupStepState::Succeeded
    );
    assert_eq!(
        step(&done, SUB_STEP).unwrap().state(),
        SetupStepState::Succeeded
    );
    stack.stop().await;
}
