//! The eventbus process is killed (SIGKILL) in the middle of a 10,000-event stream and
//! started again: no accepted event is lost, and a delivery arrives twice at most when it
//! was in flight, with the same event id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use common::{deliveries, eventually, target};
use groundwork_proto::v1 as pb;
use groundwork_proto::v1::event_bus_client::EventBusClient;
use groundwork_testkit::NatsServer;

const EVENTS: usize = 10_000;

fn start(nats: &NatsServer, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_groundwork-eventbus"))
        .arg("--nats-url")
        .arg(nats.url())
        .env("NATS_NKEY", nats.nkey_file("eventbus"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("GROUNDWORK_EVENTBUS__ROUTER_ACK_WAIT_MS", "2000")
        .env("GROUNDWORK_EVENTBUS__DELIVERY_ACK_WAIT_MS", "2000")
        .env("RUST_LOG", "warn")
        .env("GROUNDWORK_API_TOKEN", common::API_TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("the groundwork-eventbus binary")
}

async fn connect(port: u16) -> EventBusClient<common::Channel> {
    let target = groundwork_kit::client::Target::new(
        format!("http://127.0.0.1:{port}"),
        Some(common::API_TOKEN.into()),
        "the event bus",
    );
    for _ in 0..400 {
        if let Ok(channel) = groundwork_kit::client::connect(&target, "event bus").await
            && let mut c = EventBusClient::new(channel)
            && c.list_event_buses(pb::ListEventBusesRequest::default())
                .await
                .is_ok()
        {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the event bus did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_event_bus_loses_no_accepted_event() {
    let nats = NatsServer::start().expect("nats-server must be installed");
    let port = groundwork_testkit::process::free_port().unwrap();
    let mut child = start(&nats, port);
    let mut c = connect(port).await;
    c.put_rule(pb::PutRuleRequest {
        name: "all".into(),
        event_pattern: r#"{"source": ["test.crash"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.put_targets(pb::PutTargetsRequest {
        rule: "all".into(),
        event_bus_name: String::new(),
        targets: vec![target("t", "nats:crash")],
    })
    .await
    .unwrap();

    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    // Four concurrent producers, 10 entries per call.
    let producers: Vec<_> = (0..4)
        .map(|p| {
            tokio::spawn({
                let accepted = accepted.clone();
                let mut c = c.clone();
                async move {
                    for batch in (p..EVENTS / 10).step_by(4) {
                        loop {
                            let entries = (0..10)
                                .map(|k| {
                                    common::entry(
                                        "test.crash",
                                        "Crash",
                                        &format!(r#"{{"n": {}}}"#, batch * 10 + k),
                                    )
                                })
                                .collect();
                            match c.put_events(pb::PutEventsRequest { entries }).await {
                                Ok(r) => {
                                    let r = r.into_inner();
                                    let mut accepted = accepted.lock().unwrap();
                                    accepted.extend(
                                        r.entries
                                            .into_iter()
                                            .filter(|e| !e.event_id.is_empty())
                                            .map(|e| e.event_id),
                                    );
                                    if r.failed_entry_count == 0 {
                                        break;
                                    }
                                }
                                // The process is down: send the batch again once it is back.
                                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                            }
                        }
                    }
                }
            })
        })
        .collect();

    assert!(
        eventually(Duration::from_secs(60), || {
            let accepted = accepted.clone();
            async move { accepted.lock().unwrap().len() >= 3_000 }
        })
        .await
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let t0 = std::time::Instant::now();
    let mut child = start(&nats, port);
    for producer in producers {
        producer.await.unwrap();
    }
    eprintln!("producer done after restart in {:?}", t0.elapsed());
    let accepted: Vec<String> = accepted.lock().unwrap().clone();
    assert!(accepted.len() >= EVENTS);

    let js = jetstream::new(nats.admin().await.unwrap());
    let expected: BTreeSet<String> = accepted.iter().cloned().collect();
    // Counting is cheap; reading every delivery is not: count first, then read once.
    let enough = eventually(Duration::from_secs(120), || {
        let js = js.clone();
        let want = expected.len() as u64;
        async move { common::stream_len(&js, "DELIVERIES").await >= want }
    })
    .await;
    let idle = eventually(Duration::from_secs(60), || {
        let js = js.clone();
        async move {
            common::consumer_idle(&js, "EVENTS_default", "router").await
                && common::consumer_idle(&js, "TARGETS", "deliverer").await
        }
    })
    .await;
    eprintln!("deliveries complete at {:?}", t0.elapsed());
    let received = deliveries(&js).await;
    eprintln!("deliveries read at {:?}", t0.elapsed());
    let all_delivered = enough && idle;
    let seen: BTreeSet<String> = received.iter().map(|r| r.event_id.clone()).collect();
    let missing = expected.difference(&seen).count();
    assert!(
        all_delivered && missing == 0,
        "{missing} accepted events were never delivered"
    );

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &received {
        *counts.entry(r.event_id.as_str()).or_default() += 1;
    }
    let duplicated = counts.values().filter(|&&n| n > 1).count();
    assert!(
        counts.values().all(|&n| n <= 2),
        "a delivery arrived more than twice"
    );
    // Only deliveries in flight at the kill can repeat (at most the process's concurrency).
    assert!(duplicated <= 2048, "{duplicated} duplicates");
    // Every delivered id is one of the events stored on the bus (batches resent after the
    // kill may have stored events whose ids the producer never saw).
    let stored = groundwork_testkit::events::stored(&js, "EVENTS_default")
        .await
        .unwrap()
        .len();
    assert!(seen.len() <= stored);
    eprintln!(
        "accepted {}, stored {stored}, delivered {}, duplicated {duplicated}",
        accepted.len(),
        received.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
