//! `groundwork events put` and `groundwork events tail` against a real event bus, and
//! `groundwork pattern test` offline: the commands as a person runs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use groundwork_kit::Shutdown;
use groundwork_testkit::NatsServer;

/// The operator token the services of these tests require; the CLI sends it.
const API_TOKEN: &str = "cli-test-token";

fn groundwork(args: &[&str], eventbus: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args(args)
        .env("GROUNDWORK_EVENTBUS_URL", eventbus)
        .env("GROUNDWORK_API_TOKEN", API_TOKEN)
        .output()
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
async fn put_then_tail_shows_the_event() {
    let nats = NatsServer::start().expect("nats-server");
    let (url, shutdown) = start_bus(&nats).await;

    let put = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            groundwork(
                &[
                    "events",
                    "put",
                    "--source",
                    "com.example.cli",
                    "--detail-type",
                    "Hello",
                    "--detail",
                    r#"{"n":7}"#,
                    "--output",
                    "json",
                ],
                &url,
            )
        }
    })
    .await
    .unwrap();
    assert!(put.status.success(), "stderr: {}", text(&put.stderr));
    let result: serde_json::Value = serde_json::from_slice(&put.stdout).unwrap();
    assert_eq!(result["FailedEntryCount"], 0);
    let id = result["Entries"][0]["EventId"].as_str().unwrap().to_owned();

    let tail = tokio::task::spawn_blocking(move || {
        groundwork(
            &["events", "tail", "--from-beginning", "--limit", "1"],
            &url,
        )
    })
    .await
    .unwrap();
    assert!(tail.status.success(), "stderr: {}", text(&tail.stderr));
    let line = text(&tail.stdout);
    let event: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["source"], "com.example.cli");
    assert_eq!(event["detail-type"], "Hello");
    assert_eq!(event["detail"]["n"], 7);
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn put_reads_the_aws_cli_entries_file_and_reports_failed_entries() {
    let nats = NatsServer::start().expect("nats-server");
    let (url, shutdown) = start_bus(&nats).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("entries.json");
    std::fs::write(
        &file,
        r#"[{"Source":"com.example","DetailType":"A","Detail":"{\"ok\":true}"},
            {"Source":"com.example","DetailType":"B","Detail":"[1]"}]"#,
    )
    .unwrap();
    let arg = format!("file://{}", file.display());
    let out = tokio::task::spawn_blocking(move || {
        groundwork(&["events", "put", "--entries", &arg], &url)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "one entry failed: exit 1");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("accepted"), "{stdout}");
    assert!(
        stdout.contains("MalformedDetail: Detail is malformed."),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("1 of 2 entries failed"));
    shutdown.trigger();
}

#[test]
fn an_unreachable_bus_fails_with_exit_1_and_says_what_to_do() {
    let out = groundwork(
        &["events", "put", "--source", "a", "--detail-type", "b"],
        "http://127.0.0.1:9",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot reach the event bus at http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(stderr.contains("GROUNDWORK_EVENTBUS_URL"), "{stderr}");
}

#[test]
fn bad_usage_exits_2() {
    let out = groundwork(&["events", "put"], "http://127.0.0.1:9");
    assert_eq!(out.status.code(), Some(2));
    let out = groundwork(&["no-such-command"], "http://127.0.0.1:9");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn pattern_test_prints_true_or_false_and_rejects_invalid_patterns_with_exit_2() {
    let pattern = r#"{"source":["com.example"],"detail":{"n":[{"numeric":[">",5]}]}}"#;
    let out = groundwork(
        &[
            "pattern",
            "test",
            "--pattern",
            pattern,
            "--event",
            r#"{"source":"com.example","detail":{"n":7}}"#,
        ],
        "",
    );
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "true\n");
    let out = groundwork(
        &[
            "pattern",
            "test",
            "--pattern",
            pattern,
            "--event",
            r#"{"source":"com.example","detail":{"n":3}}"#,
        ],
        "",
    );
    assert_eq!(text(&out.stdout), "false\n");

    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        "{\"source\":\"com.example\",\"detail\":{\"n\":9}}\n{\"source\":\"other\",\"detail\":{\"n\":9}}\n{\"source\":\"com.example\",\"detail\":{\"n\":1}}\n",
    )
    .unwrap();
    let pattern_file = dir.path().join("pattern.json");
    std::fs::write(&pattern_file, pattern).unwrap();
    let out = groundwork(
        &[
            "pattern",
            "test",
            "--pattern",
            &format!("@{}", pattern_file.display()),
            "--events",
            events.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "true\nfalse\nfalse\n");

    let out = groundwork(
        &[
            "pattern",
            "test",
            "--pattern",
            r#"{"source":"x"}"#,
            "--event",
            "{}",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Event pattern is not valid. Reason: "),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

/// `groundwork … | head`: the reader goes away before the CLI prints; it stops quietly
/// with 0 rather than panicking about a broken pipe.
#[test]
fn a_reader_that_stops_early_ends_the_cli_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args([
            "pattern",
            "test",
            "--pattern",
            r#"{"source": ["a"]}"#,
            "--event",
            r#"{"source": "a"}"#,
        ])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
