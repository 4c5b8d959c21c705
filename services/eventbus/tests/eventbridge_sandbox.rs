//! The sandbox: an event bus run with `--insecure` and no API token takes EventBridge calls
//! with any credentials and any signature, and says so when it starts. (Its own test binary:
//! the log capture is process-wide.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Stack, eventbridge};

#[tokio::test]
async fn an_insecure_bus_takes_any_signature_and_says_so_at_start_up() {
    let log = groundwork_testkit::logs::capture("warn").expect("the only subscriber");
    let stack = Stack::start_with(|s| {
        s.common.api_token = None;
        s.common.insecure = true;
    })
    .await;
    assert!(
        log.text()
            .contains("every request is accepted, signed or not, with any signature"),
        "{}",
        log.text()
    );
    let anyone = eventbridge(&stack, "any-access-key", "any secret at all");
    anyone
        .put_rule()
        .name("open")
        .event_pattern(r#"{"source": ["x"]}"#)
        .send()
        .await
        .unwrap();
    let rules = anyone.list_rules().send().await.unwrap();
    assert_eq!(rules.rules().len(), 1);
    stack.stop().await;
}
