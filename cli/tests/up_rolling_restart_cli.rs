//! `groundwork up --nats-cluster 3 --replicas 2` upgraded in place while events flow, as an
//! operator rolls a deployment: every replica of every service (event bus, identity, budget,
//! alerting, orchestrator) and then every NATS node is stopped with SIGTERM, one at a time,
//! and `up` starts it again (it restarts whatever exits); the next one goes only once the
//! one before is back (a service answers the health check on its own URL, a NATS node is
//! current again in every stream of the bus). While a replica is down its service still
//! answers, through the other replica: the CLI run in the stack's directory is given both by
//! `.groundwork/endpoints.json`.
//!
//! All along, a producer sends events the way producers plug in, through the NATS ingress
//! (`groundwork.events.put.default`, with the producers' nkey), into a rule whose target is a
//! NATS subject. At the end every accepted event must have been delivered, counted by event
//! id; duplicates are allowed (at-least-once) and counted, and every count is printed.
//!
//! Run it alone with its output:
//! `cargo test -p groundwork-cli --test up_rolling_restart_cli -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod up;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt;
use serde_json::{Value, json};
use up::{Ports, Up};

const SOURCE: &str = "com.example.rolling";
/// The rule's NATS-subject target.
const TARGET: &str = "rolling.all";
/// Events accepted between two steps (and before the first and after the last).
const BETWEEN_STEPS: usize = 100;
/// How long any one wait may take: a process back, a node current, events flowing.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// The CLI in the stack's directory, with nothing from the caller's shell: it finds the
/// token, the CA and every replica's URL there.
fn groundwork_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_groundwork"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("GROUNDWORK_API_TOKEN");
    for service in ["EVENTBUS", "IDENTITY", "BUDGET", "ALERTING", "ORCHESTRATOR"] {
        cmd.env_remove(format!("GROUNDWORK_{service}_URL"));
    }
    cmd.output().unwrap()
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What the producer saw.
#[derive(Default)]
struct Produced {
    /// Event ids of the entries the bus accepted.
    accepted: HashSet<String>,
    calls: usize,
    /// Calls with no answer (a timeout, no responder) or an answer that is not PutEvents'.
    failed_calls: usize,
    /// Entries answered with an error code instead of an event id.
    refused_entries: usize,
}

/// Sends five entries per call, about 200 events/s, until `stop`.
async fn produce(client: async_nats::Client, stop: Arc<AtomicBool>, out: Arc<Mutex<Produced>>) {
    let subject = groundwork_bus::names::ingress_subject("default");
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let entries: Vec<Value> = (n..n + 5)
            .map(|i| {
                json!({"Source": SOURCE, "DetailType": "Tick", "Detail": json!({"n": i}).to_string()})
            })
            .collect();
        n += 5;
        let body = json!({ "Entries": entries }).to_string();
        let reply = tokio::time::timeout(
            Duration::from_secs(5),
            client.request(subject.clone(), body.into()),
        )
        .await;
        let answer = match reply {
            Ok(Ok(message)) => serde_json::from_slice::<Value>(&message.payload).ok(),
            _ => None,
        };
        {
            let mut out = out.lock().unwrap();
            out.calls += 1;
            match answer.as_ref().and_then(|a| a["Entries"].as_array()) {
                Some(results) => {
                    for result in results {
                        match result["EventId"].as_str() {
                            Some(id) => {
                                out.accepted.insert(id.to_owned());
                            }
                            None => out.refused_entries += 1,
                        }
                    }
                }
                None => out.failed_calls += 1,
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn accepted(out: &Mutex<Produced>) -> usize {
    out.lock().unwrap().accepted.len()
}

/// Waits until [`BETWEEN_STEPS`] more events are accepted; panics, naming `after`, if not
/// within [`STEP_TIMEOUT`].
async fn events_flow(out: &Mutex<Produced>, after: &str) {
    let from = accepted(out);
    let deadline = Instant::now() + STEP_TIMEOUT;
    while accepted(out) < from + BETWEEN_STEPS {
        assert!(
            Instant::now() < deadline,
            "events stopped flowing after {after}: {} accepted in {STEP_TIMEOUT:?}",
            accepted(out) - from
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether every copy of the stream `name` is current and it has a leader.
async fn stream_current(js: &jetstream::Context, name: &str) -> bool {
    let Ok(mut stream) = js.get_stream(name).await else {
        return false;
    };
    let Ok(info) = stream.info().await else {
        return false;
    };
    info.cluster.as_ref().is_some_and(|c| {
        c.leader.is_some()
            && c.replicas.len() == 2
            && c.replicas.iter().all(|p| p.current && !p.offline)
    })
}

/// Event id → how many times the NATS-subject target received it (the `DELIVERIES`
/// stream holds what NATS-subject targets receive).
async fn delivered(js: &jetstream::Context) -> HashMap<String, usize> {
    let mut received = HashMap::new();
    let stream = js
        .get_stream(groundwork_bus::names::DELIVERIES_STREAM)
        .await
        .unwrap();
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: groundwork_bus::names::deliver_subject(TARGET),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    loop {
        let Ok(Some(Ok(message))) =
            tokio::time::timeout(Duration::from_secs(2), messages.next()).await
        else {
            break;
        };
        let event: Value = serde_json::from_slice(&message.payload).unwrap();
        *received
            .entry(event["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
        if message.info().is_ok_and(|i| i.pending == 0) {
            break;
        }
    }
    received
}

#[tokio::test(flavor = "multi_thread")]
async fn every_replica_of_every_service_and_every_nats_node_restarted_in_turn_loses_nothing() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let ports = Ports::pick();
    let (up, _) = Up::start(dir, &ports.cluster_args(), Duration::from_secs(180));
    let nats_urls: Vec<String> = (0..3)
        .map(|i| format!("nats://127.0.0.1:{}", ports.nats + i))
        .collect();
    let nkey = |who: &str| {
        std::fs::read_to_string(dir.join(format!(".groundwork/secrets/nats/{who}.nk")))
            .unwrap()
            .trim()
            .to_owned()
    };
    let connect = |who: &str| {
        async_nats::ConnectOptions::new()
            .nkey(nkey(who))
            .request_timeout(Some(Duration::from_secs(5)))
            .retry_on_initial_connect()
            .connect(nats_urls.clone())
    };
    let js = jetstream::new(connect("admin").await.unwrap());

    for args in [
        ["rules", "put", "--name", "rolling", "--pattern"].as_slice(),
        ["targets", "put", "--rule", "rolling", "--id", "t"].as_slice(),
    ] {
        let extra = if args[0] == "rules" {
            vec![r#"{"source": ["com.example.rolling"]}"#.to_owned()]
        } else {
            vec!["--arn".to_owned(), format!("nats:{TARGET}")]
        };
        let all: Vec<&str> = args
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
            .collect();
        let out = groundwork_in(dir, &all);
        assert!(out.status.success(), "{all:?}: {}", said(&out));
    }

    let produced = Arc::new(Mutex::new(Produced::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = tokio::spawn(produce(
        connect("events").await.unwrap(),
        stop.clone(),
        produced.clone(),
    ));
    let load_started = Instant::now();
    events_flow(&produced, "the start").await;

    // A process's own line in what `up` prints: its name, then what happened.
    let about = |process: &str, what: &'static str| {
        let process = process.to_owned();
        move |line: &str| line.split_whitespace().next() == Some(&process) && line.contains(what)
    };

    let services = [
        ("eventbus", 0u16),
        ("identity", 1),
        ("budget", 2),
        ("alerting", 3),
        ("orchestrator", 4),
    ];
    for (name, offset) in services {
        for replica in 0..2u16 {
            let process = match replica {
                0 => name.to_owned(),
                k => format!("{name}-{k}"),
            };
            let own_url = ports.url(offset, replica);
            let port = own_url.rsplit(':').next().unwrap().to_owned();
            let step = Instant::now();
            let at = load_started.elapsed();
            let pid = up.process(
                &format!("groundwork-{name}"),
                &format!(
                    "GROUNDWORK_{}__LISTEN=127.0.0.1:{port}",
                    name.to_uppercase()
                ),
            );
            Up::terminate(pid);
            up.until(STEP_TIMEOUT, about(&process, "exited"), "see it exit");
            let exited = step.elapsed();
            // Down: the service answers through its other replica.
            let health = groundwork_in(dir, &["health", "--service", name]);
            assert!(
                health.status.success(),
                "{name} with {process} down: {}",
                said(&health)
            );
            up.until(STEP_TIMEOUT, about(&process, "restarted"), "restart it");
            let url_flag = format!("--{name}-url");
            let deadline = Instant::now() + STEP_TIMEOUT;
            while !groundwork_in(dir, &["health", "--service", name, &url_flag, &own_url])
                .status
                .success()
            {
                assert!(
                    Instant::now() < deadline,
                    "{process} does not answer on {own_url}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            println!(
                "{process:<15} SIGTERM at {at:>6.1?} ({} accepted so far): exited in {exited:.1?}, \
                 the service answered through the other replica meanwhile, answering again \
                 {:.1?} after the SIGTERM",
                accepted(&produced),
                step.elapsed()
            );
            events_flow(&produced, &format!("{process} restarted")).await;
        }
    }

    for node in 0..3 {
        let process = format!("nats-{node}");
        let step = Instant::now();
        let at = load_started.elapsed();
        let pid = up.process("nats-server", &format!("/nats/n{node}.json"));
        Up::terminate(pid);
        up.until(STEP_TIMEOUT, about(&process, "exited"), "see it exit");
        let exited = step.elapsed();
        up.until(STEP_TIMEOUT, about(&process, "restarted"), "restart it");
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let mut all = true;
            for stream in ["EVENTS_default", "TARGETS", "DELIVERIES"] {
                all &= stream_current(&js, stream).await;
            }
            if all {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{process} is not current again in the bus's streams within {STEP_TIMEOUT:?}\n{}",
                up.errors_in_logs()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        println!(
            "{process:<15} SIGTERM at {at:>6.1?} ({} accepted so far): exited in {exited:.1?}, \
             every copy of the bus's streams current again {:.1?} after the SIGTERM",
            accepted(&produced),
            step.elapsed()
        );
        events_flow(&produced, &format!("{process} restarted")).await;
    }

    stop.store(true, Ordering::Relaxed);
    producer.await.unwrap();
    let load_took = load_started.elapsed();
    let produced = std::mem::take(&mut *produced.lock().unwrap());
    let deadline = Instant::now() + STEP_TIMEOUT;
    let received = loop {
        let received = delivered(&js).await;
        if produced.accepted.iter().all(|id| received.contains_key(id)) || Instant::now() > deadline
        {
            break received;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let lost: Vec<&String> = produced
        .accepted
        .iter()
        .filter(|id| !received.contains_key(*id))
        .collect();
    let duplicates: usize = received.values().map(|n| n - 1).sum();
    let unasked = received
        .keys()
        .filter(|id| !produced.accepted.contains(*id))
        .count();
    println!(
        "load over {load_took:.1?} (whole test {:.1?}): {} calls, {} entries accepted, {} calls \
         unanswered, {} entries refused; delivered to the NATS target: {} events, {} \
         duplicates (at-least-once), {} delivered whose call went unanswered, lost {}",
        started.elapsed(),
        produced.calls,
        produced.accepted.len(),
        produced.failed_calls,
        produced.refused_entries,
        received.len(),
        duplicates,
        unasked,
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "{} accepted events were never delivered, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
    drop(up);
}
