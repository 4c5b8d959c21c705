//! `groundwork alerting …` against a real alerting service (moto and NATS behind it): the
//! first-day commands as a person runs them, their output and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use groundwork_cloud::{AwsSettings, config};
use groundwork_kit::Shutdown;
use groundwork_testkit::{MotoServer, NatsServer};

/// The operator token the services of these tests require; the CLI sends it.
const API_TOKEN: &str = "cli-test-token";

fn groundwork(args: &[&str], url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args(args)
        .env("GROUNDWORK_ALERTING_URL", url)
        .env("GROUNDWORK_API_TOKEN", API_TOKEN)
        .output()
        .unwrap()
}

async fn run(args: &[&str], url: &str) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        groundwork(&args, &url)
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn start_alerting(moto: &MotoServer, nats: &NatsServer) -> (String, Shutdown) {
    let sdk = config::load(&AwsSettings::sandbox(moto.endpoint()))
        .await
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .build();
    let mut settings = groundwork_alerting::Settings::on(nats.settings_for("alerting"));
    settings.common.api_token = Some(API_TOKEN.into());
    settings.watch = false;
    settings.notify = false;
    let listener = groundwork_kit::grpc::bind(settings.listen).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = groundwork_alerting::connect(&settings).await.unwrap();
    let shutdown = Shutdown::new();
    tokio::spawn(groundwork_alerting::serve(
        settings,
        groundwork_alerting::Deps {
            aws: sdk,
            nats: client,
        },
        listener,
        shutdown.clone(),
    ));
    (url, shutdown)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_day_commands_create_once_and_report_unchanged_after() {
    let nats = NatsServer::start().expect("nats-server");
    let moto = MotoServer::start().expect("moto_server");
    let (url, shutdown) = start_alerting(&moto, &nats).await;

    let topic = json(
        &run(
            &["alerting", "topic", "--tag", "team=ops", "--output", "json"],
            &url,
        )
        .await,
    );
    assert_eq!(
        topic["topic_arn"],
        "arn:aws:sns:us-east-1:123456789012:billing-alarm"
    );
    assert_eq!(topic["change"], "created");

    let sub = run(&["alerting", "subscribe", "email", "ops@example.com"], &url).await;
    assert!(sub.status.success(), "{}", text(&sub.stderr));
    let table = text(&sub.stdout);
    assert!(table.starts_with("PROTOCOL"), "{table}");
    assert!(
        table.contains("ops@example.com") && table.contains("created"),
        "{table}"
    );

    let alarm = json(
        &run(
            &["alerting", "alarm", "--threshold", "10", "--output", "json"],
            &url,
        )
        .await,
    );
    assert_eq!(alarm["alarm_name"], "billing-alarm");
    assert_eq!(alarm["change"], "created");
    let again = json(
        &run(
            &["alerting", "alarm", "--threshold", "10", "--output", "json"],
            &url,
        )
        .await,
    );
    assert_eq!(again["change"], "unchanged");

    let example = concat!(
        "file://",
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/alarm_config.json"
    );
    let imported = json(
        &run(
            &["alerting", "import-alarm", example, "--output", "json"],
            &url,
        )
        .await,
    );
    assert_eq!(imported["alarm_name"], "DailyEstimatedCharges");
    assert_eq!(imported["change"], "created");

    let subs = json(&run(&["alerting", "subscriptions", "--output", "json"], &url).await);
    assert_eq!(subs.as_array().unwrap().len(), 1);
    assert_eq!(subs[0]["endpoint"], "ops@example.com");

    let test = json(&run(&["alerting", "notify-test", "--output", "json"], &url).await);
    assert_eq!(test[0]["channel"], "sns");
    assert_eq!(test[0]["delivered"], true);

    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_input_exits_2_naming_the_field() {
    let nats = NatsServer::start().expect("nats-server");
    let moto = MotoServer::start().expect("moto_server");
    let (url, shutdown) = start_alerting(&moto, &nats).await;

    let negative = run(&["alerting", "alarm", "--threshold", "-5"], &url).await;
    assert_eq!(negative.status.code(), Some(2));
    assert!(
        text(&negative.stderr).contains("threshold_usd"),
        "{}",
        text(&negative.stderr)
    );

    let email = run(&["alerting", "subscribe", "email", "not-an-email"], &url).await;
    assert_eq!(email.status.code(), Some(2));
    assert!(
        text(&email.stderr).contains("endpoint"),
        "{}",
        text(&email.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("alarm_config.json");
    std::fs::write(&bad, r#"{"AlarmName": "x", "EvaluationPeriods": 0}"#).unwrap();
    let import = run(&["alerting", "import-alarm", bad.to_str().unwrap()], &url).await;
    assert_eq!(import.status.code(), Some(2));
    assert!(
        text(&import.stderr).contains("$.EvaluationPeriods"),
        "{}",
        text(&import.stderr)
    );

    let protocol = run(&["alerting", "subscribe", "pigeon", "x"], &url).await;
    assert_eq!(protocol.status.code(), Some(2));
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn check_delivery_reports_the_topic_policy_and_fix_makes_it_clean() {
    let nats = NatsServer::start().expect("nats-server");
    let moto = MotoServer::start().expect("moto_server");
    let (url, shutdown) = start_alerting(&moto, &nats).await;
    let topic = run(&["alerting", "topic"], &url).await;
    assert!(topic.status.success(), "{}", text(&topic.stderr));

    // SNS's default policy: neither service may publish; the JSON names both with the fix.
    let found = json(&run(&["alerting", "check-delivery", "--output", "json"], &url).await);
    assert_eq!(
        found["topic_arn"],
        "arn:aws:sns:us-east-1:123456789012:billing-alarm"
    );
    let ids: Vec<&str> = found["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["topic-policy-budgets", "topic-policy-cloudwatch"]);
    assert_eq!(found["findings"][0]["severity"], "high");
    assert_eq!(found["findings"][0]["fixed"], false);
    assert!(
        found["findings"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("budgets.amazonaws.com")
    );

    // --fix in a table: both fixed; afterwards nothing is found.
    let fixed = run(&["alerting", "check-delivery", "--fix"], &url).await;
    assert!(fixed.status.success(), "{}", text(&fixed.stderr));
    let table = text(&fixed.stdout);
    assert!(table.starts_with("FINDING"), "{table}");
    assert!(table.contains("topic-policy-cloudwatch"), "{table}");
    let clean = json(&run(&["alerting", "check-delivery", "--output", "json"], &url).await);
    assert_eq!(clean["findings"], serde_json::json!([]));

    // Hours out of range are a usage error.
    let hours = run(
        &["alerting", "check-delivery", "--pending-hours", "0"],
        &url,
    )
    .await;
    assert_eq!(hours.status.code(), Some(2));
    shutdown.trigger();
}
