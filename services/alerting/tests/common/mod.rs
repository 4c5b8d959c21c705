//! A running alerting service for tests: a real nats-server, a real moto_server, a real
//! local HTTP server as the webhook, the event bus and the alerting service in-process on
//! free ports.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use groundwork_alerting::Settings;
use groundwork_cloud::AwsSettings;
use groundwork_kit::Shutdown;
use groundwork_proto::v1 as pb;
use groundwork_proto::v1::alerting_client::AlertingClient;
use groundwork_proto::v1::event_bus_client::EventBusClient;
use groundwork_testkit::{MotoServer, NatsServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use groundwork_testkit::grpc::{API_TOKEN, Channel};

/// A channel to `addr` that sends [`API_TOKEN`] with every call.
pub async fn channel(addr: SocketAddr) -> Channel {
    groundwork_testkit::grpc::channel(addr).await.unwrap()
}

/// The SDK configuration for moto, with the test credentials.
pub async fn sdk_config(moto: &MotoServer) -> aws_config::SdkConfig {
    groundwork_cloud::config::load(&AwsSettings::sandbox(moto.endpoint()))
        .await
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .build()
}

#[derive(Debug)]
pub struct Stack {
    pub nats: NatsServer,
    pub moto: MotoServer,
    pub webhook: WebhookServer,
    pub aws: aws_config::SdkConfig,
    pub addr: SocketAddr,
    pub eventbus_addr: SocketAddr,
    pub shutdown: Shutdown,
    pub task: tokio::task::JoinHandle<Result<(), groundwork_alerting::Error>>,
    pub eventbus_task: tokio::task::JoinHandle<Result<(), groundwork_eventbus::Error>>,
    /// The webhooks the service was started with (each a target of alerting's rules).
    pub webhooks: Vec<groundwork_alerting::notify::targets::WebhookSpec>,
    pub notify_attempts: u32,
    /// The settings the service was started with, for more replicas of it.
    pub settings: Settings,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts the servers, then the service with the test's settings (watchers every
    /// 100 ms, the webhook server as a JSON webhook, quick retries).
    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let nats = NatsServer::start().expect("nats-server must be installed");
        let moto = MotoServer::start().expect("moto_server must be installed");
        let webhook = WebhookServer::start().await;
        let aws = sdk_config(&moto).await;
        let shutdown = Shutdown::new();

        let mut bus_settings = groundwork_eventbus::Settings::on(nats.settings_for("eventbus"));
        bus_settings.retry_base_delay_ms = 50;
        bus_settings.common.api_token = Some(API_TOKEN.into());
        let groundwork_eventbus::Embedded {
            addr: eventbus_addr,
            task: eventbus_task,
        } = groundwork_eventbus::start(bus_settings, shutdown.clone())
            .await
            .unwrap();

        let mut settings = Settings::on(nats.settings_for("alerting"));
        settings.eventbus_url = format!("http://{eventbus_addr}");
        settings.common.nats_timeout_ms = 1500;
        settings.common.api_token = Some(API_TOKEN.into());
        settings.poll_interval_ms = 100;
        settings.notify_backoff_ms = 20;
        settings.notify_attempts = 4;
        settings.webhooks = vec![webhook.url().parse().unwrap()];
        configure(&mut settings);
        let webhooks = settings.webhooks.clone();
        let notify_attempts = settings.notify_attempts;
        let (addr, task) = serve(settings.clone(), &aws, &shutdown).await;
        let stack = Self {
            nats,
            moto,
            webhook,
            aws,
            addr,
            eventbus_addr,
            shutdown,
            task,
            eventbus_task,
            webhooks,
            notify_attempts,
            settings,
        };
        wait_ready(stack.addr).await;
        stack
    }

    /// One more replica of the alerting service on the same NATS, moto, event bus and
    /// webhook, with the stack's settings changed by `configure`; it stops on its own.
    pub async fn start_replica(&self, configure: impl FnOnce(&mut Settings)) -> Replica {
        let mut settings = self.settings.clone();
        configure(&mut settings);
        let shutdown = Shutdown::new();
        let (addr, task) = serve(settings, &self.aws, &shutdown).await;
        wait_ready(addr).await;
        Replica {
            addr,
            shutdown,
            task,
        }
    }

    pub async fn eventbus(&self) -> EventBusClient<Channel> {
        EventBusClient::new(channel(self.eventbus_addr).await)
    }

    /// Alerting's webhooks as targets of its rules, as the service puts them.
    pub fn webhook_targets(&self) -> groundwork_alerting::notify::targets::WebhookTargets {
        groundwork_alerting::notify::targets::WebhookTargets {
            webhooks: self.webhooks.clone(),
            attempts: self.notify_attempts,
        }
    }

    /// Waits until alerting's rules are on the event bus with their targets: alerting's
    /// own (for SNS) and one per webhook.
    pub async fn wait_for_rules(&self) {
        let bus = self.eventbus().await;
        let hooks = self.webhook_targets();
        eventually(
            "alerting's rules on the event bus",
            Duration::from_secs(20),
            || {
                let mut bus = bus.clone();
                let hooks = hooks.clone();
                async move {
                    for rule in groundwork_alerting::notify::rules::RULES {
                        let targets = bus
                            .list_targets_by_rule(pb::ListTargetsByRuleRequest {
                                rule: rule.name.into(),
                                ..Default::default()
                            })
                            .await
                            .ok()?
                            .into_inner()
                            .targets;
                        if rule.sns {
                            targets.iter().find(|t| t.id == "groundwork-alerting")?;
                        }
                        for hook in hooks.for_rule(rule) {
                            targets.iter().find(|t| t.id == hook.id)?;
                        }
                    }
                    Some(())
                }
            },
        )
        .await;
    }

    pub async fn client(&self) -> AlertingClient<Channel> {
        AlertingClient::new(channel(self.addr).await)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.aws)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.aws)
    }

    pub async fn nats_client(&self) -> async_nats::Client {
        self.nats.admin().await.unwrap()
    }

    /// Every event stored on the default bus, in order.
    pub async fn events(&self) -> Vec<serde_json::Value> {
        stored_events(&self.nats_client().await).await
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.task.await;
        let _ = self.eventbus_task.await;
    }
}

/// Starts the alerting service in-process on a free port, connected to NATS as itself.
async fn serve(
    settings: Settings,
    aws: &aws_config::SdkConfig,
    shutdown: &Shutdown,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<Result<(), groundwork_alerting::Error>>,
) {
    let listener = groundwork_kit::grpc::bind(settings.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = groundwork_alerting::connect(&settings).await.unwrap();
    let task = tokio::spawn(groundwork_alerting::serve(
        settings,
        groundwork_alerting::Deps {
            aws: aws.clone(),
            nats: client,
        },
        listener,
        shutdown.clone(),
    ));
    (addr, task)
}

/// A further alerting service beside a [`Stack`]'s, stopped on its own.
#[derive(Debug)]
pub struct Replica {
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub task: tokio::task::JoinHandle<Result<(), groundwork_alerting::Error>>,
}

impl Replica {
    /// Stops it (its watchers and notifier with it) and waits until it has.
    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.task.await;
    }
}

/// Waits until a gRPC port answers health checks, not a fixed time.
async fn wait_ready(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(channel) = tonic::transport::Channel::from_shared(format!("http://{addr}"))
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
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the service at {addr} did not start");
}

/// Every event stored on the default bus of this NATS server.
pub async fn stored_events(client: &async_nats::Client) -> Vec<serde_json::Value> {
    let js = jetstream::new(client.clone());
    groundwork_testkit::events::stored_without_audit(&js, "EVENTS_default")
        .await
        .unwrap()
}

/// Polls `check` until it returns `Some`, or fails after `timeout` saying `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// What SNS published to a topic, as moto records it (`/moto-api/data.json`, the SNS
/// backend's `Topic.sent_notifications`: id, message, subject, attributes, group).
pub fn moto_sent_notifications(moto: &MotoServer, topic_arn: &str) -> Vec<serde_json::Value> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", moto.port())).unwrap();
    write!(
        stream,
        "GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let data: serde_json::Value = serde_json::from_str(body).unwrap();
    data["sns"]["Topic"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["arn"] == topic_arn)
        .flat_map(|t| {
            t["sent_notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// One request the webhook server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub content_type: String,
    pub body: serde_json::Value,
}

/// A real HTTP/1.1 server on 127.0.0.1 that records every POST and answers with the
/// statuses it is given, in turn (200 once they run out).
#[derive(Debug, Clone)]
pub struct WebhookServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

impl WebhookServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Self {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            statuses: Arc::default(),
        };
        let this = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let this = this.clone();
                tokio::spawn(async move { this.handle(socket).await });
            }
        });
        server
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The statuses to answer the next requests with.
    pub fn answer_with(&self, statuses: &[u16]) {
        *self.statuses.lock().unwrap() = statuses.to_vec();
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn handle(&self, mut socket: tokio::net::TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n");
            if let Some(end) = head_end {
                let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())
                            .flatten()
                    })
                    .unwrap_or(0);
                if buffer.len() >= end + 4 + length {
                    let body = &buffer[end + 4..end + 4 + length];
                    let path = head
                        .lines()
                        .next()
                        .and_then(|l| l.split(' ').nth(1))
                        .unwrap_or_default()
                        .to_owned();
                    let content_type = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-type")
                                .then(|| v.trim().to_owned())
                        })
                        .unwrap_or_default();
                    let status = {
                        let mut statuses = self.statuses.lock().unwrap();
                        if statuses.is_empty() {
                            200
                        } else {
                            statuses.remove(0)
                        }
                    };
                    self.received.lock().unwrap().push(Received {
                        path,
                        content_type,
                        body: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
                    });
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                    return;
                }
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
