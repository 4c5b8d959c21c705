//! The event bus: Amazon EventBridge's contract on NATS JetStream.
//!
//! Layout:
//! - [`settings`]: flags and environment.
//! - [`put_events`]: the PutEvents contract, shared by gRPC and the NATS ingress.
//! - [`ingress`]: PutEvents over NATS request/reply (`groundwork.events.put.<bus>`).
//! - [`grpc`]: the `groundwork.v1.EventBus` service.
//! - [`tail`]: following a bus stream.
//! - [`error`]: the service's error type and its mapping to gRPC status codes.
//!
//! [`serve`] runs it all until shutdown; `main.rs` only wires flags and signals to it.

pub mod error;
pub mod grpc;
pub mod ingress;
pub mod put_events;
pub mod settings;
pub mod tail;

use std::time::Duration;

use groundwork_bus::streams::{StreamSettings, ensure_events_stream};
use groundwork_bus::{ConnectSettings, EventPublisher};
use groundwork_events::envelope::{DEFAULT_BUS, Origin, PutEventsLimits, is_valid_bus_name};
use groundwork_kit::Shutdown;
use groundwork_proto::v1::event_bus_server::EventBusServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use error::Error;
pub use settings::Settings;

/// Connects to NATS with the service's name.
pub async fn connect(settings: &Settings) -> Result<async_nats::Client, Error> {
    let mut connect = ConnectSettings::new(&settings.common.nats_url, "groundwork-eventbus");
    connect.request_timeout = settings.common.nats_timeout();
    Ok(groundwork_bus::connect(&connect).await?)
}

/// Runs the event bus on `listener` until `shutdown`: creates the bus streams, serves the
/// NATS ingress and the gRPC API, then drains the NATS connection.
pub async fn serve(
    settings: Settings,
    client: async_nats::Client,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let mut buses: Vec<String> = settings.buses.clone();
    buses.push(DEFAULT_BUS.to_owned());
    buses.sort();
    buses.dedup();
    if let Some(bad) = buses.iter().find(|b| !is_valid_bus_name(b)) {
        return Err(Error::InvalidArgument {
            field: "buses".into(),
            reason: format!(
                "'{bad}' is not a valid bus name ([A-Za-z0-9._/-], 1 to 256 characters)"
            ),
        });
    }
    let publisher = EventPublisher::new(client.clone(), settings.common.nats_timeout());
    let streams = StreamSettings {
        replicas: settings.common.stream_replicas,
        duplicate_window: Duration::from_secs(settings.duplicate_window_secs),
        ..StreamSettings::default()
    };
    for bus in &buses {
        ensure_events_stream(publisher.jetstream(), bus, &streams).await?;
    }
    let ingest = put_events::Ingest::new(
        publisher,
        Origin {
            account: settings.account.clone(),
            region: settings.region.clone(),
        },
        PutEventsLimits {
            max_request_bytes: settings.max_request_bytes,
        },
        buses,
    );

    let ingress_task = tokio::spawn(ingress::run(
        client.clone(),
        ingest.clone(),
        shutdown.clone(),
    ));
    let api = grpc::EventBusApi::new(ingest, shutdown.clone());
    let routes = Routes::new(EventBusServer::new(api));
    let served = groundwork_kit::grpc::serve(
        listener,
        routes,
        settings.common.api_token.clone(),
        shutdown.clone(),
        |health| {
            tokio::spawn(async move {
                health
                    .set_serving::<EventBusServer<grpc::EventBusApi>>()
                    .await;
            });
        },
    )
    .await;
    shutdown.trigger();
    match ingress_task.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "NATS ingress stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "NATS ingress task failed"),
        Ok(Ok(())) => {}
    }
    if let Err(e) = client.drain().await {
        tracing::debug!(error = %e, "draining the NATS connection");
    }
    served.map_err(|e| Error::Internal(e.to_string()))
}
