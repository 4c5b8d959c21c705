//! Acceptance: two orchestrator replicas run side by side. An apply of the example spec is
//! made through one; the replica that holds the run's lease (read from the lease record)
//! is killed with SIGKILL after a step completes, and the other takes the run over within
//! the bound (lease 10 s + heartbeat 3 s, the defaults), continues it from the stored run
//! without running a finished step again, and takes it to WAITING; the person's events
//! then land on either replica (the killed one, started again, stands by) and finish the
//! run at once. moto holds exactly one of each resource.
//!
//! Then the test: with a short lease (2 s, heartbeat 0.5 s) to keep it quick, the
//! replica driving the run is killed after each step in turn (and started again, to stand
//! by, once the other took over); the run completes, each takeover within the bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use groundwork_e2e::flow::{
    MFA_STEP, apply_at, do_person_steps, finished, sandbox_snapshot, until,
};
use groundwork_e2e::{EXAMPLE_SPEC, Stack, orchestrator_replica_id, step};
use groundwork_orchestrator::lease::Lease;
use groundwork_proto::v1 as pb;
use pb::{SetupRunStatus, SetupStepState};

/// The run's lease as stored, read with the operator's NATS identity.
async fn lease_of(stack: &Stack, run_id: &str) -> Option<Lease> {
    let client = stack.nats.admin().await.unwrap();
    let js = async_nats::jetstream::new(client);
    let kv = js
        .get_key_value(groundwork_bus::names::RUN_LEASES_BUCKET)
        .await
        .ok()?;
    let entry = kv.get(format!("lease.{run_id}")).await.ok()??;
    Some(serde_json::from_slice(&entry).unwrap())
}

/// The steps that succeeded, with their attempts.
fn succeeded(run: &pb::SetupRun) -> BTreeMap<String, u32> {
    run.steps
        .iter()
        .filter(|s| s.state() == SetupStepState::Succeeded)
        .map(|s| (s.resource.clone(), s.attempts))
        .collect()
}

/// The steps that are done: succeeded, or waiting for the person.
fn done(run: &pb::SetupRun) -> usize {
    run.steps
        .iter()
        .filter(|s| {
            matches!(
                s.state(),
                SetupStepState::Succeeded | SetupStepState::Waiting
            )
        })
        .count()
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

/// One of every resource of the example spec, and one run started and completed on the
/// bus with no step announced as succeeded twice.
async fn one_of_everything(stack: &Stack, run_id: &str) {
    let sandbox = sandbox_snapshot(stack).await.unwrap();
    groundwork_e2e::flow::assert_one_of_each_example_resource(&sandbox);

    let events = stack.events().await;
    let of_run = |t: &str| {
        events
            .iter()
            .filter(|e| e["detail-type"] == t && e["detail"]["runId"] == run_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(of_run("Setup Run Started").len(), 1);
    assert_eq!(of_run("Setup Run Completed").len(), 1);
    let mut announced: BTreeMap<String, usize> = BTreeMap::new();
    for e in of_run("Setup Step Succeeded") {
        *announced
            .entry(e["detail"]["resource"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        announced.values().all(|n| *n == 1),
        "a step succeeded twice: {announced:?}"
    );
}

/// Kills the replica that holds the run's lease and waits until the other holds it, with
/// a greater token. Returns (killed, survivor, time to takeover).
async fn kill_the_holder(stack: &mut Stack, run_id: &str) -> (SocketAddr, SocketAddr, Duration) {
    let replicas = stack.orchestrators();
    let before = lease_of(stack, run_id).await.expect("the run is leased");
    let holder = *replicas
        .iter()
        .find(|a| orchestrator_replica_id(**a) == before.holder)
        .unwrap_or_else(|| panic!("the lease names no replica: {before:?}"));
    let survivor = *replicas.iter().find(|a| **a != holder).unwrap();
    let killed_at = tokio::time::Instant::now();
    stack.kill_orchestrator_at(holder);
    loop {
        if let Some(l) = lease_of(stack, run_id).await
            && l.holder == orchestrator_replica_id(survivor)
        {
            assert!(l.token > before.token, "{before:?} -> {l:?}");
            return (holder, survivor, killed_at.elapsed());
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "no takeover after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get_run(stack: &Stack, at: SocketAddr, run_id: &str) -> pb::SetupRun {
    stack
        .orchestrator_at(at)
        .await
        .get_run(pb::GetRunRequest {
            run_id: run_id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_replica_driving_a_run_dies_and_the_other_takes_the_run_over() {
    let mut stack =
        Stack::start_with_orchestrator_process(Path::new(env!("CARGO_BIN_EXE_e2e-orchestrator")))
            .await
            .unwrap();
    let other = stack.start_another_orchestrator(&[]).await.unwrap();
    let replicas = stack.orchestrators();
    assert_eq!(replicas.len(), 2);
    // Steps that take a while, as against AWS, so that the kill lands between steps.
    stack.inbox.set_delay(Duration::from_millis(150));

    let mut rx = apply_at(&stack, stack.orchestrator, EXAMPLE_SPEC, "")
        .await
        .unwrap();
    let mut secrets = Vec::new();
    let first = until(&mut rx, &mut secrets, "the run's first update", |_| true)
        .await
        .unwrap();
    let run_id = first.run_id.clone();

    // After the first step completes: the holder of the lease is the one to kill.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while succeeded(&get_run(&stack, other, &run_id).await).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no step succeeded");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // What the replica to be killed has finished: nothing of it may run again.
    let at_kill = get_run(&stack, other, &run_id).await;
    let done_at_kill = succeeded(&at_kill);
    let tokens_before = lease_of(&stack, &run_id).await.unwrap().token;
    let (holder, survivor, takeover) = kill_the_holder(&mut stack, &run_id).await;
    assert!(
        at_kill.status() != SetupRunStatus::Waiting && !finished(&at_kill),
        "the kill came too late to leave work for the other replica: {at_kill:#?}"
    );
    println!(
        "takeover after {} ms (lease 10 s, heartbeat 3 s); token {} -> {}; {} steps done at the kill",
        takeover.as_millis(),
        tokens_before,
        lease_of(&stack, &run_id).await.unwrap().token,
        done_at_kill.len()
    );
    assert!(
        takeover <= Duration::from_secs(13) + Duration::from_millis(1500),
        "the takeover took {takeover:?}, over lease + heartbeat"
    );

    // The killed replica comes back and stands by: the run stays where it is driven.
    stack.restart_orchestrator_at(holder).await.unwrap();
    // Whatever the old stream got before the kill; it closes when the connection drops.
    while let Ok(Some(update)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        secrets.extend(update.secrets);
    }
    // `apply --resume RUN` on the survivor: the stream that carries the run's secrets.
    let mut rx = apply_at(&stack, survivor, "", &run_id).await.unwrap();
    let waiting = until(&mut rx, &mut secrets, "WAITING", |r| {
        r.status() == SetupRunStatus::Waiting
            && step(r, MFA_STEP).is_some_and(|s| s.state() == SetupStepState::Waiting)
    })
    .await
    .unwrap();
    for (resource, attempts) in &done_at_kill {
        assert_eq!(
            step(&waiting, resource).map(|s| (s.state(), s.attempts)),
            Some((SetupStepState::Succeeded, *attempts)),
            "{resource} was done before the kill and must not run again"
        );
    }
    assert_eq!(
        lease_of(&stack, &run_id).await.unwrap().holder,
        orchestrator_replica_id(survivor),
        "the restarted replica did not take the run back"
    );

    // The person's events reach whichever replica the shared consumer hands them to; the
    // one not driving the run nudges the driver. The periodic check is a minute away.
    stack.inbox.set_delay(Duration::ZERO);
    let acted = tokio::time::Instant::now();
    do_person_steps(&stack, &waiting, &secrets).await.unwrap();
    let done = until(&mut rx, &mut secrets, "the run's end", finished)
        .await
        .unwrap();
    let woken = acted.elapsed();
    println!(
        "the person's events finished the run in {} ms",
        woken.as_millis()
    );
    assert_eq!(done.status(), SetupRunStatus::Completed, "{done:#?}");
    assert!(
        woken < Duration::from_secs(20),
        "the run waited for the periodic check ({woken:?}) instead of being woken"
    );

    one_of_everything(&stack, &run_id).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_driving_replica_killed_after_each_step_in_turn_the_run_completes_once() {
    let lease = [
        ("GROUNDWORK_ORCHESTRATOR__LEASE_MS", "2000".to_owned()),
        ("GROUNDWORK_ORCHESTRATOR__HEARTBEAT_MS", "500".to_owned()),
    ];
    let bound = Duration::from_millis(2000 + 500 + 1000);
    let mut stack =
        Stack::start_with_orchestrator_process(Path::new(env!("CARGO_BIN_EXE_e2e-orchestrator")))
            .await
            .unwrap();
    stack.set_orchestrator_env(&lease);
    stack.restart_orchestrator().await.unwrap();
    stack.start_another_orchestrator(&lease).await.unwrap();
    stack.inbox.set_delay(Duration::from_millis(150));

    let mut rx = apply_at(&stack, stack.orchestrator, EXAMPLE_SPEC, "")
        .await
        .unwrap();
    let mut secrets = Vec::new();
    let first = until(&mut rx, &mut secrets, "the run's first update", |_| true)
        .await
        .unwrap();
    let run_id = first.run_id.clone();

    let mut kills: Vec<(usize, Duration)> = Vec::new();
    let mut done_at_start = 0;
    let mut reader = stack.orchestrator;
    loop {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let run = loop {
            let run = get_run(&stack, reader, &run_id).await;
            if done(&run) > done_at_start || settled(&run) {
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
        let finished_before = succeeded(&run);
        let (killed, survivor, took) = kill_the_holder(&mut stack, &run_id).await;
        done_at_start = done(&get_run(&stack, survivor, &run_id).await);
        kills.push((done_at_start, took));
        assert!(took <= bound, "takeover after {took:?}, over {bound:?}");
        // Whatever the old stream got; it closes when the connection drops (when it was
        // on the killed replica) or is left behind.
        while let Ok(Some(update)) =
            tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
        {
            secrets.extend(update.secrets);
        }
        rx = apply_at(&stack, survivor, "", &run_id).await.unwrap();
        stack.restart_orchestrator_at(killed).await.unwrap();
        reader = survivor;
        let now = get_run(&stack, survivor, &run_id).await;
        for (resource, attempts) in &finished_before {
            assert_eq!(
                step(&now, resource).map(|s| s.attempts),
                Some(*attempts),
                "{resource} was done before the kill and must not run again"
            );
        }
    }
    println!(
        "killed {} times (steps done, takeover ms): {:?}",
        kills.len(),
        kills
            .iter()
            .map(|(n, t)| (*n, t.as_millis()))
            .collect::<Vec<_>>()
    );
    assert!(kills.len() >= 3, "killed only {} times", kills.len());

    let waiting = until(&mut rx, &mut secrets, "WAITING", |r| {
        r.status() == SetupRunStatus::Waiting
            && step(r, MFA_STEP).is_some_and(|s| s.state() == SetupStepState::Waiting)
    })
    .await
    .unwrap();
    stack.inbox.set_delay(Duration::ZERO);
    do_person_steps(&stack, &waiting, &secrets).await.unwrap();
    let end = until(&mut rx, &mut secrets, "the run's end", finished)
        .await
        .unwrap();
    assert_eq!(end.status(), SetupRunStatus::Completed, "{end:#?}");
    one_of_everything(&stack, &run_id).await;
    stack.stop().await;
}
