//! The README's first-event walkthrough with the AWS CLI only (`aws events …` from the
//! repository's `.venv`), against the event bus's EventBridge HTTP API over TLS: a rule, a
//! NATS target, an event put and delivered, a pattern tested; and what the CLI says for an
//! operation the bus does not serve.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{API_TOKEN, Stack, eventually, venv_tool};
use serde_json::Value;

/// Runs `aws events <args>` against `stack` as its operator would; returns the exit code,
/// the JSON printed (Null when none) and the error text.
async fn aws(stack: &Stack, args: &[&str]) -> (i32, Value, String) {
    let home = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(venv_tool("aws"))
        .arg("events")
        .args(args)
        .args(["--endpoint-url", &stack.url(), "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_ACCESS_KEY_ID", "operator")
        .env("AWS_SECRET_ACCESS_KEY", API_TOKEN)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CA_BUNDLE", stack.ca_file())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = if stdout.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    };
    (
        output.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_event_walkthrough_with_the_aws_cli() {
    let stack = Stack::start_tls().await;

    let (code, rule, err) = aws(
        &stack,
        &[
            "put-rule",
            "--name",
            "orders",
            "--event-pattern",
            r#"{"source": ["com.example.orders"], "detail": {"total": [{"numeric": [">", 10]}]}}"#,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        rule["RuleArn"],
        "arn:aws:events:us-east-1:123456789012:rule/orders"
    );

    let (code, targets, err) = aws(
        &stack,
        &[
            "put-targets",
            "--rule",
            "orders",
            "--targets",
            "Id=orders,Arn=nats:orders.placed",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(targets["FailedEntryCount"], 0, "{targets}");

    let entries = r#"[{"Source": "com.example.orders", "DetailType": "Order Placed", "Detail": "{\"id\": 42, \"total\": 19.5}"},
                      {"Source": "com.example.orders", "DetailType": "Order Placed", "Detail": "{\"id\": 43, \"total\": 5}"}]"#;
    let (code, put, err) = aws(&stack, &["put-events", "--entries", entries]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    let ids: Vec<String> = put["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);

    // Only the order over 10 matches the rule: it reaches the NATS subject, once.
    let js = async_nats::jetstream::new(stack.nats_client().await);
    assert!(
        eventually(Duration::from_secs(20), || {
            let js = js.clone();
            async move { !common::deliveries(&js).await.is_empty() }
        })
        .await,
        "nothing was delivered"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delivered = common::deliveries(&js).await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].event_id, ids[0]);
    assert_eq!(delivered[0].subject, "groundwork.deliver.orders.placed");
    let event: Value = serde_json::from_str(&delivered[0].payload).unwrap();
    assert_eq!(event["detail"]["id"], 42);

    let (code, listed, err) = aws(&stack, &["list-targets-by-rule", "--rule", "orders"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed["Targets"][0]["Arn"], "nats:orders.placed");

    let (code, tested, err) = aws(
        &stack,
        &[
            "test-event-pattern",
            "--event-pattern",
            r#"{"detail": {"total": [{"numeric": [">", 10]}]}}"#,
            "--event",
            r#"{"id": "1", "account": "123456789012", "source": "com.example.orders", "time": "2026-12-02T00:00:00Z", "region": "us-east-1", "resources": [], "detail-type": "Order Placed", "detail": {"total": 19.5}}"#,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(tested["Result"], true);

    // Errors as the CLI prints AWS's: exit code 255 (AWS CLI v1) and the exception's name.
    let (code, _, err) = aws(
        &stack,
        &[
            "test-event-pattern",
            "--event-pattern",
            r#"{"detail": "not-a-list"}"#,
            "--event",
            "{}",
        ],
    )
    .await;
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("(InvalidEventPatternException)"), "{err}");
    let (code, _, err) = aws(&stack, &["describe-rule", "--name", "missing"]).await;
    assert_eq!(code, 255, "{err}");
    assert!(
        err.contains("(ResourceNotFoundException)")
            && err.contains("Rule missing does not exist on EventBus default."),
        "{err}"
    );
    // An EventBridge operation the bus does not serve.
    let (code, _, err) = aws(&stack, &["list-connections"]).await;
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("(UnknownOperationException)"), "{err}");

    let (code, _, err) = aws(
        &stack,
        &["remove-targets", "--rule", "orders", "--ids", "orders"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = aws(&stack, &["delete-rule", "--name", "orders"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, rules, err) = aws(&stack, &["list-rules"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(rules["Rules"], serde_json::json!([]));
    stack.stop().await;
}
