//! Losing the NATS node that leads a bus's stream, under load, with real processes: nothing
//! accepted is lost.
//!
//! A three-node nats-server cluster (`groundwork_testkit::NatsCluster`) with R3 streams;
//! the event bus in-process, given every node's URL; a rule on `default` with a NATS-subject
//! target and a webhook target (a local HTTP server). A producer sends [`EVENTS`] events
//! through gRPC PutEvents at a steady rate ([`PER_CALL`] entries every [`CALL_EVERY`]). Once
//! a third of them are accepted, the node leading `EVENTS_default` is killed (`kill -9`);
//! at two thirds it is started again on its store. Then every count is printed.
//!
//! How the counts are kept. PutEvents gives each entry a new event id (a UUID, as
//! EventBridge does) when it stores it, so ids are the producer's receipts:
//! - *accepted*: the ids of entries a successful answer reported stored. Each must be
//!   delivered to both targets: *lost* counts those that were not, and must be 0.
//! - A call that fails (an error status, or no answer in time) is sent again by the
//!   producer with the same entries, as a real producer does. The retried call makes new
//!   ids, so if the failed call had in fact stored some entries before its answer was lost,
//!   those events are delivered under ids the producer never saw: they are counted as
//!   *delivered, never acknowledged* (at-least-once from the producer's side), not as lost
//!   and not as duplicates. An entry refused on its own (`InternalException` in a successful
//!   answer) is sent again likewise.
//! - *duplicates*: a delivery of an id already delivered to that target (at-least-once
//!   delivery after a consumer's ack was lost); allowed, counted.
//! - Every entry carries its sequence number in its detail, so that each entry the producer
//!   meant to send is also checked to have been accepted once it was done.
//!
//! Run it alone with its output:
//! `cargo test -p groundwork-eventbus --test cluster_node_loss -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::{Answer, Tally, Webhook, eventually, target};
use groundwork_eventbus::Settings;
use groundwork_proto::v1 as pb;
use groundwork_testkit::NatsCluster;

/// Events the producer sends.
const EVENTS: usize = 3_000;
/// Entries per PutEvents call.
const PER_CALL: usize = 5;
/// One call this often: 250 events/s, twelve seconds of load when nothing fails.
const CALL_EVERY: Duration = Duration::from_millis(20);
/// How long the producer waits for one answer before it counts the call as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long deliveries may take to catch up once the producer is done.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

const SOURCE: &str = "test.cluster";
const NATS_TARGET: &str = "cluster.loss";

/// What the producer saw.
#[derive(Debug, Default)]
struct Produced {
    /// Event id → the entry's sequence number, for every entry an answer reported stored.
    accepted: HashMap<String, usize>,
    calls: usize,
    failed_calls: usize,
    /// Entries refused one by one in an answer that otherwise succeeded.
    failed_entries: usize,
    /// Calls whose answer refused some of their entries.
    calls_with_refused_entries: usize,
    /// Each disruption: from the first call that failed or had entries refused to the next
    /// call that stored all of its entries.
    outages: Vec<Duration>,
    /// When the first and the last disrupted calls were made, since the load started.
    disrupted_between: Option<(Duration, Duration)>,
    /// Each distinct error (a failed call's status, a refused entry's code and message),
    /// with how many times it came.
    errors: HashMap<String, usize>,
}

/// Sends [`EVENTS`] entries at a steady rate, resending what failed, and counts; `done`
/// tells the test how many entries are accepted so far.
async fn produce(
    mut client: pb::event_bus_client::EventBusClient<common::Channel>,
    done: Arc<AtomicUsize>,
) -> Produced {
    let mut out = Produced::default();
    let mut ticks = tokio::time::interval(CALL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0;
    let mut pending: Vec<usize> = Vec::new();
    let mut outage_since: Option<Instant> = None;
    let started = Instant::now();
    while next < EVENTS || !pending.is_empty() {
        ticks.tick().await;
        if pending.is_empty() {
            let end = (next + PER_CALL).min(EVENTS);
            pending = (next..end).collect();
            next = end;
        }
        let entries = pending
            .iter()
            .map(|seq| common::entry(SOURCE, "Load", &format!(r#"{{"seq": {seq}}}"#)))
            .collect();
        out.calls += 1;
        let sent = Instant::now();
        let answer = tokio::time::timeout(
            CALL_TIMEOUT,
            client.put_events(pb::PutEventsRequest { entries }),
        )
        .await;
        let disrupted = match answer {
            Ok(Ok(answer)) => {
                let answer = answer.into_inner();
                assert_eq!(answer.entries.len(), pending.len(), "one result per entry");
                let mut again = Vec::new();
                for (seq, result) in pending.iter().zip(answer.entries) {
                    if result.error_code.is_empty() && !result.event_id.is_empty() {
                        out.accepted.insert(result.event_id, *seq);
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
                pending = again;
                if !pending.is_empty() {
                    out.calls_with_refused_entries += 1;
                }
                !pending.is_empty()
            }
            failed => {
                out.failed_calls += 1;
                let error = match failed {
                    Ok(Err(status)) => format!("call: {:?}: {}", status.code(), status.message()),
                    _ => format!("call: no answer within {CALL_TIMEOUT:?}"),
                };
                *out.errors.entry(error).or_default() += 1;
                true
            }
        };
        if disrupted {
            outage_since.get_or_insert(sent);
            let at = sent - started;
            let first = out.disrupted_between.map_or(at, |(first, _)| first);
            out.disrupted_between = Some((first, at));
        } else if let Some(since) = outage_since.take() {
            out.outages.push(since.elapsed());
        }
    }
    out
}

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
    let replicas = js
        .get_stream("EVENTS_default")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .config
        .num_replicas;
    assert_eq!(replicas, 3, "the cluster's streams are R3");

    let webhook = Webhook::start(|_| Answer::Status(200)).await;
    let mut c = bus.client().await;
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

    let done = Arc::new(AtomicUsize::new(0));
    let load_started = Instant::now();
    let producer = tokio::spawn(produce(bus.client().await, done.clone()));
    let reached = |n: usize| {
        let done = done.clone();
        move || {
            let done = done.clone();
            async move { done.load(Ordering::SeqCst) >= n }
        }
    };
    assert!(eventually(Duration::from_secs(60), reached(EVENTS / 3)).await);
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
        done.load(Ordering::SeqCst)
    );
    assert!(eventually(Duration::from_secs(90), reached(2 * EVENTS / 3)).await);
    // The restart waits for the node to rejoin (blocking): the producer goes on meanwhile.
    tokio::task::block_in_place(|| cluster.restart(leader)).unwrap();
    println!(
        "restarted {} at {:.1?}, after {} accepted events; EVENTS_default is led by {:?}",
        cluster.node_name(leader),
        load_started.elapsed(),
        done.load(Ordering::SeqCst),
        cluster
            .stream_leader(&admin, "EVENTS_default")
            .await
            .unwrap()
            .map(|i| cluster.node_name(i).to_owned())
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

    let longest = produced.outages.iter().max().copied().unwrap_or_default();
    let outage_total: Duration = produced.outages.iter().sum();
    println!(
        "load: {EVENTS} events in {} calls over {load_took:.1?} (whole test so far {:.1?}); \
         caught up: {caught_up}",
        produced.calls,
        started.elapsed()
    );
    println!(
        "PutEvents: {} accepted; {} calls failed and {} calls had {} entries refused \
         (resent), in {} disruption(s): longest {longest:.1?}, {outage_total:.1?} in all, \
         disrupted calls made between {:.1?} and {:.1?} of the load; errors: {:#?}",
        produced.accepted.len(),
        produced.failed_calls,
        produced.calls_with_refused_entries,
        produced.failed_entries,
        produced.outages.len(),
        produced
            .disrupted_between
            .map(|(first, _)| first)
            .unwrap_or_default(),
        produced
            .disrupted_between
            .map(|(_, last)| last)
            .unwrap_or_default(),
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
    assert!(
        longest < Duration::from_secs(30),
        "PutEvents stores every entry again within a leader election, not after {longest:?}"
    );
    bus.stop().await;
}
