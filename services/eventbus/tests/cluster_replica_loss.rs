//! Losing one of two event-bus replicas under load, with real processes: nothing accepted is
//! lost.
//!
//! A three-node nats-server cluster (`groundwork_testkit::NatsCluster`) with R3 streams and
//! two `groundwork-eventbus` processes on it, side by side, each configured by environment
//! as `groundwork up` starts one. They share the work by design: the NATS ingress is one
//! queue group, and the router's and the deliverer's durable consumers are the same for
//! both. A rule on `default` has a NATS-subject target and a webhook target (a local HTTP
//! server). A producer sends [`EVENTS`] events through gRPC PutEvents at a steady rate
//! ([`PER_CALL`] entries every [`CALL_EVERY`]), alternating between the replicas; a call
//! that fails is sent again to the other replica. Once a third of the events are accepted,
//! replica 0 is killed (`kill -9`, SIGKILL) and is not started again: replica 1 must take
//! over its calls, and the events and deliveries it held unacknowledged come back to
//! replica 1 after the ack wait. Then every count is printed.
//!
//! That both replicas really worked is checked, not assumed: before the load, each keeps
//! a pull request waiting on the router's and the deliverer's shared consumers
//! (`num_waiting` is 2); each answered PutEvents calls; and each delivered to the webhook
//! before the kill (the webhook records the client address of every request, and the test
//! finds which process owns that socket through `/proc`).
//!
//! The replicas are started one after the other. Started at the same moment on a cluster,
//! one of them sometimes exits at start-up (creating a bus stream is refused: "stream name
//! already in use with a different configuration", or the request times out), and
//! sometimes runs without its router's and deliverer's pull requests ever being served
//! (`num_waiting` stays 1): both are start-up matters of the shared stream and consumer
//! set-up, outside what this test is about (a running replica lost).
//!
//! The counts are kept as in `cluster_node_loss.rs`, by event id (the producer's
//! receipts): *accepted* ids must each reach both targets (*lost* counts those that did
//! not: it must be 0); *duplicates* are repeated deliveries of one id (at-least-once,
//! allowed, counted); a call that failed after storing some of its entries stores them
//! again under new ids when it is resent, and those first ids are counted as *delivered,
//! never acknowledged*.
//!
//! Run it alone with its output:
//! `cargo test -p groundwork-eventbus --test cluster_replica_loss -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::{Answer, Tally, Webhook, eventually, target};
use groundwork_proto::v1 as pb;
use groundwork_proto::v1::event_bus_client::EventBusClient;
use groundwork_testkit::NatsCluster;

/// Events the producer sends.
const EVENTS: usize = 3_000;
/// Entries per PutEvents call.
const PER_CALL: usize = 5;
/// One call this often: 250 events/s, twelve seconds of load when nothing fails.
const CALL_EVERY: Duration = Duration::from_millis(20);
/// How long the producer waits for one answer before it counts the call as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the producer leaves a replica alone after a call to it failed.
const AVOID_FOR: Duration = Duration::from_secs(1);
/// How long deliveries may take to catch up once the producer is done.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// The replica killed in the middle.
const KILLED: usize = 0;

const SOURCE: &str = "test.replicas";
const NATS_TARGET: &str = "replica.loss";

/// One `groundwork-eventbus` process, killed on drop.
struct Replica {
    child: Option<Child>,
    port: u16,
}

impl Replica {
    /// Starts the binary on `cluster` with every node's URL, its NATS identity, the tests'
    /// operator token and quick retries and ack waits, all through the environment.
    fn start(cluster: &NatsCluster) -> Self {
        let port = groundwork_testkit::process::free_port().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_groundwork-eventbus"))
            // Only what the test sets: no settings file or flag of the developer's shell.
            .env_clear()
            .env("NATS_URL", cluster.url())
            .env("NATS_NKEY", cluster.nkey_file("eventbus"))
            .env("GROUNDWORK_API_TOKEN", common::API_TOKEN)
            .env("GROUNDWORK_EVENTBUS__LISTEN", format!("127.0.0.1:{port}"))
            .env("GROUNDWORK_EVENTBUS__RETRY_BASE_DELAY_MS", "10")
            .env("GROUNDWORK_EVENTBUS__RETRY_MAX_DELAY_MS", "100")
            .env("GROUNDWORK_EVENTBUS__WEBHOOK_TIMEOUT_MS", "2000")
            // What the killed replica held unacknowledged comes back to the other one after
            // these (the defaults are 30 s and 60 s); still well above the webhook timeout.
            .env("GROUNDWORK_EVENTBUS__ROUTER_ACK_WAIT_MS", "5000")
            .env("GROUNDWORK_EVENTBUS__DELIVERY_ACK_WAIT_MS", "10000")
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("the groundwork-eventbus binary");
        Self {
            child: Some(child),
            port,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap()
    }

    /// SIGKILL, as `kill -9`: no shutdown, no goodbye to NATS, nothing acknowledged.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    async fn client(&self) -> EventBusClient<common::Channel> {
        EventBusClient::new(common::channel(self.addr()).await)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The local ports of the TCP sockets process `pid` holds open: its fds' socket inodes,
/// looked up in `/proc/net/tcp` (IPv4; the webhook listens on 127.0.0.1).
fn local_ports_of(pid: u32) -> HashSet<u16> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter_map(|link| {
                    let link = link.to_string_lossy().into_owned();
                    Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (_, port) = fields.get(1)?.split_once(':')?;
            inodes
                .contains(*fields.get(9)?)
                .then(|| u16::from_str_radix(port, 16).ok())
                .flatten()
        })
        .collect()
}

/// The pull requests waiting on a durable consumer (`num_waiting`): one per replica
/// pulling from it while it is idle.
async fn waiting_pulls(js: &jetstream::Context, stream: &str, consumer: &str) -> usize {
    let Ok(stream) = js.get_stream(stream).await else {
        return 0;
    };
    let Ok(mut consumer) = stream
        .get_consumer::<jetstream::consumer::pull::Config>(consumer)
        .await
    else {
        return 0;
    };
    consumer.info().await.map_or(0, |i| i.num_waiting)
}

/// What the producer saw.
#[derive(Debug, Default)]
struct Produced {
    /// Event id → the entry's sequence number, for every entry an answer reported stored.
    accepted: HashMap<String, usize>,
    /// Calls sent to each replica, and those each answered with every entry stored.
    calls: [usize; 2],
    answered: [usize; 2],
    /// Entries each replica reported stored.
    accepted_by: [usize; 2],
    failed_calls: usize,
    /// Failed calls sent again to the other replica.
    resent_elsewhere: usize,
    /// Entries refused one by one in an answer that otherwise succeeded.
    failed_entries: usize,
    /// Each distinct error (a failed call's status, a refused entry's code and message),
    /// with how many times it came.
    errors: HashMap<String, usize>,
}

/// Sends [`EVENTS`] entries at a steady rate, alternating between the replicas and
/// sending what failed again to the other one; `done` tells the test how many entries are
/// accepted so far.
async fn produce(
    clients: [EventBusClient<common::Channel>; 2],
    done: Arc<AtomicUsize>,
) -> Produced {
    let mut out = Produced::default();
    let mut ticks = tokio::time::interval(CALL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0;
    let mut pending: Vec<usize> = Vec::new();
    let mut turn = 0usize;
    let mut avoid_until: [Option<Instant>; 2] = [None, None];
    let mut resend_to: Option<usize> = None;
    while next < EVENTS || !pending.is_empty() {
        ticks.tick().await;
        if pending.is_empty() {
            let end = (next + PER_CALL).min(EVENTS);
            pending = (next..end).collect();
            next = end;
        }
        // A resend goes to the other replica; otherwise take turns, skipping a replica
        // that failed a moment ago (as a client-side balancer does).
        let replica = resend_to.take().unwrap_or_else(|| {
            turn += 1;
            let mine = turn % 2;
            let avoided = avoid_until[mine].is_some_and(|until| Instant::now() < until);
            if avoided { 1 - mine } else { mine }
        });
        let entries = pending
            .iter()
            .map(|seq| common::entry(SOURCE, "Load", &format!(r#"{{"seq": {seq}}}"#)))
            .collect();
        out.calls[replica] += 1;
        let mut client = clients[replica].clone();
        let answer = tokio::time::timeout(
            CALL_TIMEOUT,
            client.put_events(pb::PutEventsRequest { entries }),
        )
        .await;
        match answer {
            Ok(Ok(answer)) => {
                let answer = answer.into_inner();
                assert_eq!(answer.entries.len(), pending.len(), "one result per entry");
                let mut again = Vec::new();
                for (seq, result) in pending.iter().zip(answer.entries) {
                    if result.error_code.is_empty() && !result.event_id.is_empty() {
                        out.accepted.insert(result.event_id, *seq);
                        out.accepted_by[replica] += 1;
                        done.fetch_add(1, Ordering::SeqCst);
                    } else {
                        out.failed_entries += 1;
                        *out.errors
                            .entry(format!(
                                "entry: {}: {}",
                                result.error_code, result.error_message
                            ))
                            .or_default() += 1;
                        again.push(*seq);
                    }
                }
                if again.is_empty() {
                    out.answered[replica] += 1;
                }
                pending = again;
            }
            failed => {
                out.failed_calls += 1;
                out.resent_elsewhere += 1;
                let error = match failed {
                    Ok(Err(status)) => format!(
                        "call to replica {replica}: {:?}: {}",
                        status.code(),
                        status.message()
                    ),
                    _ => format!("call to replica {replica}: no answer within {CALL_TIMEOUT:?}"),
                };
                *out.errors.entry(error).or_default() += 1;
                avoid_until[replica] = Some(Instant::now() + AVOID_FOR);
                resend_to = Some(1 - replica);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_two_event_bus_replicas_under_load_loses_no_accepted_event() {
    let started = Instant::now();
    let cluster = NatsCluster::start().expect("nats-server must be installed");
    // One after the other (see the module documentation).
    let first = Replica::start(&cluster);
    common::wait_healthy(first.addr(), None).await;
    let second = Replica::start(&cluster);
    common::wait_healthy(second.addr(), None).await;
    let mut replicas = [first, second];
    let admin = cluster.admin().await.unwrap();
    let js = jetstream::new(admin.clone());

    let webhook = Webhook::start(|_| Answer::Status(200)).await;
    let mut c = replicas[0].client().await;
    c.put_rule(pb::PutRuleRequest {
        name: "load".into(),
        event_pattern: format!(r#"{{"source": ["{SOURCE}"]}}"#),
        ..Default::default()
    })
    .await
    .unwrap();
    c.put_targets(pb::PutTargetsRequest {
        rule: "load".into(),
        event_bus_name: String::new(),
        targets: vec![
            target("nats", &format!("nats:{NATS_TARGET}")),
            target("hook", &webhook.url),
        ],
    })
    .await
    .unwrap();
    // Each replica routes with the rules it has read from KV: wait until the other one
    // lists the rule's two targets too, so that no event meets a replica without the rule.
    let other = replicas[1].client().await;
    assert!(
        eventually(Duration::from_secs(20), || {
            let mut other = other.clone();
            async move {
                other
                    .list_targets_by_rule(pb::ListTargetsByRuleRequest {
                        rule: "load".into(),
                        ..Default::default()
                    })
                    .await
                    .is_ok_and(|r| r.into_inner().targets.len() == 2)
            }
        })
        .await,
        "replica 1 sees the rule"
    );

    // Both replicas pull from the shared durable consumers: each keeps a pull request
    // waiting on the router's and on the deliverer's (one replica alone keeps one).
    let pulling = eventually(Duration::from_secs(20), || {
        let js = js.clone();
        async move {
            waiting_pulls(&js, "EVENTS_default", "router").await >= 2
                && waiting_pulls(&js, "TARGETS", "deliverer").await >= 2
        }
    })
    .await;
    println!(
        "pull requests waiting before the load: router {}, deliverer {}",
        waiting_pulls(&js, "EVENTS_default", "router").await,
        waiting_pulls(&js, "TARGETS", "deliverer").await
    );
    assert!(
        pulling,
        "both replicas pull from the router's and the deliverer's consumers"
    );

    let done = Arc::new(AtomicUsize::new(0));
    let load_started = Instant::now();
    let clients = [replicas[0].client().await, replicas[1].client().await];
    let producer = tokio::spawn(produce(clients, done.clone()));
    let reached = |n: usize| {
        let done = done.clone();
        move || {
            let done = done.clone();
            async move { done.load(Ordering::SeqCst) >= n }
        }
    };
    assert!(eventually(Duration::from_secs(60), reached(EVENTS / 3)).await);

    // Which replica made each webhook delivery so far: the client port of each request,
    // looked up among each live process's sockets just before the kill.
    let ports = [
        local_ports_of(replicas[0].pid()),
        local_ports_of(replicas[1].pid()),
    ];
    let before_kill = webhook.delivered_with_peers();
    replicas[KILLED].kill();
    let killed_at = load_started.elapsed();
    let mut delivered_by = [0usize; 2];
    let mut unattributed = 0;
    for (_, peer) in &before_kill {
        match ports.iter().position(|p| p.contains(&peer.port())) {
            Some(i) => delivered_by[i] += 1,
            None => unattributed += 1,
        }
    }
    println!(
        "killed replica {KILLED} (kill -9) at {killed_at:.1?}, after {} accepted events; \
         webhook deliveries before the kill: replica 0 made {}, replica 1 made {}, \
         {unattributed} on connections already closed",
        done.load(Ordering::SeqCst),
        delivered_by[0],
        delivered_by[1],
    );

    let produced = producer.await.unwrap();
    let load_took = load_started.elapsed();

    // Wait until both targets hold every accepted id (or the drain time is up: the counts
    // below then say what is missing).
    let accepted: HashSet<String> = produced.accepted.keys().cloned().collect();
    let caught_up = eventually(DRAIN_TIMEOUT, || {
        let (js, accepted, webhook) = (js.clone(), &accepted, &webhook);
        async move {
            let hook = Tally::from_webhook(webhook);
            accepted.iter().all(|id| hook.times.contains_key(id))
                && common::stream_len(&js, "DELIVERIES").await >= accepted.len() as u64
                && common::consumer_idle(&js, "EVENTS_default", "router").await
                && common::consumer_idle(&js, "TARGETS", "deliverer").await
        }
    })
    .await;
    let hook = Tally::from_webhook(&webhook);
    let nats = Tally::from_deliveries(&js, NATS_TARGET).await;

    println!(
        "load: {EVENTS} events over {load_took:.1?} (whole test so far {:.1?}); caught up: \
         {caught_up}",
        started.elapsed()
    );
    println!(
        "PutEvents: {} accepted (replica 0: {} entries in {} of {} calls, replica 1: {} \
         entries in {} of {} calls); {} calls failed and were sent to the other replica; \
         {} entries refused one by one (resent); errors: {:#?}",
        produced.accepted.len(),
        produced.accepted_by[0],
        produced.answered[0],
        produced.calls[0],
        produced.accepted_by[1],
        produced.answered[1],
        produced.calls[1],
        produced.resent_elsewhere,
        produced.failed_entries,
        produced.errors
    );
    for (name, received) in [("NATS target", &nats), ("webhook", &hook)] {
        println!(
            "{name}: {} deliveries, {} distinct accepted ids delivered, {} duplicates, \
             {} delivered but never acknowledged to the producer, {} lost",
            received.deliveries(),
            received.times.len() - received.never_acknowledged(&produced.accepted),
            received.duplicates(),
            received.never_acknowledged(&produced.accepted),
            received.lost(&produced.accepted)
        );
    }

    assert!(
        produced.answered.iter().all(|&n| n > 0),
        "both replicas answered PutEvents: {:?}",
        produced.answered
    );
    assert!(
        delivered_by.iter().all(|&n| n > 0),
        "both replicas delivered to the webhook before the kill: {delivered_by:?}"
    );
    let seqs: HashSet<usize> = produced.accepted.values().copied().collect();
    assert_eq!(seqs.len(), EVENTS, "every entry was accepted in the end");
    assert_eq!(
        nats.lost(&produced.accepted),
        0,
        "no accepted event lost (NATS target)"
    );
    assert_eq!(
        hook.lost(&produced.accepted),
        0,
        "no accepted event lost (webhook)"
    );
    assert_eq!(
        nats.seqs.len(),
        EVENTS,
        "every entry reached the NATS target"
    );
    assert_eq!(hook.seqs.len(), EVENTS, "every entry reached the webhook");
    assert!(caught_up, "the router and the deliverer caught up");
}
