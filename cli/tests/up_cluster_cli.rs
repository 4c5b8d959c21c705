//! `groundwork up --nats-cluster 3 --replicas 2` as a person runs it: three nats-server
//! processes with JetStream that keep three copies of every stream, two processes of every
//! service but the orchestrator, the CLI given every replica's URL; one event-bus replica
//! killed hard and the CLI goes on through the other while `up` starts it again.
//! (Its own test binary: it uses the services' fixed ports, as `up_cli.rs` does, and cargo
//! runs test binaries one after the other.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use groundwork_testkit::process::free_port;

/// `groundwork up`, stopped with SIGTERM (so that it stops what it started) when dropped.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

const BOTH_EVENTBUS: &str = "https://127.0.0.1:50051,https://127.0.0.1:50061";

fn put_event(dir: &Path, id: u32) -> Output {
    Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args(["events", "put", "--source", "com.example.orders"])
        .args(["--detail-type", "Order Placed", "--detail"])
        .arg(format!(r#"{{"id": {id}}}"#))
        .current_dir(dir)
        .env_remove("GROUNDWORK_API_TOKEN")
        .env("GROUNDWORK_EVENTBUS_URL", BOTH_EVENTBUS)
        .output()
        .unwrap()
}

/// The child of `parent` running `name` whose environment has `needle`.
fn child_with(parent: u32, name: &str, needle: &str) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        let exe = std::fs::read_link(entry.path().join("exe")).ok();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if ppid == Some(parent)
            && exe.is_some_and(|e| e.file_name().is_some_and(|f| f == name))
            && String::from_utf8_lossy(&environ).contains(needle)
        {
            return Some(pid);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clustered_stack_with_two_of_each_service_survives_losing_a_replica() {
    let work = tempfile::tempdir().unwrap();
    let nats_port = free_port().unwrap();
    // Three consecutive client ports and three consecutive route ports.
    let (nats_port, route_port) = loop {
        let n = free_port().unwrap();
        let r = free_port().unwrap();
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if (0..3).all(|i| free(n + i) && free(r + i)) && r.abs_diff(n) > 3 {
            break (n, r);
        }
        let _ = nats_port;
    };
    let moto_port = free_port().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args(["up", "--nats-cluster", "3", "--replicas", "2"])
        .args(["--nats-port", &nats_port.to_string()])
        .args(["--nats-route-port", &route_port.to_string()])
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
        match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(line) if line.contains("press Ctrl-C") => break,
            Ok(line) => printed.push(line),
            Err(e) => panic!("groundwork up did not come up ({e}); it printed:\n{printed:#?}"),
        }
    }
    let said = printed.join("\n");
    assert!(said.contains("a cluster of 3"), "{said}");
    assert!(
        said.contains("eventbus      https://127.0.0.1:50051 https://127.0.0.1:50061"),
        "{said}"
    );
    assert!(
        said.contains(&format!("export GROUNDWORK_EVENTBUS_URL={BOTH_EVENTBUS}")),
        "{said}"
    );

    // Every stream the bus made keeps three copies.
    let seed =
        std::fs::read_to_string(work.path().join(".groundwork/secrets/nats/admin.nk")).unwrap();
    let urls: Vec<String> = (0..3)
        .map(|i| format!("nats://127.0.0.1:{}", nats_port + i))
        .collect();
    let admin = async_nats::ConnectOptions::new()
        .nkey(seed.trim().to_owned())
        .connect(urls.as_slice())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(admin);
    for name in [
        "EVENTS_default",
        "TARGETS",
        "DELIVERIES",
        "KV_eventbus-rules",
    ] {
        let mut stream = js.get_stream(name).await.unwrap();
        assert_eq!(
            stream.info().await.unwrap().config.num_replicas,
            3,
            "{name}"
        );
    }

    let put = put_event(work.path(), 1);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );

    // One event-bus replica lost: the CLI, given both, goes on through the other at once.
    let first = child_with(up.0.id(), "groundwork-eventbus", "127.0.0.1:50051")
        .expect("the first event-bus replica");
    assert!(
        Command::new("kill")
            .args(["-9", &first.to_string()])
            .status()
            .unwrap()
            .success()
    );
    for id in 2..5 {
        let put = put_event(work.path(), id);
        assert!(
            put.status.success(),
            "with one replica lost: {}",
            String::from_utf8_lossy(&put.stderr)
        );
    }
    let mut after = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with("eventbus ") && line.contains("restarted") => break,
            Ok(line) => after.push(line),
            Err(e) => panic!("the replica was not started again ({e}); up printed:\n{after:#?}"),
        }
    }
    let mut stream = js.get_stream("EVENTS_default").await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut ours = 0;
    for seq in 1..=last {
        let message = stream.get_raw_message(seq).await.unwrap();
        let event: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        if event["source"] == "com.example.orders" {
            ours += 1;
        }
    }
    assert_eq!(ours, 4, "every accepted event stored once");
    drop(up);
}
