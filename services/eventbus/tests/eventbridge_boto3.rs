//! The EventBridge HTTP API through boto3 (pinned in the repository's `.venv`): paginators,
//! tags and typed exceptions, checked by `tests/boto3/eventbridge.py` against a running bus.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{API_TOKEN, READ_ONLY_TOKEN, Stack, venv_tool};

#[tokio::test(flavor = "multi_thread")]
async fn boto3_paginates_tags_and_raises_eventbridge_exceptions() {
    let stack = Stack::start_tls().await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/boto3/eventbridge.py");
    let home = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(venv_tool("python"))
        .arg(&script)
        .env_clear()
        .env("HOME", home.path())
        .env("GROUNDWORK_EVENTS_URL", stack.url())
        .env("GROUNDWORK_CA_FILE", stack.ca_file())
        .env("GROUNDWORK_API_TOKEN", API_TOKEN)
        .env("GROUNDWORK_READ_ONLY_TOKEN", READ_ONLY_TOKEN)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    stack.stop().await;
}
