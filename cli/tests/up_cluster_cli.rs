//! `groundwork up --nats-cluster 3 --replicas 2` as a person runs it: three nats-server
//! processes with JetStream that keep three copies of every stream, two processes of every
//! service, the CLI given every replica's URL; one event-bus replica
//! killed hard and the CLI goes on through the other while `up` starts it again.
//! (Its own test binary: it uses the services' fixed ports, as `up_cli.rs` does, and cargo
//! runs test binaries one after the other.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod up;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use groundwork_testkit::process::free_port;
use up::Up;

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

#[tokio::test(flavor = "multi_thread")]
async fn a_clustered_stack_with_two_of_each_service_survives_losing_a_replica() {
    let work = tempfile::tempdir().unwrap();
    // Three consecutive client ports, three consecutive route ports and moto's, none of
    // them among the services' (50051 and up, every replica 10 further): a free port the
    // system hands out may fall there, and a replica could not listen then.
    let services = 50_000..50_200;
    let usable =
        |p: u16| !services.contains(&p) && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let pick = |count: u16| loop {
        let first = free_port().unwrap();
        if first < u16::MAX - count && (0..count).all(|i| usable(first + i)) {
            break first;
        }
    };
    let (nats_port, route_port, moto_port) = loop {
        let (n, r, m) = (pick(3), pick(3), pick(1));
        if r.abs_diff(n) > 3 && m.abs_diff(n) > 3 && m.abs_diff(r) > 3 {
            break (n.to_string(), r.to_string(), m.to_string());
        }
    };
    let (up, printed) = Up::start(
        work.path(),
        &[
            "--nats-cluster",
            "3",
            "--replicas",
            "2",
            "--nats-port",
            &nats_port,
            "--nats-route-port",
            &route_port,
            "--moto-port",
            &moto_port,
        ],
        Duration::from_secs(180),
    );
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
    assert!(
        said.contains("orchestrator  https://127.0.0.1:50055 https://127.0.0.1:50065"),
        "{said}"
    );

    // Every stream the bus made keeps three copies.
    let seed =
        std::fs::read_to_string(work.path().join(".groundwork/secrets/nats/admin.nk")).unwrap();
    let first_port: u16 = nats_port.parse().unwrap();
    let urls: Vec<String> = (0..3)
        .map(|i| format!("nats://127.0.0.1:{}", first_port + i))
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
    let first = up
        .process("groundwork-eventbus", "127.0.0.1:50051")
        .expect("the first event-bus replica");
    Up::kill_hard(first);
    for id in 2..5 {
        let put = put_event(work.path(), id);
        assert!(
            put.status.success(),
            "with one replica lost: {}",
            String::from_utf8_lossy(&put.stderr)
        );
    }
    up.until(
        Duration::from_secs(60),
        |l| l.starts_with("eventbus ") && l.contains("restarted"),
        "start the replica again",
    );
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
