//! `groundwork identity …` against a real identity service (moto and NATS behind it): the
//! commands as a person runs them, their output and exit codes.
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
        .env("GROUNDWORK_IDENTITY_URL", url)
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

async fn start_identity(moto: &MotoServer, nats: &NatsServer) -> (String, Shutdown) {
    let sdk = config::load(&AwsSettings::sandbox(moto.endpoint()))
        .await
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .build();
    let mut settings = groundwork_identity::Settings::on(nats.settings_for("identity"));
    settings.common.api_token = Some(API_TOKEN.into());
    let listener = groundwork_kit::grpc::bind(settings.listen).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = groundwork_identity::connect(&settings).await.unwrap();
    let shutdown = Shutdown::new();
    tokio::spawn(groundwork_identity::serve(
        settings,
        groundwork_identity::Deps {
            aws: sdk,
            nats: client,
        },
        listener,
        shutdown.clone(),
    ));
    (url, shutdown)
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_commands_set_up_an_admin_and_report() {
    let moto = MotoServer::start().expect("moto_server");
    let nats = NatsServer::start().expect("nats-server");
    let (url, shutdown) = start_identity(&moto, &nats).await;

    // A bad user name is a usage error: exit 2, the field on stderr.
    let bad = run(&["identity", "ensure-admin", "--user", "bad name"], &url).await;
    assert_eq!(bad.status.code(), Some(2), "stderr: {}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("user_name"));

    let created = run(
        &[
            "identity",
            "ensure-admin",
            "--user",
            "admin",
            "--output",
            "json",
        ],
        &url,
    )
    .await;
    assert!(
        created.status.success(),
        "stderr: {}",
        text(&created.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(created["Outcome"], "created");
    assert!(created["InitialPassword"].as_str().unwrap().len() >= 24);

    let again = run(&["identity", "ensure-admin", "--user", "admin"], &url).await;
    assert!(again.status.success());
    let again = text(&again.stdout);
    assert!(again.starts_with("unchanged admin"), "{again}");
    assert!(
        !again.contains("password (shown once"),
        "no password the second time"
    );

    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("admin-mfa.png");
    let started = run(
        &[
            "identity",
            "mfa",
            "start",
            "--user",
            "admin",
            "--qr-png",
            png.to_str().unwrap(),
            "--output",
            "json",
        ],
        &url,
    )
    .await;
    assert!(
        started.status.success(),
        "stderr: {}",
        text(&started.stderr)
    );
    let started: serde_json::Value = serde_json::from_slice(&started.stdout).unwrap();
    assert!(
        started["OtpauthUri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");

    // Codes of the wrong form are a usage error.
    let wrong = run(
        &[
            "identity", "mfa", "complete", "--user", "admin", "12345", "654321",
        ],
        &url,
    )
    .await;
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong.stderr).contains("authentication_code_1"));

    let policy = run(&["identity", "password-policy", "--output", "json"], &url).await;
    assert!(policy.status.success(), "stderr: {}", text(&policy.stderr));
    let policy: serde_json::Value = serde_json::from_slice(&policy.stdout).unwrap();
    assert_eq!(policy["PasswordPolicy"]["MinimumPasswordLength"], 14);

    let audit = run(&["identity", "audit"], &url).await;
    assert!(audit.status.success(), "stderr: {}", text(&audit.stderr));
    let audit = text(&audit.stdout);
    assert!(audit.contains("CIS") && audit.contains("1.10"), "{audit}");
    assert!(
        audit.contains("admin"),
        "the admin without MFA is named: {audit}"
    );

    let billing = run(&["identity", "billing-access"], &url).await;
    assert!(billing.status.success());
    assert!(text(&billing.stdout).contains("Activate IAM Access"));

    let deleted = run(&["identity", "delete-admin", "--user", "admin"], &url).await;
    assert!(
        deleted.status.success(),
        "stderr: {}",
        text(&deleted.stderr)
    );
    assert!(text(&deleted.stdout).starts_with("deleted admin"));
    shutdown.trigger();
}
