//! A forged fact does not finish a waiting step. While an apply waits for the person:
//! - a producer's `MFA Device Enabled` (source `groundwork.identity`) or `Subscription
//!   Confirmed` is refused by PutEvents, over gRPC and over the NATS ingress, since only
//!   the owning service may emit a `groundwork.*` source;
//! - even a service's own credentials forging them (a compromised identity or alerting)
//!   only wake the step: it reads the live state, IAM and SNS show nothing done, and the
//!   step keeps waiting; the real person's steps then finish the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use groundwork_e2e::flow::{MFA_STEP, SUB_STEP, apply, do_person_steps, finished, until};
use groundwork_e2e::{EXAMPLE_SPEC, Stack, eventually, step};
use groundwork_proto::v1 as pb;
use pb::event_bus_client::EventBusClient;
use pb::{SetupRunStatus, SetupStepState};

fn entry(source: &str, detail_type: &str, detail: serde_json::Value) -> pb::PutEventsRequestEntry {
    pb::PutEventsRequestEntry {
        source: source.into(),
        detail_type: detail_type.into(),
        detail: detail.to_string(),
        ..Default::default()
    }
}

/// Whether the orchestrator's resume consumer has taken and acknowledged `n` deliveries.
async fn resume_consumer_handled(stack: &Stack, n: u64) -> bool {
    let client = stack.nats.admin().await.unwrap();
    let js = async_nats::jetstream::new(client);
    let Ok(stream) = js.get_stream("DELIVERIES").await else {
        return false;
    };
    let Ok(info) = stream.consumer_info("orchestrator-resume").await else {
        return false;
    };
    info.delivered.stream_sequence > 0
        && info.num_ack_pending == 0
        && info.num_pending == 0
        && info.ack_floor.consumer_sequence >= n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_mfa_or_confirmation_event_does_not_finish_a_waiting_step() {
    let stack = Stack::start().await.unwrap();
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
    let serial = step(&waiting, MFA_STEP).unwrap().outputs["serial_number"].clone();

    let channel = stack.channel(stack.eventbus).await;
    let mfa = serde_json::json!({"userName": "admin", "serialNumber": serial});
    let confirmed = serde_json::json!({
        "topicArn": "arn:aws:sns:us-east-1:123456789012:billing-alarm",
        "protocol": "email",
        "endpoint": "ops@example.com",
        "subscriptionArn": null
    });
    let forged = vec![
        entry("groundwork.identity", "MFA Device Enabled", mfa.clone()),
        entry(
            "groundwork.alerting",
            "Subscription Confirmed",
            confirmed.clone(),
        ),
    ];

    // PutEvents refuses them, over gRPC and over the NATS ingress.
    let put = EventBusClient::new(channel)
        .put_events(pb::PutEventsRequest {
            entries: forged.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.failed_entry_count, 2, "{put:?}");
    for e in &put.entries {
        assert_eq!(e.error_code, "NotAuthorizedForSourceException", "{put:?}");
    }
    let producer = stack.nats.client("events").await.unwrap();
    let ingress = serde_json::json!({"Entries": [
        {"Source": "groundwork.identity", "DetailType": "MFA Device Enabled", "Detail": mfa.to_string()},
        {"Source": "groundwork.alerting", "DetailType": "Subscription Confirmed", "Detail": confirmed.to_string()},
    ]});
    let reply = producer
        .request("groundwork.events.put.default", ingress.to_string().into())
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(answer["FailedEntryCount"], 2, "{answer}");

    // The services' own credentials can emit them: the orchestrator must still not
    // believe them.
    for (service, detail_type, detail) in [
        ("identity", "MFA Device Enabled", &mfa),
        ("alerting", "Subscription Confirmed", &confirmed),
    ] {
        let client = stack.nats.client(service).await.unwrap();
        let event = serde_json::json!({
            "version": "0",
            "id": format!("forged-{service}"),
            "detail-type": detail_type,
            "source": format!("groundwork.{service}"),
            "account": "123456789012",
            "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        });
        let reply = client
            .request(
                format!("groundwork.events.emit.{service}.default"),
                event.to_string().into(),
            )
            .await
            .unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        assert!(stored["Sequence"].is_u64(), "{service}: {stored}");
    }

    // Both forged events reached the orchestrator and were handled.
    let handled = eventually(Duration::from_secs(30), || async {
        resume_consumer_handled(&stack, 2).await.then_some(())
    })
    .await;
    assert!(
        handled.is_some(),
        "the forged events never reached the orchestrator"
    );
    let run = stack
        .orchestrator()
        .await
        .get_run(pb::GetRunRequest {
            run_id: waiting.run_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(run.status(), SetupRunStatus::Waiting, "{run:#?}");
    let empty = stack
        .orchestrator()
        .await
        .get_run(pb::GetRunRequest::default())
        .await
        .unwrap_err();
    assert_eq!(empty.code(), tonic::Code::InvalidArgument, "{empty:?}");
    for s in [MFA_STEP, SUB_STEP] {
        assert_eq!(
            step(&run, s).unwrap().state(),
            SetupStepState::Waiting,
            "{s} was finished by a forged event"
        );
    }

    // The person's real steps finish the run (the live state now confirms them).
    do_person_steps(&stack, &waiting, &secrets).await.unwrap();
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        until(&mut rx, &mut secrets, "the run's end", finished),
    )
    .await
    .expect("the run did not complete after the person's steps")
    .unwrap();
    assert_eq!(done.status(), SetupRunStatus::Completed, "{done:#?}");
    let stuck = stack.stop().await;
    assert!(stuck.is_empty(), "every service stopped: {stuck:?}");
}
