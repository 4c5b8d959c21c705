//! A read-only caller may list a rule's targets, but a webhook URL is a credential: it sees
//! scheme, host and port only, while the operator, who may change the rule, sees the URL
//! whole. Nor may it change anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Stack, target};
use groundwork_proto::v1 as pb;
use pb::event_bus_client::EventBusClient;

const READ_ONLY: &str = "test-read-only-token";
const HOOK: &str = "https://hooks.example.com/services/T0001/B0002/ROpathT0KEN?sig=ROsigT0KEN";

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_caller_sees_webhook_urls_redacted_and_changes_nothing() {
    let stack = Stack::start_with(|s| s.common.read_only_token = Some(READ_ONLY.into())).await;
    let mut operator = stack.client().await;
    operator
        .put_rule(pb::PutRuleRequest {
            name: "hooks".into(),
            event_pattern: r#"{"source": ["com.example.orders"]}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let put = operator
        .put_targets(pb::PutTargetsRequest {
            rule: "hooks".into(),
            event_bus_name: String::new(),
            targets: vec![
                target("hook", HOOK),
                target("subject", "nats:orders.placed"),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.failed_entry_count, 0, "{put:?}");

    let list = |c: &mut EventBusClient<common::Channel>| {
        let mut c = c.clone();
        async move {
            c.list_targets_by_rule(pb::ListTargetsByRuleRequest {
                rule: "hooks".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .targets
            .into_iter()
            .map(|t| (t.id, t.arn))
            .collect::<Vec<_>>()
        }
    };
    let whole = list(&mut operator).await;
    assert!(whole.contains(&("hook".into(), HOOK.into())), "{whole:?}");

    let channel = groundwork_kit::client::connect(
        &groundwork_kit::client::Target::new(
            format!("http://{}", stack.addr),
            Some(READ_ONLY.into()),
            "the test service",
        ),
        "test service",
    )
    .await
    .unwrap();
    let mut reader = EventBusClient::new(channel);
    let shown = list(&mut reader).await;
    assert!(
        shown.contains(&("subject".into(), "nats:orders.placed".into())),
        "{shown:?}"
    );
    let hook = &shown.iter().find(|(id, _)| id == "hook").unwrap().1;
    assert!(
        hook.starts_with("https://hooks.example.com"),
        "the reader still sees where it goes: {hook}"
    );
    for secret in ["ROpathT0KEN", "ROsigT0KEN", "/services/"] {
        assert!(
            !hook.contains(secret),
            "a read-only caller saw {secret}: {hook}"
        );
    }
    let refused = reader
        .remove_targets(pb::RemoveTargetsRequest {
            rule: "hooks".into(),
            ids: vec!["hook".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    stack.stop().await;
}
