//! The gRPC server every service runs: its own services plus `grpc.health.v1` and
//! reflection, behind the bearer-token check, stopped gracefully by [`Shutdown`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::audit::{AuditLayer, AuditSink};
use crate::auth::AuthLayer;
use crate::shutdown::Shutdown;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("gRPC reflection could not be set up: {0}")]
    Reflection(String),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Binds a listener; `127.0.0.1:0` picks a free port (tests).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// The accepted connections of `listener`, with TCP_NODELAY on each: without it, small
/// gRPC answers wait for the peer's delayed ACK (about 40 ms on Linux), which caps a
/// connection at a few hundred unary calls per second.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// The health reporter of a running server: services mark themselves serving or not
/// (e.g. while NATS is away).
pub type HealthReporter = tonic_health::server::HealthReporter;

/// Serves one Groundwork API on `listener` (with health, reflection, the token check and
/// the audit trail into `audit`) until `shutdown`, reporting it serving before the first
/// call; when the server stops, `shutdown` is triggered so that the service's background
/// tasks stop with it.
pub async fn serve_api<S>(
    listener: TcpListener,
    api: S,
    api_token: Option<String>,
    audit: Arc<dyn AuditSink>,
    shutdown: &Shutdown,
) -> Result<(), ServeError>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let served = serve(
        listener,
        Routes::new(api),
        api_token,
        audit,
        shutdown.clone(),
        |health| {
            tokio::spawn(async move { health.set_serving::<S>().await });
        },
    )
    .await;
    shutdown.trigger();
    served
}

impl From<ServeError> for crate::Error {
    fn from(e: ServeError) -> Self {
        crate::Error::internal(e.to_string())
    }
}

/// Adds health and reflection to `routes` and serves them on `listener` until `shutdown`;
/// in-flight calls finish before this returns. `on_health` receives the health reporter
/// before the first call is accepted.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    api_token: Option<String>,
    audit: Arc<dyn AuditSink>,
    shutdown: Shutdown,
    on_health: impl FnOnce(HealthReporter),
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    on_health(reporter);
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(groundwork_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let routes = routes.add_service(health).add_service(reflection);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, auth = api_token.is_some(), "gRPC server listening");
    }
    // The audit layer is outside the token check, so that refused calls are recorded too.
    Server::builder()
        .layer(AuditLayer::new(audit, crate::audit::is_audited))
        .layer(AuthLayer::new(api_token))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener), shutdown.wait_owned())
        .await?;
    tracing::info!("gRPC server stopped");
    Ok(())
}
