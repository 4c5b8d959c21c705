//! The audit trail: every call that changes something is recorded as a `Groundwork API
//! Call` event on the bus — answered, refused or failed — with who called, the RPC, the
//! outcome and the request id the caller got back; read-only calls and PutEvents (the data
//! plane) are not recorded, and no record holds the token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Stack, eventually};
use groundwork_proto::v1 as pb;
use pb::event_bus_client::EventBusClient;
use serde_json::Value;

const TOKEN: &str = "tok-audit-4711";

async fn api_calls(stack: &Stack) -> Vec<Value> {
    stack
        .stored("EVENTS_default")
        .await
        .into_iter()
        .filter(|e| e["detail-type"] == "Groundwork API Call")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_and_refusals_are_recorded_with_caller_outcome_and_request_id() {
    let stack = Stack::start_with(|s| s.common.api_token = Some(TOKEN.into())).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", stack.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {TOKEN}").parse().unwrap();
    let mut operator =
        EventBusClient::with_interceptor(channel.clone(), move |mut req: tonic::Request<()>| {
            req.metadata_mut().insert("authorization", bearer.clone());
            req.metadata_mut()
                .insert("x-request-id", "put-rule-1".parse().unwrap());
            Ok(req)
        });
    let mut anonymous = EventBusClient::new(channel);

    // A change: recorded, and the request id comes back to the caller.
    let put = operator
        .put_rule(pb::PutRuleRequest {
            name: "orders".into(),
            event_pattern: r#"{"source": ["com.example.orders"]}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(put.metadata().get("x-request-id").unwrap(), "put-rule-1");
    // A change that fails, and one refused for lack of the token.
    let bad = operator
        .put_rule(pb::PutRuleRequest {
            name: "broken".into(),
            event_pattern: "{not json".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let refused = anonymous
        .delete_rule(pb::DeleteRuleRequest {
            name: "orders".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let generated = refused
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        generated.len(),
        36,
        "a request id is made when none is sent"
    );
    // Not recorded: reading, and putting events.
    operator
        .list_rules(pb::ListRulesRequest::default())
        .await
        .unwrap();
    operator
        .put_events(pb::PutEventsRequest {
            entries: vec![common::entry("com.example.orders", "Order Placed", "{}")],
        })
        .await
        .unwrap();

    let recorded = eventually(Duration::from_secs(10), || async {
        api_calls(&stack).await.len() >= 3
    })
    .await;
    assert!(
        recorded,
        "the calls were not recorded: {:?}",
        api_calls(&stack).await
    );
    // Give a wrongly recorded read a chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = api_calls(&stack).await;
    let summary: Vec<(String, String, String, String)> = calls
        .iter()
        .map(|e| {
            let d = &e["detail"];
            (
                d["rpc"].as_str().unwrap().to_owned(),
                d["caller"].as_str().unwrap().to_owned(),
                d["outcome"].as_str().unwrap().to_owned(),
                d["requestId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = |rpc: &str, caller: &str, outcome: &str, id: &str| {
        (
            rpc.to_owned(),
            caller.to_owned(),
            outcome.to_owned(),
            id.to_owned(),
        )
    };
    assert!(
        summary.contains(&expected("PutRule", "operator", "OK", "put-rule-1")),
        "{summary:?}"
    );
    assert!(
        summary.contains(&expected(
            "PutRule",
            "operator",
            "INVALID_ARGUMENT",
            "put-rule-1"
        )),
        "{summary:?}"
    );
    assert!(
        summary.contains(&expected(
            "DeleteRule",
            "unauthenticated",
            "UNAUTHENTICATED",
            &generated
        )),
        "{summary:?}"
    );
    assert_eq!(
        calls.len(),
        3,
        "reads and PutEvents are not recorded: {summary:?}"
    );
    for e in &calls {
        assert_eq!(e["source"], "groundwork.eventbus");
        assert_eq!(e["detail"]["service"], "groundwork.v1.EventBus");
        assert!(
            !e.to_string().contains(TOKEN),
            "a record holds the token: {e}"
        );
    }
    stack.stop().await;
}
