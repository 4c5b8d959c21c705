//! Losing one of two event-bus replicas under load, with real processes: nothing accepted is
//! lost.
//!
//! A three-node nats-server cluster (`groundwork_testkit::NatsCluster`) with R3 streams and
//! two `groundwork-eventbus` processes on it, side by side, each configured by environment
//! as `groundwork up` starts one. They share the work by design: the NATS ingress is one
//! queue group, and the router's and the deliverer's durable consumers are the same for
//! both. A rule on `default` has a NATS-subject target and a webhook target (a local HTTP
//! server). A producer sends [`EVENTS`] events through gRPC PutEvents at a steady rate
//! (`Load::steady`: 250 events/s), alternating between the replicas; a call that fails is
//! sent again to the other replica. Once a third of the events are accepted,
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
//! The replicas are started one after the other, so that both pull at once: started at the
//! same moment, one of them may wait a few seconds more for its first pull request to be
//! served (`cluster_concurrent_start.rs`), which is not what this test is about (a running
//! replica lost).
//!
//! The counts are kept by event id, the producer's receipts (`common::load`): every
//! accepted id must reach both targets (*lost* must be 0); duplicates are allowed and
//! counted.
//!
//! Run it alone with its output:
//! `cargo test -p groundwork-eventbus --test cluster_replica_loss -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::load::{self, Load, Progress};
use common::replica::{BusReplica, waiting_pulls};
use common::{Answer, Webhook, eventually};
use groundwork_testkit::NatsCluster;

/// Events the producer sends, 250 a second: twelve seconds of load when nothing fails.
const EVENTS: usize = 3_000;
/// How long deliveries may take to catch up once the producer is done.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// The replica killed in the middle.
const KILLED: usize = 0;

const SOURCE: &str = "test.replicas";
const NATS_TARGET: &str = "replica.loss";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_two_event_bus_replicas_under_load_loses_no_accepted_event() {
    let started = Instant::now();
    let cluster = NatsCluster::start().expect("nats-server must be installed");
    // One after the other (see the module documentation).
    let first = BusReplica::start(&cluster).await;
    let second = BusReplica::start(&cluster).await;
    let mut replicas = [first, second];
    let admin = cluster.admin().await.unwrap();
    let js = jetstream::new(admin.clone());

    let webhook = Webhook::start(|_| Answer::Status(200)).await;
    load::put_load_rule(
        &mut replicas[0].client().await,
        SOURCE,
        NATS_TARGET,
        &webhook,
    )
    .await;
    assert!(
        load::sees_load_rule(&replicas[1].client().await).await,
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

    let progress = Arc::new(Progress::default());
    let load_started = Instant::now();
    let clients = vec![replicas[0].client().await, replicas[1].client().await];
    let producer = tokio::spawn(load::produce(
        clients,
        Load::steady(EVENTS, SOURCE),
        progress.clone(),
    ));
    assert!(progress.reached(EVENTS / 3, Duration::from_secs(60)).await);

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
        progress.accepted(),
        delivered_by[0],
        delivered_by[1],
    );

    let produced = producer.await.unwrap();
    let load_took = load_started.elapsed();

    let delivered = load::drain(&js, &webhook, NATS_TARGET, &produced, DRAIN_TIMEOUT).await;
    println!(
        "load: {EVENTS} events over {load_took:.1?} (whole test so far {:.1?}); caught up: {}",
        started.elapsed(),
        delivered.caught_up
    );
    load::print_counts(&produced, &delivered);

    assert!(
        produced.answered.iter().all(|&n| n > 0),
        "both replicas answered PutEvents: {:?}",
        produced.answered
    );
    assert!(
        delivered_by.iter().all(|&n| n > 0),
        "both replicas delivered to the webhook before the kill: {delivered_by:?}"
    );
    load::assert_nothing_lost(&produced, &delivered);
}
