//! `groundwork guardrails status|release` against a real identity service (moto and NATS
//! behind it): what a person sees, the JSON for scripts, and the exit codes (2 for a
//! missing reason, 1 when there is nothing to release). The engagement itself (a crossing
//! through the event bus) is `tests/tests/kill_switch.rs`; here the policy is attached by
//! hand, as the kill switch would have.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use groundwork_cloud::{AwsSettings, config};
use groundwork_kit::Shutdown;
use groundwork_testkit::{MotoServer, NatsServer};

const API_TOKEN: &str = "cli-test-token";
const POLICY_ARN: &str = "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend";

async fn run(args: &[&str], url: &str) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_groundwork"))
            .args(&args)
            .env("GROUNDWORK_IDENTITY_URL", &url)
            .env("GROUNDWORK_API_TOKEN", API_TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_release_as_a_person_runs_them() {
    let moto = MotoServer::start().expect("moto_server");
    let nats = NatsServer::start().expect("nats-server");
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
            aws: sdk.clone(),
            nats: client,
        },
        listener,
        shutdown.clone(),
    ));

    // No policy yet: the status says what to do.
    let status = run(&["guardrails", "status"], &url).await;
    assert!(status.status.success(), "stderr: {}", text(&status.stderr));
    let out = text(&status.stdout);
    assert!(out.contains("Admins") && out.contains("no policy"), "{out}");
    assert!(
        out.contains("run the setup with budget actions or the kill switch first"),
        "{out}"
    );

    // The group and the policy as the setup makes them (the policy's document is the budget
    // actions' setup's; any document does here), attached as the kill switch would.
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.create_group()
        .group_name("Admins")
        .send()
        .await
        .unwrap();
    iam.create_policy()
        .policy_name("Groundwork-DenyNewSpend")
        .path("/groundwork/")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["ec2:RunInstances"],"Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name("Admins")
        .policy_arn(POLICY_ARN)
        .send()
        .await
        .unwrap();
    let status = run(&["guardrails", "status", "--output", "json"], &url).await;
    assert!(status.status.success(), "stderr: {}", text(&status.stderr));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let g = &json["Guardrails"][0];
    assert_eq!(g["GroupName"], "Admins");
    assert_eq!(g["PolicyArn"], POLICY_ARN);
    assert_eq!(g["Engaged"], true);

    // A release needs a reason: a usage error, and nothing changes.
    let no_reason = run(&["guardrails", "release", "--reason", " "], &url).await;
    assert_eq!(no_reason.status.code(), Some(2), "{no_reason:?}");
    assert!(text(&no_reason.stderr).contains("--reason"));
    let missing = run(&["guardrails", "release"], &url).await;
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");

    let released = run(
        &[
            "guardrails",
            "release",
            "--reason",
            "spend reviewed",
            "--output",
            "json",
        ],
        &url,
    )
    .await;
    assert!(
        released.status.success(),
        "stderr: {}",
        text(&released.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&released.stdout).unwrap();
    assert_eq!(json["PolicyArn"], POLICY_ARN);
    let attached = iam
        .list_attached_group_policies()
        .group_name("Admins")
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty());

    let status = run(&["guardrails", "status", "--group", "Admins"], &url).await;
    let out = text(&status.stdout);
    assert!(out.contains("released"), "{out}");
    assert!(out.contains("by operator: spend reviewed"), "{out}");

    // Nothing left to release: the operation fails (exit 1) and says why.
    let again = run(&["guardrails", "release", "--reason", "again"], &url).await;
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(
        text(&again.stderr).contains("not engaged"),
        "{}",
        text(&again.stderr)
    );
    shutdown.trigger();
}
