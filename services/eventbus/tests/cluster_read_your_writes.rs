//! What one event-bus replica writes, the other sees at once: two `groundwork-eventbus`
//! processes on a three-node cluster, every change made through one and read or built upon
//! through the other straight away, as a client behind a load balancer (or the orchestrator
//! and alerting, which spread their calls over every replica) does.
//!
//! Each replica follows the rules bucket with a watch, which applies another replica's
//! write a moment after that write was acknowledged; and KV reads by direct get may be
//! answered by a follower a write behind. Without catching up on a miss and reading the
//! leader, a rule created through one replica is "not found" through the other for that
//! moment. Each round below creates a bus and a rule through one replica and, at once,
//! uses them through the other: any NotFound fails the test with the round and the call.
//!
//! The replicas run with small stream limits (`common::replica`): each of the 40 buses
//! reserves its streams' byte limits on every node's disk.
//!
//! `cargo test -p groundwork-eventbus --test cluster_read_your_writes -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::replica::BusReplica;
use groundwork_proto::v1 as pb;
use groundwork_testkit::NatsCluster;

const ROUNDS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_is_seen_at_once_through_the_other() {
    let cluster = NatsCluster::start().unwrap();
    let replicas = [
        BusReplica::start(&cluster).await,
        BusReplica::start(&cluster).await,
    ];
    let clients = [replicas[0].client().await, replicas[1].client().await];
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        // The writer alternates, so that both replicas are the one behind in turn.
        let (mut writer, mut reader) =
            (clients[round % 2].clone(), clients[(round + 1) % 2].clone());
        let bus = format!("ryw-{round}");
        let rule = format!("rule-{round}");
        writer
            .create_event_bus(pb::CreateEventBusRequest {
                name: bus.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut check = |call: &str, result: Result<(), tonic::Status>| {
            if let Err(status) = result {
                failures.push(format!(
                    "round {round}, {call}: {:?} {}",
                    status.code(),
                    status.message()
                ));
            }
        };
        check(
            "DescribeEventBus",
            reader
                .describe_event_bus(pb::DescribeEventBusRequest { name: bus.clone() })
                .await
                .map(drop),
        );
        writer
            .put_rule(pb::PutRuleRequest {
                name: rule.clone(),
                event_bus_name: bus.clone(),
                event_pattern: r#"{"source": ["ryw"]}"#.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        check(
            "DescribeRule",
            reader
                .describe_rule(pb::DescribeRuleRequest {
                    name: rule.clone(),
                    event_bus_name: bus.clone(),
                })
                .await
                .map(drop),
        );
        // A rule made through the writer gets its target through the reader: the write
        // reads the rule first, and must find it.
        check(
            "PutTargets",
            reader
                .put_targets(pb::PutTargetsRequest {
                    rule: rule.clone(),
                    event_bus_name: bus.clone(),
                    targets: vec![common::target("t", "nats:ryw.out")],
                })
                .await
                .map(|r| assert_eq!(r.into_inner().failed_entry_count, 0)),
        );
        // And the writer sees the target the reader added.
        let targets = writer
            .list_targets_by_rule(pb::ListTargetsByRuleRequest {
                rule: rule.clone(),
                event_bus_name: bus.clone(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().targets.len());
        check(
            "ListTargetsByRule",
            match targets {
                Ok(1) => Ok(()),
                Ok(n) => Err(tonic::Status::failed_precondition(format!(
                    "{n} targets instead of 1"
                ))),
                Err(e) => Err(e),
            },
        );
        // An event for the new bus through the reader is accepted, not refused as sent to
        // a bus that does not exist.
        let put = reader
            .put_events(pb::PutEventsRequest {
                entries: vec![pb::PutEventsRequestEntry {
                    event_bus_name: bus.clone(),
                    ..common::entry("ryw", "Round", r#"{"n": 1}"#)
                }],
            })
            .await
            .map(|r| r.into_inner());
        check(
            "PutEvents",
            match put {
                Ok(r) if r.failed_entry_count == 0 => Ok(()),
                Ok(r) => Err(tonic::Status::not_found(format!("{:?}", r.entries))),
                Err(e) => Err(e),
            },
        );
    }
    println!(
        "{ROUNDS} rounds of five reads after writes through the other replica: {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
