//! A running event bus for tests: a real nats-server and the service in-process on a free port.
//! For the failure tests on a cluster: [`replica`] (the event bus as a process) and [`load`]
//! (a steady PutEvents load and its counts).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod load;
pub mod replica;

use std::net::SocketAddr;

use async_nats::jetstream;
use groundwork_eventbus::Settings;
use groundwork_kit::Shutdown;
use groundwork_proto::v1::event_bus_client::EventBusClient;
use groundwork_testkit::NatsServer;

pub use groundwork_testkit::grpc::{API_TOKEN, Channel};

/// A channel to `addr` that sends [`API_TOKEN`] with every call.
pub async fn channel(addr: SocketAddr) -> Channel {
    groundwork_testkit::grpc::channel(addr).await.unwrap()
}

/// The read-only token of the test stacks.
pub const READ_ONLY_TOKEN: &str = "test-read-only-token";

#[derive(Debug)]
pub struct Stack {
    pub nats: NatsServer,
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub task: tokio::task::JoinHandle<Result<(), groundwork_eventbus::Error>>,
    /// The server's TLS (a local CA and its certificate) when it serves TLS.
    pub tls: Option<(tempfile::TempDir, groundwork_kit::tls::LocalTls)>,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// An event bus serving TLS with a certificate of its own local CA, and a read-only
    /// token beside the operator's: as `groundwork up` runs it.
    pub async fn start_tls() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tls = groundwork_kit::tls::generate_local(dir.path()).unwrap();
        let files = tls.clone();
        let mut stack = Self::start_with(move |s| {
            s.common.tls_cert = Some(files.server_cert.clone());
            s.common.tls_key = Some(files.server_key.clone());
            s.common.read_only_token = Some(READ_ONLY_TOKEN.into());
        })
        .await;
        stack.tls = Some((dir, tls));
        stack
    }

    /// The CA certificate of a TLS stack.
    pub fn ca_file(&self) -> &std::path::Path {
        &self.tls.as_ref().expect("a TLS stack").1.ca_cert
    }

    /// The URL of the API: `https://` for a TLS stack.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let nats = NatsServer::start().expect("nats-server must be installed");
        let mut settings = Settings::on(nats.settings_for("eventbus"));
        settings.common.nats_timeout_ms = 1500;
        settings.common.api_token = Some(API_TOKEN.into());
        configure(&mut settings);
        let ca = settings
            .common
            .tls_cert
            .as_ref()
            .map(|cert| std::fs::read(cert.with_file_name("ca.pem")).unwrap());
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
            tls: None,
        };
        stack.wait_ready(ca).await;
        stack
    }

    /// Waits until the gRPC port answers (health), not a fixed time; over TLS trusting
    /// `ca` when given.
    async fn wait_ready(&self, ca: Option<Vec<u8>>) {
        wait_healthy(self.addr, ca).await;
    }

    pub async fn client(&self) -> EventBusClient<Channel> {
        EventBusClient::new(channel(self.addr).await)
    }

    pub async fn nats_client(&self) -> async_nats::Client {
        self.nats.admin().await.unwrap()
    }

    /// Every event stored on a bus stream, in order, as JSON values (the audit trail's
    /// API calls left out: they are tested on their own, in the e2e crate).
    pub async fn stored(&self, stream: &str) -> Vec<serde_json::Value> {
        let js = jetstream::new(self.nats_client().await);
        groundwork_testkit::events::stored_without_audit(&js, stream)
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.task.await;
    }
}

/// Waits until the event bus at `addr` answers its health check, not a fixed time; over
/// TLS trusting `ca` when given.
pub async fn wait_healthy(addr: SocketAddr, ca: Option<Vec<u8>>) {
    assert!(
        answers_health_check(addr, ca).await,
        "event bus at {addr} did not answer its health check within 30 s"
    );
}

/// Whether the event bus at `addr` answers its health check within 30 s.
pub async fn answers_health_check(addr: SocketAddr, ca: Option<Vec<u8>>) -> bool {
    let scheme = if ca.is_some() { "https" } else { "http" };
    let mut endpoint =
        tonic::transport::Channel::from_shared(format!("{scheme}://{addr}")).unwrap();
    if let Some(ca) = ca {
        endpoint = endpoint
            .tls_config(groundwork_kit::tls::ClientTls::with_ca_pem(ca).config())
            .unwrap();
    }
    // A deadline, not a count of tries: on two busy cores, a replica's first start on a
    // cluster (its R3 streams and buckets, each a Raft group to elect) once did not answer
    // within the 5 s that 500 tries came to.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if let Ok(channel) = endpoint.connect().await {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            if health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok()
            {
                return true;
            }
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

/// An event bus in-process on NATS that the test runs itself (a cluster): the service
/// only, on a free port.
#[derive(Debug)]
pub struct Service {
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub task: tokio::task::JoinHandle<Result<(), groundwork_eventbus::Error>>,
}

impl Service {
    /// Starts the event bus with `settings` and waits until it answers.
    pub async fn start(settings: Settings) -> Self {
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
        wait_healthy(addr, None).await;
        Self {
            addr,
            shutdown,
            task,
        }
    }

    pub async fn client(&self) -> EventBusClient<Channel> {
        EventBusClient::new(channel(self.addr).await)
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

/// Settings that make retries fast for tests.
pub fn fast_retries(s: &mut Settings) {
    s.retry_base_delay_ms = 10;
    s.retry_max_delay_ms = 100;
    s.webhook_timeout_ms = 2_000;
}

/// Polls `check` until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// One message a NATS-subject target received.
#[derive(Debug, Clone)]
pub struct Received {
    pub subject: String,
    pub event_id: String,
    pub replay_name: Option<String>,
    pub payload: String,
}

/// Everything in the DELIVERIES stream, in order (read with one ordered consumer).
pub async fn deliveries(js: &jetstream::Context) -> Vec<Received> {
    use futures::StreamExt;
    let Ok(mut stream) = js.get_stream("DELIVERIES").await else {
        return Vec::new();
    };
    let total = stream.info().await.unwrap().state.messages as usize;
    let mut out = Vec::with_capacity(total);
    if total == 0 {
        return out;
    }
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    while out.len() < total {
        let Ok(Some(Ok(m))) =
            tokio::time::timeout(std::time::Duration::from_secs(5), messages.next()).await
        else {
            break;
        };
        let header = |name: &str| {
            m.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
        };
        out.push(Received {
            subject: m.subject.to_string(),
            event_id: header("Groundwork-Event-Id").unwrap_or_default(),
            replay_name: header("Groundwork-Replay-Name"),
            payload: String::from_utf8_lossy(&m.payload).into_owned(),
        });
    }
    out
}

/// Messages in a stream.
pub async fn stream_len(js: &jetstream::Context, name: &str) -> u64 {
    match js.get_stream(name).await {
        Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Whether a durable consumer has nothing pending and nothing unacknowledged.
pub async fn consumer_idle(js: &jetstream::Context, stream: &str, consumer: &str) -> bool {
    let Ok(s) = js.get_stream(stream).await else {
        return false;
    };
    let Ok(mut c) = s
        .get_consumer::<jetstream::consumer::pull::Config>(consumer)
        .await
    else {
        return false;
    };
    match c.info().await {
        Ok(i) => i.num_pending == 0 && i.num_ack_pending == 0,
        Err(_) => false,
    }
}

pub fn target(id: &str, arn: &str) -> groundwork_proto::v1::Target {
    groundwork_proto::v1::Target {
        id: id.into(),
        arn: arn.into(),
        ..Default::default()
    }
}

/// What a test webhook answers to one attempt (numbered from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Accept the request and never answer.
    Hang,
}

type Behaviour = Box<dyn Fn(usize) -> Answer + Send + Sync>;

/// A real HTTP server for webhook targets, recording every attempt.
pub struct Webhook {
    pub url: String,
    attempts: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    delivered: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The client address of each delivered request, in the order of `delivered`.
    delivered_from: std::sync::Arc<std::sync::Mutex<Vec<SocketAddr>>>,
    behaviour: std::sync::Arc<std::sync::RwLock<Behaviour>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &self.url).finish()
    }
}

impl Webhook {
    pub async fn start(behaviour: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Self {
        use std::sync::{Arc, Mutex, RwLock};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/hook?token=s3cret",
            listener.local_addr().unwrap()
        );
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let delivered_from = Arc::new(Mutex::new(Vec::new()));
        let behaviour: Arc<RwLock<Behaviour>> = Arc::new(RwLock::new(Box::new(behaviour)));
        let (a, d, b) = (attempts.clone(), delivered.clone(), behaviour.clone());
        let f = delivered_from.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                let (a, d, b, f) = (a.clone(), d.clone(), b.clone(), f.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (a, d, b, f) = (a.clone(), d.clone(), b.clone(), f.clone());
                            async move {
                                use http_body_util::BodyExt;
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|c| c.to_bytes())
                                    .unwrap_or_default();
                                let body = String::from_utf8_lossy(&body).into_owned();
                                let n = {
                                    let mut attempts = a.lock().unwrap();
                                    attempts.push(body.clone());
                                    attempts.len()
                                };
                                let answer = (b.read().unwrap())(n);
                                match answer {
                                    Answer::Hang => std::future::pending::<()>().await,
                                    Answer::Status(code) => {
                                        if (200..300).contains(&code) {
                                            // One lock for both, so that they stay in step.
                                            let mut d = d.lock().unwrap();
                                            d.push(body);
                                            f.lock().unwrap().push(peer);
                                        }
                                    }
                                }
                                let code = match answer {
                                    Answer::Status(c) => c,
                                    Answer::Hang => 500,
                                };
                                Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .status(code)
                                        .body(http_body_util::Full::new(bytes::Bytes::new()))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url,
            attempts,
            delivered,
            delivered_from,
            behaviour,
        }
    }

    pub fn attempts(&self) -> usize {
        self.attempts.lock().unwrap().len()
    }

    pub fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }

    /// Each delivered request with the client address it came from.
    pub fn delivered_with_peers(&self) -> Vec<(String, SocketAddr)> {
        let delivered = self.delivered.lock().unwrap();
        let from = self.delivered_from.lock().unwrap();
        delivered
            .iter()
            .cloned()
            .zip(from.iter().copied())
            .collect()
    }

    pub fn answer(&self, behaviour: impl Fn(usize) -> Answer + Send + Sync + 'static) {
        *self.behaviour.write().unwrap() = Box::new(behaviour);
    }
}

/// An EventBridge client of the AWS SDK for Rust for `stack`'s HTTP API, signing with
/// `access_key_id` and `secret` (SigV4), trusting the stack's CA when it serves TLS.
pub fn eventbridge(
    stack: &Stack,
    access_key_id: &str,
    secret: &str,
) -> aws_sdk_eventbridge::Client {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let mut builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    if let Some((_, files)) = &stack.tls {
        let ca = std::fs::read(&files.ca_cert).unwrap();
        builder = builder.tls_context(
            tls::TlsContext::builder()
                .with_trust_store(tls::TrustStore::empty().with_pem_certificate(ca))
                .build()
                .unwrap(),
        );
    }
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
        .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
        .endpoint_url(stack.url())
        .http_client(builder.build_https())
        .credentials_provider(aws_credential_types::Credentials::new(
            access_key_id,
            secret,
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

/// The operator's client: access key id `operator`, the API token as secret.
pub fn operator(stack: &Stack) -> aws_sdk_eventbridge::Client {
    eventbridge(stack, "operator", API_TOKEN)
}

/// The path of a client tool from the repository's `.venv` (the AWS CLI, its Python).
pub fn venv_tool(name: &str) -> std::path::PathBuf {
    groundwork_testkit::process::find_binary(
        name,
        "GROUNDWORK_VENV_TOOL",
        groundwork_testkit::INSTALL_HINT,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// What one target received in a failure test: event ids with how many times each, and the
/// producer's sequence numbers (`detail.seq`).
#[derive(Debug, Default)]
pub struct Tally {
    pub times: std::collections::HashMap<String, usize>,
    pub seqs: std::collections::HashSet<usize>,
}

impl Tally {
    pub fn add(&mut self, event: &serde_json::Value) {
        let id = event["id"].as_str().unwrap().to_owned();
        *self.times.entry(id).or_default() += 1;
        self.seqs
            .insert(usize::try_from(event["detail"]["seq"].as_u64().unwrap()).unwrap());
    }

    pub fn deliveries(&self) -> usize {
        self.times.values().sum()
    }

    pub fn duplicates(&self) -> usize {
        self.deliveries() - self.times.len()
    }

    /// Accepted events (by id) this target never received.
    pub fn lost<V>(&self, accepted: &std::collections::HashMap<String, V>) -> usize {
        accepted
            .keys()
            .filter(|id| !self.times.contains_key(*id))
            .count()
    }

    /// Events received whose acceptance the producer never saw (its call failed).
    pub fn never_acknowledged<V>(&self, accepted: &std::collections::HashMap<String, V>) -> usize {
        self.times
            .keys()
            .filter(|id| !accepted.contains_key(*id))
            .count()
    }

    /// What a webhook target received.
    pub fn from_webhook(webhook: &Webhook) -> Self {
        let mut received = Self::default();
        for body in webhook.delivered() {
            received.add(&serde_json::from_str(&body).unwrap());
        }
        received
    }

    /// What the NATS-subject target `subject` received.
    pub async fn from_deliveries(js: &jetstream::Context, subject: &str) -> Self {
        let mut received = Self::default();
        for delivery in deliveries(js).await {
            assert!(delivery.subject.ends_with(subject), "{}", delivery.subject);
            received.add(&serde_json::from_str(&delivery.payload).unwrap());
        }
        received
    }
}
