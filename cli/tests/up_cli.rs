//! `groundwork up` as a person runs it, in a directory of its own: the stack it starts is
//! locked — NATS refuses a client without credentials, and the `events` identity it
//! generated may send PutEvents and nothing else — while the CLI works there with no extra
//! flags, and so does the AWS CLI with only its endpoint changed; a service killed hard is
//! started again by `up`. The services are the
//! workspace's binaries next to `groundwork`
//! (`cargo build --workspace --bins`, which `cargo test --workspace` does).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use groundwork_testkit::process::free_port;
use serde_json::{Value, json};

/// `groundwork up`, stopped with SIGTERM (so that it stops what it started) when dropped.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn groundwork_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args(args)
        .current_dir(dir)
        .env_remove("GROUNDWORK_API_TOKEN")
        .env_remove("GROUNDWORK_EVENTBUS_URL")
        .output()
        .unwrap()
}

/// The pid of the child of `parent` whose command is `name` (from /proc).
fn child_named(parent: u32, name: &str) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so read after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        let exe = std::fs::read_link(entry.path().join("exe")).ok();
        if ppid == Some(parent) && exe.is_some_and(|e| e.file_name().is_some_and(|f| f == name)) {
            return Some(pid);
        }
    }
    None
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
    let nats_port = free_port().unwrap();
    let moto_port = free_port().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args(["up", "--nats-port", &nats_port.to_string()])
        .args(["--moto-port", &moto_port.to_string()])
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let up = Up(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line.contains("press Ctrl-C") => break,
            Ok(line) => printed.push(line),
            Err(e) => panic!("groundwork up did not come up ({e}); it printed:\n{printed:#?}"),
        }
    }
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
        let mut stream = admin.get_stream("EVENTS_default").await.unwrap();
        let last = stream.info().await.unwrap().state.last_sequence;
        let mut ours = 0;
        for seq in 1..=last {
            if let Ok(m) = stream.get_raw_message(seq).await
                && serde_json::from_slice::<Value>(&m.payload).unwrap()["source"]
                    == "com.example.orders"
            {
                ours += 1;
            }
        }
        ours
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
        .env("AWS_ENDPOINT_URL_EVENTBRIDGE", "https://127.0.0.1:50051")
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
    let bus_pid = child_named(up.0.id(), "groundwork-eventbus").expect("the event bus process");
    assert!(
        Command::new("kill")
            .args(["-9", &bus_pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut said = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with("eventbus") && line.contains("restarted") => break,
            Ok(line) => said.push(line),
            Err(e) => panic!("the event bus was not restarted ({e}); up printed:\n{said:#?}"),
        }
    }
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
    drop(up);
}
