//! A steady PutEvents load for the failure tests, and the counts they print.
//!
//! How the counts are kept. PutEvents gives each entry a new event id (a UUID, as
//! EventBridge does) when it stores it, so ids are the producer's receipts:
//! - *accepted*: the ids of entries a successful answer reported stored. Each must be
//!   delivered to both targets: *lost* counts those that were not, and must be 0.
//! - A call that fails (an error status, or no answer in time) is sent again by the
//!   producer with the same entries, as a real producer does (to the next replica when it
//!   has several). The retried call makes new ids, so if the failed call had in fact stored
//!   some entries before its answer was lost, those events are delivered under ids the
//!   producer never saw: they are counted as *delivered, never acknowledged* (at-least-once
//!   from the producer's side), not as lost and not as duplicates. An entry refused on its
//!   own (`InternalException` in a successful answer) is sent again likewise.
//! - *duplicates*: a delivery of an id already delivered to that target (at-least-once
//!   delivery after a consumer's ack was lost); allowed, counted.
//! - Every entry carries its sequence number in its detail, so that each entry the producer
//!   meant to send is also checked to have been accepted once it was done.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use groundwork_proto::v1 as pb;
use groundwork_proto::v1::event_bus_client::EventBusClient;

use super::{Channel, Tally, Webhook, entry, eventually, target};

/// The rule every failure test routes its load with.
pub const RULE: &str = "load";

/// How the producer sends.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// At most this many entries, numbered from 0 (`detail.seq`).
    pub events: usize,
    /// Entries per PutEvents call.
    pub per_call: usize,
    /// One call this often.
    pub every: Duration,
    /// How long the producer waits for one answer before it counts the call as failed.
    pub call_timeout: Duration,
    /// How long the producer leaves a replica alone after a call to it failed.
    pub avoid_for: Duration,
    pub source: &'static str,
}

impl Load {
    /// `events` entries from `source`, 5 a call every 20 ms: 250 events/s.
    pub fn steady(events: usize, source: &'static str) -> Self {
        Self {
            events,
            per_call: 5,
            every: Duration::from_millis(20),
            call_timeout: Duration::from_secs(10),
            avoid_for: Duration::from_secs(1),
            source,
        }
    }
}

/// What the producer saw.
#[derive(Debug, Default)]
pub struct Produced {
    /// Event id → the entry's sequence number, for every entry an answer reported stored.
    pub accepted: HashMap<String, usize>,
    /// Entries the producer took up (sequence numbers `0..sent`): each must end accepted.
    pub sent: usize,
    /// Per replica: calls sent to it, those it answered with every entry stored, and the
    /// entries it reported stored.
    pub calls: Vec<usize>,
    pub answered: Vec<usize>,
    pub accepted_by: Vec<usize>,
    pub failed_calls: usize,
    /// Failed calls sent again to another replica.
    pub resent_elsewhere: usize,
    /// Entries refused one by one in an answer that otherwise succeeded.
    pub failed_entries: usize,
    /// Calls whose answer refused some of their entries.
    pub calls_with_refused_entries: usize,
    /// Each disruption: from the first call that failed or had entries refused to the next
    /// call that stored all of its entries.
    pub outages: Vec<Duration>,
    /// When the first and the last disrupted calls were made, since the load started.
    pub disrupted_between: Option<(Duration, Duration)>,
    /// Each distinct error (a failed call's status, a refused entry's code and message),
    /// with how many times it came.
    pub errors: HashMap<String, usize>,
}

/// What the test and the producer share while the load runs.
#[derive(Debug, Default)]
pub struct Progress {
    accepted: AtomicUsize,
    stop: AtomicBool,
}

impl Progress {
    /// Entries accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Tells the producer to take up no new entry: it still resends what it holds.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Waits until `n` entries are accepted; whether they were within `timeout`.
    pub async fn reached(&self, n: usize, timeout: Duration) -> bool {
        eventually(timeout, || async move { self.accepted() >= n }).await
    }
}

/// Sends entries at a steady rate until [`Load::events`] are taken up or
/// [`Progress::stop`] is called, taking turns between `clients` (one per replica) and
/// skipping for a while a replica whose call failed; what failed is resent, to the next
/// replica.
pub async fn produce(
    clients: Vec<EventBusClient<Channel>>,
    load: Load,
    progress: Arc<Progress>,
) -> Produced {
    let n = clients.len();
    let mut out = Produced {
        calls: vec![0; n],
        answered: vec![0; n],
        accepted_by: vec![0; n],
        ..Default::default()
    };
    let mut ticks = tokio::time::interval(load.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending: Vec<usize> = Vec::new();
    let mut turn = 0usize;
    let mut avoid_until: Vec<Option<Instant>> = vec![None; n];
    let mut resend_to: Option<usize> = None;
    let mut outage_since: Option<Instant> = None;
    let started = Instant::now();
    loop {
        if pending.is_empty() {
            if out.sent >= load.events || progress.stop.load(Ordering::SeqCst) {
                break;
            }
            let end = (out.sent + load.per_call).min(load.events);
            pending = (out.sent..end).collect();
            out.sent = end;
        }
        ticks.tick().await;
        // A resend goes to the next replica; otherwise take turns, skipping a replica
        // that failed a moment ago (as a client-side balancer does).
        let replica = resend_to.take().unwrap_or_else(|| {
            turn += 1;
            (0..n)
                .map(|k| (turn + k) % n)
                .find(|r| avoid_until[*r].is_none_or(|until| Instant::now() >= until))
                .unwrap_or(turn % n)
        });
        let entries = pending
            .iter()
            .map(|seq| entry(load.source, "Load", &format!(r#"{{"seq": {seq}}}"#)))
            .collect();
        out.calls[replica] += 1;
        let sent_at = Instant::now();
        let mut client = clients[replica].clone();
        let answer = tokio::time::timeout(
            load.call_timeout,
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
                        out.accepted_by[replica] += 1;
                        progress.accepted.fetch_add(1, Ordering::SeqCst);
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
                if pending.is_empty() {
                    out.answered[replica] += 1;
                } else {
                    out.calls_with_refused_entries += 1;
                }
                !pending.is_empty()
            }
            failed => {
                out.failed_calls += 1;
                let error = match failed {
                    Ok(Err(status)) => format!(
                        "call to replica {replica}: {:?}: {}",
                        status.code(),
                        status.message()
                    ),
                    _ => format!(
                        "call to replica {replica}: no answer within {:?}",
                        load.call_timeout
                    ),
                };
                *out.errors.entry(error).or_default() += 1;
                if n > 1 {
                    out.resent_elsewhere += 1;
                    avoid_until[replica] = Some(Instant::now() + load.avoid_for);
                    resend_to = Some((replica + 1) % n);
                }
                true
            }
        };
        if disrupted {
            outage_since.get_or_insert(sent_at);
            let at = sent_at - started;
            let first = out.disrupted_between.map_or(at, |(first, _)| first);
            out.disrupted_between = Some((first, at));
        } else if let Some(since) = outage_since.take() {
            out.outages.push(since.elapsed());
        }
    }
    out
}

/// Puts [`RULE`] on `default`: every event from `source` to the NATS subject `subject`
/// and to `webhook`.
pub async fn put_load_rule(
    client: &mut EventBusClient<Channel>,
    source: &str,
    subject: &str,
    webhook: &Webhook,
) {
    client
        .put_rule(pb::PutRuleRequest {
            name: RULE.into(),
            event_pattern: format!(r#"{{"source": ["{source}"]}}"#),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .put_targets(pb::PutTargetsRequest {
            rule: RULE.into(),
            event_bus_name: String::new(),
            targets: vec![
                target("nats", &format!("nats:{subject}")),
                target("hook", &webhook.url),
            ],
        })
        .await
        .unwrap();
}

/// Waits until the replica behind `client` lists [`RULE`]'s two targets: each replica
/// routes with the rules it has read from KV, so no event may meet one without the rule.
pub async fn sees_load_rule(client: &EventBusClient<Channel>) -> bool {
    eventually(Duration::from_secs(20), || {
        let mut client = client.clone();
        async move {
            client
                .list_targets_by_rule(pb::ListTargetsByRuleRequest {
                    rule: RULE.into(),
                    ..Default::default()
                })
                .await
                .is_ok_and(|r| r.into_inner().targets.len() == 2)
        }
    })
    .await
}

/// What the two targets received once deliveries caught up.
pub struct Delivered {
    /// Whether both targets held every accepted id and the router's and the deliverer's
    /// consumers had nothing pending within the drain time.
    pub caught_up: bool,
    pub nats: Tally,
    pub hook: Tally,
}

/// Waits until both targets hold every accepted id (or `timeout` passes: the counts then
/// say what is missing) and reads what each received.
pub async fn drain(
    js: &jetstream::Context,
    webhook: &Webhook,
    subject: &str,
    produced: &Produced,
    timeout: Duration,
) -> Delivered {
    let accepted: HashSet<&String> = produced.accepted.keys().collect();
    let caught_up = eventually(timeout, || {
        let accepted = &accepted;
        async move {
            let hook = Tally::from_webhook(webhook);
            accepted.iter().all(|id| hook.times.contains_key(*id))
                && super::stream_len(js, "DELIVERIES").await >= accepted.len() as u64
                && super::consumer_idle(js, "EVENTS_default", "router").await
                && super::consumer_idle(js, "TARGETS", "deliverer").await
        }
    })
    .await;
    Delivered {
        caught_up,
        nats: Tally::from_deliveries(js, subject).await,
        hook: Tally::from_webhook(webhook),
    }
}

/// Prints what the producer saw and what each target received.
pub fn print_counts(produced: &Produced, delivered: &Delivered) {
    let longest = produced.outages.iter().max().copied().unwrap_or_default();
    let outage_total: Duration = produced.outages.iter().sum();
    let per_replica: Vec<String> = (0..produced.calls.len())
        .map(|r| {
            format!(
                "replica {r}: {} entries in {} of {} calls",
                produced.accepted_by[r], produced.answered[r], produced.calls[r]
            )
        })
        .collect();
    println!(
        "PutEvents: {} of {} entries accepted ({}); {} calls failed ({} sent to another \
         replica) and {} calls had {} entries refused (resent), in {} disruption(s): \
         longest {longest:.1?}, {outage_total:.1?} in all, disrupted calls made between \
         {:.1?} and {:.1?} of the load; errors: {:#?}",
        produced.accepted.len(),
        produced.sent,
        per_replica.join(", "),
        produced.failed_calls,
        produced.resent_elsewhere,
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
    for (name, received) in [
        ("NATS target", &delivered.nats),
        ("webhook", &delivered.hook),
    ] {
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
}

/// The failure tests' promise: every entry the producer took up was accepted in the end,
/// and every accepted event reached both targets.
pub fn assert_nothing_lost(produced: &Produced, delivered: &Delivered) {
    let seqs: HashSet<usize> = produced.accepted.values().copied().collect();
    assert_eq!(
        seqs.len(),
        produced.sent,
        "every entry was accepted in the end"
    );
    assert_eq!(
        delivered.nats.lost(&produced.accepted),
        0,
        "no accepted event lost (NATS target)"
    );
    assert_eq!(
        delivered.hook.lost(&produced.accepted),
        0,
        "no accepted event lost (webhook)"
    );
    assert_eq!(
        delivered.nats.seqs.len(),
        produced.sent,
        "every entry reached the NATS target"
    );
    assert_eq!(
        delivered.hook.seqs.len(),
        produced.sent,
        "every entry reached the webhook"
    );
    assert!(
        delivered.caught_up,
        "the router and the deliverer caught up"
    );
}
