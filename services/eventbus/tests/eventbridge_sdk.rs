//! The EventBridge HTTP API through the AWS SDK for Rust (`aws-sdk-eventbridge`), over TLS
//! and signed with SigV4, as a producer that already uses EventBridge would call it: every
//! operation served, EventBridge's error classes as the SDK's typed errors, and the
//! recorded pattern cases answered as the pattern engine (`groundwork pattern test`) does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::{
    InputTransformer, PutEventsRequestEntry, ReplayDestination, RetryPolicy, RuleState,
    SqsParameters, Tag, Target,
};
use common::{Stack, eventbridge, eventually, operator};
use groundwork_testkit::conformance::{self, Expect};

fn entry(detail: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source("com.example.orders")
        .detail_type("Order Placed")
        .detail(detail)
        .build()
}

/// The code and message of a failed call, as the SDK read them.
fn code<E: ProvideErrorMetadata>(e: &E) -> (String, String) {
    (
        e.code().unwrap_or_default().to_owned(),
        e.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn put_events_with_one_bad_entry_and_a_rule_delivering_to_a_nats_subject() {
    let stack = Stack::start_tls().await;
    let eb = operator(&stack);
    let rule = eb
        .put_rule()
        .name("orders")
        .event_pattern(r#"{"source": ["com.example.orders"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        rule.rule_arn(),
        Some("arn:aws:events:us-east-1:123456789012:rule/orders")
    );
    let targets = eb
        .put_targets()
        .rule("orders")
        .targets(
            Target::builder()
                .id("nats")
                .arn("nats:orders.placed")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(targets.failed_entry_count(), 0);

    let mut entries: Vec<_> = (0..10)
        .map(|i| entry(&format!(r#"{{"n": {i}}}"#)))
        .collect();
    entries[6] = entry("{not json");
    let put = eb
        .put_events()
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 1);
    let results = put.entries();
    assert_eq!(results.len(), 10, "one result per entry, in order");
    for (i, r) in results.iter().enumerate() {
        if i == 6 {
            assert_eq!(r.event_id(), None);
            assert_eq!(r.error_code(), Some("MalformedDetail"));
            assert_eq!(r.error_message(), Some("Detail is malformed."));
        } else {
            assert!(r.event_id().is_some_and(|id| !id.is_empty()), "{r:?}");
            assert_eq!(r.error_code(), None);
        }
    }
    let accepted: Vec<String> = results
        .iter()
        .filter_map(|r| r.event_id().map(str::to_owned))
        .collect();

    // Every accepted event reaches the rule's NATS subject, once.
    let js = async_nats::jetstream::new(stack.nats_client().await);
    assert!(
        eventually(Duration::from_secs(20), || {
            let js = js.clone();
            async move { common::deliveries(&js).await.len() >= 9 }
        })
        .await,
        "the 9 accepted events were not all delivered"
    );
    let delivered = common::deliveries(&js).await;
    let mut ids: Vec<String> = delivered.iter().map(|d| d.event_id.clone()).collect();
    ids.sort();
    let mut want = accepted.clone();
    want.sort();
    assert_eq!(ids, want);
    assert!(
        delivered
            .iter()
            .all(|d| d.subject == "groundwork.deliver.orders.placed")
    );
    stack.stop().await;
}

#[tokio::test]
async fn test_event_pattern_answers_every_recorded_case_as_the_pattern_engine() {
    let stack = Stack::start_tls().await;
    // The read-only role may test patterns: it changes nothing.
    let eb = eventbridge(&stack, "read-only", common::READ_ONLY_TOKEN);
    let cases = conformance::pattern_cases(&conformance::dir());
    let mut failures = Vec::new();
    for case in &cases {
        // `groundwork pattern test` answers with this function.
        let engine = groundwork_events::pattern::matches(&case.pattern, &case.event_text);
        let answer = eb
            .test_event_pattern()
            .event_pattern(&case.pattern)
            .event(&case.event_text)
            .send()
            .await;
        let agree = match (&answer, &engine, case.expect) {
            (Ok(out), Ok(matched), Expect::Match | Expect::NoMatch) => {
                out.result() == *matched && *matched == (case.expect == Expect::Match)
            }
            (Err(e), Err(reason), Expect::Reject) => {
                let e = e.as_service_error().expect("a service error");
                e.is_invalid_event_pattern_exception()
                    && e.message() == case.exception.as_deref()
                    && e.message() == Some(reason.to_string().as_str())
            }
            _ => false,
        };
        if !agree {
            failures.push(format!(
                "{}: HTTP answered {:?}, the engine {:?}, AWS {:?}",
                case.name,
                answer.map(|o| o.result()).map_err(|e| code(&e)),
                engine,
                case.expect
            ));
        }
    }
    println!(
        "{} of {} recorded cases answered as EventBridge did",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(cases.len() > 150, "{} cases", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    stack.stop().await;
}

#[tokio::test]
async fn every_bus_rule_and_target_operation() {
    let stack = Stack::start_tls().await;
    let eb = operator(&stack);

    // Buses.
    let created = eb
        .create_event_bus()
        .name("orders")
        .description("orders of the shop")
        .tags(Tag::builder().key("team").value("shop").build().unwrap())
        .send()
        .await
        .unwrap();
    let bus_arn = "arn:aws:events:us-east-1:123456789012:event-bus/orders";
    assert_eq!(created.event_bus_arn(), Some(bus_arn));
    assert_eq!(created.description(), Some("orders of the shop"));
    let bus = eb.describe_event_bus().name("orders").send().await.unwrap();
    assert_eq!(
        (bus.name(), bus.arn(), bus.description()),
        (Some("orders"), Some(bus_arn), Some("orders of the shop"))
    );
    assert!(bus.creation_time().is_some() && bus.last_modified_time().is_some());
    let default = eb.describe_event_bus().send().await.unwrap();
    assert_eq!(default.name(), Some("default"));
    for name in ["other-1", "other-2"] {
        eb.create_event_bus().name(name).send().await.unwrap();
    }
    let page = eb.list_event_buses().limit(2).send().await.unwrap();
    let names: Vec<_> = page.event_buses().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["default", "orders"]);
    let rest = eb
        .list_event_buses()
        .next_token(page.next_token().unwrap())
        .send()
        .await
        .unwrap();
    let names: Vec<_> = rest.event_buses().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["other-1", "other-2"]);
    assert_eq!(rest.next_token(), None);
    let prefixed = eb
        .list_event_buses()
        .name_prefix("other")
        .send()
        .await
        .unwrap();
    assert_eq!(prefixed.event_buses().len(), 2);
    eb.delete_event_bus().name("other-2").send().await.unwrap();
    let e = eb
        .describe_event_bus()
        .name("other-2")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );

    // Rules: put, describe, list by prefix and page, disable, enable.
    for name in ["a-1", "a-2", "a-3", "b-1"] {
        eb.put_rule()
            .name(name)
            .event_bus_name("orders")
            .event_pattern(r#"{"source": ["com.example.orders"]}"#)
            .description(format!("rule {name}"))
            .send()
            .await
            .unwrap();
    }
    let rule = eb
        .describe_rule()
        .name("a-1")
        .event_bus_name(bus_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        rule.arn(),
        Some("arn:aws:events:us-east-1:123456789012:rule/orders/a-1")
    );
    assert_eq!(rule.state(), Some(&RuleState::Enabled));
    assert_eq!(rule.event_bus_name(), Some("orders"));
    assert_eq!(rule.created_by(), Some("123456789012"));
    let first = eb
        .list_rules()
        .event_bus_name("orders")
        .name_prefix("a-")
        .limit(2)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = first.rules().iter().filter_map(|r| r.name()).collect();
    assert_eq!(names, ["a-1", "a-2"]);
    let second = eb
        .list_rules()
        .event_bus_name("orders")
        .name_prefix("a-")
        .limit(2)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    let names: Vec<_> = second.rules().iter().filter_map(|r| r.name()).collect();
    assert_eq!(names, ["a-3"]);
    assert_eq!(second.next_token(), None);
    eb.disable_rule()
        .name("a-2")
        .event_bus_name("orders")
        .send()
        .await
        .unwrap();
    let disabled = eb
        .describe_rule()
        .name("a-2")
        .event_bus_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.state(), Some(&RuleState::Disabled));
    eb.enable_rule()
        .name("a-2")
        .event_bus_name("orders")
        .send()
        .await
        .unwrap();

    // Targets: Groundwork's kinds as ARNs; AWS services' ARNs and parameters refused per
    // entry, the others stored.
    let put = eb
        .put_targets()
        .rule("a-1")
        .event_bus_name("orders")
        .targets(
            Target::builder()
                .id("subject")
                .arn("nats:orders.audit")
                .input_transformer(
                    InputTransformer::builder()
                        .input_paths_map("n", "$.detail.n")
                        .input_template(r#"{"n": <n>}"#)
                        .build()
                        .unwrap(),
                )
                .retry_policy(
                    RetryPolicy::builder()
                        .maximum_retry_attempts(3)
                        .maximum_event_age_in_seconds(600)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .targets(
            Target::builder()
                .id("hook")
                .arn("https://hooks.example.com/orders")
                .input_path("$.detail")
                .build()
                .unwrap(),
        )
        .targets(
            Target::builder()
                .id("queue")
                .arn("arn:aws:sqs:us-east-1:123456789012:orders")
                .build()
                .unwrap(),
        )
        .targets(
            Target::builder()
                .id("fifo")
                .arn("nats:orders.fifo")
                .sqs_parameters(SqsParameters::builder().message_group_id("g").build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 2);
    let failed: Vec<_> = put
        .failed_entries()
        .iter()
        .map(|f| {
            (
                f.target_id().unwrap(),
                f.error_code().unwrap(),
                f.error_message().unwrap(),
            )
        })
        .collect();
    assert!(
        failed.iter().any(|(id, code, message)| *id == "queue"
            && *code == "ValidationException"
            && message.contains("is not supported")),
        "{failed:?}"
    );
    assert!(
        failed.iter().any(|(id, _, message)| *id == "fifo"
            && message.starts_with("SqsParameters is not supported")),
        "{failed:?}"
    );
    let listed = eb
        .list_targets_by_rule()
        .rule("a-1")
        .event_bus_name("orders")
        .send()
        .await
        .unwrap();
    // Listed in order of id.
    let ids: Vec<_> = listed.targets().iter().map(|t| t.id()).collect();
    assert_eq!(ids, ["hook", "subject"]);
    let subject = &listed.targets()[1];
    assert_eq!(subject.arn(), "nats:orders.audit");
    let retry = subject.retry_policy().unwrap();
    assert_eq!(
        (
            retry.maximum_retry_attempts(),
            retry.maximum_event_age_in_seconds()
        ),
        (Some(3), Some(600))
    );
    assert_eq!(
        subject.input_transformer().unwrap().input_template(),
        r#"{"n": <n>}"#
    );
    assert_eq!(listed.targets()[0].input_path(), Some("$.detail"));
    let by_target = eb
        .list_rule_names_by_target()
        .target_arn("nats:orders.audit")
        .event_bus_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(by_target.rule_names(), ["a-1"]);
    let removed = eb
        .remove_targets()
        .rule("a-1")
        .event_bus_name("orders")
        .ids("hook")
        .send()
        .await
        .unwrap();
    assert_eq!(removed.failed_entry_count(), 0);

    // A rule with targets is deleted only with Force, as in EventBridge.
    let e = eb
        .delete_rule()
        .name("a-1")
        .event_bus_name("orders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "ValidationException".into(),
            "Rule can't be deleted since it has targets.".into()
        )
    );
    eb.delete_rule()
        .name("a-1")
        .event_bus_name("orders")
        .force(true)
        .send()
        .await
        .unwrap();

    // Tags of buses and rules.
    let rule_arn = "arn:aws:events:us-east-1:123456789012:rule/orders/a-2";
    eb.tag_resource()
        .resource_arn(rule_arn)
        .tags(Tag::builder().key("env").value("test").build().unwrap())
        .tags(Tag::builder().key("owner").value("ops").build().unwrap())
        .send()
        .await
        .unwrap();
    eb.untag_resource()
        .resource_arn(rule_arn)
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let tags = eb
        .list_tags_for_resource()
        .resource_arn(rule_arn)
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("env", "test")]);
    let bus_tags = eb
        .list_tags_for_resource()
        .resource_arn(bus_arn)
        .send()
        .await
        .unwrap();
    let bus_tags: Vec<_> = bus_tags
        .tags()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(bus_tags, [("team", "shop")]);
    stack.stop().await;
}

#[tokio::test]
async fn archives_and_replays() {
    let stack = Stack::start_tls().await;
    let eb = operator(&stack);
    let bus_arn = "arn:aws:events:us-east-1:123456789012:event-bus/default";
    let archive = eb
        .create_archive()
        .archive_name("orders")
        .event_source_arn(bus_arn)
        .event_pattern(r#"{"source": ["com.example.orders"]}"#)
        .retention_days(7)
        .description("all orders")
        .send()
        .await
        .unwrap();
    let archive_arn = "arn:aws:events:us-east-1:123456789012:archive/orders";
    assert_eq!(archive.archive_arn(), Some(archive_arn));
    assert_eq!(archive.state().map(|s| s.as_str()), Some("ENABLED"));
    eb.update_archive()
        .archive_name("orders")
        .retention_days(30)
        .description("every order")
        .send()
        .await
        .unwrap();
    let described = eb
        .describe_archive()
        .archive_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(described.retention_days(), Some(30));
    assert_eq!(described.description(), Some("every order"));
    assert_eq!(
        described.event_pattern(),
        Some(r#"{"source": ["com.example.orders"]}"#)
    );
    assert_eq!(described.event_source_arn(), Some(bus_arn));
    let listed = eb
        .list_archives()
        .name_prefix("ord")
        .state(aws_sdk_eventbridge::types::ArchiveState::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.archives().len(), 1);

    let start = aws_sdk_eventbridge::primitives::DateTime::from_secs(
        time::OffsetDateTime::now_utc().unix_timestamp() - 60,
    );
    let end = aws_sdk_eventbridge::primitives::DateTime::from_secs(
        time::OffsetDateTime::now_utc().unix_timestamp() + 1,
    );
    eb.put_events()
        .entries(entry(r#"{"n": 1}"#))
        .send()
        .await
        .unwrap();
    let started = eb
        .start_replay()
        .replay_name("again")
        .event_source_arn(archive_arn)
        .event_start_time(start)
        .event_end_time(end)
        .destination(ReplayDestination::builder().arn(bus_arn).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        started.replay_arn(),
        Some("arn:aws:events:us-east-1:123456789012:replay/again")
    );
    let finished = eventually(Duration::from_secs(20), || {
        let eb = eb.clone();
        async move {
            let r = eb
                .describe_replay()
                .replay_name("again")
                .send()
                .await
                .unwrap();
            r.state().map(|s| s.as_str()) == Some("COMPLETED")
        }
    })
    .await;
    assert!(finished, "the replay did not complete");
    let replay = eb
        .describe_replay()
        .replay_name("again")
        .send()
        .await
        .unwrap();
    assert_eq!(replay.event_source_arn(), Some(archive_arn));
    assert_eq!(replay.destination().unwrap().arn(), bus_arn);
    assert_eq!(replay.event_start_time(), Some(&start));
    let listed = eb
        .list_replays()
        .state(aws_sdk_eventbridge::types::ReplayState::Completed)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.replays().len(), 1);
    assert_eq!(listed.replays()[0].replay_name(), Some("again"));
    // Cancelling a replay that has ended: EventBridge's IllegalStatusException.
    let e = eb
        .cancel_replay()
        .replay_name("again")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error().unwrap().is_illegal_status_exception(),
        "{:?}",
        code(&e)
    );
    eb.delete_archive()
        .archive_name("orders")
        .send()
        .await
        .unwrap();
    let e = eb
        .describe_archive()
        .archive_name("orders")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    stack.stop().await;
}

// Several threads: the racing writers of `concurrent_modification` run beside the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_eventbridge_error_classes() {
    let stack = Stack::start_tls().await;
    let eb = operator(&stack);

    let e = eb.describe_rule().name("missing").send().await.unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    assert_eq!(
        code(&e).1,
        "Rule missing does not exist on EventBus default."
    );

    let e = eb
        .put_rule()
        .name("bad")
        .event_pattern(r#"{"source": "not-a-list"}"#)
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_event_pattern_exception(),
        "{:?}",
        code(&e)
    );
    assert!(
        code(&e).1.starts_with("Event pattern is not valid."),
        "{:?}",
        code(&e)
    );

    eb.create_event_bus().name("twice").send().await.unwrap();
    let e = eb
        .create_event_bus()
        .name("twice")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_resource_already_exists_exception()
    );
    assert_eq!(code(&e).1, "Event bus twice already exists.");

    // EventBridge's ValidationException is not in its model: the SDK gives its code.
    let e = eb
        .delete_event_bus()
        .name("default")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "ValidationException".into(),
            "Cannot delete event bus default.".into()
        )
    );

    eb.put_rule()
        .name("full")
        .event_pattern(r#"{"source": ["x"]}"#)
        .send()
        .await
        .unwrap();
    let mut put = eb.put_targets().rule("full");
    for i in 0..6 {
        put = put.targets(
            Target::builder()
                .id(format!("t{i}"))
                .arn(format!("nats:full.t{i}"))
                .build()
                .unwrap(),
        );
    }
    let e = put.send().await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_limit_exceeded_exception());
    assert_eq!(
        code(&e).1,
        "The requested resource exceeds the maximum number allowed."
    );

    let e = eb
        .put_rule()
        .name("scheduled")
        .schedule_expression("rate(5 minutes)")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, "ValidationException");
    assert!(
        code(&e)
            .1
            .starts_with("ScheduleExpression is not supported")
    );

    // Writers racing on one record: the one that keeps losing gets
    // ConcurrentModificationException, and nothing is half-written.
    let conflict = concurrent_modification(&stack, &eb).await;
    assert!(
        conflict.is_some(),
        "no ConcurrentModificationException under a writer that rewrites the rule without pause"
    );
    stack.stop().await;
}

/// Rewrites the rule `full` in NATS without pause (as other replicas' writes would)
/// while tagging it; returns the first ConcurrentModificationException the tagging got.
async fn concurrent_modification(
    stack: &Stack,
    eb: &aws_sdk_eventbridge::Client,
) -> Option<String> {
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let kv = js.get_key_value("eventbus-rules").await.unwrap();
    let key = groundwork_bus::names::rule_key("default", "full");
    let record = kv.get(&key).await.unwrap().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    // Four writers, so that one lands between the service's read and its write in every
    // one of its compare-and-set rounds (each writer alone leaves gaps now and then).
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (kv, key, record, stop) = (kv.clone(), key.clone(), record.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let _ = kv.put(&key, record.clone()).await;
                }
            })
        })
        .collect();
    let mut found = None;
    for i in 0..100 {
        let tagged = eb
            .tag_resource()
            .resource_arn("arn:aws:events:us-east-1:123456789012:rule/full")
            .tags(
                Tag::builder()
                    .key(format!("k{i}"))
                    .value("v")
                    .build()
                    .unwrap(),
            )
            .send()
            .await;
        if let Err(e) = tagged {
            let service = e.as_service_error().expect("a service error");
            assert!(
                service.is_concurrent_modification_exception(),
                "{:?}",
                code(&e)
            );
            found = Some(code(&e).1);
            break;
        }
    }
    stop.cancel();
    for writer in writers {
        writer.await.unwrap();
    }
    found
}

#[tokio::test]
async fn callers_are_authenticated_and_the_read_only_role_changes_nothing() {
    let stack = Stack::start_tls().await;
    let expect = |e: &dyn ProvideErrorMetadata, want: &str| {
        assert_eq!(e.code(), Some(want), "{:?}", e.message());
    };

    let wrong_secret = eventbridge(&stack, "operator", "not-the-token");
    let e = wrong_secret.list_rules().send().await.unwrap_err();
    expect(&e, "InvalidSignatureException");

    let unknown_key = eventbridge(&stack, "someone-else", common::API_TOKEN);
    let e = unknown_key.list_rules().send().await.unwrap_err();
    expect(&e, "UnrecognizedClientException");

    let read_only = eventbridge(&stack, "read-only", common::READ_ONLY_TOKEN);
    read_only.list_rules().send().await.unwrap();
    let e = read_only
        .put_rule()
        .name("r")
        .event_pattern(r#"{"source": ["x"]}"#)
        .send()
        .await
        .unwrap_err();
    expect(&e, "AccessDeniedException");
    let e = read_only
        .put_events()
        .entries(entry("{}"))
        .send()
        .await
        .unwrap_err();
    expect(&e, "AccessDeniedException");
    // The operator's token is no read-only secret, and the other way round.
    let swapped = eventbridge(&stack, "read-only", common::API_TOKEN);
    let e = swapped.list_rules().send().await.unwrap_err();
    expect(&e, "InvalidSignatureException");

    let operator = operator(&stack);
    operator
        .put_events()
        .entries(entry("{}"))
        .send()
        .await
        .unwrap();

    // The audit trail records HTTP calls as it records gRPC ones: the operator's PutRule
    // with its resource and the request id the client got, the read-only caller's refusal.
    let put = operator
        .put_rule()
        .name("audited")
        .event_pattern(r#"{"source": ["x"]}"#)
        .send()
        .await
        .unwrap();
    use aws_sdk_eventbridge::operation::RequestId;
    let request_id = put.request_id().expect("x-amzn-RequestId").to_owned();
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let audit = |js: async_nats::jetstream::Context| async move {
        groundwork_testkit::events::stored(&js, "EVENTS_default")
            .await
            .unwrap()
            .into_iter()
            .filter(|event| event["source"] == "groundwork.audit")
            .map(|event| event["detail"].clone())
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(10), || {
            let js = js.clone();
            let id = request_id.clone();
            async move {
                audit(js)
                    .await
                    .iter()
                    .any(|d| d["requestId"] == id.as_str())
            }
        })
        .await,
        "the PutRule made over HTTP is not on the audit trail"
    );
    let calls = audit(js).await;
    let recorded = calls
        .iter()
        .find(|d| d["requestId"] == request_id.as_str())
        .unwrap();
    assert_eq!(recorded["rpc"], "PutRule");
    assert_eq!(recorded["service"], "groundwork.v1.EventBus");
    assert_eq!(recorded["caller"], "operator");
    assert_eq!(recorded["resource"], "audited");
    assert_eq!(recorded["outcome"], "OK");
    assert!(
        calls.iter().any(|d| d["rpc"] == "PutRule"
            && d["role"] == "read-only"
            && d["outcome"] == "PERMISSION_DENIED"),
        "{calls:?}"
    );
    // PutEvents carries data, not configuration: not recorded, as over gRPC (only the
    // read-only caller's refused attempt is).
    assert!(
        !calls
            .iter()
            .any(|d| d["rpc"] == "PutEvents" && d["outcome"] == "OK")
    );
    stack.stop().await;
}
