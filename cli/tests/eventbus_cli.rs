//! `groundwork rules|targets|dlq|replay` against a real event bus: output, JSON output
//! and exit codes (0 ok, 1 failed, 2 invalid input).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use groundwork_kit::Shutdown;
use groundwork_testkit::NatsServer;

/// The operator token the services of these tests require; the CLI sends it.
const API_TOKEN: &str = "cli-test-token";

fn groundwork(args: Vec<String>, eventbus: String) -> Output {
    Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args(args)
        .env("GROUNDWORK_EVENTBUS_URL", eventbus)
        .env("GROUNDWORK_API_TOKEN", API_TOKEN)
        .output()
        .unwrap()
}

async fn run(url: &str, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || groundwork(args, url))
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn start_bus(nats: &NatsServer) -> (String, Shutdown) {
    let mut settings = groundwork_eventbus::Settings::on(nats.settings_for("eventbus"));
    settings.common.api_token = Some(API_TOKEN.into());
    let shutdown = Shutdown::new();
    let bus = groundwork_eventbus::start(settings, shutdown.clone())
        .await
        .unwrap();
    (format!("http://{}", bus.addr), shutdown)
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_and_targets_are_managed_from_the_command_line() {
    let nats = NatsServer::start().expect("nats-server");
    let (url, shutdown) = start_bus(&nats).await;
    // The service may still be starting: the first call retries until it answers.
    let mut put = run(
        &url,
        &[
            "rules",
            "put",
            "--name",
            "orders",
            "--pattern",
            r#"{"source":["shop"]}"#,
        ],
    )
    .await;
    for _ in 0..100 {
        if put.status.success() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        put = run(
            &url,
            &[
                "rules",
                "put",
                "--name",
                "orders",
                "--pattern",
                r#"{"source":["shop"]}"#,
            ],
        )
        .await;
    }
    assert!(put.status.success(), "stderr: {}", text(&put.stderr));
    assert_eq!(
        text(&put.stdout).trim(),
        "arn:aws:events:us-east-1:123456789012:rule/orders"
    );

    let bad = run(
        &url,
        &[
            "rules",
            "put",
            "--name",
            "bad",
            "--pattern",
            r#"{"source":"shop"}"#,
        ],
    )
    .await;
    assert_eq!(
        bad.status.code(),
        Some(2),
        "invalid pattern is invalid input"
    );
    assert!(text(&bad.stderr).contains("Event pattern is not valid. Reason:"));

    let targets = run(
        &url,
        &[
            "targets",
            "put",
            "--rule",
            "orders",
            "--id",
            "t1",
            "--arn",
            "nats:orders",
            "--max-retries",
            "3",
        ],
    )
    .await;
    assert!(
        targets.status.success(),
        "stderr: {}",
        text(&targets.stderr)
    );
    let partly = run(
        &url,
        &[
            "targets",
            "put",
            "--rule",
            "orders",
            "--id",
            "t2",
            "--arn",
            "arn:aws:sqs:us-east-1:1:q",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(partly.status.code(), Some(1));
    let partly: serde_json::Value = serde_json::from_slice(&partly.stdout).unwrap();
    assert_eq!(partly["FailedEntryCount"], 1);

    let listed = run(&url, &["rules", "list", "--output", "json"]).await;
    assert!(listed.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["Rules"][0]["Name"], "orders");
    assert_eq!(listed["Rules"][0]["State"], "ENABLED");

    let table = run(&url, &["targets", "list", "--rule", "orders"]).await;
    assert!(text(&table.stdout).contains("t1") && text(&table.stdout).contains("nats:orders"));
    let json = run(
        &url,
        &["targets", "list", "--rule", "orders", "--output", "json"],
    )
    .await;
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"], 3);

    // A webhook's token (path, query, user info) is in neither listing.
    let secret =
        "https://ops:USRpw4711@hooks.slack.com/services/T0001/B0002/XOXBtok4711?sig=QRYsig4711";
    let put = run(
        &url,
        &[
            "targets", "put", "--rule", "orders", "--id", "hook", "--arn", secret,
        ],
    )
    .await;
    assert!(put.status.success(), "stderr: {}", text(&put.stderr));
    for args in [
        &["targets", "list", "--rule", "orders"][..],
        &["targets", "list", "--rule", "orders", "--output", "json"][..],
    ] {
        let listed = run(&url, args).await;
        assert!(listed.status.success());
        let out = text(&listed.stdout);
        assert!(out.contains("https://hooks.slack.com/..."), "{out}");
        for token in ["XOXBtok4711", "QRYsig4711", "USRpw4711", "T0001"] {
            assert!(!out.contains(token), "{args:?} shows {token}:\n{out}");
        }
    }
    let removed = run(
        &url,
        &["targets", "remove", "--rule", "orders", "--id", "hook"],
    )
    .await;
    assert!(removed.status.success());

    let refused = run(&url, &["rules", "delete", "--name", "orders"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("Rule can't be deleted since it has targets."));
    let removed = run(
        &url,
        &["targets", "remove", "--rule", "orders", "--id", "t1"],
    )
    .await;
    assert!(removed.status.success());
    let deleted = run(&url, &["rules", "delete", "--name", "orders"]).await;
    assert!(
        deleted.status.success(),
        "stderr: {}",
        text(&deleted.stderr)
    );
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn dlq_and_replay_commands_print_json_and_report_bad_input() {
    let nats = NatsServer::start().expect("nats-server");
    let (url, shutdown) = start_bus(&nats).await;
    let mut list = run(&url, &["dlq", "list", "--output", "json"]).await;
    for _ in 0..100 {
        if list.status.success() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        list = run(&url, &["dlq", "list", "--output", "json"]).await;
    }
    assert!(list.status.success(), "stderr: {}", text(&list.stderr));
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list["DeadLetters"], serde_json::json!([]));
    let redrive = run(&url, &["dlq", "redrive", "--output", "json"]).await;
    let redrive: serde_json::Value = serde_json::from_slice(&redrive.stdout).unwrap();
    assert_eq!(redrive["Redriven"], 0);

    let missing = run(&url, &["replay", "describe", "--name", "nope"]).await;
    assert_eq!(missing.status.code(), Some(1));
    let bad_time = run(
        &url,
        &[
            "replay",
            "start",
            "--name",
            "r",
            "--archive-arn",
            "a",
            "--start",
            "yesterday",
            "--end",
            "now",
        ],
    )
    .await;
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(text(&bad_time.stderr).contains("RFC 3339"));
    let no_archive = run(
        &url,
        &[
            "replay",
            "start",
            "--name",
            "r",
            "--archive-arn",
            "arn:aws:events:us-east-1:123456789012:archive/none",
            "--start",
            "2024-01-01T00:00:00Z",
            "--end",
            "2024-01-01T01:00:00Z",
        ],
    )
    .await;
    assert_eq!(no_archive.status.code(), Some(1));
    shutdown.trigger();
}
