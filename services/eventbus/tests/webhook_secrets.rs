//! A webhook URL is a credential: a Slack incoming-webhook URL carries its token in the
//! path, others in the query or the user info. A delivery to such a URL is dead-lettered
//! (a webhook answering 400 behind two URLs, one with a password in its user info, another
//! 500 until its retries run out; and a delivery that cannot be read, holding the URL, put
//! into `TARGETS` by hand) while every log line
//! is captured; then every dead letter (payload and headers), every event on the bus
//! stream, the dead letters and error messages the API returns and the log are read, and
//! the tokens are nowhere but in the rule's own stored targets, which `ListTargetsByRule`
//! shows to the operator who put them there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use async_nats::jetstream;
use common::{Answer, Stack, Webhook, eventually, stream_len, target};
use groundwork_proto::v1 as pb;

const PATH_TOKEN: &str = "XOXBpathT0KEN4711";
const QUERY_TOKEN: &str = "QRYsigT0KEN0815";
const USER_TOKEN: &str = "USRpassT0KEN1234";

/// The test server's URL with a Slack-like token in the path and another in the query.
fn secret_url(webhook: &Webhook) -> String {
    let base = webhook.url.split("/hook").next().unwrap();
    format!("{base}/services/T0001/B0002/{PATH_TOKEN}?sig={QUERY_TOKEN}")
}

/// The same URL with a password in its user info too.
fn secret_userinfo_url(webhook: &Webhook) -> String {
    secret_url(webhook).replacen("http://", &format!("http://ops:{USER_TOKEN}@"), 1)
}

fn assert_no_token(what: &str, text: &str) {
    for token in [PATH_TOKEN, QUERY_TOKEN, USER_TOKEN] {
        assert!(!text.contains(token), "{what} holds {token}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_token_is_in_no_log_dead_letter_event_or_error() {
    let captured = groundwork_testkit::logs::capture(
        "debug,groundwork_eventbus=trace,groundwork_bus=trace,groundwork_kit=trace",
    )
    .expect("the test installs the only log subscriber");

    let stack = Stack::start_with(common::fast_retries).await;
    let mut c = stack.client().await;
    let refusing = Webhook::start(|_| Answer::Status(400)).await;
    let failing = Webhook::start(|_| Answer::Status(500)).await;
    c.put_rule(pb::PutRuleRequest {
        name: "secret-hooks".into(),
        event_pattern: r#"{"source": ["test.secret"]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut failing_target = target("failing", &secret_url(&failing));
    failing_target.retry_policy = Some(pb::RetryPolicy {
        maximum_retry_attempts: Some(1),
        maximum_event_age_in_seconds: None,
    });
    let put = c
        .put_targets(pb::PutTargetsRequest {
            rule: "secret-hooks".into(),
            event_bus_name: String::new(),
            targets: vec![
                target("refusing", &secret_url(&refusing)),
                target("userinfo", &secret_userinfo_url(&refusing)),
                failing_target,
                // Not usable: refused one by one, with a message.
                target(
                    "bad-url",
                    &format!("https://hooks.example.com/services/{PATH_TOKEN} x?sig={QUERY_TOKEN}"),
                ),
                target(
                    "bad-scheme",
                    &format!(
                        "ftp://ops:{USER_TOKEN}@files.example.com/{PATH_TOKEN}?sig={QUERY_TOKEN}"
                    ),
                ),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    let mut errors = Vec::new();
    assert_eq!(put.failed_entry_count, 2, "{put:?}");
    for failed in &put.failed_entries {
        errors.push(failed.error_message.clone());
    }
    // A whole request refused: the rule does not exist.
    let missing = c
        .put_targets(pb::PutTargetsRequest {
            rule: "no-such-rule".into(),
            event_bus_name: String::new(),
            targets: vec![target("t", &secret_url(&refusing))],
        })
        .await
        .unwrap_err();
    errors.push(missing.message().to_owned());

    c.put_events(pb::PutEventsRequest {
        entries: vec![common::entry("test.secret", "Secret", r#"{"k": 1}"#)],
    })
    .await
    .unwrap();
    let js = jetstream::new(stack.nats_client().await);
    // A delivery that cannot be read, holding the URL: dead-lettered, not dropped.
    let unreadable = format!(
        r#"{{"id":"broken","target":{{"arn":"{}"}},"event":"#,
        secret_userinfo_url(&refusing)
    );
    js.publish(
        groundwork_bus::names::targets_subject("default"),
        unreadable.into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(20), || {
            let js = js.clone();
            async move { stream_len(&js, "DLQ_default").await == 4 }
        })
        .await,
        "the three deliveries and the unreadable one are dead-lettered"
    );
    assert_eq!(refusing.attempts(), 2);
    assert_eq!(failing.attempts(), 2);

    // The operator still sees the full URLs in the rule's own targets.
    let stored = c
        .list_targets_by_rule(pb::ListTargetsByRuleRequest {
            rule: "secret-hooks".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(format!("{stored:?}").contains(PATH_TOKEN));

    // The dead letters as the API lists them: a redacted ARN, the message without the URL.
    let letters = c
        .list_dead_letters(pb::ListDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(letters.len(), 4);
    for letter in letters
        .iter()
        .filter(|l| l.error_code != "UNREADABLE_DELIVERY")
    {
        assert!(
            letter.target_arn.starts_with("http://127.0.0.1:"),
            "{letter:?}"
        );
    }
    assert_no_token("ListDeadLetters", &format!("{letters:?}"));

    // Every dead letter, payload and headers.
    let mut dlq = js.get_stream("DLQ_default").await.unwrap();
    let state = dlq.info().await.unwrap().state.clone();
    for sequence in state.first_sequence..=state.last_sequence {
        let raw = dlq.get_raw_message(sequence).await.unwrap();
        assert_no_token(
            "a dead letter's payload",
            &String::from_utf8_lossy(&raw.payload),
        );
        assert_no_token("a dead letter's headers", &format!("{:?}", raw.headers));
    }

    // Every event on the bus stream.
    let mut events = js.get_stream("EVENTS_default").await.unwrap();
    let state = events.info().await.unwrap().state.clone();
    for sequence in state.first_sequence..=state.last_sequence {
        let raw = events.get_raw_message(sequence).await.unwrap();
        assert_no_token("an event", &String::from_utf8_lossy(&raw.payload));
        assert_no_token("an event's headers", &format!("{:?}", raw.headers));
    }

    for error in &errors {
        assert_no_token("an error message", error);
    }

    stack.stop().await;
    let log = captured.text();
    assert!(
        log.contains("dead-lettered"),
        "the log was captured:\n{log}"
    );
    assert_no_token("the log", &log);
}
