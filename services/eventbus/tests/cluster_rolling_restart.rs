//! A rolling restart of everything under load, with real processes: every event-bus replica
//! and then every NATS node is stopped and started again, one at a time, while events flow,
//! and nothing accepted is lost.
//!
//! A three-node nats-server cluster (`groundwork_testkit::NatsCluster`) with R3 streams and
//! two `groundwork-eventbus` processes on it (`common::replica`), each given every node's
//! URL. A rule on `default` has a NATS-subject target and a webhook target (a local HTTP
//! server). A producer sends events through gRPC PutEvents at a steady rate (`Load::steady`:
//! 250 events/s),
//! given both replicas' addresses: it takes turns between them, and a call that fails is
//! sent again to the other one (`common::load`).
//!
//! Then, as an operator upgrades a deployment, one at a time and each only once the one
//! before is back:
//! - each event-bus replica is stopped gracefully (SIGTERM; it must exit cleanly) and
//!   started again on its port, and waited for until it answers its health check;
//! - each NATS node is stopped (SIGTERM) and started again on its store, and waited for
//!   until its `/healthz` answers 200: its JetStream is current again (the meta group and
//!   every stream and consumer it holds a copy of caught up), so that the next node may go.
//!
//! Between two steps the test waits until [`BETWEEN_STEPS`] more events are accepted, so
//! that events flow through every step. After the last one the producer stops, deliveries
//! catch up, and every count is printed: accepted, delivered per target, duplicates
//! (at-least-once, allowed), lost (must be 0), and PutEvents' errors.
//!
//! Run it alone with its output:
//! `cargo test -p groundwork-eventbus --test cluster_rolling_restart -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::load::{self, Load, Progress};
use common::replica::BusReplica;
use common::{Answer, Webhook};
use groundwork_testkit::NatsCluster;

/// At most this many events; the producer stops earlier, once every step is done.
const MAX_EVENTS: usize = 10_000;
/// Events accepted before the first step, between two steps and after the last.
const BETWEEN_STEPS: usize = 500;
/// How long one step's events may take to come through.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a restarted NATS node may take to be current again.
const CURRENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long deliveries may take to catch up once the producer is done.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

const SOURCE: &str = "test.rolling";
const NATS_TARGET: &str = "rolling.restart";

/// Waits until `n` more events than now are accepted; panics, naming `after`, if they are
/// not within [`STEP_TIMEOUT`].
async fn events_flow(progress: &Progress, after: &str) {
    let now = progress.accepted();
    assert!(
        progress.reached(now + BETWEEN_STEPS, STEP_TIMEOUT).await,
        "events stopped flowing after {after}: {} accepted in {STEP_TIMEOUT:?}",
        progress.accepted() - now
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_replica_and_node_under_load_loses_no_accepted_event() {
    let started = Instant::now();
    let mut cluster = NatsCluster::start().expect("nats-server must be installed");
    // One after the other, as `cluster_replica_loss.rs` says why (both pull at once then).
    let first = BusReplica::start(&cluster).await;
    let second = BusReplica::start(&cluster).await;
    let mut replicas = [first, second];
    let admin = cluster.admin().await.unwrap();
    let js = jetstream::new(admin.clone());
    let stream_replicas = groundwork_testkit::cluster::stream_config(&js, "EVENTS_default")
        .await
        .unwrap()
        .num_replicas;
    assert_eq!(stream_replicas, 3, "the cluster's streams are R3");

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

    let progress = Arc::new(Progress::default());
    let load_started = Instant::now();
    let clients = vec![replicas[0].client().await, replicas[1].client().await];
    let producer = tokio::spawn(load::produce(
        clients,
        Load::steady(MAX_EVENTS, SOURCE),
        progress.clone(),
    ));
    events_flow(&progress, "the start").await;

    for (i, replica) in replicas.iter_mut().enumerate() {
        let at = load_started.elapsed();
        let step = Instant::now();
        // The stop waits for the process to exit (blocking): the producer goes on meanwhile.
        let clean = tokio::task::block_in_place(|| replica.stop());
        let stopped_in = step.elapsed();
        replica.start_again().await;
        println!(
            "event-bus replica {i}: SIGTERM at {at:.1?} (after {} accepted events), exited \
             {} in {stopped_in:.1?}, answering again {:.1?} after the SIGTERM",
            progress.accepted(),
            if clean { "cleanly" } else { "with an error" },
            step.elapsed()
        );
        assert!(clean, "event-bus replica {i} exits cleanly on SIGTERM");
        events_flow(&progress, &format!("event-bus replica {i} restarted")).await;
    }

    for i in 0..groundwork_testkit::cluster::NODES {
        let at = load_started.elapsed();
        let step = Instant::now();
        let name = cluster.node_name(i).to_owned();
        let leader = cluster
            .stream_leader(&admin, "EVENTS_default")
            .await
            .ok()
            .flatten();
        // Blocking waits on the processes and the monitoring endpoint: the producer goes on.
        let timings = tokio::task::block_in_place(|| {
            cluster.stop(i)?;
            let stopped = step.elapsed();
            cluster.start_node(i)?;
            let ready = step.elapsed();
            cluster.wait_current(i, CURRENT_TIMEOUT)?;
            Ok::<_, groundwork_testkit::TestkitError>((stopped, ready, step.elapsed()))
        });
        let (stopped, ready, current) =
            timings.unwrap_or_else(|e| panic!("restarting {name}: {e}{}", cluster.log_tail(i)));
        println!(
            "NATS node {name}{}: SIGTERM at {at:.1?} (after {} accepted events), exited in \
             {stopped:.1?}, back in the cluster {ready:.1?} and JetStream current (/healthz) \
             {current:.1?} after the SIGTERM",
            if leader == Some(i) {
                " (leader of EVENTS_default)"
            } else {
                ""
            },
            progress.accepted(),
        );
        events_flow(&progress, &format!("NATS node {name} restarted")).await;
    }

    progress.stop();
    let produced = producer.await.unwrap();
    let load_took = load_started.elapsed();
    let delivered = load::drain(&js, &webhook, NATS_TARGET, &produced, DRAIN_TIMEOUT).await;
    println!(
        "load: {} events over {load_took:.1?} (whole test so far {:.1?}); caught up: {}",
        produced.sent,
        started.elapsed(),
        delivered.caught_up
    );
    load::print_counts(&produced, &delivered);

    assert!(
        produced.answered.iter().all(|&n| n > 0),
        "both replicas answered PutEvents: {:?}",
        produced.answered
    );
    load::assert_nothing_lost(&produced, &delivered);
}
