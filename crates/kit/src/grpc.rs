//! The gRPC server every service runs: its own services plus `grpc.health.v1` and
//! reflection, behind the token and role check ([`crate::auth`]), over TLS when configured
//! ([`crate::tls`]), stopped gracefully by [`Shutdown`]; optionally another HTTP API at the
//! root path on the same listener ([`serve_api_with_root`]). A server that anyone could use (no
//! operator token, or beyond loopback without TLS) refuses to start unless `--insecure`.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::audit::Audit;
use crate::auth::{Access, AuthLayer};
use crate::config::CommonSettings;
use crate::shutdown::Shutdown;
use crate::tls::ServerTls;

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
    /// The settings would make the server unsafe or are unreadable (exit code 2).
    #[error("{0}")]
    Settings(crate::Error),
}

/// How a server admits its callers: the tokens and roles, and TLS.
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub access: Access,
    pub tls: Option<ServerTls>,
}

impl Security {
    /// From the common settings, refused (see [`CommonSettings::check_exposure`]) when the
    /// server at `listen` could be used by anyone.
    pub fn from_settings(common: &CommonSettings, listen: SocketAddr) -> Result<Self, ServeError> {
        let checked = || -> Result<Self, crate::Error> {
            common.check_exposure(listen)?;
            Ok(Self {
                access: common.access()?,
                tls: common.server_tls()?,
            })
        };
        checked().map_err(ServeError::Settings)
    }
}

/// Binds `addr` for a service with these settings, after checking that they are safe to
/// serve with: a refusal comes before anything else starts.
pub async fn bind_checked(
    addr: SocketAddr,
    common: &CommonSettings,
) -> Result<TcpListener, ServeError> {
    Security::from_settings(common, addr)?;
    bind(addr).await
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

/// Serves one Groundwork API on `listener` (with health, reflection, the token and role
/// check, and TLS as `common` says; calls that may change something recorded in `audit`)
/// until `shutdown`, reporting it serving before the first
/// call; when the server stops, `shutdown` is triggered so that the service's background
/// tasks stop with it. Settings that would let anyone in are refused before serving.
pub async fn serve_api<S>(
    listener: TcpListener,
    api: S,
    common: &CommonSettings,
    audit: Audit,
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
    serve_api_with_root(listener, api, |_| None, common, audit, shutdown).await
}

/// [`serve_api`], with another API at the root path `/` made by `root` from the server's
/// [`Gate`] (`None`: nothing there).
pub async fn serve_api_with_root<S>(
    listener: TcpListener,
    api: S,
    root: impl FnOnce(Gate) -> Option<RootApi>,
    common: &CommonSettings,
    audit: Audit,
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
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    });
    let security = match addr.and_then(|addr| Security::from_settings(common, addr)) {
        Ok(security) => security,
        Err(e) => {
            shutdown.trigger();
            return Err(e);
        }
    };
    let gate = Gate {
        access: std::sync::Arc::new(security.access.clone()),
        audit: audit.clone(),
    };
    let served = serve(
        listener,
        Routes::new(api),
        security,
        audit,
        shutdown.clone(),
        |health| {
            tokio::spawn(async move { health.set_serving::<S>().await });
        },
        root(gate),
    )
    .await;
    shutdown.trigger();
    served
}

/// What another protocol served beside gRPC needs of the server's security: the tokens and
/// roles ([`Access`]) and the audit trail. It authenticates its own callers with them
/// ([`Access::authenticate_http`]); the gRPC check lets its path through
/// ([`crate::auth::SELF_AUTHENTICATED_PATHS`]).
#[derive(Debug, Clone)]
pub struct Gate {
    pub access: std::sync::Arc<Access>,
    pub audit: Audit,
}

/// An HTTP API served at the root path `/` of a gRPC server, on the same listener, over
/// HTTP/1.1 or HTTP/2 (the event bus's EventBridge API). gRPC calls have their own paths
/// (`/package.Service/Method`), so the two never meet.
pub type RootApi = axum::routing::MethodRouter;

impl From<ServeError> for crate::Error {
    fn from(e: ServeError) -> Self {
        match e {
            ServeError::Settings(e) => e,
            e => crate::Error::internal(e.to_string()),
        }
    }
}

/// Adds health and reflection to `routes` and serves them on `listener` until `shutdown`;
/// in-flight calls finish before this returns. `on_health` receives the health reporter
/// before the first call is accepted.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    security: Security,
    audit: Audit,
    shutdown: Shutdown,
    on_health: impl FnOnce(HealthReporter),
    root: Option<RootApi>,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    on_health(reporter);
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(groundwork_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let mut routes = routes.add_service(health).add_service(reflection);
    let http_root = root.is_some();
    if let Some(root) = root {
        routes = Routes::from(routes.into_axum_router().route("/", root));
    }
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            auth = !security.access.is_open(),
            tls = security.tls.is_some(),
            mutual_tls = security.tls.as_ref().is_some_and(ServerTls::is_mutual),
            http_root,
            "gRPC server listening"
        );
    }
    let tls = security
        .tls
        .as_ref()
        .map(ServerTls::server_config)
        .transpose()
        .map_err(|e| ServeError::Settings(crate::Error::invalid("tls", e.to_string())))?;
    let router = Server::builder()
        .accept_http1(http_root)
        .layer(AuthLayer::new(security.access, audit))
        .add_routes(routes);
    match tls {
        Some(config) => {
            router
                .serve_with_incoming_shutdown(
                    tls_incoming(listener, config, shutdown.clone()),
                    shutdown.wait_owned(),
                )
                .await?;
        }
        None => {
            router
                .serve_with_incoming_shutdown(incoming(listener), shutdown.wait_owned())
                .await?;
        }
    }
    tracing::info!("gRPC server stopped");
    Ok(())
}

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The connections of `listener` once their TLS handshake is done. Each handshake runs in
/// its own task, so a slow or silent client holds up nobody else.
fn tls_incoming(
    listener: TcpListener,
    config: std::sync::Arc<rustls::ServerConfig>,
    shutdown: Shutdown,
) -> tokio_stream::wrappers::ReceiverStream<
    Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, std::io::Error>,
> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = shutdown.wait() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
