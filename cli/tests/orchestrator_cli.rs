//! `groundwork validate|plan|apply` against the whole stack (nats-server, moto_server and
//! the five services, every one real): what a person sees for a good spec and for one that
//! names an IAM policy that does not exist, which only the account can tell.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use groundwork_e2e::{EXAMPLE_SPEC, Stack};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/groundwork.toml")
}

async fn groundwork(stack: &Stack, args: &[&str]) -> Output {
    let url = format!("https://{}", stack.orchestrator);
    let token = stack.security.api_token.clone();
    let ca = stack.security.tls.ca_cert.clone();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_groundwork"))
            .args(&args)
            .env("GROUNDWORK_ORCHESTRATOR_URL", url)
            .env("GROUNDWORK_API_TOKEN", token)
            .env("GROUNDWORK_CA_FILE", ca)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validate_live_plan_and_apply_report_a_missing_policy_with_its_path() {
    let stack = Stack::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("groundwork.toml");
    std::fs::write(
        &bad,
        EXAMPLE_SPEC.replacen(
            "\"arn:aws:iam::aws:policy/AdministratorAccess\"]",
            "\"arn:aws:iam::aws:policy/AdministratorAccess\", \"arn:aws:iam::aws:policy/NoSuchPolicyAnywhere\"]",
            1,
        ),
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let example = example();
    let example = example.to_str().unwrap();

    // Offline, the spec is well-formed.
    let out = groundwork(&stack, &["validate", bad]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("valid"), "{}", text(&out.stdout));

    // Against the account, it is not: exit 2, the path, the line and the reason.
    let out = groundwork(&stack, &["validate", "--live", bad]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("identity.group_policies[1] (line")
            && stderr.contains("arn:aws:iam::aws:policy/NoSuchPolicyAnywhere does not exist"),
        "{stderr}"
    );
    let out = groundwork(&stack, &["--output", "json", "validate", "--live", bad]).await;
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["problems"][0]["path"], "identity.group_policies[1]");

    // Apply refuses it the same way, before any run starts.
    let out = groundwork(&stack, &["apply", bad]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("identity.group_policies[1]") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(
        stack
            .iam()
            .list_users()
            .send()
            .await
            .unwrap()
            .users()
            .is_empty()
    );

    // The example is valid against the account, and its plan creates everything.
    let out = groundwork(&stack, &["validate", "--live", example]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = groundwork(&stack, &["plan", "--json", example]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["noop"], false);
    let admin = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "admin-user/admin")
        .unwrap();
    assert_eq!(admin["action"], "create");

    stack.stop().await;
}
