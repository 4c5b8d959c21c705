//! Archives and replays: replaying a window delivers again exactly the archived events
//! that match the archive's pattern, with `replay-name`, and they are not archived again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use async_nats::jetstream;
use common::{Stack, deliveries, eventually, stream_len, target};
use groundwork_proto::v1 as pb;
use serde_json::Value;

fn ts(t: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_an_hour_delivers_the_archived_matching_events_again_with_replay_name() {
    let stack = Stack::start().await;
    let mut c = stack.client().await;
    c.put_rule(pb::PutRuleRequest {
        name: "all".into(),
        event_pattern: r#"{"source": ["test.replay"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.put_targets(pb::PutTargetsRequest {
        rule: "all".into(),
        event_bus_name: String::new(),
        targets: vec![target("t", "nats:replayed")],
    })
    .await
    .unwrap();
    let archive = c
        .create_archive(pb::CreateArchiveRequest {
            archive_name: "kept".into(),
            event_source_arn: "arn:aws:events:us-east-1:123456789012:event-bus/default".into(),
            event_pattern: r#"{"detail-type": ["Kept"]}"#.into(),
            retention_days: 1,
            description: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        archive.archive_arn,
        "arn:aws:events:us-east-1:123456789012:archive/kept"
    );

    let mut kept = Vec::new();
    for i in 0..10 {
        let detail_type = if i % 2 == 0 { "Kept" } else { "Other" };
        let id = c
            .put_events(pb::PutEventsRequest {
                entries: vec![common::entry(
                    "test.replay",
                    detail_type,
                    &format!(r#"{{"i": {i}}}"#),
                )],
            })
            .await
            .unwrap()
            .into_inner()
            .entries[0]
            .event_id
            .clone();
        if i % 2 == 0 {
            kept.push(id);
        }
    }
    let js = jetstream::new(stack.nats_client().await);
    assert!(
        eventually(Duration::from_secs(10), || {
            let js = js.clone();
            async move { stream_len(&js, "DELIVERIES").await == 10 }
        })
        .await
    );

    let now = time::OffsetDateTime::now_utc();
    let started = c
        .start_replay(pb::StartReplayRequest {
            replay_name: "again".into(),
            event_source_arn: archive.archive_arn.clone(),
            event_start_time: Some(ts(now - time::Duration::hours(1))),
            event_end_time: Some(ts(now + time::Duration::minutes(1))),
            destination: Some(pb::ReplayDestination {
                arn: "arn:aws:events:us-east-1:123456789012:event-bus/default".into(),
                filter_arns: vec![],
            }),
            description: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(started.state, "STARTING");
    let last = std::sync::Arc::new(std::sync::Mutex::new(pb::Replay::default()));
    let done = eventually(Duration::from_secs(20), || {
        let mut c = c.clone();
        let last = last.clone();
        async move {
            let replay = c
                .describe_replay(pb::DescribeReplayRequest {
                    replay_name: "again".into(),
                })
                .await
                .unwrap()
                .into_inner();
            let completed = replay.state == "COMPLETED";
            *last.lock().unwrap() = replay;
            completed
        }
    })
    .await;
    let last = last.lock().unwrap().clone();
    assert!(done, "replay ended as {last:?}");
    assert!(last.event_last_replayed_time.is_some());
    assert_eq!(last.deliveries, 5);

    assert!(
        eventually(Duration::from_secs(10), || {
            let js = js.clone();
            async move { stream_len(&js, "DELIVERIES").await == 15 }
        })
        .await
    );
    let replayed: Vec<_> = deliveries(&js)
        .await
        .into_iter()
        .filter(|r| r.replay_name.is_some())
        .collect();
    assert_eq!(replayed.len(), 5);
    let mut ids: Vec<String> = replayed.iter().map(|r| r.event_id.clone()).collect();
    ids.sort();
    kept.sort();
    assert_eq!(ids, kept);
    for r in &replayed {
        let event: Value = serde_json::from_str(&r.payload).unwrap();
        assert_eq!(event["replay-name"], "again");
        assert_eq!(event["detail-type"], "Kept");
    }
    // Replayed events do not re-enter the bus stream (which also holds the audit trail of
    // the calls above; `stored` leaves those out).
    assert_eq!(stack.stored("EVENTS_default").await.len(), 10);

    let again = c
        .cancel_replay(pb::CancelReplayRequest {
            replay_name: "again".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::InvalidArgument);
    stack.stop().await;
}
