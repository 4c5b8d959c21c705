//! Two event-bus replicas started at the same moment on a three-node cluster, as an
//! orchestrator of containers starts them: both come up (creating the same streams and
//! consumers at once is not an error), and both take their share of the work within a bound:
//! each keeps a pull request waiting on the router's and the deliverer's shared consumers
//! (`num_waiting` 2). A pull request sent while a clustered consumer is still being placed
//! can go unanswered; the shared consumer layer sends a new one every few seconds
//! (`groundwork_bus::consumer`), where the client's default would wait 30 s (35 s measured
//! before; about 10 s now).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::replica::{BusReplica, waiting_pulls};
use groundwork_proto::v1 as pb;
use groundwork_testkit::NatsCluster;

/// Both replicas pull from both shared consumers within this long after they answer.
const BOUND: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_started_together_both_come_up_and_both_pull() {
    let cluster = NatsCluster::start().expect("nats-server must be installed");
    let (first, second) = tokio::join!(BusReplica::start(&cluster), BusReplica::start(&cluster));
    let js = jetstream::new(cluster.admin().await.unwrap());
    let up = Instant::now();
    let mut waiting = (0, 0);
    while up.elapsed() < BOUND {
        waiting = (
            waiting_pulls(&js, "EVENTS_default", "router").await,
            waiting_pulls(&js, "TARGETS", "deliverer").await,
        );
        if waiting == (2, 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "pull requests waiting on the router's / deliverer's consumer: {waiting:?}, {:.1?} after both answered",
        up.elapsed()
    );
    assert_eq!(
        waiting,
        (2, 2),
        "both replicas pull from the shared consumers within {BOUND:?}"
    );
    for replica in [&first, &second] {
        let answer = replica
            .client()
            .await
            .put_events(pb::PutEventsRequest {
                entries: vec![pb::PutEventsRequestEntry {
                    source: "test.together".into(),
                    detail_type: "Started".into(),
                    detail: "{}".into(),
                    ..Default::default()
                }],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.failed_entry_count, 0, "{answer:?}");
    }
}
