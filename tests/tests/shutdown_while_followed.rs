//! A person following a run (an open ApplySpec stream waiting for MFA codes) does not keep
//! the orchestrator from stopping: at shutdown the stream ends with UNAVAILABLE and says
//! how to follow the run again, and every service stops within its grace period.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use groundwork_e2e::{EXAMPLE_SPEC, Stack};
use groundwork_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_follower_ends_with_unavailable_at_shutdown() {
    let stack = Stack::start().await.unwrap();
    let mut stream = stack
        .orchestrator()
        .await
        .apply_spec(pb::ApplySpecRequest {
            spec_toml: EXAMPLE_SPEC.into(),
            resume_run_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let run_id = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(update) = stream.next().await {
            if let Some(run) = update.unwrap().run
                && run.status() == pb::SetupRunStatus::Waiting
            {
                return run.run_id;
            }
        }
        panic!("the stream ended before the run waited for the person");
    })
    .await
    .expect("the run reached WAITING in time");

    // The follower keeps reading while the stack stops.
    let follower = tokio::spawn(async move {
        let mut last = None;
        while let Some(item) = stream.next().await {
            last = Some(item);
        }
        last
    });
    let stuck = stack.stop().await;
    assert!(stuck.is_empty(), "every service stopped: {stuck:?}");

    let last = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("the follower's stream ended")
        .unwrap()
        .expect("the stream said why it ended");
    let status = last.expect_err("the last item is an error, not an update");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("groundwork watch {run_id}")),
        "{}",
        status.message()
    );
}
