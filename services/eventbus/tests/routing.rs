//! The router and the deliverer under normal operation: every expected delivery arrives
//! exactly once and nothing reaches a target whose rule does not match.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream;
use common::{Answer, Stack, Webhook, consumer_idle, deliveries, eventually, stream_len, target};
use groundwork_proto::v1 as pb;
use serde_json::Value;

const RULES: usize = 50;
const EVENTS: usize = 1000;

/// Rule `i` matches events whose group is `i % 10` and bucket `i / 10` (0 to 4); events
/// have buckets 0 to 6, so some match no rule.
fn rule_matches(rule: usize, n: usize) -> bool {
    n % 10 == rule % 10 && n % 7 == rule / 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_through_fifty_rules_reach_each_matching_target_exactly_once() {
    let stack = Stack::start_with(common::fast_retries).await;
    let mut c = stack.client().await;
    let hook = Webhook::start(|_| Answer::Status(200)).await;
    c.create_event_bus(pb::CreateEventBusRequest {
        name: "sink".into(),
        description: String::new(),
        tags: Vec::new(),
    })
    .await
    .unwrap();
    for i in 0..RULES {
        let name = format!("rule-{i:02}");
        c.put_rule(pb::PutRuleRequest {
            name: name.clone(),
            event_pattern: format!(
                r#"{{"source": ["test.routing"], "detail": {{"group": [{}], "bucket": [{}]}}}}"#,
                i % 10,
                i / 10
            ),
            ..Default::default()
        })
        .await
        .unwrap();
        let mut targets = vec![target("nats", &format!("nats:routing.r{i:02}"))];
        if i % 10 == 0 {
            targets.push(target("hook", &hook.url));
        }
        if i == 7 {
            targets.push(target(
                "bus",
                "arn:aws:events:us-east-1:123456789012:event-bus/sink",
            ));
        }
        let put = c
            .put_targets(pb::PutTargetsRequest {
                rule: name,
                event_bus_name: String::new(),
                targets,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(put.failed_entry_count, 0);
    }

    let mut ids = Vec::with_capacity(EVENTS);
    for chunk in 0..EVENTS / 10 {
        let entries = (0..10)
            .map(|k| {
                let n = chunk * 10 + k;
                common::entry(
                    "test.routing",
                    "Routed",
                    &format!(r#"{{"n": {n}, "group": {}, "bucket": {}}}"#, n % 10, n % 7),
                )
            })
            .collect();
        let response = c
            .put_events(pb::PutEventsRequest { entries })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.failed_entry_count, 0);
        ids.extend(response.entries.into_iter().map(|e| e.event_id));
    }

    let mut expected_nats = BTreeSet::new();
    let mut expected_hook = 0;
    let mut expected_bus = 0;
    for (n, id) in ids.iter().enumerate() {
        for rule in 0..RULES {
            if rule_matches(rule, n) {
                expected_nats
                    .insert((format!("groundwork.deliver.routing.r{rule:02}"), id.clone()));
                if rule % 10 == 0 {
                    expected_hook += 1;
                }
                if rule == 7 {
                    expected_bus += 1;
                }
            }
        }
    }
    assert!(expected_nats.len() > 50 && expected_hook > 5 && expected_bus > 5);

    let js = jetstream::new(stack.nats_client().await);
    let arrived = eventually(Duration::from_secs(60), || {
        let js = js.clone();
        let hook = &hook;
        let expected = expected_nats.len() as u64;
        async move {
            stream_len(&js, "DELIVERIES").await >= expected
                && hook.delivered().len() >= expected_hook
                && stream_len(&js, "EVENTS_sink").await >= expected_bus as u64
        }
    })
    .await;
    assert!(arrived, "deliveries did not all arrive");
    // Wait until nothing is left in flight, then count exactly.
    let idle = eventually(Duration::from_secs(30), || {
        let js = js.clone();
        async move {
            consumer_idle(&js, "EVENTS_default", "router").await
                && consumer_idle(&js, "TARGETS", "deliverer").await
        }
    })
    .await;
    assert!(idle);

    let received = deliveries(&js).await;
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in &received {
        *seen
            .entry((r.subject.clone(), r.event_id.clone()))
            .or_default() += 1;
        let event: Value = serde_json::from_str(&r.payload).unwrap();
        assert_eq!(event["id"], Value::String(r.event_id.clone()));
    }
    assert!(
        seen.values().all(|&count| count == 1),
        "a delivery arrived twice"
    );
    let seen: BTreeSet<_> = seen.into_keys().collect();
    assert_eq!(
        seen, expected_nats,
        "deliveries differ from the matching rules"
    );
    assert_eq!(hook.delivered().len(), expected_hook);
    assert_eq!(hook.attempts(), expected_hook);
    assert_eq!(stream_len(&js, "EVENTS_sink").await, expected_bus as u64);
    assert_eq!(stream_len(&js, "DLQ_default").await, 0);
    stack.stop().await;
}

#[tokio::test]
async fn rule_changes_apply_without_a_restart_and_disabled_rules_route_nothing() {
    let stack = Stack::start().await;
    let mut c = stack.client().await;
    c.put_rule(pb::PutRuleRequest {
        name: "live".into(),
        event_pattern: r#"{"source": ["test.live"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.put_targets(pb::PutTargetsRequest {
        rule: "live".into(),
        event_bus_name: String::new(),
        targets: vec![target("t", "nats:live")],
    })
    .await
    .unwrap();
    async fn put(
        c: &mut groundwork_proto::v1::event_bus_client::EventBusClient<common::Channel>,
    ) -> String {
        let request = pb::PutEventsRequest {
            entries: vec![common::entry("test.live", "T", "{}")],
        };
        c.put_events(request).await.unwrap().into_inner().entries[0]
            .event_id
            .clone()
    }
    let first = put(&mut c).await;
    let js = jetstream::new(stack.nats_client().await);
    assert!(
        eventually(Duration::from_secs(10), || {
            let js = js.clone();
            async move { stream_len(&js, "DELIVERIES").await == 1 }
        })
        .await
    );
    c.disable_rule(pb::DisableRuleRequest {
        name: "live".into(),
        event_bus_name: String::new(),
    })
    .await
    .unwrap();
    let _second = put(&mut c).await;
    c.enable_rule(pb::EnableRuleRequest {
        name: "live".into(),
        event_bus_name: String::new(),
    })
    .await
    .unwrap();
    // Wait until the event put while disabled is routed (to nothing).
    assert!(
        eventually(Duration::from_secs(10), || {
            let js = js.clone();
            async move { consumer_idle(&js, "EVENTS_default", "router").await }
        })
        .await
    );
    let third = put(&mut c).await;
    assert!(
        eventually(Duration::from_secs(10), || {
            let js = js.clone();
            async move { stream_len(&js, "DELIVERIES").await == 2 }
        })
        .await
    );
    let ids: Vec<String> = deliveries(&js)
        .await
        .into_iter()
        .map(|r| r.event_id)
        .collect();
    assert_eq!(ids, [first, third]);
    stack.stop().await;
}

/// Events written straight to a bus stream (not through PutEvents): one without a message
/// id is routed under the id inside it, to a whole-event target and to one that needs the
/// event decoded; unreadable ones and a non-object are skipped without holding up the
/// events after them.
#[tokio::test]
async fn events_stored_by_hand_are_routed_by_their_own_id_and_unreadable_ones_skipped() {
    let stack = Stack::start().await;
    let mut c = stack.client().await;
    c.put_rule(pb::PutRuleRequest {
        name: "raw".into(),
        event_pattern: r#"{"source": ["test.raw"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut shaped = target("shaped", "nats:raw.shaped");
    shaped.input_transformer = Some(pb::InputTransformer {
        input_paths_map: [("n".to_owned(), "$.detail.n".to_owned())].into(),
        input_template: r#"{"n": <n>, "rule": "<aws.events.rule-name>"}"#.into(),
    });
    let put = c
        .put_targets(pb::PutTargetsRequest {
            rule: "raw".into(),
            event_bus_name: String::new(),
            targets: vec![target("whole", "nats:raw.whole"), shaped],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.failed_entry_count, 0, "{put:?}");
    let js = jetstream::new(stack.nats_client().await);
    let event = |id: &str, n: u32| {
        format!(
            r#"{{"version":"0","id":"{id}","detail-type":"T","source":"test.raw","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{{"n":{n}}}}}"#
        )
    };
    let subject = groundwork_bus::names::events_subject("default");
    for payload in [
        event("hand-1", 1),
        r#"{"source": "test.raw", "id": "#.to_owned(),
        "[1, 2]".to_owned(),
        "\u{fffd}".to_owned(),
        event("hand-2", 2),
    ] {
        js.publish(subject.clone(), payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    assert!(
        eventually(Duration::from_secs(10), || {
            let js = js.clone();
            async move {
                stream_len(&js, "DELIVERIES").await >= 4
                    && consumer_idle(&js, "EVENTS_default", "router").await
            }
        })
        .await,
        "the readable events were not all routed: {:?}",
        deliveries(&js).await
    );
    let mut got: Vec<(String, String, String)> = deliveries(&js)
        .await
        .into_iter()
        .map(|r| (r.subject, r.event_id, r.payload))
        .collect();
    got.sort();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0].0, "groundwork.deliver.raw.shaped");
    assert_eq!(got[0].1, "hand-1");
    let shaped: Value = serde_json::from_str(&got[0].2).unwrap();
    assert_eq!(shaped["n"], 1);
    assert_eq!(got[2].0, "groundwork.deliver.raw.whole");
    assert_eq!(
        (got[2].1.as_str(), got[2].2.as_str()),
        ("hand-1", event("hand-1", 1).as_str())
    );
    assert_eq!(
        (got[3].1.as_str(), got[3].2.as_str()),
        ("hand-2", event("hand-2", 2).as_str())
    );
    assert_eq!(stream_len(&js, "DLQ_default").await, 0);
    stack.stop().await;
}
