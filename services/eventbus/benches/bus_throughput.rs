//! Event bus throughput and latency: PutEvents (gRPC, 10 entries per call, several
//! concurrent callers) → router (100 rules) → a NATS-subject target (stored by the router
//! in `DELIVERIES`), against raw JetStream publish → consume measured in the same run on
//! the same server; and the same PutEvents over EventBridge's HTTP API, sent by the AWS SDK
//! for Rust, and over the NATS ingress, beside gRPC.
//!
//! Between raw JetStream and the bus, each run measures the bus's guarantees done by hand
//! on raw JetStream ([`guarantee_floor`]): the stores, acks and headers the bus needs per
//! event, without gRPC, matching or JSON. Its ratio to raw JetStream is the most the bus
//! could reach; the rest of the gap is the bus's own work.
//!
//! Each run also prints the CPU time nats-server and this process (the event bus plus the
//! benchmark's own gRPC callers and consumer) spent per 1,000 events, read from `/proc`.
//!
//! Run: `cargo bench -p groundwork-eventbus --bench bus_throughput`
//! (`BENCH_EVENTS`, `BENCH_CALLERS`, `BENCH_RATE`, `BENCH_SECONDS` change the defaults;
//! `BENCH_ONLY_RAW` runs only the baseline, `BENCH_ONLY=grpc` only the gRPC run and
//! `BENCH_ONLY=floor` only the guarantees by hand (to profile them), `BENCH_RAW_MSGID` and `BENCH_RAW_ACK=explicit|all`
//! add message ids and consumer acks to it, to measure what they cost the server;
//! the baseline's messages are events of the bus's size unless `BENCH_RAW_PAYLOAD=tiny`
//! makes them the send time alone (16 bytes), as before 2026-12-02; `BENCH_RAW_ATOMIC`
//! publishes them as atomic batches of ten (nats-server 2.12), one acknowledgement each;
//! `BENCH_CLUSTER=3` runs all of it on testkit's three-node cluster instead of one server:
//! the bus makes its streams R3 there, and the raw baseline's stream is R3 too).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use groundwork_kit::Shutdown;
use groundwork_proto::v1 as pb;
use groundwork_proto::v1::event_bus_client::EventBusClient;
use groundwork_testkit::{NatsCluster, NatsServer};

/// The operator token of the benchmark's event bus (security is on here too).
const BENCH_TOKEN: &str = "bench-token";

const RULES: usize = 100;

/// The NATS the benchmark runs on: one server, or three routed nodes (`BENCH_CLUSTER=3`).
enum Nats {
    Single(NatsServer),
    Cluster(NatsCluster),
}

impl Nats {
    fn start() -> Self {
        match std::env::var("BENCH_CLUSTER").as_deref() {
            Ok("3") => Self::Cluster(NatsCluster::start().expect("nats-server must be installed")),
            Ok("" | "1") | Err(_) => {
                Self::Single(NatsServer::start().expect("nats-server must be installed"))
            }
            Ok(other) => panic!("BENCH_CLUSTER={other}: use 1 (one server) or 3"),
        }
    }

    fn settings_for(&self, service: &str) -> groundwork_kit::CommonSettings {
        match self {
            Self::Single(n) => n.settings_for(service),
            Self::Cluster(c) => c.settings_for(service),
        }
    }

    async fn admin(&self) -> async_nats::Client {
        match self {
            Self::Single(n) => n.admin().await.unwrap(),
            Self::Cluster(c) => c.admin().await.unwrap(),
        }
    }

    /// How many copies a stream keeps here (the raw baseline's stream as the bus's).
    fn replicas(&self) -> usize {
        match self {
            Self::Single(_) => 1,
            Self::Cluster(_) => 3,
        }
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

struct Run {
    events: usize,
    seconds: f64,
    latencies_us: Vec<u64>,
    cpu: Option<Cpu>,
}

/// CPU time (user + system, in clock ticks of 10 ms) of this process (the event bus and
/// the benchmark's own clients) and of nats-server, from `/proc` (Linux only).
#[derive(Clone, Copy, Default)]
struct Cpu {
    bench: u64,
    nats: u64,
}

fn ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3; utime and
    // stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Every nats-server this process started (one, or the cluster's three).
fn nats_pids() -> Vec<String> {
    let mut pids = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return pids;
    };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_whitespace() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "nats-server" {
                pids.push(pid.to_owned());
            }
        }
    }
    pids
}

fn cpu_now() -> Option<Cpu> {
    let pids = nats_pids();
    if pids.is_empty() {
        return None;
    }
    Some(Cpu {
        bench: ticks("self")?,
        nats: pids.iter().map(|pid| ticks(pid)).sum::<Option<u64>>()?,
    })
}

fn cpu_since(start: Option<Cpu>) -> Option<Cpu> {
    let (start, end) = (start?, cpu_now()?);
    Some(Cpu {
        bench: end.bench.saturating_sub(start.bench),
        nats: end.nats.saturating_sub(start.nats),
    })
}

impl Run {
    fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }
    fn report(&mut self, name: &str) {
        self.latencies_us.sort_unstable();
        println!(
            "{name:<34} {:>8} events in {:>6.2} s = {:>8.0} events/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
            self.events,
            self.seconds,
            self.rate(),
            percentile(&self.latencies_us, 0.50),
            percentile(&self.latencies_us, 0.99),
        );
        if let Some(cpu) = self.cpu {
            // Ticks are 10 ms; per 1,000 events in ms of CPU.
            let per_k = |t: u64| t as f64 * 10.0 * 1000.0 / self.events as f64;
            println!(
                "{:<34} CPU per 1,000 events: nats-server(s) {:>6.1} ms, this process {:>6.1} ms",
                "",
                per_k(cpu.nats),
                per_k(cpu.bench),
            );
        }
    }
}

/// Collects `n` messages from a consumer, returning the latency of each (payload starts
/// with the send time in microseconds, or carries `"t":<micros>`).
async fn collect(
    mut messages: consumer::pull::Stream,
    n: usize,
    ack: consumer::AckPolicy,
) -> (Vec<u64>, Instant) {
    let mut latencies = Vec::with_capacity(n);
    while latencies.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(60), messages.next())
            .await
            .expect("deliveries stopped arriving")
            .unwrap()
            .unwrap();
        let text = std::str::from_utf8(&m.payload).unwrap();
        let sent: u64 = match text.find("\"t\":") {
            Some(i) => text[i + 4..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap(),
            None => text.parse().unwrap(),
        };
        match ack {
            consumer::AckPolicy::Explicit => m.ack().await.unwrap(),
            consumer::AckPolicy::All if latencies.len() % 100 == 99 => m.ack().await.unwrap(),
            _ => {}
        }
        latencies.push(now_micros().saturating_sub(sent));
    }
    (latencies, Instant::now())
}

/// A stream of the benchmark's own, as many copies as the bus's streams keep.
async fn bench_stream(
    js: &jetstream::Context,
    name: &str,
    subject: &str,
    replicas: usize,
    atomic: bool,
) -> stream::Stream {
    js.get_or_create_stream(stream::Config {
        name: name.into(),
        subjects: vec![subject.into()],
        num_replicas: replicas,
        allow_atomic_publish: atomic,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// A durable pull consumer's messages, pulled in batches of 1,000 as the bus's are.
async fn reader(
    s: &stream::Stream,
    name: &str,
    ack: consumer::AckPolicy,
) -> consumer::pull::Stream {
    s.create_consumer(consumer::pull::Config {
        durable_name: Some(name.into()),
        ack_policy: ack,
        max_ack_pending: 20_000,
        ..Default::default()
    })
    .await
    .unwrap()
    .stream()
    .max_messages_per_batch(1000)
    .messages()
    .await
    .unwrap()
}

/// The headers of one of the bus's deliveries (the delivery id as `Nats-Msg-Id`, the event
/// id, the rule ARN) for one of the 100 rules drawn at random; returns the rule's number.
fn like_a_delivery(m: PublishMessage) -> (usize, PublishMessage) {
    let rule = fastrand::usize(..RULES);
    let m = m
        .message_id(format!("{}:bench-{rule:03}:t", uuid_like()))
        .header("Groundwork-Event-Id", uuid_like())
        .header(
            "Groundwork-Rule-Arn",
            format!("arn:aws:events:us-east-1:123456789012:rule/bench-{rule:03}"),
        );
    (rule, m)
}

async fn raw_jetstream(
    client: &async_nats::Client,
    js: &jetstream::Context,
    replicas: usize,
    events: usize,
    callers: usize,
) -> Run {
    // Knobs read once, outside the measured loops.
    let ack = match std::env::var("BENCH_RAW_ACK").as_deref() {
        Ok("explicit") => consumer::AckPolicy::Explicit,
        Ok("all") => consumer::AckPolicy::All,
        _ => consumer::AckPolicy::None,
    };
    let message_ids = std::env::var_os("BENCH_RAW_MSGID").is_some();
    let tiny = std::env::var("BENCH_RAW_PAYLOAD").as_deref() == Ok("tiny");
    let atomic = std::env::var_os("BENCH_RAW_ATOMIC").is_some();
    let like_bus = std::env::var_os("BENCH_RAW_LIKE_BUS").is_some();
    let s = bench_stream(js, "BENCH_RAW", "bench.raw.>", replicas, atomic).await;
    let messages = reader(&s, "bench", ack).await;
    let cpu = cpu_now();
    let start = Instant::now();
    let collector = tokio::spawn(async move { collect(messages, events, ack).await });
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let js = js.clone();
        let next = next.clone();
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(10, Ordering::Relaxed) < events {
                if atomic {
                    atomic_ten(&client, tiny, message_ids).await;
                    continue;
                }
                let mut acks = Vec::new();
                for _ in 0..10 {
                    let payload = if tiny {
                        now_micros().to_string()
                    } else {
                        raw_event(now_micros())
                    };
                    let mut m = PublishMessage::build().payload(payload.into());
                    if message_ids {
                        m = m.message_id(uuid_like());
                    }
                    let subject = if like_bus {
                        let rule;
                        (rule, m) = like_a_delivery(m);
                        format!("bench.raw.r{rule:03}")
                    } else {
                        "bench.raw.x".to_owned()
                    };
                    acks.push(js.send_publish(subject, m).await.unwrap());
                }
                for ack in acks {
                    ack.await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (latencies_us, end) = collector.await.unwrap();
    Run {
        events,
        seconds: (end - start).as_secs_f64(),
        latencies_us,
        cpu: cpu_since(cpu),
    }
}

/// The bus's guarantees done by hand on raw JetStream, without the bus: what NATS must do
/// per event for them, with the least client work. Producers store ten events as one
/// message with a message id (stored before the call answers, de-duplicated when retried)
/// on an input stream; a "router" on its own connection pulls those messages (explicit
/// ack), stores each event as a delivery like the bus's (message id, the event id and rule
/// ARN headers, one of 100 subjects) on an output stream, and acknowledges the message once
/// all ten are stored; the reader consumes the output stream. No gRPC, JSON decoding or
/// matching: the ratio of this run to plain raw JetStream is the highest the bus can reach.
async fn guarantee_floor(
    client: &async_nats::Client,
    router_client: async_nats::Client,
    js: &jetstream::Context,
    replicas: usize,
    events: usize,
    callers: usize,
) -> Run {
    let input = bench_stream(js, "BENCH_FLOOR_IN", "bench.floor.in", replicas, false).await;
    let output = bench_stream(js, "BENCH_FLOOR_OUT", "bench.floor.out.>", replicas, false).await;
    let messages = reader(&output, "reader", consumer::AckPolicy::None).await;
    let routed = reader(&input, "router", consumer::AckPolicy::Explicit).await;
    let (stop, routing) = route_by_hand(routed, router_client, "bench.floor.out");
    let js = jetstream::new(client.clone());
    let run = drive(messages, events, callers, move |_| {
        let js = js.clone();
        async move {
            let lines: Vec<String> = (0..10).map(|_| raw_event(now_micros())).collect();
            let m = PublishMessage::build()
                .payload(lines.join("\n").into())
                .message_id(uuid_like());
            js.send_publish("bench.floor.in", m)
                .await
                .unwrap()
                .await
                .unwrap();
        }
    })
    .await;
    stop.cancel();
    let _ = routing.await;
    run
}

/// The router's work done by hand: pulls the stored calls from `routed` (explicit acks, at
/// most 2,048 in flight, the bus's default) and stores every line as a delivery like the
/// bus's on `<out>.r<rule>` (see [`like_a_delivery`]), acknowledging a call once its ten
/// deliveries are stored. Runs on `router_client` (its own connection, as the bus's router)
/// until the returned token is cancelled.
fn route_by_hand(
    mut routed: consumer::pull::Stream,
    router_client: async_nats::Client,
    out: &'static str,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    // The bus's context (acks in flight bounded by the router, not by async-nats) and its
    // default bound on messages routed at once.
    let router_js = groundwork_bus::connect::jetstream(&router_client, Duration::from_secs(10));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(2048));
    let stop = tokio_util::sync::CancellationToken::new();
    let routing = {
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    () = stop.cancelled() => break,
                    m = routed.next() => m.unwrap().unwrap(),
                };
                let js = router_js.clone();
                let permit = in_flight.clone().acquire_owned().await.unwrap();
                tokio::spawn(async move {
                    let _permit = permit;
                    let mut acks = Vec::with_capacity(10);
                    for line in message.payload.split(|b| *b == b'\n') {
                        let (rule, m) = like_a_delivery(
                            PublishMessage::build().payload(bytes::Bytes::copy_from_slice(line)),
                        );
                        acks.push(
                            js.send_publish(format!("{out}.r{rule:03}"), m)
                                .await
                                .unwrap(),
                        );
                    }
                    for ack in acks {
                        ack.await.unwrap();
                    }
                    message.ack().await.unwrap();
                });
            }
        })
    };
    (stop, routing)
}

/// The bus's gRPC API with nothing behind it but the guarantees by hand ([`api_floor`]):
/// PutEvents only, served by kit's gRPC server as the bus's API is (the token check, health,
/// reflection), storing a call's entries as one message of event lines with a `Nats-Msg-Id`
/// and answering once it is stored. No validation, matching or catalog: the least an
/// implementation of this API can do per call.
#[derive(Clone)]
struct HandApi {
    js: jetstream::Context,
}

impl tonic::server::NamedService for HandApi {
    const NAME: &'static str = "groundwork.v1.EventBus";
}

impl tower::Service<http::Request<tonic::body::Body>> for HandApi {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let put = HandPut {
            js: self.js.clone(),
        };
        Box::pin(async move {
            if request.uri().path() != "/groundwork.v1.EventBus/PutEvents" {
                return Ok(tonic::Status::unimplemented("only PutEvents here").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(put, request).await)
        })
    }
}

struct HandPut {
    js: jetstream::Context,
}

impl tonic::server::UnaryService<pb::PutEventsRequest> for HandPut {
    type Response = pb::PutEventsResponse;
    type Future = futures::future::BoxFuture<
        'static,
        Result<tonic::Response<pb::PutEventsResponse>, tonic::Status>,
    >;

    fn call(&mut self, request: tonic::Request<pb::PutEventsRequest>) -> Self::Future {
        let js = self.js.clone();
        Box::pin(async move {
            use std::fmt::Write as _;
            let entries = request.into_inner().entries;
            let ids: Vec<String> = entries.iter().map(|_| uuid_like()).collect();
            let mut text = String::with_capacity(entries.len() * 256);
            for (entry, id) in entries.iter().zip(&ids) {
                if !text.is_empty() {
                    text.push('\n');
                }
                write!(
                    text,
                    r#"{{"version":"0","id":"{id}","detail-type":"{}","source":"{}","account":"123456789012","time":"2026-12-02T12:00:00Z","region":"us-east-1","resources":[],"detail":{}}}"#,
                    entry.detail_type, entry.source, entry.detail
                )
                .unwrap();
            }
            let m = PublishMessage::build()
                .payload(text.into())
                .message_id(ids[0].as_str());
            js.send_publish("bench.api.in", m)
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            Ok(tonic::Response::new(pb::PutEventsResponse {
                failed_entry_count: 0,
                entries: ids
                    .into_iter()
                    .map(|event_id| pb::PutEventsResultEntry {
                        event_id,
                        ..Default::default()
                    })
                    .collect(),
            }))
        })
    }
}

/// The guarantees by hand ([`guarantee_floor`]) behind the bus's gRPC API ([`HandApi`]),
/// called as the bus is (the same callers, client and entries): what any implementation of
/// the API could reach on this host, the bus's own work left out.
async fn api_floor(nats: &Nats, js: &jetstream::Context, events: usize, callers: usize) -> Run {
    let replicas = nats.replicas();
    let input = bench_stream(js, "BENCH_API_IN", "bench.api.in", replicas, false).await;
    let output = bench_stream(js, "BENCH_API_OUT", "bench.api.out.>", replicas, false).await;
    let messages = reader(&output, "reader", consumer::AckPolicy::None).await;
    let routed = reader(&input, "router", consumer::AckPolicy::Explicit).await;
    let (stop, routing) = route_by_hand(routed, nats.admin().await, "bench.api.out");
    let mut common = nats.settings_for("eventbus");
    common.api_token = Some(BENCH_TOKEN.into());
    let listener = groundwork_kit::grpc::bind(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let api = HandApi {
        js: groundwork_bus::connect::jetstream(&nats.admin().await, Duration::from_secs(10)),
    };
    let shutdown = Shutdown::new();
    let server = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let audit: groundwork_kit::audit::Audit = Arc::new(groundwork_kit::audit::NoAudit);
            groundwork_kit::grpc::serve_api(listener, api, &common, audit, &shutdown).await
        })
    };
    let target = groundwork_kit::client::Target::new(
        format!("http://{addr}"),
        Some(BENCH_TOKEN.into()),
        "the guarantees by hand behind gRPC",
    );
    let client = EventBusClient::new(
        groundwork_kit::client::connect(&target, "event bus")
            .await
            .unwrap(),
    );
    let run = drive(messages, events, callers, move |first| {
        put_ten(client.clone(), first)
    })
    .await;
    stop.cancel();
    let _ = routing.await;
    shutdown.trigger();
    server.await.unwrap().unwrap();
    run
}

/// Ten messages as one atomic batch (`BENCH_RAW_ATOMIC`): nine published without a reply,
/// the tenth commits the batch and is acknowledged.
async fn atomic_ten(client: &async_nats::Client, tiny: bool, message_ids: bool) {
    static BATCH: AtomicUsize = AtomicUsize::new(0);
    let batch = format!("bench-{}", BATCH.fetch_add(1, Ordering::Relaxed));
    for i in 1..=10 {
        let payload = if tiny {
            now_micros().to_string()
        } else {
            raw_event(now_micros())
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_BATCH_ID, batch.as_str());
        headers.insert(
            async_nats::header::NATS_BATCH_SEQUENCE,
            i.to_string().as_str(),
        );
        if message_ids {
            headers.insert(async_nats::header::NATS_MESSAGE_ID, uuid_like().as_str());
        }
        if i < 10 {
            client
                .publish_with_headers("bench.raw.x", headers, payload.into())
                .await
                .unwrap();
        } else {
            headers.insert(async_nats::header::NATS_BATCH_COMMIT, "1");
            let ack = client
                .request_with_headers("bench.raw.x", headers, payload.into())
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&ack.payload);
            assert!(!text.contains("error"), "{text}");
        }
    }
}

/// A message of the size of the events the bus delivers (its envelope, with `detail`
/// `{"k": …, "t": <sent>}`), so that the baseline moves the same bytes; the payload
/// size matters on R3, where every byte is written to three logs and three stores.
fn raw_event(sent: u64) -> String {
    format!(
        r#"{{"version":"0","id":"{}","detail-type":"Bench","source":"bench","account":"123456789012","time":"2026-12-02T12:00:00Z","region":"us-east-1","resources":[],"detail":{{"k":7,"t":{sent}}}}}"#,
        uuid_like()
    )
}

fn uuid_like() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "6a7e8feb-b491-4cf7-a9f1-{:012}",
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn entries(first: usize, count: usize) -> Vec<pb::PutEventsRequestEntry> {
    (first..first + count)
        .map(|n| pb::PutEventsRequestEntry {
            source: "bench".into(),
            detail_type: "Bench".into(),
            detail: format!(r#"{{"k": {}, "t":{}}}"#, n % RULES, now_micros()),
            ..Default::default()
        })
        .collect()
}

async fn deliveries_consumer(js: &jetstream::Context, name: &str) -> consumer::pull::Stream {
    let s = js.get_stream("DELIVERIES").await.unwrap();
    let consumer = s
        .create_consumer(consumer::pull::Config {
            durable_name: Some(name.into()),
            ack_policy: consumer::AckPolicy::None,
            deliver_policy: consumer::DeliverPolicy::New,
            filter_subject: "groundwork.deliver.bench.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    consumer
        .stream()
        .max_messages_per_batch(1000)
        .messages()
        .await
        .unwrap()
}

/// `events` events as fast as `callers` concurrent callers can send them, 10 per call with
/// `send(first)` (the entries `first..first + 10`), to the rules' NATS targets.
async fn max_run<F, Fut>(
    js: &jetstream::Context,
    consumer_name: &str,
    events: usize,
    callers: usize,
    send: F,
) -> Run
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let messages = deliveries_consumer(js, consumer_name).await;
    let run = drive(messages, events, callers, send).await;
    drop_consumer(js, consumer_name).await;
    run
}

/// `events` events sent as fast as `callers` concurrent callers can, 10 per call with
/// `send(first)`, timed until `messages` has given them all.
async fn drive<F, Fut>(
    messages: consumer::pull::Stream,
    events: usize,
    callers: usize,
    send: F,
) -> Run
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let cpu = cpu_now();
    let start = Instant::now();
    let collector =
        tokio::spawn(async move { collect(messages, events, consumer::AckPolicy::None).await });
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let send = send.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(10, Ordering::Relaxed);
                if first >= events {
                    break;
                }
                send(first).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let accepted = start.elapsed().as_secs_f64();
    println!(
        "  (calls accepted {events} events in {accepted:.2} s: {:.0} events/s)",
        events as f64 / accepted
    );
    let (latencies_us, end) = collector.await.unwrap();
    let cpu = cpu_since(cpu);
    Run {
        events,
        seconds: (end - start).as_secs_f64(),
        latencies_us,
        cpu,
    }
}

/// Deletes a run's reader once it is done: an idle durable consumer is still told of every
/// new message on its stream (on R3 through its own Raft group), which would charge each
/// later run with the readers of the runs before it.
async fn drop_consumer(js: &jetstream::Context, name: &str) {
    js.get_stream("DELIVERIES")
        .await
        .unwrap()
        .delete_consumer(name)
        .await
        .unwrap();
}

/// One gRPC PutEvents call of the entries `first..first + 10`, every one accepted.
async fn put_ten(mut client: EventBusClient<groundwork_kit::client::Channel>, first: usize) {
    let r = client
        .put_events(pb::PutEventsRequest {
            entries: entries(first, 10),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.failed_entry_count, 0);
}

/// PutEvents over gRPC.
async fn bus_max(
    client: &EventBusClient<groundwork_kit::client::Channel>,
    js: &jetstream::Context,
    consumer_name: &str,
    events: usize,
    callers: usize,
) -> Run {
    let client = client.clone();
    max_run(js, consumer_name, events, callers, move |first| {
        put_ten(client.clone(), first)
    })
    .await
}

/// PutEvents over the NATS ingress (`groundwork.events.put.<bus>`, request/reply in JSON):
/// a producer that speaks NATS, as raw JetStream's does, without gRPC's HTTP/2 on either side.
async fn ingress_max(
    client: &async_nats::Client,
    js: &jetstream::Context,
    consumer_name: &str,
    events: usize,
    callers: usize,
) -> Run {
    let client = client.clone();
    let subject = groundwork_bus::names::ingress_subject("default");
    max_run(js, consumer_name, events, callers, move |first| {
        let client = client.clone();
        let subject = subject.clone();
        async move {
            let entries: Vec<serde_json::Value> = entries(first, 10)
                .into_iter()
                .map(|e| {
                    serde_json::json!({
                        "Source": e.source,
                        "DetailType": e.detail_type,
                        "Detail": e.detail,
                    })
                })
                .collect();
            let request = serde_json::json!({ "Entries": entries }).to_string();
            let reply = client.request(subject, request.into()).await.unwrap();
            let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
            assert_eq!(answer["FailedEntryCount"], 0, "{answer}");
        }
    })
    .await
}

/// PutEvents over EventBridge's HTTP API, sent by the AWS SDK for Rust (SigV4-signed).
async fn http_max(
    eb: &aws_sdk_eventbridge::Client,
    js: &jetstream::Context,
    consumer_name: &str,
    events: usize,
    callers: usize,
) -> Run {
    let eb = eb.clone();
    max_run(js, consumer_name, events, callers, move |first| {
        let eb = eb.clone();
        async move {
            let entries = entries(first, 10)
                .into_iter()
                .map(|e| {
                    aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                        .source(e.source)
                        .detail_type(e.detail_type)
                        .detail(e.detail)
                        .build()
                })
                .collect();
            let r = eb
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
            assert_eq!(r.failed_entry_count(), 0);
        }
    })
    .await
}

async fn bus_paced(
    client: &EventBusClient<groundwork_kit::client::Channel>,
    js: &jetstream::Context,
    rate: usize,
    seconds: usize,
    callers: usize,
) -> Run {
    let events = rate * seconds;
    let messages = deliveries_consumer(js, "bench-paced").await;
    let cpu = cpu_now();
    let start = Instant::now();
    let collector =
        tokio::spawn(async move { collect(messages, events, consumer::AckPolicy::None).await });
    let calls_per_caller_per_sec = (rate / 10 / callers).max(1);
    let mut tasks = Vec::new();
    for c in 0..callers {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(
                1.0 / calls_per_caller_per_sec as f64,
            ));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let calls = events / 10 / callers;
            for i in 0..calls {
                tick.tick().await;
                client
                    .put_events(pb::PutEventsRequest {
                        entries: entries((i * callers + c) * 10, 10),
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let sent = events / 10 / callers * callers * 10;
    let (latencies_us, end) = collect_rest(collector, sent, events).await;
    let cpu = cpu_since(cpu);
    drop_consumer(js, "bench-paced").await;
    Run {
        events: sent,
        seconds: (end - start).as_secs_f64(),
        latencies_us,
        cpu,
    }
}

async fn collect_rest(
    collector: tokio::task::JoinHandle<(Vec<u64>, Instant)>,
    sent: usize,
    expected: usize,
) -> (Vec<u64>, Instant) {
    assert_eq!(
        sent, expected,
        "the rate must be a multiple of 10 × callers"
    );
    collector.await.unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let events = env("BENCH_EVENTS", 100_000);
        let callers = env("BENCH_CALLERS", 16);
        let rate = env("BENCH_RATE", 5_000);
        let seconds = env("BENCH_SECONDS", 10);
        let nats = Nats::start();
        let nats_client = nats.admin().await;
        let js = jetstream::new(nats_client.clone());

        let mut settings = groundwork_eventbus::Settings::on(nats.settings_for("eventbus"));
        settings.common.nats_timeout_ms = 10_000;
        settings.common.api_token = Some(BENCH_TOKEN.into());
        let listener = groundwork_kit::grpc::bind(settings.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = groundwork_eventbus::connect(&settings).await.unwrap();
        let shutdown = Shutdown::new();
        let server = tokio::spawn(groundwork_eventbus::serve(
            settings,
            client,
            listener,
            shutdown.clone(),
        ));
        let mut bus = loop {
            let target = groundwork_kit::client::Target::new(
                format!("http://{addr}"),
                Some(BENCH_TOKEN.into()),
                "the benchmark's event bus",
            );
            if let Ok(channel) = groundwork_kit::client::connect(&target, "event bus").await
                && let mut c = EventBusClient::new(channel)
                && c.list_event_buses(pb::ListEventBusesRequest::default())
                    .await
                    .is_ok()
            {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for i in 0..RULES {
            bus.put_rule(pb::PutRuleRequest {
                name: format!("bench-{i:03}"),
                event_pattern: format!(r#"{{"source": ["bench"], "detail": {{"k": [{i}]}}}}"#),
                ..Default::default()
            })
            .await
            .unwrap();
            bus.put_targets(pb::PutTargetsRequest {
                rule: format!("bench-{i:03}"),
                event_bus_name: String::new(),
                targets: vec![pb::Target {
                    id: "t".into(),
                    arn: format!("nats:bench.r{i:03}"),
                    ..Default::default()
                }],
            })
            .await
            .unwrap();
        }
        if std::env::var_os("BENCH_PROBE").is_some() {
            for n in [1usize, 10] {
                let t = Instant::now();
                for i in 0..50 {
                    bus.put_events(pb::PutEventsRequest {
                        entries: entries(i * n, n),
                    })
                    .await
                    .unwrap();
                }
                println!(
                    "probe: one caller, {n} entries per call: {:.2} ms per call",
                    t.elapsed().as_secs_f64() * 1000.0 / 50.0
                );
            }
            let t = Instant::now();
            for _ in 0..50 {
                bus.list_event_buses(pb::ListEventBusesRequest::default())
                    .await
                    .unwrap();
            }
            println!(
                "probe: ListEventBuses: {:.2} ms per call",
                t.elapsed().as_secs_f64() * 1000.0 / 50.0
            );
            let raw = nats.admin().await;
            let rjs = jetstream::new(raw);
            let t = Instant::now();
            for _ in 0..50 {
                rjs.publish("groundwork.bus.default", "{}".into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
            println!(
                "probe: raw publish to EVENTS_default: {:.2} ms per call",
                t.elapsed().as_secs_f64() * 1000.0 / 50.0
            );
            let t = Instant::now();
            for i in 0..50 {
                let m = PublishMessage::build()
                    .payload("{}".into())
                    .message_id(format!("probe-{i}"));
                rjs.send_publish("groundwork.bus.default", m)
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
            println!(
                "probe: raw publish with msg id: {:.2} ms per call",
                t.elapsed().as_secs_f64() * 1000.0 / 50.0
            );
            let t = Instant::now();
            for i in 0..50 {
                let mut acks = Vec::new();
                for k in 0..10 {
                    let m = PublishMessage::build()
                        .payload("{}".into())
                        .message_id(format!("probe-b-{i}-{k}"));
                    acks.push(rjs.send_publish("groundwork.bus.default", m).await.unwrap());
                }
                for a in acks {
                    a.await.unwrap();
                }
            }
            println!(
                "probe: raw 10 in flight with msg id: {:.2} ms per 10",
                t.elapsed().as_secs_f64() * 1000.0 / 50.0
            );
            let t = Instant::now();
            for i in 0..50 {
                let futs: Vec<_> = (0..10)
                    .map(|k| {
                        let rjs = rjs.clone();
                        async move {
                            let m = PublishMessage::build()
                                .payload("{}".into())
                                .message_id(format!("probe-c-{i}-{k}"));
                            rjs.send_publish("groundwork.bus.default", m)
                                .await
                                .unwrap()
                                .await
                                .unwrap();
                        }
                    })
                    .collect();
                futures::future::join_all(futs).await;
            }
            println!(
                "probe: raw join_all of 10 with msg id: {:.2} ms per 10",
                t.elapsed().as_secs_f64() * 1000.0 / 50.0
            );
            return;
        }
        // Warm up the connections and the consumers.
        let mut warm = bus_max(&bus, &js, "bench-warm", 2_000, callers).await;
        warm.latencies_us.clear();
        let eb = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::Config::builder()
                .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
                .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
                .endpoint_url(format!("http://{addr}"))
                .http_client(
                    aws_smithy_http_client::Builder::new()
                        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                        ))
                        .build_https(),
                )
                .credentials_provider(aws_credential_types::Credentials::new(
                    "operator",
                    BENCH_TOKEN,
                    None,
                    None,
                    "bench",
                ))
                .build(),
        );
        let mut warm = http_max(&eb, &js, "bench-warm-http", 2_000, callers).await;
        warm.latencies_us.clear();

        let replicas = nats.replicas();
        println!(
            "groundwork event bus benchmark: {RULES} rules, {callers} callers, 10 entries per call, {}",
            if replicas == 1 {
                "one nats-server".to_owned()
            } else {
                format!("a {replicas}-node NATS cluster, streams R{replicas}")
            }
        );
        let bus_stream = groundwork_testkit::cluster::stream_config(&js, "EVENTS_default")
        .await
        .unwrap()
        .num_replicas;
        println!("the bus stream EVENTS_default keeps {bus_stream} copies");
        println!(
            "raw JetStream's messages: {}",
            if std::env::var("BENCH_RAW_PAYLOAD").as_deref() == Ok("tiny") {
                "the send time alone (16 bytes)".to_owned()
            } else {
                format!("events of the bus's size ({} bytes)", raw_event(now_micros()).len())
            }
        );
        if std::env::var("BENCH_ONLY").as_deref() == Ok("grpc") {
            let mut max = bus_max(&bus, &js, "bench-max", events, callers).await;
            max.report("PutEvents → router → NATS target");
            shutdown.trigger();
            let _ = server.await;
            return;
        }
        if std::env::var("BENCH_ONLY").as_deref() == Ok("api") {
            let mut api = api_floor(&nats, &js, events, callers).await;
            api.report("the guarantees behind the bus's gRPC API");
            shutdown.trigger();
            let _ = server.await;
            return;
        }
        if std::env::var("BENCH_ONLY").as_deref() == Ok("floor") {
            let mut floor =
                guarantee_floor(&nats_client, nats.admin().await, &js, replicas, events, callers)
                    .await;
            floor.report("the bus's guarantees on raw JetStream");
            shutdown.trigger();
            let _ = server.await;
            return;
        }
        let mut raw = raw_jetstream(&nats_client, &js, replicas, events, callers).await;
        raw.report("raw JetStream publish → consume");
        if std::env::var_os("BENCH_ONLY_RAW").is_some() {
            return;
        }
        let mut floor = guarantee_floor(
            &nats_client,
            nats.admin().await,
            &js,
            replicas,
            events,
            callers,
        )
        .await;
        floor.report("the bus's guarantees on raw JetStream");
        let mut api = api_floor(&nats, &js, events, callers).await;
        api.report("the same behind the bus's gRPC API");
        let mut max = bus_max(&bus, &js, "bench-max", events, callers).await;
        max.report("PutEvents → router → NATS target");
        let mut http = http_max(&eb, &js, "bench-max-http", events, callers).await;
        http.report("same, over EventBridge's HTTP API (AWS SDK for Rust, SigV4)");
        let mut ingress = ingress_max(&nats_client, &js, "bench-max-ingress", events, callers).await;
        ingress.report("same, over the NATS ingress (JSON request/reply)");
        let mut paced = bus_paced(&bus, &js, rate, seconds, callers.min(10)).await;
        paced.report(&format!("same, paced at {rate} events/s"));
        println!(
            "ratio event bus / raw JetStream: {:.2} (throughput)",
            max.rate() / raw.rate()
        );
        println!(
            "ratio guarantees on raw JetStream / raw JetStream: {:.2} (throughput: the bus's ceiling)",
            floor.rate() / raw.rate()
        );
        println!(
            "ratio guarantees behind gRPC / raw JetStream: {:.2} (throughput: the API's ceiling)",
            api.rate() / raw.rate()
        );
        println!(
            "ratio NATS ingress / raw JetStream: {:.2} (throughput)",
            ingress.rate() / raw.rate()
        );
        println!(
            "ratio HTTP API / gRPC: {:.2} (throughput)",
            http.rate() / max.rate()
        );
        shutdown.trigger();
        let _ = server.await;
    });
}
