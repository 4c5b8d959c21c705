//! A running event bus for tests: a real nats-server and the service in-process on a free port.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use async_nats::jetstream;
use groundwork_eventbus::Settings;
use groundwork_kit::Shutdown;
use groundwork_proto::v1::event_bus_client::EventBusClient;
use groundwork_testkit::NatsServer;
use tonic::transport::Channel;

#[derive(Debug)]
pub struct Stack {
    pub nats: NatsServer,
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub task: tokio::task::JoinHandle<Result<(), groundwork_eventbus::Error>>,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let nats = NatsServer::start().expect("nats-server must be installed");
        let mut settings = Settings::for_nats(nats.url());
        settings.common.nats_timeout_ms = 1500;
        configure(&mut settings);
        let listener = groundwork_kit::grpc::bind(settings.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = groundwork_eventbus::connect(&settings).await.unwrap();
        let shutdown = Shutdown::new();
        let task = tokio::spawn(groundwork_eventbus::serve(
            settings,
            client,
            listener,
            shutdown.clone(),
        ));
        let stack = Self {
            nats,
            addr,
            shutdown,
            task,
        };
        stack.wait_ready().await;
        stack
    }

    /// Waits until the gRPC port answers (health), not a fixed time.
    async fn wait_ready(&self) {
        for _ in 0..500 {
            if let Ok(channel) = Channel::from_shared(format!("http://{}", self.addr))
                .unwrap()
                .connect()
                .await
            {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                if health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .is_ok()
                {
                    return;
                }
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("event bus did not start");
    }

    pub async fn client(&self) -> EventBusClient<Channel> {
        EventBusClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }

    pub async fn nats_client(&self) -> async_nats::Client {
        async_nats::connect(self.nats.url()).await.unwrap()
    }

    /// Every event stored on a bus stream, in order, as JSON values.
    pub async fn stored(&self, stream: &str) -> Vec<serde_json::Value> {
        let js = jetstream::new(self.nats_client().await);
        let mut stream = js.get_stream(stream).await.unwrap();
        let last = stream.info().await.unwrap().state.last_sequence;
        let mut out = Vec::new();
        for seq in 1..=last {
            if let Ok(message) = stream.get_raw_message(seq).await {
                out.push(serde_json::from_slice(&message.payload).unwrap());
            }
        }
        out
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.task.await;
    }
}

pub fn entry(
    source: &str,
    detail_type: &str,
    detail: &str,
) -> groundwork_proto::v1::PutEventsRequestEntry {
    groundwork_proto::v1::PutEventsRequestEntry {
        source: source.into(),
        detail_type: detail_type.into(),
        detail: detail.into(),
        ..Default::default()
    }
}
