//! PutEvents over gRPC and over the NATS ingress, against a real nats-server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Stack, entry};
use groundwork_proto::v1::PutEventsRequest;
use serde_json::{Value, json};

#[tokio::test]
async fn ten_valid_entries_get_ten_ids_and_are_stored_in_the_envelope() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let entries = (0..10)
        .map(|i| {
            entry(
                "com.example.orders",
                "Order Placed",
                &format!(r#"{{"n":{i}}}"#),
            )
        })
        .collect();
    let response = client
        .put_events(PutEventsRequest { entries })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.failed_entry_count, 0);
    assert_eq!(response.entries.len(), 10);
    let ids: Vec<String> = response
        .entries
        .iter()
        .map(|e| e.event_id.clone())
        .collect();
    assert!(ids.iter().all(|id| !id.is_empty()));

    // One message for the call: the server stores, delivers and has acknowledged one.
    let js = async_nats::jetstream::new(stack.nats_client().await);
    assert_eq!(common::stream_len(&js, "EVENTS_default").await, 1);
    let stored = stack.stored("EVENTS_default").await;
    assert_eq!(stored.len(), 10);
    for (i, event) in stored.iter().enumerate() {
        assert_eq!(event["id"], Value::String(ids[i].clone()));
        assert_eq!(event["version"], "0");
        assert_eq!(event["source"], "com.example.orders");
        assert_eq!(event["detail-type"], "Order Placed");
        assert_eq!(event["account"], "123456789012");
        assert_eq!(event["region"], "us-east-1");
        assert_eq!(event["resources"], json!([]));
        assert_eq!(event["detail"], json!({"n": i}));
        let time = event["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == 20, "{time}");
    }
    stack.stop().await;
}

#[tokio::test]
async fn a_mixed_batch_reports_per_entry_errors_as_eventbridge_and_stores_only_valid_ones() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let entries = vec![
        entry("app", "Ok", r#"{"a":1}"#),
        entry("", "T", "{}"),
        entry("app", "", "{}"),
        entry("app", "T", ""),
        entry("app", "T", "[1,2]"),
        entry("app", "T", "{bad json"),
        entry("aws.cloudwatch", "T", "{}"),
        entry("app", "Ok", r#"{"a":2}"#),
    ];
    let response = client
        .put_events(PutEventsRequest { entries })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.failed_entry_count, 6);
    let got: Vec<(String, String)> = response
        .entries
        .iter()
        .map(|e| (e.error_code.clone(), e.error_message.clone()))
        .collect();
    let expected = [
        ("", ""),
        (
            "InvalidArgument",
            "Parameter Source is not valid. Reason: Source is a required argument.",
        ),
        (
            "InvalidArgument",
            "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
        ),
        (
            "InvalidArgument",
            "Parameter Detail is not valid. Reason: Detail is a required argument.",
        ),
        ("MalformedDetail", "Detail is malformed."),
        ("MalformedDetail", "Detail is malformed."),
        (
            "NotAuthorizedForSourceException",
            "Not authorized for the source.",
        ),
        ("", ""),
    ];
    for (i, (code, message)) in expected.iter().enumerate() {
        assert_eq!(got[i].0, *code, "entry {i}");
        assert_eq!(got[i].1, *message, "entry {i}");
    }
    assert!(!response.entries[0].event_id.is_empty());
    assert!(!response.entries[7].event_id.is_empty());

    let stored = stack.stored("EVENTS_default").await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["detail"], json!({"a": 1}));
    assert_eq!(stored[1]["detail"], json!({"a": 2}));
    stack.stop().await;
}

#[tokio::test]
async fn eleven_entries_or_too_many_bytes_are_refused_whole_and_nothing_is_stored() {
    let stack = Stack::start_with(|s| s.max_request_bytes = 1024).await;
    let mut client = stack.client().await;

    let eleven = (0..11).map(|_| entry("app", "T", "{}")).collect();
    let status = client
        .put_events(PutEventsRequest { entries: eleven })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status
            .message()
            .contains("Member must have length less than or equal to 10"),
        "{}",
        status.message()
    );

    let big = format!(r#"{{"x":"{}"}}"#, "y".repeat(600));
    let too_big = vec![entry("app", "T", &big), entry("app", "T", &big)];
    let status = client
        .put_events(PutEventsRequest { entries: too_big })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "Total size of the entries in the request is over the limit."
    );

    let none = client
        .put_events(PutEventsRequest { entries: vec![] })
        .await
        .unwrap_err();
    assert_eq!(none.code(), tonic::Code::InvalidArgument);

    assert!(stack.stored("EVENTS_default").await.is_empty());
    stack.stop().await;
}

#[tokio::test]
async fn an_unknown_bus_is_reported_per_entry_and_nothing_is_lost() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let mut to_missing = entry("app", "T", "{}");
    to_missing.event_bus_name = "missing".into();
    let mut by_arn = entry("app", "T", "{}");
    by_arn.event_bus_name = "arn:aws:events:us-east-1:123456789012:event-bus/default".into();
    let response = client
        .put_events(PutEventsRequest {
            entries: vec![to_missing, by_arn],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.failed_entry_count, 1);
    assert_eq!(response.entries[0].error_code, "ResourceNotFoundException");
    assert_eq!(
        response.entries[0].error_message,
        "Event bus missing does not exist."
    );
    assert!(!response.entries[1].event_id.is_empty());
    assert_eq!(stack.stored("EVENTS_default").await.len(), 1);
    stack.stop().await;
}

async fn ingress(stack: &Stack, bus: &str, body: Value) -> Value {
    let nats = stack.nats_client().await;
    let reply = nats
        .request(
            groundwork_bus::names::ingress_subject(bus),
            body.to_string().into(),
        )
        .await
        .unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}

#[tokio::test]
async fn the_nats_ingress_keeps_the_same_contract() {
    let stack = Stack::start_with(|s| s.max_request_bytes = 1024).await;

    let ok = ingress(
        &stack,
        "default",
        json!({"Entries": [
            {"Source": "app", "DetailType": "T", "Detail": "{\"k\":1}"},
            {"Source": "app", "DetailType": "T", "Detail": "not json"},
            {"DetailType": "T", "Detail": "{}"}
        ]}),
    )
    .await;
    assert_eq!(ok["FailedEntryCount"], 2);
    assert!(ok["Entries"][0]["EventId"].is_string());
    assert_eq!(
        ok["Entries"][1],
        json!({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."})
    );
    assert_eq!(
        ok["Entries"][2]["ErrorMessage"],
        "Parameter Source is not valid. Reason: Source is a required argument."
    );

    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"Source": "a", "DetailType": "T", "Detail": "{}"}))
        .collect();
    let refused = ingress(&stack, "default", json!({ "Entries": eleven })).await;
    assert_eq!(refused["Error"]["Code"], "ValidationException");

    let big = format!(r#"{{"x":"{}"}}"#, "y".repeat(2000));
    let refused = ingress(
        &stack,
        "default",
        json!({"Entries": [{"Source": "a", "DetailType": "T", "Detail": big}]}),
    )
    .await;
    assert_eq!(
        refused["Error"]["Message"],
        "Total size of the entries in the request is over the limit."
    );

    let not_json = stack
        .nats_client()
        .await
        .request(
            groundwork_bus::names::ingress_subject("default"),
            "nope".into(),
        )
        .await
        .unwrap();
    let not_json: Value = serde_json::from_slice(&not_json.payload).unwrap();
    assert_eq!(not_json["Error"]["Code"], "ValidationException");

    let other_bus = ingress(
        &stack,
        "default",
        json!({"Entries": [{"Source": "a", "DetailType": "T", "Detail": "{}", "EventBusName": "other"}]}),
    )
    .await;
    assert_eq!(
        other_bus["Entries"][0]["ErrorCode"],
        "ResourceNotFoundException"
    );

    let stored = stack.stored("EVENTS_default").await;
    assert_eq!(stored.len(), 1, "only the one valid entry is stored");
    assert_eq!(stored[0]["id"], ok["Entries"][0]["EventId"]);
    stack.stop().await;
}

#[tokio::test]
async fn with_a_token_a_call_without_it_is_unauthenticated() {
    let stack = Stack::start_with(|s| s.common.api_token = Some("tok-123".into())).await;
    let mut client = stack.client().await;
    let status = client
        .put_events(PutEventsRequest {
            entries: vec![entry("a", "T", "{}")],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let channel = tonic::transport::Channel::from_shared(format!("http://{}", stack.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let token: tonic::metadata::MetadataValue<_> = "Bearer tok-123".parse().unwrap();
    let mut authed = groundwork_proto::v1::event_bus_client::EventBusClient::with_interceptor(
        channel,
        move |mut req: tonic::Request<()>| {
            req.metadata_mut().insert("authorization", token.clone());
            Ok(req)
        },
    );
    let ok = authed
        .put_events(PutEventsRequest {
            entries: vec![entry("a", "T", "{}")],
        })
        .await
        .unwrap();
    assert_eq!(ok.into_inner().failed_entry_count, 0);
    stack.stop().await;
}

#[tokio::test]
async fn nats_down_gives_unavailable_quickly_and_the_service_recovers_without_restart() {
    let mut stack = Stack::start().await;
    let mut client = stack.client().await;
    let first = client
        .put_events(PutEventsRequest {
            entries: vec![entry("a", "Before", "{}")],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.failed_entry_count, 0);

    stack.nats.stop();
    let started = Instant::now();
    let status = client
        .put_events(PutEventsRequest {
            entries: vec![entry("a", "During", "{}")],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("NATS"), "{}", status.message());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    stack.nats.start_again().unwrap();
    // The client reconnects on its own; wait for it by retrying the call, not by sleeping.
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        match client
            .put_events(PutEventsRequest {
                entries: vec![entry("a", "After", "{}")],
            })
            .await
        {
            Ok(r) => break r.into_inner(),
            Err(s) if s.code() == tonic::Code::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("service did not recover: {s:?}"),
        }
    };
    assert_eq!(after.failed_entry_count, 0);
    let stored = stack.stored("EVENTS_default").await;
    let types: Vec<&str> = stored
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["Before", "After"],
        "the event stored before the outage is still there"
    );
    assert_eq!(stored[0]["id"].as_str().unwrap(), first.entries[0].event_id);
    stack.stop().await;
}

#[tokio::test]
async fn tail_follows_a_bus_from_the_beginning_and_live() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    client
        .put_events(PutEventsRequest {
            entries: vec![entry("a", "One", "{}")],
        })
        .await
        .unwrap();
    let mut tail = client
        .tail_events(groundwork_proto::v1::TailEventsRequest {
            event_bus_name: String::new(),
            start: Some(groundwork_proto::v1::tail_events_request::Start::FromBeginning(true)),
        })
        .await
        .unwrap()
        .into_inner();
    let first = tail.message().await.unwrap().unwrap();
    assert_eq!(first.sequence, 1);
    let first: Value = serde_json::from_str(&first.event_json).unwrap();
    assert_eq!(first["detail-type"], "One");
    client
        .put_events(PutEventsRequest {
            entries: vec![entry("a", "Two", "{}")],
        })
        .await
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), tail.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let second: Value = serde_json::from_str(&second.event_json).unwrap();
    assert_eq!(second["detail-type"], "Two");

    let missing = client
        .tail_events(groundwork_proto::v1::TailEventsRequest {
            event_bus_name: "nope".into(),
            start: None,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    stack.stop().await;
}

/// A call bigger than one NATS message (a request limit raised above the server's 1 MiB
/// `max_payload`) is stored in as many messages as it takes, every entry accepted and
/// stored once, in order, instead of being refused whole by the server.
#[tokio::test]
async fn a_call_bigger_than_one_nats_message_is_stored_in_several() {
    let stack = Stack::start_with(|s| s.max_request_bytes = 3 * 1024 * 1024).await;
    let mut client = stack.client().await;
    let filler = "x".repeat(200 * 1024);
    let entries = (0..10)
        .map(|i| {
            entry(
                "a",
                &format!("Big {i}"),
                &format!(r#"{{"n":{i},"fill":"{filler}"}}"#),
            )
        })
        .collect();
    let put = client
        .put_events(PutEventsRequest { entries })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.failed_entry_count, 0, "{:?}", put.entries);
    let js = async_nats::jetstream::new(stack.nats_client().await);
    // 10 × ~200 KiB in messages of at most 1 MiB (less the headers' room): two or three.
    let messages = common::stream_len(&js, "EVENTS_default").await;
    assert!((2..=3).contains(&messages), "{messages} messages");
    let stored = stack.stored("EVENTS_default").await;
    let types: Vec<&str> = stored
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..10).map(|i| format!("Big {i}")).collect();
    assert_eq!(types, expected);
    for (event, result) in stored.iter().zip(&put.entries) {
        assert_eq!(event["id"].as_str().unwrap(), result.event_id);
    }
    stack.stop().await;
}

/// The detail type and stream sequence of the next event a tail sends.
async fn next_type(
    tail: &mut tonic::Streaming<groundwork_proto::v1::TailEventsResponse>,
) -> (String, u64) {
    let event = tokio::time::timeout(Duration::from_secs(10), tail.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let value: Value = serde_json::from_str(&event.event_json).unwrap();
    (
        value["detail-type"].as_str().unwrap().to_owned(),
        event.sequence,
    )
}

/// `Last(n)` is the last n events, not the last n messages: a call's events are stored as
/// one message, so the tail starts n messages back and sends only the last n events read
/// up to the stream's last message; then it follows the bus live.
#[tokio::test]
async fn tail_last_n_counts_events_not_stored_messages() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    for types in [&["1", "2", "3"][..], &["4", "5"], &["6", "7", "8", "9"]] {
        let entries = types.iter().map(|t| entry("a", t, "{}")).collect();
        let put = client
            .put_events(PutEventsRequest { entries })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(put.failed_entry_count, 0);
    }
    let js = async_nats::jetstream::new(stack.nats_client().await);
    assert_eq!(common::stream_len(&js, "EVENTS_default").await, 3);
    let read = |n: u64| {
        let mut client = client.clone();
        async move {
            client
                .tail_events(groundwork_proto::v1::TailEventsRequest {
                    event_bus_name: String::new(),
                    start: Some(groundwork_proto::v1::tail_events_request::Start::Last(n)),
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let mut tails = Vec::new();
    for (n, expected) in [
        (1, &["9"][..]),
        (5, &["5", "6", "7", "8", "9"]),
        (9, &["1", "2", "3", "4", "5", "6", "7", "8", "9"]),
        (50, &["1", "2", "3", "4", "5", "6", "7", "8", "9"]),
    ] {
        let mut tail = read(n).await;
        let mut got = Vec::new();
        for _ in expected {
            got.push(next_type(&mut tail).await);
        }
        let types: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types, expected, "Last({n})");
        // Events of one call share its message's sequence.
        assert_eq!(got.last().unwrap().1, 3, "Last({n})");
        tails.push((n, tail));
    }
    client
        .put_events(PutEventsRequest {
            entries: vec![entry("a", "live", "{}")],
        })
        .await
        .unwrap();
    for (n, mut tail) in tails {
        assert_eq!(
            next_type(&mut tail).await,
            ("live".to_owned(), 4),
            "after Last({n}), the live event comes next"
        );
    }
    stack.stop().await;
}

/// A timestamp out of range (the smallest date with a negative nanosecond, or seconds at
/// i64::MAX) is refused with INVALID_ARGUMENT naming the field; the service goes on.
#[tokio::test]
async fn timestamps_out_of_range_are_refused_not_a_crash() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let mut bad = entry("a", "T", "{}");
    bad.time = Some(prost_types::Timestamp {
        seconds: -377_705_116_800,
        nanos: -1,
    });
    let status = client
        .put_events(PutEventsRequest { entries: vec![bad] })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("Time"), "{}", status.message());
    for seconds in [i64::MAX, i64::MIN] {
        let mut far = entry("a", "T", "{}");
        far.time = Some(prost_types::Timestamp { seconds, nanos: 0 });
        let status = client
            .put_events(PutEventsRequest { entries: vec![far] })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }
    let status = client
        .start_replay(groundwork_proto::v1::StartReplayRequest {
            replay_name: "far".into(),
            event_source_arn: "arn:aws:events:us-east-1:123456789012:archive/none".into(),
            event_start_time: Some(prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            event_end_time: Some(prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            destination: None,
            description: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("EventStartTime"),
        "{}",
        status.message()
    );
    // Still serving.
    let ok = client
        .put_events(PutEventsRequest {
            entries: vec![entry("a", "T", "{}")],
        })
        .await
        .unwrap();
    assert_eq!(ok.into_inner().failed_entry_count, 0);
    stack.stop().await;
}
