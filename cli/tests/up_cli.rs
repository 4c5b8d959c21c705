//! `groundwork up` as a person runs it, in a directory of its own: the stack it starts is
//! locked — NATS refuses a client without credentials, and the `events` identity it
//! generated may send PutEvents and nothing else — while the CLI works there with no extra
//! flags, and so does the AWS CLI with only its endpoint changed; a service killed hard is
//! started again by `up`. The services are the
//! workspace's binaries next to `groundwork`
//! (`cargo build --workspace --bins`, which `cargo test --workspace` does).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod up;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use async_nats::jetstream;
use serde_json::{Value, json};
use up::{Ports, Up};

fn groundwork_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args(args)
        .current_dir(dir)
        .env_remove("GROUNDWORK_API_TOKEN")
        .env_remove("GROUNDWORK_EVENTBUS_URL")
        .output()
        .unwrap()
}

async fn connect_with(url: &str, seed_file: &Path) -> async_nats::Client {
    let seed = std::fs::read_to_string(seed_file).unwrap();
    async_nats::ConnectOptions::new()
        .nkey(seed.trim().to_owned())
        .request_timeout(Some(Duration::from_millis(800)))
        .connect(url)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stack_up_starts_is_locked_and_the_cli_works_in_its_directory() {
    let beside = PathBuf::from(env!("CARGO_BIN_EXE_groundwork"));
    for service in ["eventbus", "identity", "budget", "alerting", "orchestrator"] {
        let binary = beside.with_file_name(format!("groundwork-{service}"));
        assert!(
            binary.is_file(),
            "{} is missing: build the services with `cargo build --workspace --bins`",
            binary.display()
        );
    }
    let work = tempfile::tempdir().unwrap();
    let ports = Ports::pick();
    let nats_port = ports.nats;
    let (up, _) = Up::start(work.path(), &ports.args(), Duration::from_secs(120));
    let secrets = work.path().join(".groundwork/secrets/nats");
    let url = format!("nats://127.0.0.1:{nats_port}");

    // No credentials: refused at connect.
    let anonymous = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(&url)
        .await;
    assert!(anonymous.is_err(), "an anonymous client was let in");

    // The producers' identity: PutEvents on the ingress works…
    let events = connect_with(&url, &secrets.join("events.nk")).await;
    let put = json!({"Entries": [{"Source": "com.example.orders", "DetailType": "Order Placed", "Detail": "{\"id\": 1}"}]});
    let reply = events
        .request("groundwork.events.put.default", put.to_string().into())
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(answer["FailedEntryCount"], 0, "{answer}");
    // …and writing to the bus stream, asking JetStream or reading a bucket does not.
    let admin = jetstream::new(connect_with(&url, &secrets.join("admin.nk")).await);
    // The test's own events (the services record their start-up calls on the same bus).
    let stored = |admin: jetstream::Context| async move {
        groundwork_testkit::events::stored(&admin, "EVENTS_default")
            .await
            .unwrap()
            .iter()
            .filter(|e| e["source"] == "com.example.orders")
            .count()
    };
    let before = stored(admin.clone()).await;
    let forged = jetstream::new(events.clone())
        .publish("groundwork.bus.default", "{}".into())
        .await;
    if let Ok(ack) = forged {
        assert!(
            ack.await.is_err(),
            "the bus stream took a message from `events`"
        );
    }
    for subject in ["$JS.API.STREAM.LIST", "$KV.eventbus-rules.rule.default.x"] {
        assert!(
            events.request(subject, "{}".into()).await.is_err(),
            "{subject} answered `events`"
        );
    }
    assert_eq!(stored(admin.clone()).await, before);

    // The CLI, in the directory where `up` ran, with no flags and no environment.
    let put = groundwork_in(
        work.path(),
        &[
            "events",
            "put",
            "--source",
            "com.example.orders",
            "--detail-type",
            "Order Placed",
            "--detail",
            r#"{"id": 2}"#,
        ],
    );
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    assert_eq!(stored(admin.clone()).await, before + 1);

    // The AWS CLI, unchanged but for its endpoint: the operator's token is its secret key.
    let secrets_dir = work.path().join(".groundwork/secrets");
    let token = std::fs::read_to_string(secrets_dir.join("api-token")).unwrap();
    let aws = groundwork_testkit::process::find_binary(
        "aws",
        "AWS_CLI_BIN",
        groundwork_testkit::INSTALL_HINT,
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let put = Command::new(aws)
        .args(["events", "put-events", "--output", "json"])
        .args([
            "--entries",
            r#"[{"Source": "com.example.orders", "DetailType": "Order Placed", "Detail": "{\"id\": 3}"}]"#,
        ])
        .env("HOME", home.path())
        .env("AWS_ACCESS_KEY_ID", "operator")
        .env("AWS_SECRET_ACCESS_KEY", token.lines().next().unwrap().trim())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CA_BUNDLE", secrets_dir.join("tls/ca.pem"))
        // As the README sets it: the endpoint by EventBridge's service id.
        .env("AWS_ENDPOINT_URL_EVENTBRIDGE", ports.url(0, 0))
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let answer: Value = serde_json::from_slice(&put.stdout).unwrap();
    assert_eq!(answer["FailedEntryCount"], 0, "{answer}");
    assert_eq!(stored(admin.clone()).await, before + 2);

    // `up` supervises what it started: the event bus killed hard is reported, started
    // again, and answers as before.
    let bus_pid = up.process("groundwork-eventbus", "GROUNDWORK_EVENTBUS__LISTEN");
    Up::kill_hard(bus_pid);
    let said = up.until(
        Duration::from_secs(60),
        |l| l.starts_with("eventbus") && l.contains("restarted"),
        "start the event bus again",
    );
    assert!(
        said.iter().any(|l| l.starts_with("eventbus")
            && l.contains("exited")
            && l.contains("starting it again")),
        "{said:#?}"
    );
    let mut answered = false;
    for _ in 0..120 {
        let put = groundwork_in(
            work.path(),
            &[
                "events",
                "put",
                "--source",
                "com.example.orders",
                "--detail-type",
                "Order Placed",
                "--detail",
                r#"{"id": 4}"#,
            ],
        );
        if put.status.success() {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        answered,
        "the restarted event bus did not answer within 30 s"
    );
    assert_eq!(stored(admin).await, before + 3);

    // The CLI above found the services on the ports given by the file `up` keeps while it
    // runs; it goes when `up` stops.
    let endpoints = work.path().join(".groundwork/endpoints.json");
    let written: Value = serde_json::from_slice(&std::fs::read(&endpoints).unwrap()).unwrap();
    assert_eq!(
        written["services"]["eventbus"],
        ports.url(0, 0),
        "{written}"
    );
    assert_eq!(
        written["services"]["orchestrator"],
        ports.url(4, 0),
        "{written}"
    );
    drop(up);
    assert!(!endpoints.exists(), "endpoints.json left after up stopped");
}
