//! Acceptance: the orchestrator process is killed (SIGKILL: nothing flushed, calls in flight
//! abandoned) after each step in turn, at least three times in one run, and started again.
//! Each time the new process resumes the run from KV, re-runs the step that was in flight
//! (every step is idempotent), and the person attaches again with `apply --resume`. The
//! run completes, and moto holds exactly one of each resource: no duplicate user, MFA
//! device, budget, topic, subscription or alarm.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use groundwork_e2e::flow::{MFA_STEP, apply, do_person_steps, finished, sandbox_snapshot, until};
use groundwork_e2e::{EXAMPLE_SPEC, Stack, step};
use groundwork_proto::v1 as pb;
use pb::{SetupRunStatus, SetupStepState};

/// The steps that are done: succeeded, or waiting for the person.
fn done(run: &pb::SetupRun) -> Vec<String> {
    run.steps
        .iter()
        .filter(|s| {
            matches!(
                s.state(),
                SetupStepState::Succeeded | SetupStepState::Waiting
            )
        })
        .map(|s| s.resource.clone())
        .collect()
}

/// Nothing is left for the orchestrator to do before the person acts.
fn settled(run: &pb::SetupRun) -> bool {
    finished(run)
        || run.steps.iter().all(|s| {
            !matches!(
                s.state(),
                SetupStepState::Pending | SetupStepState::Running | SetupStepState::Backoff
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_killed_after_each_step_resumes_and_completes_without_duplicates() {
    let mut stack =
        Stack::start_with_orchestrator_process(Path::new(env!("CARGO_BIN_EXE_e2e-orchestrator")))
            .await
            .unwrap();
    // Steps that take a while, as against AWS, so that each kill lands between steps.
    stack.inbox.set_delay(Duration::from_millis(150));

    let mut rx = apply(&stack, EXAMPLE_SPEC, "").await.unwrap();
    let mut secrets = Vec::new();
    let first = until(&mut rx, &mut secrets, "the run's first update", |_| true)
        .await
        .unwrap();
    let run_id = first.run_id.clone();

    // Kill after each step that gets done (succeeded, or waiting for the person), until no
    // step is left running. A step in flight at a kill runs again in the new process; an
    // MFA seed that had not reached the person by then is replaced by a new one, which the
    // stream attached with `apply --resume` carries.
    let mut kills: Vec<Vec<String>> = Vec::new();
    let mut done_at_start = 0;
    loop {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let run = loop {
            let run = stack
                .orchestrator()
                .await
                .get_run(pb::GetRunRequest {
                    run_id: run_id.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            if done(&run).len() > done_at_start || settled(&run) {
                break run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the run is stuck: {run:#?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        if settled(&run) {
            break;
        }
        stack.kill_orchestrator();
        done_at_start = done(&run).len();
        kills.push(done(&run));
        // Whatever the old stream got before the kill; it closes when the connection drops.
        while let Ok(Some(update)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            secrets.extend(update.secrets);
        }
        stack.restart_orchestrator().await.unwrap();
        // `apply --resume RUN`: the stream that carries the run's secrets from now on.
        rx = apply(&stack, "", &run_id).await.unwrap();
    }
    println!("killed {} times, after: {kills:?}", kills.len());
    assert!(
        kills.len() >= 3,
        "the orchestrator was killed only {} times: {kills:?}",
        kills.len()
    );
    // Each kill came after a further step.
    for pair in kills.windows(2) {
        assert!(pair[1].len() > pair[0].len(), "{kills:?}");
    }

    let waiting = until(&mut rx, &mut secrets, "WAITING", |r| {
        r.status() == SetupRunStatus::Waiting
            && step(r, MFA_STEP).is_some_and(|s| s.state() == SetupStepState::Waiting)
    })
    .await
    .unwrap();
    stack.inbox.set_delay(Duration::ZERO);
    do_person_steps(&stack, &waiting, &secrets).await.unwrap();
    let done = until(&mut rx, &mut secrets, "the run's end", finished)
        .await
        .unwrap();
    assert_eq!(done.status(), SetupRunStatus::Completed, "{done:#?}");
    assert_eq!(done.run_id, run_id, "the same run, resumed");

    // One of everything.
    let sandbox = sandbox_snapshot(&stack).await.unwrap();
    groundwork_e2e::flow::assert_one_of_each_example_resource(&sandbox);

    // One run started, one completed, on the bus, despite the restarts.
    let events = stack.events().await;
    let count = |t: &str| {
        events
            .iter()
            .filter(|e| e["detail-type"] == t && e["detail"]["runId"] == run_id.as_str())
            .count()
    };
    assert_eq!(count("Setup Run Started"), 1);
    assert_eq!(count("Setup Run Completed"), 1);
    stack.stop().await;
}
