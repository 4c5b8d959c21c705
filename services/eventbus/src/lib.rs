//! The event bus: Amazon EventBridge's contract on NATS JetStream.
//!
//! Layout:
//! - [`settings`]: flags and environment.
//! - [`put_events`]: the PutEvents contract, shared by gRPC and the NATS ingress.
//! - [`ingress`]: PutEvents over NATS request/reply (`groundwork.events.put.<bus>`).
//! - [`emit`]: services' own events (`groundwork.events.emit.<service>.<bus>`), stored only
//!   when the service owns their source.
//! - [`grpc`]: the `groundwork.v1.EventBus` service; [`wire`]: its message conversions.
//! - [`http`]: EventBridge's own HTTP API (AWS JSON 1.1) on the same port, each operation
//!   the gRPC method of the same name.
//! - [`tags`]: tags of buses and rules.
//! - [`tail`]: following a bus stream.
//! - [`catalog`]: the in-memory view of the `eventbus-rules` KV bucket, kept by a watch.
//! - [`buses`], [`rules`], [`targets`], [`archive`], [`replay`]: the API's resources.
//! - [`router`]: bus stream → matching rules → one delivery per (rule, target).
//! - [`delivery`]: the fan-out that makes them: NATS-subject deliveries straight into
//!   `DELIVERIES`, the others as delivery messages in `TARGETS`.
//! - [`deliverer`]: `TARGETS` → NATS subjects, webhooks ([`webhook`]) and other buses.
//! - [`retry`]: retry policies and backoff; [`dlq`]: dead letters and redrive.
//! - [`arn`]: EventBridge ARNs; [`error`]: the error type and its gRPC mapping;
//!   [`decode`]: undecodable requests answered INVALID_ARGUMENT; [`quota`]: rules per bus
//!   and buses counted across replicas.
//!
//! [`serve`] runs it all until shutdown; `main.rs` hands it to kit's one service `main`.

pub mod archive;
pub mod arn;
pub mod buses;
pub mod catalog;
pub mod decode;
pub mod deliverer;
pub mod delivery;
pub mod dlq;
pub mod emit;
pub mod error;
pub mod grpc;
pub mod http;
pub mod ingress;
pub mod put_events;
pub mod quota;
pub mod replay;
pub mod retry;
pub mod router;
pub mod rules;
pub mod settings;
pub mod tags;
pub mod tail;
pub mod targets;
pub mod webhook;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use groundwork_bus::streams::{
    ensure_deliveries_stream, ensure_rules_bucket, ensure_targets_stream,
};
use groundwork_bus::{EventPublisher, names};
use groundwork_events::envelope::{DEFAULT_BUS, Origin, PutEventsLimits};
use groundwork_kit::Shutdown;
use groundwork_proto::v1::event_bus_server::EventBusServer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use error::Error;
pub use settings::Settings;

/// Connects to NATS with the service's name.
pub async fn connect(settings: &Settings) -> Result<async_nats::Client, Error> {
    Ok(groundwork_bus::connect::for_service(&settings.common, "groundwork-eventbus").await?)
}

/// An event bus running inside this process (tests, embedding).
#[derive(Debug)]
pub struct Embedded {
    /// Where its gRPC API listens.
    pub addr: std::net::SocketAddr,
    pub task: tokio::task::JoinHandle<Result<(), Error>>,
}

/// Binds `settings.listen`, connects to NATS and runs the event bus in a task until
/// `shutdown`; returns once it answers health checks (its NATS ingress is listening then).
pub async fn start(settings: Settings, shutdown: Shutdown) -> Result<Embedded, Error> {
    let listener = groundwork_kit::grpc::bind(settings.listen).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("the event bus's listener has no address: {e}")))?;
    let client = connect(&settings).await?;
    let task = tokio::spawn(serve(settings, client, listener, shutdown));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if task.is_finished() {
            return match task.await {
                Ok(Err(e)) => Err(e),
                _ => Err(Error::internal("the event bus stopped while starting")),
            };
        }
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| Error::internal(e.to_string()))?
            .connect()
            .await;
        if let Ok(channel) = channel {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            if health
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok()
            {
                return Ok(Embedded { addr, task });
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::unavailable(
                "the event bus did not answer health checks within 30 s",
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the event bus on `listener` until `shutdown`: creates the streams and the rules
/// bucket, serves the NATS ingress and the gRPC API, routes every bus and makes the
/// deliveries, then drains the NATS connection.
pub async fn serve(
    settings: Settings,
    client: async_nats::Client,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let mut configured: Vec<String> = settings.buses.clone();
    configured.push(DEFAULT_BUS.to_owned());
    configured.sort();
    configured.dedup();
    let publisher = EventPublisher::new(client.clone(), settings.common.nats_timeout());
    let js = publisher.jetstream().clone();
    let streams = settings.streams();
    ensure_targets_stream(&js, &streams).await?;
    ensure_deliveries_stream(
        &js,
        &streams,
        Duration::from_secs(settings.deliveries_max_age_hours * 3600),
    )
    .await?;
    let kv = ensure_rules_bucket(&js, &streams).await?;
    let catalog = catalog::Catalog::start(&js, kv, shutdown.clone()).await?;
    let buses = buses::Buses::new(catalog.clone(), js.clone(), streams.clone())
        .with_max_buses(settings.max_buses);
    buses.ensure(&configured).await?;

    let arns = arn::Arns {
        region: settings.common.region.clone(),
        account: settings.common.account.clone(),
    };
    let origin = Origin {
        account: settings.common.account.clone(),
        region: settings.common.region.clone(),
    };
    let ingest = put_events::Ingest::new(
        publisher.clone(),
        origin,
        PutEventsLimits {
            max_request_bytes: settings.max_request_bytes,
        },
        catalog.clone(),
    );

    // The routers get their own connection: one async-nats connection is one task that
    // reads and writes everything, so PutEvents and routing on one connection queue
    // behind each other; two connections run on two cores.
    let router_client = connect(&settings).await?;
    let router = router::Router {
        js: groundwork_bus::connect::jetstream(&router_client, settings.common.nats_timeout()),
        catalog: catalog.clone(),
        ack_wait: Duration::from_millis(settings.router_ack_wait_ms),
        in_flight: Arc::new(Semaphore::new(settings.concurrency.max(1))),
    };
    let routers_task = tokio::spawn(supervise_routers(
        router,
        buses.clone(),
        catalog.clone(),
        shutdown.clone(),
    ));
    let deliverer = deliverer::Deliverer {
        js: js.clone(),
        publisher: publisher.clone(),
        catalog: catalog.clone(),
        webhook: webhook::WebhookClient::new()?,
        backoff: retry::Backoff {
            base: Duration::from_millis(settings.retry_base_delay_ms.max(1)),
            max: Duration::from_millis(settings.retry_max_delay_ms.max(1)),
        },
        webhook_timeout: Duration::from_millis(settings.webhook_timeout_ms.max(1)),
        ack_wait: Duration::from_millis(settings.delivery_ack_wait_ms.max(1000)),
        in_flight: Arc::new(Semaphore::new(settings.concurrency.max(1))),
    };
    let deliverer_task = tokio::spawn(deliverer.run(shutdown.clone()));

    // PutEvents and emits over NATS share one bound on the requests answered at once.
    let requests = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let ingress_task = tokio::spawn(ingress::run(
        client.clone(),
        ingress::listen(&client, names::INGRESS_ALL).await?,
        ingest.clone(),
        requests.clone(),
        shutdown.clone(),
    ));
    let emit_task = tokio::spawn(emit::run(
        client.clone(),
        ingress::listen(&client, names::EMIT_ALL).await?,
        ingest.clone(),
        requests,
        shutdown.clone(),
    ));
    let rules = rules::Rules::new(catalog.clone(), arns.clone(), settings.max_rules_per_bus);
    let api = grpc::EventBusApi {
        ingest,
        shutdown: shutdown.clone(),
        buses,
        rules,
        archives: archive::Archives::new(catalog.clone(), arns.clone()),
        replays: replay::Replays::new(js.clone(), catalog.clone(), arns, settings.max_replays),
        js,
    };
    // The event bus publishes no events of its own but the audit trail of its API, through
    // its own emit subject like the other services.
    let audit = groundwork_bus::Emitter::new(
        client.clone(),
        settings.common.nats_timeout(),
        Origin {
            account: settings.common.account.clone(),
            region: settings.common.region.clone(),
        },
        groundwork_bus::access::Principal::EventBus,
        DEFAULT_BUS,
    )?;
    let http_api = api.clone();
    let served = groundwork_kit::grpc::serve_api_with_root(
        listener,
        decode::InvalidRequests(EventBusServer::new(api)),
        |gate| Some(http::root_api(http_api, gate)),
        &settings.common,
        Arc::new(audit),
        &shutdown,
    )
    .await;
    for task in [ingress_task, emit_task] {
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "NATS ingress task failed");
        }
    }
    let _ = routers_task.await;
    let _ = deliverer_task.await;
    for client in [&client, &router_client] {
        groundwork_bus::connect::drain(client).await;
    }
    Ok(served?)
}

/// Runs one router per bus, starting and stopping them as buses come and go.
async fn supervise_routers(
    router: router::Router,
    buses: buses::Buses,
    catalog: catalog::Catalog,
    shutdown: Shutdown,
) {
    let mut running: BTreeMap<String, CancellationToken> = BTreeMap::new();
    let mut changes = catalog.changes();
    loop {
        let current: Vec<String> = catalog.buses().into_iter().map(|b| b.name).collect();
        running.retain(|bus, token| {
            let keep = current.contains(bus);
            if !keep {
                token.cancel();
            }
            keep
        });
        for bus in current {
            if running.contains_key(&bus) {
                continue;
            }
            if let Err(e) = buses.ensure_streams(&bus).await {
                tracing::warn!(%bus, error = %e, "cannot create the bus streams yet");
                continue;
            }
            let token = CancellationToken::new();
            tokio::spawn(router.clone().run(bus.clone(), token.clone()));
            running.insert(bus, token);
        }
        tokio::select! {
            () = shutdown.wait() => break,
            changed = changes.changed() => if changed.is_err() { break },
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
    for token in running.values() {
        token.cancel();
    }
}
