//! Secure by default, on the event bus (kit's server, the same in every service): the
//! binary refuses to start without an operator token, or beyond loopback without TLS, with
//! exit code 2 and a message that says how to fix it, unless `--insecure` is given on
//! purpose, which it then says loudly; a server that requires client certificates (mutual
//! TLS) refuses a client without one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use groundwork_kit::client::{self, Target};
use groundwork_proto::v1 as pb;
use groundwork_testkit::NatsServer;
use pb::event_bus_client::EventBusClient;

/// Runs the event bus binary with `args` and the environment cleared of Groundwork's
/// settings, and waits for it to exit (at most 20 s: a binary that starts serving is
/// killed and reported as such).
fn run(nats: &NatsServer, args: &[&str], env: &[(&str, &str)]) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_groundwork-eventbus"))
        .arg("--nats-url")
        .arg(nats.url())
        .env("NATS_NKEY", nats.nkey_file("eventbus"))
        .args(args)
        .env_remove("GROUNDWORK_API_TOKEN")
        .env_remove("GROUNDWORK_API_TOKEN_FILE")
        .env_remove("GROUNDWORK_INSECURE")
        .env_remove("GROUNDWORK_TLS_CERT")
        .env_remove("GROUNDWORK_TLS_KEY")
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the groundwork-eventbus binary");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn free_listen() -> String {
    let port = groundwork_testkit::process::free_port().unwrap();
    format!("127.0.0.1:{port}")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn without_a_token_the_service_refuses_to_start_and_says_how_to_set_one() {
    let nats = NatsServer::start().expect("nats-server must be installed");
    let out = run(&nats, &["--listen", &free_listen()], &[]).expect("it must exit");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    for hint in ["GROUNDWORK_API_TOKEN", "groundwork up", "--insecure"] {
        assert!(
            text.contains(hint),
            "the message should mention {hint}: {text}"
        );
    }
}

#[test]
fn beyond_loopback_without_tls_the_service_refuses_to_start() {
    let nats = NatsServer::start().expect("nats-server must be installed");
    let out = run(
        &nats,
        &["--listen", "0.0.0.0:0"],
        &[("GROUNDWORK_API_TOKEN", "a-token-for-this-test")],
    )
    .expect("it must exit");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("GROUNDWORK_TLS_CERT"), "{text}");
    assert!(!text.contains("a-token-for-this-test"), "{text}");
}

#[test]
fn insecure_is_an_opt_in_that_is_logged_loudly() {
    let nats = NatsServer::start().expect("nats-server must be installed");
    // It serves (and is killed after the deadline), so the log is read from a file.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("eventbus.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_groundwork-eventbus"))
        .arg("--nats-url")
        .arg(nats.url())
        .env("NATS_NKEY", nats.nkey_file("eventbus"))
        .args(["--listen", &free_listen(), "--insecure"])
        .env_remove("GROUNDWORK_API_TOKEN")
        .env_remove("GROUNDWORK_API_TOKEN_FILE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut warned = false;
    while std::time::Instant::now() < deadline && !warned {
        warned = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("INSECURE: no API token is set");
        assert!(
            child.try_wait().unwrap().is_none(),
            "--insecure must start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        warned,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate_of_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let local = groundwork_kit::tls::generate_local(&dir.path().join("tls")).unwrap();
    let nats = NatsServer::start().expect("nats-server must be installed");
    let mut settings = groundwork_eventbus::Settings::on(nats.settings_for("eventbus"));
    settings.common.api_token = Some(common::API_TOKEN.into());
    settings.common.tls_cert = Some(local.server_cert.clone());
    settings.common.tls_key = Some(local.server_key.clone());
    settings.common.tls_client_ca = Some(local.ca_cert.clone());
    let listener = groundwork_kit::grpc::bind(settings.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let nats_client = groundwork_eventbus::connect(&settings).await.unwrap();
    let shutdown = groundwork_kit::Shutdown::new();
    let task = tokio::spawn(groundwork_eventbus::serve(
        settings,
        nats_client,
        listener,
        shutdown.clone(),
    ));
    let target = |tls| {
        Target::new(
            format!("https://{addr}"),
            Some(common::API_TOKEN.into()),
            "test",
        )
        .with_tls(Some(tls))
        .with_timeout(Duration::from_secs(5))
    };
    async fn list(target: &Target) -> Result<(), String> {
        let channel = client::connect(target, "event bus")
            .await
            .map_err(|e| e.to_string())?;
        EventBusClient::new(channel)
            .list_event_buses(pb::ListEventBusesRequest::default())
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    // A certificate of the client CA, with the token, is let in (once the server is up).
    let (c, k) = local.issue_client("ci").unwrap();
    let with = target(local.client().unwrap().with_identity(c, k));
    let mut answered = Err(String::new());
    for _ in 0..200 {
        answered = list(&with).await;
        if answered.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    answered.unwrap();

    // A change by that client is on the audit trail under its certificate's subject.
    let (c, k) = local.issue_client("ci").unwrap();
    let channel = client::connect(&target(local.client().unwrap().with_identity(c, k)), "bus")
        .await
        .unwrap();
    EventBusClient::new(channel)
        .put_rule(pb::PutRuleRequest {
            name: "by-certificate".into(),
            event_pattern: r#"{"source": ["x"]}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let js = async_nats::jetstream::new(nats.admin().await.unwrap());
    let recorded = common::eventually(Duration::from_secs(10), || {
        let js = js.clone();
        async move {
            for e in groundwork_testkit::events::stored(&js, "EVENTS_default")
                .await
                .unwrap()
            {
                if e["detail"]["rpc"] == "PutRule" {
                    assert_eq!(e["detail"]["caller"], "CN=ci (operator)", "{e}");
                    return true;
                }
            }
            false
        }
    })
    .await;
    assert!(recorded, "the PutRule call is on the audit trail");

    // The CA alone: refused for want of a client certificate.
    let without = target(local.client().unwrap());
    assert!(list(&without).await.is_err(), "no client certificate");

    // A certificate of another CA is refused as well.
    let other = tempfile::tempdir().unwrap();
    let other = groundwork_kit::tls::generate_local(other.path()).unwrap();
    let (c, k) = other.issue_client("intruder").unwrap();
    let foreign = target(local.client().unwrap().with_identity(c, k));
    assert!(list(&foreign).await.is_err(), "a certificate of another CA");

    shutdown.trigger();
    task.await.unwrap().unwrap();
}
