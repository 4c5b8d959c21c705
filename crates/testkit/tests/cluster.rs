//! The three-node cluster starts with a JetStream meta leader, keeps an R3 stream through
//! the loss of its leader, and takes the node back on its store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use groundwork_testkit::NatsCluster;

/// The leader of `stream` once there is one (an election takes a few seconds).
async fn leader(cluster: &NatsCluster, admin: &async_nats::Client, stream: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(i)) = cluster.stream_leader(admin, stream).await {
            return i;
        }
        assert!(Instant::now() < deadline, "{stream} got no leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_survives_the_loss_of_a_stream_leader_and_takes_it_back() {
    let mut cluster = NatsCluster::start().expect("nats-server");
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    assert_eq!(cluster.url(), urls.join(","));
    let admin = cluster.admin().await.unwrap();
    let info = admin.server_info();
    assert_eq!(
        info.cluster.as_deref(),
        Some(groundwork_testkit::cluster::CLUSTER_NAME)
    );
    assert_eq!(info.connect_urls.len(), 3, "{:?}", info.connect_urls);
    // Anonymous clients are refused on every node, as on one server.
    for url in &urls {
        assert!(async_nats::connect(url.as_str()).await.is_err(), "{url}");
    }

    let js = jetstream::new(admin.clone());
    js.create_stream(jetstream::stream::Config {
        name: "R3".into(),
        subjects: vec!["r3.>".into()],
        num_replicas: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    js.publish("r3.a", "before".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let first = leader(&cluster, &admin, "R3").await;

    cluster.kill(first);
    assert!(!cluster.is_running(first));
    let port = urls[first]
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "killed node answers"
    );
    let second = leader(&cluster, &admin, "R3").await;
    assert_ne!(second, first, "another node leads");
    // Two of three still make a quorum: the stream takes writes.
    js.publish("r3.a", "during".into())
        .await
        .unwrap()
        .await
        .unwrap();

    cluster.restart(first).unwrap();
    assert!(cluster.is_running(first));
    let mut stream = js.get_stream("R3").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = stream.info().await.unwrap();
        let cluster_info = info.cluster.as_ref().unwrap();
        let current = cluster_info.replicas.iter().filter(|r| r.current).count();
        if info.state.messages == 2 && current == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted node did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(cluster);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "dropped cluster answers"
    );
}
