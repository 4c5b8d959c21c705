//! Alarm state changes become `CloudWatch Alarm State Change` events, once per
//! transition — also with two replicas watching and across a restart — and, through
//! alerting's rule and NATS-subject target on the event bus, exactly one webhook POST and
//! one SNS publish. Real moto_server, nats-server, event bus and a local HTTP server as
//! the webhook.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Stack, eventually, moto_sent_notifications, stored_events};
use groundwork_alerting::topic::SubscriptionStatus;
use groundwork_alerting::watch_store::{Record, WatchStore};
use groundwork_alerting::watchers::{SubscriptionSeen, Watchers, subscription_key};
use groundwork_bus::Emitter;
use groundwork_events::envelope::Origin;
use groundwork_events::pattern::EventPattern;
use groundwork_proto::v1 as pb;

const ACCEPTANCE_PATTERN: &str = r#"{"source":["aws.cloudwatch"],"detail-type":["CloudWatch Alarm State Change"],"detail":{"state":{"value":["ALARM"]}}}"#;
const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:billing-alarm";

async fn first_day(stack: &Stack) {
    let mut client = stack.client().await;
    client
        .ensure_topic(pb::EnsureTopicRequest {
            name: "billing-alarm".into(),
            tags: vec![],
        })
        .await
        .unwrap();
    client
        .ensure_billing_alarm(pb::EnsureBillingAlarmRequest {
            alarm_name: "billing-alarm".into(),
            kind: pb::BillingAlarmKind::DailyCharges as i32,
            threshold_usd: 10.0,
            topic: "billing-alarm".into(),
            description: String::new(),
            dry_run: false,
        })
        .await
        .unwrap();
}

async fn set_alarm_state(stack: &Stack, value: &str) {
    stack
        .cloudwatch()
        .set_alarm_state()
        .alarm_name("billing-alarm")
        .state_value(aws_sdk_cloudwatch::types::StateValue::from(value))
        .state_reason("Threshold Crossed: 1 datapoint [12.5] was greater than or equal to the threshold (10.0).")
        .state_reason_data(r#"{"version":"1.0","threshold":10.0}"#)
        .send()
        .await
        .unwrap();
}

fn alarm_changes(events: &[serde_json::Value]) -> Vec<serde_json::Value> {
    events
        .iter()
        .filter(|e| e["detail-type"] == "CloudWatch Alarm State Change")
        .cloned()
        .collect()
}

#[tokio::test]
async fn set_alarm_state_gives_one_event_one_webhook_post_and_one_sns_publish() {
    let stack = Stack::start().await;
    first_day(&stack).await;
    stack.wait_for_rules().await;
    set_alarm_state(&stack, "ALARM").await;

    // One event on the bus, in AWS's shape, matched by the acceptance pattern.
    let pattern = EventPattern::parse(ACCEPTANCE_PATTERN).unwrap();
    let event = eventually(
        "the alarm state change event",
        Duration::from_secs(20),
        || async { alarm_changes(&stack.events().await).into_iter().next() },
    )
    .await;
    assert!(pattern.matches(&event), "{event}");
    assert_eq!(event["source"], "aws.cloudwatch");
    assert_eq!(event["region"], "us-east-1");
    assert_eq!(event["account"], "123456789012");
    assert_eq!(
        event["resources"],
        serde_json::json!(["arn:aws:cloudwatch:us-east-1:123456789012:alarm:billing-alarm"])
    );
    let detail = &event["detail"];
    assert_eq!(detail["alarmName"], "billing-alarm");
    assert_eq!(detail["state"]["value"], "ALARM");
    assert_eq!(
        detail["state"]["reasonData"],
        r#"{"version":"1.0","threshold":10.0}"#
    );
    assert!(
        detail["state"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Threshold Crossed")
    );
    assert!(
        detail["state"]["timestamp"]
            .as_str()
            .unwrap()
            .ends_with("+0000")
    );
    // moto creates alarms in OK (AWS: INSUFFICIENT_DATA); the previous state is what was seen.
    assert_eq!(detail["previousState"]["value"], "OK");
    assert_eq!(
        detail["configuration"]["metrics"][1]["expression"],
        "IF(RATE(m1)>0,RATE(m1)*86400,0)"
    );
    assert_eq!(
        detail["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["Currency"],
        "USD"
    );

    // Then exactly one webhook POST carrying that event, and one SNS publish in moto.
    let posts = eventually("the webhook POST", Duration::from_secs(20), || async {
        let received = stack.webhook.received();
        (!received.is_empty()).then_some(received)
    })
    .await;
    assert_eq!(posts[0].path, "/hook");
    assert_eq!(posts[0].content_type, "application/json");
    assert_eq!(posts[0].body["id"], event["id"]);
    let published = eventually("the SNS publish", Duration::from_secs(20), || async {
        let sent = moto_sent_notifications(&stack.moto, TOPIC_ARN);
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    let message = published[0][1].as_str().unwrap();
    assert!(
        message.contains("Alarm \"billing-alarm\" is now ALARM (was OK)"),
        "{message}"
    );
    assert_eq!(published[0][2], "ALARM: \"billing-alarm\" in us-east-1");

    // Many more watcher passes later (every 100 ms) nothing was added: still one of each.
    // A fresh watcher pass over the same store proves it without waiting on time.
    let watchers = watchers_for(&stack).await;
    assert!(watchers.alarms_pass().await.unwrap().is_empty());
    // Wait until the event bus has nothing left to deliver and the notifier has
    // acknowledged every delivery, then count again: still one of each.
    all_delivered(&stack).await;
    assert_eq!(alarm_changes(&stack.events().await).len(), 1);
    assert_eq!(stack.webhook.received().len(), 1);
    assert_eq!(moto_sent_notifications(&stack.moto, TOPIC_ARN).len(), 1);
    stack.stop().await;
}

/// Waits until the event bus has nothing left to deliver and the notifier has
/// acknowledged every delivery.
async fn all_delivered(stack: &Stack) {
    eventually("every delivery done", Duration::from_secs(20), || async {
        let js = async_nats::jetstream::new(stack.nats_client().await);
        let targets = js
            .get_stream("TARGETS")
            .await
            .ok()?
            .info()
            .await
            .ok()?
            .state
            .messages;
        let mut deliveries = js.get_stream("DELIVERIES").await.ok()?;
        let last = deliveries.info().await.ok()?.state.last_sequence;
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            deliveries.get_consumer("alerting-notifier").await.ok()?;
        let info = consumer.info().await.ok()?;
        (targets == 0 && info.num_ack_pending == 0 && info.delivered.stream_sequence == last)
            .then_some(())
    })
    .await;
}

/// A watcher like the service's, on the same NATS and moto.
async fn watchers_for(stack: &Stack) -> Watchers {
    // Connected as the alerting service is, with its NATS identity.
    let client = stack.nats.client("alerting").await.unwrap();
    let origin = Origin {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let js = groundwork_bus::connect::jetstream(&client, Duration::from_secs(2));
    let emitter = Emitter::new(
        client,
        Duration::from_secs(2),
        origin,
        groundwork_bus::access::Principal::Alerting,
        "default",
    )
    .unwrap();
    let store = WatchStore::open(&js, emitter, 1).await.unwrap();
    Watchers {
        cloudwatch: stack.cloudwatch(),
        sns: stack.sns(),
        store,
        origin: Origin {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        },
    }
}

#[tokio::test]
async fn two_replicas_publish_a_transition_once_and_a_restart_publishes_nothing_again() {
    // The service runs without its own watchers; the test drives two "replicas".
    let stack = Stack::start_with(|s| {
        s.watch = false;
        s.notify = false;
    })
    .await;
    first_day(&stack).await;
    let (a, b) = (watchers_for(&stack).await, watchers_for(&stack).await);

    set_alarm_state(&stack, "ALARM").await;
    let (from_a, from_b) = tokio::join!(a.alarms_pass(), b.alarms_pass());
    let published = from_a.unwrap().len() + from_b.unwrap().len();
    assert_eq!(published, 1, "exactly one replica publishes the transition");

    // A "restarted" replica (new connection, same KV) sees no transition.
    let restarted = watchers_for(&stack).await;
    assert!(restarted.alarms_pass().await.unwrap().is_empty());

    // The way back to OK is one more transition, with ALARM as its previous state.
    set_alarm_state(&stack, "OK").await;
    let back = restarted.alarms_pass().await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].detail["previousState"]["value"], "ALARM");
    assert!(a.alarms_pass().await.unwrap().is_empty());

    let events = stored_events(&stack.nats_client().await).await;
    let values: Vec<String> = alarm_changes(&events)
        .iter()
        .map(|e| e["detail"]["state"]["value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(values, ["ALARM", "OK"]);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_running_replicas_give_one_event_and_one_notification_per_crossing_across_restarts() {
    // Two whole alerting services on one NATS (and one moto, one event bus): both run
    // their watchers and their notifiers, so both see each crossing. The stack's own
    // service only serves the API.
    let stack = Stack::start_with(|s| {
        s.watch = false;
        s.notify = false;
    })
    .await;
    // Passes back to back (the shortest interval): the two replicas' passes overlap, so
    // both often read the record before either writes, the race compare-and-set settles.
    let running = |s: &mut groundwork_alerting::Settings| {
        s.watch = true;
        s.notify = true;
        s.poll_interval_ms = 10;
    };
    let a = stack.start_replica(running).await;
    let b = stack.start_replica(running).await;
    first_day(&stack).await;
    stack.wait_for_rules().await;

    // Crossings one at a time; after each, once everything is delivered, exactly one more
    // event, one more webhook POST (carrying it) and one more SNS publish.
    let mut crossed = Vec::new();
    let cross = |value: &'static str, crossed: &mut Vec<&'static str>| {
        crossed.push(value);
        let (stack, expected) = (&stack, crossed.clone());
        async move {
            set_alarm_state(stack, value).await;
            eventually("the crossing's event", Duration::from_secs(20), || async {
                (alarm_changes(&stack.events().await).len() >= expected.len()).then_some(())
            })
            .await;
            all_delivered(stack).await;
            let events = alarm_changes(&stack.events().await);
            let values: Vec<&str> = events
                .iter()
                .map(|e| e["detail"]["state"]["value"].as_str().unwrap())
                .collect();
            let posted: Vec<String> = stack
                .webhook
                .received()
                .iter()
                .map(|p| p.body["id"].as_str().unwrap().to_owned())
                .collect();
            let sent = moto_sent_notifications(&stack.moto, TOPIC_ARN).len();
            println!(
                "crossing {} ({value}), two replicas: {} event(s), {} webhook POST(s), {sent} \
                 SNS publish(es) in all",
                expected.len(),
                events.len(),
                posted.len()
            );
            assert_eq!(values, expected, "one event per crossing");
            let mut ids: Vec<String> = events
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            let mut posted = posted;
            posted.sort();
            assert_eq!(posted, ids, "one webhook POST per event");
            assert_eq!(sent, expected.len(), "one SNS publish per event");
        }
    };
    for value in ["ALARM", "OK", "ALARM", "OK", "ALARM", "OK"] {
        cross(value, &mut crossed).await;
    }

    // A rolling restart: each replica stopped and started again on the same KV while the
    // other runs. Neither publishes a crossing again, and the next one is again one of each.
    a.stop().await;
    let a = stack.start_replica(running).await;
    b.stop().await;
    let b = stack.start_replica(running).await;
    cross("ALARM", &mut crossed).await;
    let events = alarm_changes(&stack.events().await);
    assert_eq!(events[6]["detail"]["previousState"]["value"], "OK");
    a.stop().await;
    b.stop().await;
    stack.stop().await;
}

#[tokio::test]
async fn an_event_left_in_the_outbox_by_a_crash_is_published_by_the_next_pass() {
    let stack = Stack::start_with(|s| {
        s.watch = false;
        s.notify = false;
    })
    .await;
    first_day(&stack).await;
    let watchers = watchers_for(&stack).await;
    set_alarm_state(&stack, "ALARM").await;
    let published = watchers.alarms_pass().await.unwrap();
    assert_eq!(published.len(), 1);

    // Simulate a crash between the KV write and the publication: put the event back in
    // the outbox, as the compare-and-set left it before the publish.
    let key = groundwork_alerting::watchers::alarm_key("billing-alarm");
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let kv = js.get_key_value("alerting-watch").await.unwrap();
    let entry = kv.entry(&key).await.unwrap().unwrap();
    let mut record: Record<serde_json::Value> = serde_json::from_slice(&entry.value).unwrap();
    assert!(
        record.outbox.is_none(),
        "a completed transition leaves no outbox"
    );
    record.outbox = Some(published[0].clone());
    kv.put(&key, serde_json::to_vec(&record).unwrap().into())
        .await
        .unwrap();

    // The next pass publishes the same event (same id: JetStream de-duplicates it) and
    // clears the outbox; no second event is stored.
    watchers.alarms_pass().await.unwrap();
    let entry = kv.entry(&key).await.unwrap().unwrap();
    let record: Record<serde_json::Value> = serde_json::from_slice(&entry.value).unwrap();
    assert!(record.outbox.is_none());
    let events = stored_events(&stack.nats_client().await).await;
    assert_eq!(alarm_changes(&events).len(), 1);
    stack.stop().await;
}

#[tokio::test]
async fn a_pending_subscription_that_becomes_confirmed_emits_subscription_confirmed_once() {
    let stack = Stack::start_with(|s| {
        s.watch = false;
        s.notify = false;
    })
    .await;
    let mut client = stack.client().await;
    client
        .ensure_topic(pb::EnsureTopicRequest {
            name: "billing-alarm".into(),
            tags: vec![],
        })
        .await
        .unwrap();
    // moto confirms every subscription at once, so the test plays the earlier pass that
    // saw it pending: the recorded state is "pending" when SNS already says confirmed.
    let key = subscription_key(TOPIC_ARN, "email", "ops@example.com");
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let watchers = watchers_for(&stack).await; // creates the bucket
    let kv = js.get_key_value("alerting-watch").await.unwrap();
    let pending = Record {
        observed: SubscriptionSeen {
            status: SubscriptionStatus::PendingConfirmation,
            subscription_arn: None,
        },
        outbox: None,
    };
    kv.put(&key, serde_json::to_vec(&pending).unwrap().into())
        .await
        .unwrap();
    let created = client
        .ensure_subscription(pb::EnsureSubscriptionRequest {
            topic: "billing-alarm".into(),
            protocol: pb::AlertingProtocol::Email as i32,
            endpoint: "ops@example.com".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let arn = created.subscription.unwrap().subscription_arn;

    let published = watchers.subscriptions_pass().await.unwrap();
    assert_eq!(published.len(), 1);
    let event = published[0].to_value();
    assert_eq!(event["source"], "groundwork.alerting");
    assert_eq!(event["detail-type"], "Subscription Confirmed");
    assert_eq!(event["detail"]["topicArn"], TOPIC_ARN);
    assert_eq!(event["detail"]["protocol"], "email");
    assert_eq!(event["detail"]["subscriptionArn"], arn.as_str());
    assert_eq!(event["resources"], serde_json::json!([arn]));

    assert!(watchers.subscriptions_pass().await.unwrap().is_empty());
    let events = stored_events(&stack.nats_client().await).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["detail-type"] == "Subscription Confirmed")
            .count(),
        1
    );
    stack.stop().await;
}
