//! Hardened inputs: what PutEvents accepts is delivered (or dead-lettered, never dropped),
//! every limit holds with EventBridge's numbers and texts, wrong answers are right, and a
//! deleted router consumer is re-created where it left off. Each test reproduces a finding
//! of issue 15 against a real nats-server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use async_nats::jetstream;
use common::Channel;
use common::{Answer, Stack, Webhook, deliveries, entry, eventually, stream_len, target};
use groundwork_eventbus::Settings;
use groundwork_kit::Shutdown;
use groundwork_proto::v1 as pb;
use groundwork_proto::v1::event_bus_client::EventBusClient;
use serde_json::{Value, json};
use tonic::Code;

/// A detail whose objects nest `depth` levels deep (`{}` is 1).
fn nested(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

async fn put_rule(c: &mut EventBusClient<Channel>, name: &str, pattern: &str) {
    c.put_rule(pb::PutRuleRequest {
        name: name.into(),
        event_pattern: pattern.into(),
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Another replica of the event bus on the stack's NATS server.
async fn replica(
    stack: &Stack,
    configure: impl FnOnce(&mut Settings),
) -> (EventBusClient<Channel>, Shutdown) {
    let mut settings = Settings::on(stack.nats.settings_for("eventbus"));
    settings.common.nats_timeout_ms = 1500;
    settings.common.api_token = Some(common::API_TOKEN.into());
    configure(&mut settings);
    let shutdown = Shutdown::new();
    let replica = groundwork_eventbus::start(settings, shutdown.clone())
        .await
        .unwrap();
    let c = EventBusClient::new(common::channel(replica.addr).await);
    (c, shutdown)
}

/// Finding 5: a detail 126 deep was accepted and its webhook delivery dropped; 127 deep,
/// webhook and InputPath targets were skipped. Now the deepest accepted detail reaches a
/// webhook and an InputPath target, and one level deeper is refused at PutEvents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deepest_accepted_detail_is_delivered_and_deeper_is_refused() {
    let stack = Stack::start().await;
    let mut c = stack.client().await;
    let hook = Webhook::start(|_| Answer::Status(200)).await;
    put_rule(&mut c, "deep", r#"{"source": ["test.deep"]}"#).await;
    let mut by_path = target("path", "nats:deep.detail");
    by_path.input_path = Some("$.detail".into());
    c.put_targets(pb::PutTargetsRequest {
        rule: "deep".into(),
        targets: vec![target("hook", &hook.url), by_path],
        ..Default::default()
    })
    .await
    .unwrap();

    let limit = groundwork_events::limits::MAX_DETAIL_DEPTH;
    let answer = c
        .put_events(pb::PutEventsRequest {
            entries: vec![
                entry("test.deep", "Deep", &nested(limit)),
                entry("test.deep", "Deep", &nested(limit + 1)),
                entry("test.deep", "Deep", &nested(126)),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.failed_entry_count, 2, "{answer:?}");
    let accepted = answer.entries[0].event_id.clone();
    assert!(!accepted.is_empty());
    for refused in &answer.entries[1..] {
        assert_eq!(refused.error_code, "InvalidArgument");
        assert!(
            refused
                .error_message
                .starts_with("Parameter Detail is not valid. Reason:"),
            "{refused:?}"
        );
    }

    let js = jetstream::new(stack.nats_client().await);
    assert!(
        eventually(Duration::from_secs(20), || {
            let js = js.clone();
            let hook = &hook;
            async move { hook.delivered().len() == 1 && deliveries(&js).await.len() == 1 }
        })
        .await,
        "both targets receive the deepest accepted event"
    );
    let posted: Value = serde_json::from_str(&hook.delivered()[0]).unwrap();
    assert_eq!(posted["id"], accepted.as_str());
    let by_path = &deliveries(&js).await[0];
    assert_eq!(by_path.payload, nested(limit));
    assert_eq!(stream_len(&js, "DLQ_default").await, 0);
    assert_eq!(stack.stored("EVENTS_default").await.len(), 1);
    stack.stop().await;
}

/// Finding 5: a delivery the deliverer cannot read was acknowledged and dropped ("an
/// unreadable delivery was dropped"). Now it goes to the bus's DLQ with its reason, any
/// URL in it redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_delivery_is_dead_lettered_not_dropped() {
    let stack = Stack::start().await;
    let client = stack.nats_client().await;
    let js = jetstream::new(client);
    let garbage =
        r#"{"id":"x","target":{"arn":"https://hooks.slack.com/services/T0/B0/SECRETtok"},"event":"#;
    js.publish(
        groundwork_bus::names::targets_subject("default"),
        garbage.into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(20), || {
            let js = js.clone();
            async move { stream_len(&js, "DLQ_default").await == 1 }
        })
        .await,
        "the unreadable delivery is dead-lettered"
    );
    let mut c = stack.client().await;
    let letters = c
        .list_dead_letters(pb::ListDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].error_code, "UNREADABLE_DELIVERY");
    assert!(
        letters[0]
            .error_message
            .starts_with("the delivery cannot be read"),
        "{:?}",
        letters[0]
    );
    let raw = js
        .get_stream("DLQ_default")
        .await
        .unwrap()
        .get_raw_message(1)
        .await
        .unwrap();
    let payload = String::from_utf8_lossy(&raw.payload);
    assert!(!payload.contains("SECRETtok"), "{payload}");
    assert!(payload.contains("https://hooks.slack.com/..."), "{payload}");
    stack.stop().await;
}

/// Finding 6 (PutEvents): Source and DetailType had no length cap and a blank Source was
/// accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_fields_have_eventbridges_limits() {
    let stack = Stack::start().await;
    let mut c = stack.client().await;
    let answer = c
        .put_events(pb::PutEventsRequest {
            entries: vec![
                entry(&"s".repeat(256), &"t".repeat(128), "{}"),
                entry(&"s".repeat(257), "t", "{}"),
                entry("s", &"t".repeat(129), "{}"),
                entry("   ", "t", "{}"),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.failed_entry_count, 3, "{answer:?}");
    assert!(!answer.entries[0].event_id.is_empty());
    assert_eq!(
        answer.entries[1].error_message,
        "Parameter Source is not valid. Reason: Source must be at most 256 characters long."
    );
    assert_eq!(
        answer.entries[2].error_message,
        "Parameter DetailType is not valid. Reason: DetailType must be at most 128 characters long."
    );
    assert_eq!(
        answer.entries[3].error_message,
        "Parameter Source is not valid. Reason: Source is a required argument."
    );
    for refused in &answer.entries[1..] {
        assert_eq!(refused.error_code, "InvalidArgument");
    }
    stack.stop().await;
}

/// Finding 6 (rules, targets, buses): descriptions had no cap (and `rules list` then failed
/// on the message size), bus names of 249–256 characters gave INTERNAL, buses had no
/// limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_targets_and_buses_have_limits() {
    let stack = Stack::start_with(|s| s.max_buses = 3).await;
    let mut c = stack.client().await;

    let long_description = c
        .put_rule(pb::PutRuleRequest {
            name: "described".into(),
            event_pattern: r#"{"source": ["a"]}"#.into(),
            description: "d".repeat(900_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(long_description.code(), Code::InvalidArgument);
    assert!(
        long_description
            .message()
            .contains("Member must have length less than or equal to 512"),
        "{long_description:?}"
    );
    c.put_rule(pb::PutRuleRequest {
        name: "described".into(),
        event_pattern: r#"{"source": ["a"]}"#.into(),
        description: "d".repeat(512),
        ..Default::default()
    })
    .await
    .unwrap();

    let long_name = c
        .put_rule(pb::PutRuleRequest {
            name: "n".repeat(65),
            event_pattern: r#"{"source": ["a"]}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(long_name.code(), Code::InvalidArgument);

    let long_pattern = format!(r#"{{"source": ["{}"]}}"#, "p".repeat(2048));
    let too_long = c
        .put_rule(pb::PutRuleRequest {
            name: "long-pattern".into(),
            event_pattern: long_pattern,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument);
    assert!(
        too_long
            .message()
            .starts_with("Event pattern is not valid. Reason:")
    );

    let six: Vec<pb::Target> = (0..6)
        .map(|i| target(&format!("t{i}"), &format!("nats:t{i}")))
        .collect();
    let too_many = c
        .put_targets(pb::PutTargetsRequest {
            rule: "described".into(),
            targets: six,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::ResourceExhausted, "{too_many:?}");
    assert_eq!(
        too_many.message(),
        "The requested resource exceeds the maximum number allowed."
    );

    for len in [249, 256] {
        let refused = c
            .create_event_bus(pb::CreateEventBusRequest {
                name: "b".repeat(len),
                description: String::new(),
                tags: Vec::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{len}: {refused:?}");
    }
    // `default` plus two more make three, the configured limit.
    for name in ["one", "two"] {
        c.create_event_bus(pb::CreateEventBusRequest {
            name: name.into(),
            description: String::new(),
            tags: Vec::new(),
        })
        .await
        .unwrap();
    }
    let over = c
        .create_event_bus(pb::CreateEventBusRequest {
            name: "three".into(),
            description: String::new(),
            tags: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted, "{over:?}");
    stack.stop().await;
}

/// Finding 9: the 300-rule limit raced across two replicas (304 stored). Two replicas
/// now create rules at once and exactly the limit is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rule_limit_holds_across_two_replicas() {
    const LIMIT: usize = 12;
    let stack = Stack::start_with(|s| s.max_rules_per_bus = LIMIT).await;
    let a = stack.client().await;
    let (b, b_shutdown) = replica(&stack, |s| s.max_rules_per_bus = LIMIT).await;
    let mut calls = Vec::new();
    for i in 0..(LIMIT * 2) {
        let mut c = if i % 2 == 0 { a.clone() } else { b.clone() };
        calls.push(tokio::spawn(async move {
            c.put_rule(pb::PutRuleRequest {
                name: format!("r{i}"),
                event_pattern: r#"{"source": ["a"]}"#.into(),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| e.code())
        }));
    }
    let mut stored = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(()) => stored += 1,
            Err(code) => assert_eq!(code, Code::ResourceExhausted),
        }
    }
    assert_eq!(stored, LIMIT);
    let mut a = a;
    let listed = a
        .list_rules(pb::ListRulesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert_eq!(listed.len(), LIMIT);
    // A deleted rule gives its place back.
    a.delete_rule(pb::DeleteRuleRequest {
        name: listed[0].name.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    a.put_rule(pb::PutRuleRequest {
        name: "after-delete".into(),
        event_pattern: r#"{"source": ["a"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    b_shutdown.trigger();
    stack.stop().await;
}

/// The same for buses: two replicas create buses at once, and `default` plus the limit
/// minus one exist afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_limit_holds_across_two_replicas() {
    const LIMIT: usize = 5;
    let stack = Stack::start_with(|s| s.max_buses = LIMIT).await;
    let a = stack.client().await;
    let (b, b_shutdown) = replica(&stack, |s| s.max_buses = LIMIT).await;
    let mut calls = Vec::new();
    for i in 0..(LIMIT * 2) {
        let mut c = if i % 2 == 0 { a.clone() } else { b.clone() };
        calls.push(tokio::spawn(async move {
            c.create_event_bus(pb::CreateEventBusRequest {
                name: format!("bus-{i}"),
                description: String::new(),
                tags: Vec::new(),
            })
            .await
            .map(|_| ())
            .map_err(|e| e.code())
        }));
    }
    let mut created = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(()) => created += 1,
            Err(code) => assert_eq!(code, Code::ResourceExhausted),
        }
    }
    assert_eq!(created, LIMIT - 1);
    let mut a = a;
    let listed = a
        .list_event_buses(pb::ListEventBusesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .event_buses;
    assert_eq!(listed.len(), LIMIT);
    b_shutdown.trigger();
    stack.stop().await;
}

/// Finding 6: bus streams had no retention. They now have an age and a size limit, and a
/// replica started with other settings applies them to the existing streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_streams_have_retention() {
    let stack = Stack::start().await;
    let js = jetstream::new(stack.nats_client().await);
    let config = |name: &'static str| {
        let js = js.clone();
        async move {
            groundwork_testkit::cluster::stream_config(&js, name)
                .await
                .unwrap()
        }
    };
    let events = config("EVENTS_default").await;
    assert_eq!(events.max_age, Duration::from_secs(30 * 24 * 3600));
    assert_eq!(events.max_bytes, 1 << 30);
    let dlq = config("DLQ_default").await;
    assert_eq!(dlq.max_age, Duration::from_secs(14 * 24 * 3600));
    assert_eq!(dlq.max_bytes, 256 << 20);

    let (_, shutdown) = replica(&stack, |s| {
        s.events_max_age_hours = 1;
        s.events_max_bytes = 1 << 20;
    })
    .await;
    let events = config("EVENTS_default").await;
    assert_eq!(events.max_age, Duration::from_secs(3600));
    assert_eq!(events.max_bytes, 1 << 20);
    shutdown.trigger();
    stack.stop().await;
}

/// Finding 9: wrong status codes and messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_answers_are_right() {
    let stack = Stack::start().await;
    let mut c = stack.client().await;

    // Empty names: UNAVAILABLE before (an invalid KV key), INVALID_ARGUMENT now.
    let codes = [
        c.delete_rule(pb::DeleteRuleRequest::default())
            .await
            .unwrap_err()
            .code(),
        c.enable_rule(pb::EnableRuleRequest::default())
            .await
            .unwrap_err()
            .code(),
        c.disable_rule(pb::DisableRuleRequest::default())
            .await
            .unwrap_err()
            .code(),
        c.describe_replay(pb::DescribeReplayRequest::default())
            .await
            .unwrap_err()
            .code(),
        c.cancel_replay(pb::CancelReplayRequest::default())
            .await
            .unwrap_err()
            .code(),
    ];
    assert_eq!(codes, [Code::InvalidArgument; 5]);

    // Bus ARNs of another service, account or region; a year −1 time.
    let mut other_service = entry("s", "t", "{}");
    other_service.event_bus_name = "arn:aws:sqs:us-east-1:123456789012:event-bus/default".into();
    let mut other_account = entry("s", "t", "{}");
    other_account.event_bus_name = "arn:aws:events:us-east-1:999999999999:event-bus/default".into();
    let mut other_region = entry("s", "t", "{}");
    other_region.event_bus_name = "arn:aws:events:eu-west-3:123456789012:event-bus/default".into();
    let mut year_minus_one = entry("s", "t", "{}");
    year_minus_one.time = Some(prost_types::Timestamp {
        seconds: -62_198_755_200,
        nanos: 0,
    });
    let answer = c
        .put_events(pb::PutEventsRequest {
            entries: vec![other_service, other_account, other_region, year_minus_one],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.failed_entry_count, 4, "{answer:?}");
    for refused in &answer.entries {
        assert_eq!(refused.error_code, "InvalidArgument", "{refused:?}");
    }
    assert!(
        answer.entries[3]
            .error_message
            .starts_with("Parameter Time is not valid.")
    );
    assert!(stack.stored("EVENTS_default").await.is_empty());

    // The NATS ingress names the bus it was asked for, not `default`.
    let nats = stack.nats_client().await;
    let reply = nats
        .request(
            groundwork_bus::names::ingress_subject("no-such-bus"),
            json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": "{}"}]})
                .to_string()
                .into(),
        )
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(
        reply["Entries"][0]["ErrorMessage"], "Event bus no-such-bus does not exist.",
        "{reply}"
    );
    stack.stop().await;
}

/// Finding 1 (the `router` consumer): deleting it made the event bus re-create it with
/// DeliverPolicy All, and the whole history was delivered again. Now it starts again where
/// it left off: events routed before are not delivered twice, later ones are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_router_consumer_resumes_where_it_left_off() {
    let stack = Stack::start().await;
    let mut c = stack.client().await;
    put_rule(&mut c, "all", r#"{"source": ["test.resume"]}"#).await;
    c.put_targets(pb::PutTargetsRequest {
        rule: "all".into(),
        targets: vec![target("n", "nats:resume")],
        ..Default::default()
    })
    .await
    .unwrap();
    let put = |n: usize| {
        let mut c = c.clone();
        async move {
            let entries = (0..n)
                .map(|i| entry("test.resume", "Tick", &format!(r#"{{"i": {i}}}"#)))
                .collect();
            let answer = c
                .put_events(pb::PutEventsRequest { entries })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(answer.failed_entry_count, 0);
        }
    };
    put(10).await;
    let js = jetstream::new(stack.nats_client().await);
    assert!(
        eventually(Duration::from_secs(20), || {
            let js = js.clone();
            async move {
                deliveries(&js).await.len() == 10
                    && common::consumer_idle(&js, "EVENTS_default", "router").await
            }
        })
        .await
    );
    // The runner samples its position every 250 ms.
    tokio::time::sleep(groundwork_bus::consumer::POSITION_SAMPLE * 4).await;
    // Deleted while events keep coming.
    js.get_stream("EVENTS_default")
        .await
        .unwrap()
        .delete_consumer("router")
        .await
        .unwrap();
    put(5).await;
    assert!(
        eventually(Duration::from_secs(30), || {
            let js = js.clone();
            async move { deliveries(&js).await.len() >= 15 }
        })
        .await,
        "later events are routed by the re-created consumer"
    );
    // A re-delivered old event would be a 16th message: it never comes.
    assert!(
        eventually(Duration::from_secs(30), || {
            let js = js.clone();
            async move { common::consumer_idle(&js, "EVENTS_default", "router").await }
        })
        .await
    );
    let all = deliveries(&js).await;
    assert_eq!(all.len(), 15, "old events were delivered again");
    let mut ids: Vec<&str> = all.iter().map(|d| d.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 15);
    stack.stop().await;
}

/// Encodes raw bytes as they are and decodes nothing: a client that sends what a broken
/// or hostile program would.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = ();
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = ();
    type Error = tonic::Status;
    fn decode(
        &mut self,
        _src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<()>, tonic::Status> {
        Ok(Some(()))
    }
}

/// Finding 9: a string field that is not UTF-8 was answered INTERNAL (tonic's answer to a
/// decode error); it is the caller's mistake, INVALID_ARGUMENT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_string_that_is_not_utf8_is_invalid_argument() {
    let stack = Stack::start().await;
    let channel = common::channel(stack.addr).await;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    // DeleteRuleRequest { name (field 1, length-delimited) = 0xFF 0xFE }.
    let refused = grpc
        .unary(
            tonic::Request::new(vec![0x0A, 0x02, 0xFF, 0xFE]),
            http::uri::PathAndQuery::from_static("/groundwork.v1.EventBus/DeleteRule"),
            Raw,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("not a valid message"),
        "{refused:?}"
    );
    stack.stop().await;
}
