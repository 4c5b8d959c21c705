//! Losing the NATS node that leads a bus's stream, under load, with real processes: nothing
//! accepted is lost.
//!
//! A three-node nats-server cluster (`groundwork_testkit::NatsCluster`) with R3 streams;
//! the event bus in-process, given every node's URL; a rule on `default` with a NATS-subject
//! target and a webhook target (a local HTTP server). A producer sends [`EVENTS`] events
//! through gRPC PutEvents at a steady rate (`Load::steady`: 250 events/s). Once
//! a third of them are accepted, the node leading `EVENTS_default` is killed (`kill -9`);
//! at two thirds it is started again on its store. Then every count is printed.
//!
//! The counts are kept by event id, the producer's receipts (`common::load`): every
//! accepted id must reach both targets (*lost* must be 0); duplicates are allowed and
//! counted.
//!
//! Run it alone with its output:
//! `cargo test -p groundwork-eventbus --test cluster_node_loss -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::load::{self, Load, Progress};
use common::{Answer, Webhook};
use groundwork_eventbus::Settings;
use groundwork_testkit::NatsCluster;

/// Events the producer sends, 250 a second: twelve seconds of load when nothing fails.
const EVENTS: usize = 3_000;
/// How long deliveries may take to catch up once the producer is done.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

const SOURCE: &str = "test.cluster";
const NATS_TARGET: &str = "cluster.loss";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_stream_leader_under_load_loses_no_accepted_event() {
    let started = Instant::now();
    let mut cluster = NatsCluster::start().expect("nats-server must be installed");
    let mut settings = Settings::on(cluster.settings_for("eventbus"));
    common::fast_retries(&mut settings);
    // An event or delivery whose ack died with the node comes back after the ack wait: keep
    // it short so the drain below does not wait a minute for it (the defaults are 30 s and
    // 60 s). Still well above the webhook timeout of `fast_retries`.
    settings.router_ack_wait_ms = 5_000;
    settings.delivery_ack_wait_ms = 10_000;
    let bus = common::Service::start(settings).await;
    let admin = cluster.admin().await.unwrap();
    let js = jetstream::new(admin.clone());
    let replicas = groundwork_testkit::cluster::stream_config(&js, "EVENTS_default")
        .await
        .unwrap()
        .num_replicas;
    assert_eq!(replicas, 3, "the cluster's streams are R3");

    let webhook = Webhook::start(|_| Answer::Status(200)).await;
    load::put_load_rule(&mut bus.client().await, SOURCE, NATS_TARGET, &webhook).await;

    let progress = Arc::new(Progress::default());
    let load_started = Instant::now();
    let producer = tokio::spawn(load::produce(
        vec![bus.client().await],
        Load::steady(EVENTS, SOURCE),
        progress.clone(),
    ));
    assert!(progress.reached(EVENTS / 3, Duration::from_secs(60)).await);
    let leader = cluster
        .stream_leader(&admin, "EVENTS_default")
        .await
        .unwrap()
        .expect("EVENTS_default has a leader");
    cluster.kill(leader);
    let killed_at = load_started.elapsed();
    println!(
        "killed {} (leader of EVENTS_default) at {killed_at:.1?}, after {} accepted events",
        cluster.node_name(leader),
        progress.accepted()
    );
    assert!(
        progress
            .reached(2 * EVENTS / 3, Duration::from_secs(90))
            .await
    );
    // The restart waits for the node to rejoin (blocking): the producer goes on meanwhile.
    tokio::task::block_in_place(|| cluster.restart(leader)).unwrap();
    println!(
        "restarted {} at {:.1?}, after {} accepted events; EVENTS_default is led by {:?}",
        cluster.node_name(leader),
        load_started.elapsed(),
        progress.accepted(),
        cluster
            .stream_leader(&admin, "EVENTS_default")
            .await
            .unwrap()
            .map(|i| cluster.node_name(i).to_owned())
    );
    let produced = producer.await.unwrap();
    let load_took = load_started.elapsed();

    let delivered = load::drain(&js, &webhook, NATS_TARGET, &produced, DRAIN_TIMEOUT).await;
    println!(
        "load: {EVENTS} events in {} calls over {load_took:.1?} (whole test so far {:.1?}); \
         caught up: {}",
        produced.calls.iter().sum::<usize>(),
        started.elapsed(),
        delivered.caught_up
    );
    load::print_counts(&produced, &delivered);

    load::assert_nothing_lost(&produced, &delivered);
    let longest = produced.outages.iter().max().copied().unwrap_or_default();
    assert!(
        longest < Duration::from_secs(30),
        "PutEvents stores every entry again within a leader election, not after {longest:?}"
    );
    bus.stop().await;
}
