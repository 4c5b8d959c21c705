//! Webhook targets with retries, dead letters and redrive, against real HTTP servers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use async_nats::jetstream;
use common::{Answer, Stack, Webhook, eventually, stream_len, target};
use groundwork_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_retried_dead_lettered_and_redriven() {
    let stack = Stack::start_with(common::fast_retries).await;
    let mut c = stack.client().await;
    // 500 three times, then 200.
    let flaky = Webhook::start(|n| Answer::Status(if n <= 3 { 500 } else { 200 })).await;
    // 400: retrying cannot help.
    let refusing = Webhook::start(|_| Answer::Status(400)).await;
    // Accepts the connection and never answers.
    let silent = Webhook::start(|_| Answer::Hang).await;
    c.put_rule(pb::PutRuleRequest {
        name: "hooks".into(),
        event_pattern: r#"{"source": ["test.hooks"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut silent_target = target("silent", &silent.url);
    silent_target.http_timeout_ms = 200;
    silent_target.retry_policy = Some(pb::RetryPolicy {
        maximum_retry_attempts: Some(2),
        maximum_event_age_in_seconds: None,
    });
    c.put_targets(pb::PutTargetsRequest {
        rule: "hooks".into(),
        event_bus_name: String::new(),
        targets: vec![
            target("flaky", &flaky.url),
            target("refusing", &refusing.url),
            silent_target,
        ],
    })
    .await
    .unwrap();
    let id = c
        .put_events(pb::PutEventsRequest {
            entries: vec![common::entry("test.hooks", "Hook", r#"{"k": 1}"#)],
        })
        .await
        .unwrap()
        .into_inner()
        .entries[0]
        .event_id
        .clone();

    assert!(
        eventually(Duration::from_secs(20), || async {
            flaky.delivered().len() == 1
        })
        .await
    );
    assert_eq!(flaky.attempts(), 4, "delivered on the fourth attempt");
    let js = jetstream::new(stack.nats_client().await);
    assert!(
        eventually(Duration::from_secs(20), || {
            let js = js.clone();
            async move { stream_len(&js, "DLQ_default").await == 2 }
        })
        .await
    );
    assert_eq!(refusing.attempts(), 1, "a 400 is not retried");
    assert_eq!(silent.attempts(), 3, "first try and two retries");

    let letters = c
        .list_dead_letters(pb::ListDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(letters.len(), 2);
    let refused = letters.iter().find(|l| l.error_code == "HTTP_400").unwrap();
    assert_eq!(refused.event_id, id);
    assert_eq!(refused.retry_attempts, 0);
    assert_eq!(refused.exhausted_retry_condition, "");
    assert_eq!(
        refused.rule_arn,
        "arn:aws:events:us-east-1:123456789012:rule/hooks"
    );
    assert!(
        !refused.target_arn.contains("s3cret"),
        "no query string in the DLQ"
    );
    let timed_out = letters.iter().find(|l| l.error_code == "TIMEOUT").unwrap();
    assert_eq!(timed_out.exhausted_retry_condition, "MaximumRetryAttempts");
    assert_eq!(timed_out.retry_attempts, 2);

    // The raw DLQ message carries EventBridge's attributes as headers.
    let mut dlq = js.get_stream("DLQ_default").await.unwrap();
    let first = dlq.info().await.unwrap().state.first_sequence;
    let raw = dlq.get_raw_message(first).await.unwrap();
    for header in [
        "RULE_ARN",
        "TARGET_ARN",
        "ERROR_CODE",
        "ERROR_MESSAGE",
        "RETRY_ATTEMPTS",
    ] {
        assert!(raw.headers.get(header).is_some(), "{header}");
    }

    // The silent webhook comes back; redrive sends both letters again: the silent one is
    // delivered, the refused one dies again.
    silent.answer(|_| Answer::Status(204));
    let redriven = c
        .redrive_dead_letters(pb::RedriveDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .redriven;
    assert_eq!(redriven, 2);
    assert!(
        eventually(Duration::from_secs(20), || async {
            silent.delivered().len() == 1
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(20), || async {
            refusing.attempts() == 2
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(20), || {
            let js = js.clone();
            async move { stream_len(&js, "DLQ_default").await == 1 }
        })
        .await
    );
    let letters = c
        .list_dead_letters(pb::ListDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].error_code, "HTTP_400");
    assert_eq!(
        flaky.delivered().len(),
        1,
        "redrive does not touch delivered targets"
    );
    stack.stop().await;
}

#[tokio::test]
async fn an_input_transformer_shapes_what_a_webhook_receives() {
    let stack = Stack::start_with(common::fast_retries).await;
    let mut c = stack.client().await;
    let hook = Webhook::start(|_| Answer::Status(200)).await;
    c.put_rule(pb::PutRuleRequest {
        name: "shaped".into(),
        event_pattern: r#"{"source": ["test.shape"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut t = target("t", &hook.url);
    t.input_transformer = Some(pb::InputTransformer {
        input_paths_map: [("state".to_owned(), "$.detail.state".to_owned())].into(),
        input_template: r#"{"state": <state>, "rule": "<aws.events.rule-name>"}"#.into(),
    });
    c.put_targets(pb::PutTargetsRequest {
        rule: "shaped".into(),
        event_bus_name: String::new(),
        targets: vec![t],
    })
    .await
    .unwrap();
    c.put_events(pb::PutEventsRequest {
        entries: vec![common::entry("test.shape", "T", r#"{"state": "ALARM"}"#)],
    })
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            hook.delivered().len() == 1
        })
        .await
    );
    let body: serde_json::Value = serde_json::from_str(&hook.delivered()[0]).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"state": "ALARM", "rule": "shaped"})
    );
    stack.stop().await;
}

/// NATS-subject deliveries are rendered and stored by the router itself; one whose input
/// cannot be rendered still reaches the DLQ with the reason, through the deliverer.
#[tokio::test]
async fn nats_targets_get_their_transformed_input_and_an_unrenderable_one_is_dead_lettered() {
    let stack = Stack::start_with(common::fast_retries).await;
    let mut c = stack.client().await;
    c.put_rule(pb::PutRuleRequest {
        name: "shaped".into(),
        event_pattern: r#"{"source": ["test.shape"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let transformer = |template: &str| pb::InputTransformer {
        input_paths_map: [("state".to_owned(), "$.detail.state".to_owned())].into(),
        input_template: template.into(),
    };
    let mut good = target("good", "nats:shaped.good");
    good.input_transformer = Some(transformer(
        r#"{"state": <state>, "rule": "<aws.events.rule-name>"}"#,
    ));
    let mut broken = target("broken", "nats:shaped.broken");
    broken.input_transformer = Some(transformer(r#"{"state": <state>"#));
    let put = c
        .put_targets(pb::PutTargetsRequest {
            rule: "shaped".into(),
            event_bus_name: String::new(),
            targets: vec![good, broken],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.failed_entry_count, 0, "{put:?}");
    let id = c
        .put_events(pb::PutEventsRequest {
            entries: vec![common::entry("test.shape", "T", r#"{"state": "ALARM"}"#)],
        })
        .await
        .unwrap()
        .into_inner()
        .entries[0]
        .event_id
        .clone();
    let js = jetstream::new(stack.nats_client().await);
    assert!(
        eventually(Duration::from_secs(10), || {
            let js = js.clone();
            async move {
                stream_len(&js, "DELIVERIES").await == 1
                    && stream_len(&js, "DLQ_default").await == 1
            }
        })
        .await
    );
    let delivered = common::deliveries(&js).await;
    assert_eq!(delivered[0].subject, "groundwork.deliver.shaped.good");
    assert_eq!(delivered[0].event_id, id);
    let body: serde_json::Value = serde_json::from_str(&delivered[0].payload).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"state": "ALARM", "rule": "shaped"})
    );
    let letters = c
        .list_dead_letters(pb::ListDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].error_code, "TRANSFORMATION_FAILED");
    assert_eq!(letters[0].event_id, id);
    assert_eq!(letters[0].target_arn, "nats:shaped.broken");
    stack.stop().await;
}

/// A NATS-subject delivery that cannot be stored directly (here: the DELIVERIES stream is
/// gone) is queued for the deliverer, which retries it and dead-letters it by its policy.
#[tokio::test]
async fn a_nats_delivery_that_cannot_be_stored_is_retried_then_dead_lettered() {
    let stack = Stack::start_with(common::fast_retries).await;
    let mut c = stack.client().await;
    c.put_rule(pb::PutRuleRequest {
        name: "lost".into(),
        event_pattern: r#"{"source": ["test.lost"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut t = target("t", "nats:lost");
    t.retry_policy = Some(pb::RetryPolicy {
        maximum_retry_attempts: Some(1),
        maximum_event_age_in_seconds: None,
    });
    c.put_targets(pb::PutTargetsRequest {
        rule: "lost".into(),
        event_bus_name: String::new(),
        targets: vec![t],
    })
    .await
    .unwrap();
    let js = jetstream::new(stack.nats_client().await);
    js.delete_stream("DELIVERIES").await.unwrap();
    c.put_events(pb::PutEventsRequest {
        entries: vec![common::entry("test.lost", "T", "{}")],
    })
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            let js = js.clone();
            async move { stream_len(&js, "DLQ_default").await == 1 }
        })
        .await
    );
    let letters = c
        .list_dead_letters(pb::ListDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(letters[0].error_code, "NATS_UNAVAILABLE");
    assert_eq!(letters[0].retry_attempts, 1);
    assert_eq!(letters[0].exhausted_retry_condition, "MaximumRetryAttempts");
    stack.stop().await;
}

/// A template that repeats a large value thousands of times would render megabytes per
/// event (and again on every retry). The output is bounded: past the limit the delivery is
/// dead-lettered with its reason, and the event's other targets are not held up.
#[tokio::test]
async fn an_amplifying_template_is_dead_lettered_not_rendered() {
    let stack = Stack::start_with(common::fast_retries).await;
    let mut c = stack.client().await;
    c.put_rule(pb::PutRuleRequest {
        name: "amplified".into(),
        event_pattern: r#"{"source": ["test.amplify"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut huge = target("huge", "nats:amplified.huge");
    huge.input_transformer = Some(pb::InputTransformer {
        input_paths_map: [("d".to_owned(), "$.detail".to_owned())].into(),
        input_template: "<d>".repeat(2047),
    });
    let plain = target("plain", "nats:amplified.plain");
    let put = c
        .put_targets(pb::PutTargetsRequest {
            rule: "amplified".into(),
            event_bus_name: String::new(),
            targets: vec![huge, plain],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.failed_entry_count, 0, "{put:?}");
    // 2047 copies of a 1 KB detail would be 2 MB, eight times the limit.
    let detail = serde_json::json!({"pad": "x".repeat(1000)}).to_string();
    c.put_events(pb::PutEventsRequest {
        entries: vec![common::entry("test.amplify", "T", &detail)],
    })
    .await
    .unwrap();
    let js = jetstream::new(stack.nats_client().await);
    assert!(
        eventually(Duration::from_secs(10), || {
            let js = js.clone();
            async move {
                stream_len(&js, "DELIVERIES").await == 1
                    && stream_len(&js, "DLQ_default").await == 1
            }
        })
        .await
    );
    let letters = c
        .list_dead_letters(pb::ListDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].error_code, "TRANSFORMATION_FAILED");
    assert_eq!(letters[0].target_arn, "nats:amplified.huge");
    assert!(
        letters[0].error_message.contains("exceeds 262144 bytes"),
        "{}",
        letters[0].error_message
    );
    let delivered = common::deliveries(&js).await;
    assert_eq!(delivered[0].subject, "groundwork.deliver.amplified.plain");
    stack.stop().await;
}
