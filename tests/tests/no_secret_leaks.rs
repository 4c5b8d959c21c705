//! Secrets reach the person and nowhere else. With every log line of every in-process
//! service captured (TRACE for Groundwork's crates, DEBUG for the rest, the AWS SDK and
//! async-nats included), an apply of the example spec runs to WAITING — the admin's
//! initial password, the MFA seed and its otpauth URI are handed over in the ApplySpec
//! stream, and held sealed for the person in the one-time secrets bucket, which must hold
//! them only as ciphertext — the person finishes, and a webhook target whose
//! URL carries a token in its path and another in its query dead-letters every event of the
//! run. Then every log line, every message of every stream with its headers (events,
//! deliveries, dead letters, the KV buckets of runs and watchers) and what the API answers
//! about targets and dead letters are searched for each of those secrets and for the
//! stack's NATS nkey seeds, its API tokens and its TLS private keys: none is found. The only place a webhook token may be is the
//! rule's own target (`KV_eventbus-rules`), which the event bus must keep to deliver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use groundwork_e2e::flow::{apply, do_person_steps, finished, until};
use groundwork_e2e::{EXAMPLE_SPEC, Stack, eventually, otpauth_secret};
use groundwork_proto::v1 as pb;
use pb::SetupRunStatus;
use pb::event_bus_client::EventBusClient;

const PATH_TOKEN: &str = "XOXBleakPathT0KEN";
const QUERY_TOKEN: &str = "QRYleakSigT0KEN";
/// The bucket that holds rules with their targets, webhook URLs included.
const RULES_STREAM: &str = "KV_eventbus-rules";

/// A secret and what it is, for the failure message.
struct Secret {
    what: String,
    value: String,
    /// Kept by the rules bucket on purpose (a webhook URL of a target).
    in_rules: bool,
}

/// The base64 body of a PEM private key (its first full line), which no log may hold.
fn private_key_body(path: &std::path::Path) -> String {
    let pem = std::fs::read_to_string(path).unwrap();
    pem.lines()
        .find(|l| !l.starts_with("-----") && l.len() >= 40)
        .unwrap()
        .to_owned()
}

fn assert_none_in(secrets: &[Secret], place: &str, text: &str, rules: bool) {
    for s in secrets {
        if rules && s.in_rules {
            continue;
        }
        assert!(
            !text.contains(&s.value),
            "{} found in {place}:\n{}",
            s.what,
            text.chars().take(2_000).collect::<String>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_reaches_a_log_line_an_event_a_kv_value_a_dead_letter_or_an_error() {
    let captured = groundwork_testkit::logs::capture(
        "debug,groundwork_eventbus=trace,groundwork_identity=trace,groundwork_budget=trace,\
             groundwork_alerting=trace,groundwork_orchestrator=trace,groundwork_bus=trace,\
             groundwork_kit=trace,groundwork_cloud=trace",
    )
    .expect("the test installs the only log subscriber");

    let stack = Stack::start().await.unwrap();
    let channel = stack.channel(stack.eventbus).await;
    let mut bus = EventBusClient::new(channel);

    // Every event of the run goes to a webhook with tokens in its URL, which nothing answers:
    // each delivery is dead-lettered at once.
    let hook = format!("http://127.0.0.1:9/services/T0001/B0002/{PATH_TOKEN}?sig={QUERY_TOKEN}");
    bus.put_rule(pb::PutRuleRequest {
        name: "run-to-webhook".into(),
        event_pattern: r#"{"source": [{"prefix": "groundwork."}]}"#.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let put = bus
        .put_targets(pb::PutTargetsRequest {
            rule: "run-to-webhook".into(),
            event_bus_name: String::new(),
            targets: vec![pb::Target {
                id: "hook".into(),
                arn: hook.clone(),
                retry_policy: Some(pb::RetryPolicy {
                    maximum_retry_attempts: Some(0),
                    maximum_event_age_in_seconds: None,
                }),
                ..Default::default()
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.failed_entry_count, 0, "{put:?}");

    // The apply, to WAITING: the one-time secrets arrive in its stream.
    let mut rx = apply(&stack, EXAMPLE_SPEC, "").await.unwrap();
    let mut handed = Vec::new();
    let waiting = until(&mut rx, &mut handed, "WAITING", |r| {
        r.status() == SetupRunStatus::Waiting
    })
    .await
    .unwrap();
    do_person_steps(&stack, &waiting, &handed).await.unwrap();
    let done = until(&mut rx, &mut handed, "the run's end", finished)
        .await
        .unwrap();
    assert_eq!(done.status(), SetupRunStatus::Completed, "{done:#?}");

    let mut secrets = Vec::new();
    for s in &handed {
        secrets.push(Secret {
            what: format!("{} of {}", s.name, s.resource),
            value: s.value.clone(),
            in_rules: false,
        });
        if let Some(seed) = otpauth_secret(&s.value) {
            secrets.push(Secret {
                what: "the MFA seed inside the otpauth URI".into(),
                value: seed,
                in_rules: false,
            });
        }
    }
    let names: Vec<&str> = handed.iter().map(|s| s.name.as_str()).collect();
    for wanted in ["initial_password", "mfa_otpauth_uri"] {
        assert!(
            names.contains(&wanted),
            "{wanted} was not handed over: {names:?}"
        );
    }
    for identity in [
        "eventbus",
        "identity",
        "budget",
        "alerting",
        "orchestrator",
        "events",
        "admin",
    ] {
        let seed = std::fs::read_to_string(stack.nats.nkey_file(identity)).unwrap();
        secrets.push(Secret {
            what: format!("the NATS nkey seed of {identity}"),
            value: seed.trim().to_owned(),
            in_rules: false,
        });
    }
    for (what, value) in [
        ("the operator token", stack.security.api_token.clone()),
        (
            "the read-only token",
            stack.security.read_only_token.clone(),
        ),
        (
            "the services' TLS private key",
            private_key_body(&stack.security.tls.server_key),
        ),
        (
            "the CA's private key",
            private_key_body(&stack.security.tls.ca_key),
        ),
    ] {
        secrets.push(Secret {
            what: what.into(),
            value,
            in_rules: false,
        });
    }
    for (what, value) in [
        ("webhook path token", PATH_TOKEN),
        ("webhook query token", QUERY_TOKEN),
    ] {
        secrets.push(Secret {
            what: what.into(),
            value: value.into(),
            in_rules: true,
        });
    }

    // The run's events were dead-lettered (nothing listens on port 9).
    let admin = stack.nats.admin().await.unwrap();
    let js = async_nats::jetstream::new(admin);
    let dead = eventually(Duration::from_secs(30), || async {
        let mut dlq = js.get_stream("DLQ_default").await.ok()?;
        let n = dlq.info().await.ok()?.state.messages;
        (n >= 3).then_some(n)
    })
    .await;
    assert!(dead.is_some(), "the run's events were not dead-lettered");

    // Every message of every stream, headers included.
    let mut names = js.stream_names();
    let mut streams = Vec::new();
    while let Some(name) = names.next().await {
        streams.push(name.unwrap());
    }
    for wanted in [
        "EVENTS_default",
        "DLQ_default",
        "KV_orchestrator-runs",
        "KV_orchestrator-one-time-secrets",
        RULES_STREAM,
    ] {
        assert!(
            streams.iter().any(|s| s == wanted),
            "no {wanted}: {streams:?}"
        );
    }
    let mut read = 0;
    for name in &streams {
        let mut stream = js.get_stream(name).await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        for seq in state.first_sequence..=state.last_sequence {
            let Ok(message) = stream.get_raw_message(seq).await else {
                continue;
            };
            read += 1;
            let place = format!("{name} #{seq}");
            let rules = name == RULES_STREAM;
            assert_none_in(
                &secrets,
                &place,
                &String::from_utf8_lossy(&message.payload),
                rules,
            );
            assert_none_in(
                &secrets,
                &format!("{place} (subject)"),
                message.subject.as_str(),
                rules,
            );
            for (key, values) in message.headers.iter() {
                for v in values {
                    assert_none_in(
                        &secrets,
                        &format!("{place} header {key}"),
                        v.as_str(),
                        rules,
                    );
                }
            }
        }
    }
    assert!(read > 20, "only {read} messages were read");

    // What the API says about the targets and the dead letters.
    let dead_letters = bus
        .list_dead_letters(pb::ListDeadLettersRequest {
            event_bus_name: "default".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!dead_letters.dead_letters.is_empty());
    assert_none_in(
        &secrets,
        "ListDeadLetters",
        &format!("{dead_letters:?}"),
        false,
    );
    let missing = bus
        .put_targets(pb::PutTargetsRequest {
            rule: "no-such-rule".into(),
            event_bus_name: String::new(),
            targets: vec![pb::Target {
                id: "hook".into(),
                arn: hook.clone(),
                ..Default::default()
            }],
        })
        .await
        .unwrap_err();
    assert_none_in(
        &secrets,
        "a PutTargets error",
        &format!("{missing:?}"),
        false,
    );

    let stuck = stack.stop().await;
    assert!(stuck.is_empty(), "every service stopped: {stuck:?}");
    let log = captured.text();
    assert!(
        log.len() > 10_000,
        "the log was not captured ({} bytes)",
        log.len()
    );
    assert_none_in(&secrets, "the log", &log, false);
}
