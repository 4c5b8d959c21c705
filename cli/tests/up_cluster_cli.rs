//! `groundwork up --nats-cluster 3 --replicas 2` as a person runs it: three nats-server
//! processes with JetStream that keep three copies of every stream, two processes of every
//! service, the CLI given every replica's URL; one event-bus replica
//! killed hard and the CLI goes on through the other while `up` starts it again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod up;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use up::{Ports, Up};

fn put_event(dir: &Path, both_eventbus: &str, id: u32) -> Output {
    Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args(["events", "put", "--source", "com.example.orders"])
        .args(["--detail-type", "Order Placed", "--detail"])
        .arg(format!(r#"{{"id": {id}}}"#))
        .current_dir(dir)
        .env_remove("GROUNDWORK_API_TOKEN")
        .env("GROUNDWORK_EVENTBUS_URL", both_eventbus)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clustered_stack_with_two_of_each_service_survives_losing_a_replica() {
    let work = tempfile::tempdir().unwrap();
    let ports = Ports::pick();
    let both_eventbus = format!("{},{}", ports.url(0, 0), ports.url(0, 1));
    let (up, printed) = Up::start(work.path(), &ports.cluster_args(), Duration::from_secs(180));
    let said = printed.join("\n");
    assert!(said.contains("a cluster of 3"), "{said}");
    assert!(
        said.contains(&format!(
            "eventbus      {}",
            both_eventbus.replace(',', " ")
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("export GROUNDWORK_EVENTBUS_URL={both_eventbus}")),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "orchestrator  {} {}",
            ports.url(4, 0),
            ports.url(4, 1)
        )),
        "{said}"
    );

    // Every stream the bus made keeps three copies.
    let seed =
        std::fs::read_to_string(work.path().join(".groundwork/secrets/nats/admin.nk")).unwrap();
    let first_port = ports.nats;
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

    let put = put_event(work.path(), &both_eventbus, 1);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );

    // One event-bus replica lost: the CLI, given both, goes on through the other at once.
    let first = up.process(
        "groundwork-eventbus",
        &format!("GROUNDWORK_EVENTBUS__LISTEN=127.0.0.1:{}", ports.services),
    );
    Up::kill_hard(first);
    for id in 2..5 {
        let put = put_event(work.path(), &both_eventbus, id);
        assert!(
            put.status.success(),
            "with one replica lost: {}\nwarnings and errors in the stack's logs:\n{}",
            String::from_utf8_lossy(&put.stderr),
            up.errors_in_logs()
        );
    }
    up.until(
        Duration::from_secs(60),
        |l| l.starts_with("eventbus ") && l.contains("restarted"),
        "start the replica again",
    );
    let ours = groundwork_testkit::events::stored(&js, "EVENTS_default")
        .await
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "com.example.orders")
        .count();
    assert_eq!(ours, 4, "every accepted event stored once");
    drop(up);
}
