//! Buses, rules and targets through the gRPC API: EventBridge's names, limits and error
//! messages (as recorded in `conformance/eventbridge/test_events.snapshot.json`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Stack, target};
use groundwork_proto::v1 as pb;
use tonic::Code;

const PATTERN: &str = r#"{"source": ["core.update-account-command"]}"#;

fn rule(name: &str, bus: &str) -> pb::PutRuleRequest {
    pb::PutRuleRequest {
        name: name.into(),
        event_bus_name: bus.into(),
        event_pattern: PATTERN.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn rules_are_created_described_listed_by_page_and_deleted_with_eventbridge_arns() {
    let stack = Stack::start().await;
    let mut c = stack.client().await;
    c.create_event_bus(pb::CreateEventBusRequest {
        name: "orders".into(),
        description: "test bus".into(),
        tags: Vec::new(),
    })
    .await
    .unwrap();
    let arn = c
        .put_rule(rule("r-0", "default"))
        .await
        .unwrap()
        .into_inner()
        .rule_arn;
    assert_eq!(arn, "arn:aws:events:us-east-1:123456789012:rule/r-0");
    let arn = c
        .put_rule(rule("r-0", "orders"))
        .await
        .unwrap()
        .into_inner()
        .rule_arn;
    assert_eq!(arn, "arn:aws:events:us-east-1:123456789012:rule/orders/r-0");
    for i in 1..6 {
        c.put_rule(rule(&format!("r-{i}"), "orders")).await.unwrap();
    }
    c.put_rule(rule("other", "orders")).await.unwrap();

    let described = c
        .describe_rule(pb::DescribeRuleRequest {
            name: "r-0".into(),
            event_bus_name: "orders".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(described.state, "ENABLED");
    assert_eq!(described.created_by, "123456789012");
    assert_eq!(described.event_pattern, PATTERN);

    let page = c
        .list_rules(pb::ListRulesRequest {
            event_bus_name: "orders".into(),
            name_prefix: "r-".into(),
            limit: 4,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = page.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["r-0", "r-1", "r-2", "r-3"]);
    assert!(!page.next_token.is_empty());
    let rest = c
        .list_rules(pb::ListRulesRequest {
            event_bus_name: "orders".into(),
            name_prefix: "r-".into(),
            limit: 4,
            next_token: page.next_token,
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = rest.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["r-4", "r-5"]);
    assert!(rest.next_token.is_empty());

    c.disable_rule(pb::DisableRuleRequest {
        name: "r-1".into(),
        event_bus_name: "orders".into(),
    })
    .await
    .unwrap();
    let state = c
        .describe_rule(pb::DescribeRuleRequest {
            name: "r-1".into(),
            event_bus_name: "orders".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .state;
    assert_eq!(state, "DISABLED");

    c.delete_rule(pb::DeleteRuleRequest {
        name: "r-0".into(),
        event_bus_name: "orders".into(),
        force: false,
    })
    .await
    .unwrap();
    let missing = c
        .describe_rule(pb::DescribeRuleRequest {
            name: "r-0".into(),
            event_bus_name: "orders".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        missing.message(),
        "Rule r-0 does not exist on EventBus orders."
    );
    stack.stop().await;
}

#[tokio::test]
async fn invalid_rules_and_targets_are_refused_with_eventbridge_messages() {
    let stack = Stack::start_with(|s| s.max_rules_per_bus = 3).await;
    let mut c = stack.client().await;
    let bad = c
        .put_rule(pb::PutRuleRequest {
            event_pattern: r#"{"source": "not-a-list"}"#.into(),
            ..rule("bad", "")
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message()
            .starts_with("Event pattern is not valid. Reason: "),
        "{}",
        bad.message()
    );

    for name in ["a", "b", "c"] {
        c.put_rule(rule(name, "")).await.unwrap();
    }
    let limit = c.put_rule(rule("d", "")).await.unwrap_err();
    assert_eq!(limit.code(), Code::ResourceExhausted);
    assert_eq!(
        limit.message(),
        "The requested resource exceeds the maximum number allowed."
    );
    // Updating an existing rule is not a new one.
    c.put_rule(rule("a", "")).await.unwrap();

    let put = |targets: Vec<pb::Target>| pb::PutTargetsRequest {
        rule: "a".into(),
        event_bus_name: String::new(),
        targets,
    };
    let bad_id = c
        .put_targets(put(vec![target("!@#$@!#$", "nats:x")]))
        .await
        .unwrap_err();
    assert_eq!(
        bad_id.message(),
        r"1 validation error detected: Value '!@#$@!#$' at 'targets.1.member.id' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+"
    );
    let mut both = target("t", "nats:x");
    both.input_path = Some("$.detail".into());
    both.input_transformer = Some(pb::InputTransformer {
        input_paths_map: Default::default(),
        input_template: "\"x\"".into(),
    });
    let both = c.put_targets(put(vec![both])).await.unwrap_err();
    assert_eq!(
        both.message(),
        "Only one of Input, InputPath, or InputTransformer must be provided for target t."
    );
    let mut retry = target("t", "nats:x");
    retry.retry_policy = Some(pb::RetryPolicy {
        maximum_retry_attempts: Some(186),
        maximum_event_age_in_seconds: None,
    });
    assert_eq!(
        c.put_targets(put(vec![retry])).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    let partly = c
        .put_targets(put(vec![
            target("ok", "nats:orders.created"),
            target("sqs", "arn:aws:sqs:us-east-1:1:q"),
        ]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(partly.failed_entry_count, 1);
    assert_eq!(partly.failed_entries[0].target_id, "sqs");
    assert_eq!(partly.failed_entries[0].error_code, "ValidationException");

    let six: Vec<_> = (0..6).map(|i| target(&format!("t{i}"), "nats:x")).collect();
    let too_many = c.put_targets(put(six)).await.unwrap_err();
    assert_eq!(too_many.code(), Code::ResourceExhausted);
    assert_eq!(
        too_many.message(),
        "The requested resource exceeds the maximum number allowed."
    );

    let listed = c
        .list_targets_by_rule(pb::ListTargetsByRuleRequest {
            rule: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.targets.len(), 1);
    assert_eq!(listed.targets[0].arn, "nats:orders.created");

    let has_targets = c
        .delete_rule(pb::DeleteRuleRequest {
            name: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        has_targets.message(),
        "Rule can't be deleted since it has targets."
    );
    c.remove_targets(pb::RemoveTargetsRequest {
        rule: "a".into(),
        event_bus_name: String::new(),
        ids: vec!["ok".into()],
    })
    .await
    .unwrap();
    c.delete_rule(pb::DeleteRuleRequest {
        name: "a".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    stack.stop().await;
}

#[tokio::test]
async fn buses_are_created_listed_and_deleted_and_default_stays() {
    let stack = Stack::start().await;
    let mut c = stack.client().await;
    let created = c
        .create_event_bus(pb::CreateEventBusRequest {
            name: "b1".into(),
            description: "test bus".into(),
            tags: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.event_bus_arn,
        "arn:aws:events:us-east-1:123456789012:event-bus/b1"
    );
    let again = c
        .create_event_bus(pb::CreateEventBusRequest {
            name: "b1".into(),
            description: String::new(),
            tags: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    assert_eq!(again.message(), "Event bus b1 already exists.");
    let names: Vec<String> = c
        .list_event_buses(pb::ListEventBusesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .event_buses
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["b1", "default"]);
    // The new bus accepts events at once.
    let mut e = common::entry("app", "T", "{}");
    e.event_bus_name = "b1".into();
    let put = c
        .put_events(pb::PutEventsRequest { entries: vec![e] })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.failed_entry_count, 0);

    let default = c
        .delete_event_bus(pb::DeleteEventBusRequest {
            name: "default".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(default.message(), "Cannot delete event bus default.");
    c.delete_event_bus(pb::DeleteEventBusRequest { name: "b1".into() })
        .await
        .unwrap();
    let gone = c
        .delete_event_bus(pb::DeleteEventBusRequest { name: "b1".into() })
        .await
        .unwrap_err();
    assert_eq!(gone.message(), "Event bus b1 does not exist.");
    stack.stop().await;
}

#[tokio::test]
async fn test_event_pattern_answers_and_reports_invalid_patterns() {
    let stack = Stack::start().await;
    let mut c = stack.client().await;
    let event = r#"{"source": "core.update-account-command", "detail": {}}"#;
    let yes = c
        .test_event_pattern(pb::TestEventPatternRequest {
            event_pattern: PATTERN.into(),
            event: event.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(yes.result);
    let bad = c
        .test_event_pattern(pb::TestEventPatternRequest {
            event_pattern: "{".into(),
            event: event.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message()
            .starts_with("Event pattern is not valid. Reason: ")
    );
    stack.stop().await;
}
