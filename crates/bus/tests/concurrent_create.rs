//! Replicas that start at the same moment create the same streams at the same moment, and
//! on a cluster they may not even agree on the configuration: one that connected before the
//! server told it about its peers decides R1 where the others decide R3. The loser of such a
//! race used to be refused ("stream name already in use with a different configuration")
//! and the service exited; now every one of them gets the stream that won, and one that
//! asked for more copies than it has raises them (`streams::raise_replicas`), so the
//! stream ends with the most copies any of them asked for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use groundwork_bus::StreamSettings;
use groundwork_bus::streams::{
    ensure_deliveries_stream, ensure_events_stream, ensure_targets_stream,
};
use groundwork_testkit::NatsCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_creating_the_same_streams_at_once_all_get_them() {
    let cluster = NatsCluster::start().expect("nats-server must be installed");
    let admin = async_nats::jetstream::new(cluster.admin().await.unwrap());
    for round in 0..6 {
        let mut racers = Vec::new();
        for racer in 0..4_usize {
            // Each racer its own connection, as each replica has.
            let js = groundwork_bus::connect::jetstream(
                &cluster.admin().await.unwrap(),
                Duration::from_secs(10),
            );
            let settings = StreamSettings {
                replicas: if racer % 2 == 0 { 3 } else { 1 },
                ..StreamSettings::default()
            };
            racers.push(tokio::spawn(async move {
                ensure_targets_stream(&js, &settings).await?;
                ensure_deliveries_stream(&js, &settings, Duration::from_secs(3600)).await?;
                ensure_events_stream(&js, "default", &settings).await
            }));
        }
        for racer in racers {
            racer
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: a replica was refused: {e}"));
        }
        // Whichever configuration won the race, the racers that asked for three copies
        // raised the stream to three.
        for name in ["TARGETS", "DELIVERIES", "EVENTS_default"] {
            let copies = admin
                .get_stream(name)
                .await
                .unwrap()
                .cached_info()
                .config
                .num_replicas;
            assert_eq!(copies, 3, "round {round}: {name}");
            admin.delete_stream(name).await.unwrap();
        }
    }
}
