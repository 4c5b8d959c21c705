//! Stream replicas follow the deployment: left unset, every stream and KV bucket the event
//! bus creates has three replicas on a three-node cluster and one on a single server
//! (`groundwork_bus::replicas`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_nats::jetstream;
use futures::StreamExt;
use groundwork_eventbus::Settings;
use groundwork_testkit::{NatsCluster, NatsServer};

/// The replicas of every stream on the server (KV buckets are the `KV_*` streams), by name.
async fn replicas_of_every_stream(admin: async_nats::Client) -> Vec<(String, usize)> {
    let js = jetstream::new(admin);
    let mut names: Vec<String> = js.stream_names().map(|name| name.unwrap()).collect().await;
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let mut stream = js.get_stream(&name).await.unwrap();
        let replicas = stream.info().await.unwrap().config.num_replicas;
        out.push((name, replicas));
    }
    out
}

/// The bus's own streams and its rules bucket are among them.
fn assert_bus_streams(all: &[(String, usize)], replicas: usize) {
    for name in [
        "EVENTS_default",
        "DLQ_default",
        "TARGETS",
        "KV_eventbus-rules",
    ] {
        assert!(
            all.iter().any(|(n, _)| n == name),
            "{name} was created: {all:?}"
        );
    }
    for (name, r) in all {
        assert_eq!(*r, replicas, "{name} has {r} replicas: {all:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_three_node_cluster_every_stream_and_bucket_has_three_replicas() {
    let cluster = NatsCluster::start().expect("nats-server must be installed");
    let settings = Settings::on(cluster.settings_for("eventbus"));
    assert_eq!(settings.common.stream_replicas, 0, "left to detection");
    let bus = common::Service::start(settings).await;
    let all = replicas_of_every_stream(cluster.admin().await.unwrap()).await;
    assert_bus_streams(&all, 3);
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_server_every_stream_and_bucket_has_one_replica() {
    let nats = NatsServer::start().expect("nats-server must be installed");
    let bus = common::Service::start(Settings::on(nats.settings_for("eventbus"))).await;
    let all = replicas_of_every_stream(nats.admin().await.unwrap()).await;
    assert_bus_streams(&all, 1);
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_replica_count_wins_over_detection() {
    let cluster = NatsCluster::start().expect("nats-server must be installed");
    let mut settings = Settings::on(cluster.settings_for("eventbus"));
    settings.common.stream_replicas = 1;
    let bus = common::Service::start(settings).await;
    let all = replicas_of_every_stream(cluster.admin().await.unwrap()).await;
    assert_bus_streams(&all, 1);
    bus.stop().await;
}
