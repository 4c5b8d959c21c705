//! The audit trail, like CloudTrail: every gRPC call that may change something, by a
//! caller with a token, becomes one `Groundwork API Call` event on the `default` bus — who,
//! which service and RPC, the resource it names, the outcome and the request id (the one
//! the client sent, echoed back) — and never a token or a request body. Calls that change
//! nothing, and calls without a valid token, are not recorded; a read-only caller refused
//! with PERMISSION_DENIED is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use groundwork_e2e::{Stack, eventually};
use groundwork_proto::v1 as pb;
use pb::event_bus_client::EventBusClient;
use pb::identity_client::IdentityClient;
use serde_json::Value;

fn with_header<T>(message: T, name: &'static str, value: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(name, value.parse().unwrap());
    request
}

async fn api_calls(stack: &Stack) -> Vec<Value> {
    let calls = stack.audit_trail().await;
    assert!(
        calls
            .iter()
            .all(|e| e["detail-type"] == "Groundwork API Call")
    );
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_change_is_recorded_with_who_what_and_the_outcome_and_nothing_secret() {
    let stack = Stack::start().await.unwrap();
    let operator = format!("Bearer {}", stack.security.api_token);
    let read_only = format!("Bearer {}", stack.security.read_only_token);
    let channel = stack.channel_with(stack.eventbus, None).await.unwrap();
    let mut bus = EventBusClient::new(channel);

    // The operator puts a rule: recorded, with the request id it sent echoed back.
    let mut put = with_header(
        pb::PutRuleRequest {
            name: "audited-rule".into(),
            event_pattern: r#"{"source": ["audit.test"]}"#.into(),
            description: "a description that is part of the request body".into(),
            ..Default::default()
        },
        "authorization",
        &operator,
    );
    put.metadata_mut()
        .insert("x-request-id", "req-put-1".parse().unwrap());
    let answer = bus.put_rule(put).await.unwrap();
    assert_eq!(
        answer.metadata().get("x-request-id").unwrap(),
        "req-put-1",
        "the request id comes back"
    );

    // The operator's call that fails: recorded with its code.
    let mut identity = IdentityClient::new(stack.channel_with(stack.identity, None).await.unwrap());
    let failed = identity
        .complete_mfa_enrollment(with_header(
            pb::CompleteMfaEnrollmentRequest {
                user_name: "nobody".into(),
                serial_number: "arn:aws:iam::123456789012:mfa/nobody".into(),
                authentication_code_1: "111111".into(),
                authentication_code_2: "222222".into(),
            },
            "authorization",
            &operator,
        ))
        .await
        .unwrap_err();

    // The read-only token: its reads are not recorded, its refused change is.
    bus.list_rules(with_header(
        pb::ListRulesRequest::default(),
        "authorization",
        &read_only,
    ))
    .await
    .unwrap();
    let denied = bus
        .delete_rule(with_header(
            pb::DeleteRuleRequest {
                name: "audited-rule".into(),
                ..Default::default()
            },
            "authorization",
            &read_only,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // No token: refused and not recorded (anyone could flood the trail).
    bus.delete_rule(pb::DeleteRuleRequest {
        name: "audited-rule".into(),
        ..Default::default()
    })
    .await
    .unwrap_err();

    // The services' own calls (alerting and the orchestrator put their rules) are on the
    // trail too; wait for the three of this test.
    let ours = |d: &Value| {
        d["requestId"] == "req-put-1"
            || d["rpc"] == "CompleteMfaEnrollment"
            || (d["rpc"] == "DeleteRule" && d["resource"].is_null())
    };
    let calls = eventually(Duration::from_secs(10), || async {
        let calls = api_calls(&stack).await;
        (calls.iter().filter(|e| ours(&e["detail"])).count() >= 3).then_some(calls)
    })
    .await
    .expect("three API calls on the audit trail");
    let details: Vec<&Value> = calls.iter().map(|e| &e["detail"]).collect();
    assert!(calls.iter().all(|e| e["source"] == "groundwork.audit"));

    let put = details
        .iter()
        .find(|d| d["requestId"] == "req-put-1")
        .expect("PutRule is recorded");
    assert_eq!(put["rpc"], "PutRule");
    assert_eq!(put["caller"], "operator");
    assert_eq!(put["role"], "operator");
    assert_eq!(put["service"], "groundwork.v1.EventBus");
    assert_eq!(put["resource"], "audited-rule");
    assert_eq!(put["outcome"], "OK");
    assert_eq!(put["requestId"], "req-put-1");

    let mfa = details
        .iter()
        .find(|d| d["rpc"] == "CompleteMfaEnrollment")
        .expect("the failed call is recorded");
    assert_eq!(mfa["service"], "groundwork.v1.Identity");
    assert_eq!(mfa["resource"], "nobody");
    let code = format!("{:?}", failed.code());
    assert_ne!(mfa["outcome"], "OK", "{code}");
    assert!(!mfa["requestId"].as_str().unwrap().is_empty());

    let refused = details
        .iter()
        .find(|d| d["rpc"] == "DeleteRule")
        .expect("the read-only caller's refused change is recorded");
    assert_eq!(refused["role"], "read-only");
    assert_eq!(refused["outcome"], "PERMISSION_DENIED");
    assert_eq!(
        details.iter().filter(|d| d["rpc"] == "DeleteRule").count(),
        1,
        "the call without a token is not recorded"
    );
    assert!(
        !details.iter().any(|d| d["rpc"] == "ListRules"),
        "reads are not recorded"
    );

    // Nothing secret or from the body on the trail.
    let text = serde_json::to_string(&calls).unwrap();
    for secret in [
        stack.security.api_token.as_str(),
        stack.security.read_only_token.as_str(),
        "111111",
        "222222",
        "part of the request body",
        "audit.test",
    ] {
        assert!(!text.contains(secret), "the audit trail holds {secret:?}");
    }
    stack.stop().await;
}
