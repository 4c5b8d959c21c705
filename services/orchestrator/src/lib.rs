//! The orchestrator: one spec (`groundwork.toml`) → plan → apply, as a durable run across
//! the services that can wait for a person, resume after a crash, and be watched.
//!
//! Layout (pure core first, I/O at the edge):
//! - [`spec`], [`resource`], [`diagram`]: re-exported from `groundwork-spec` (the document,
//!   its validation, its resources, its diagrams), which the CLI uses without this crate.
//! - [`graph`]: the step graph (independent steps in parallel, destroy in reverse).
//! - [`machine`]: the step and run state machines as explicit transition tables.
//! - [`plan`]: the diff of desired and live fields (create, update, unchanged, delete).
//! - [`run`]: a run as stored in KV `orchestrator-runs` (no secrets).
//! - [`store`]: the KV store, changed only by compare-and-set.
//! - [`lease`]: which replica drives a run (KV `orchestrator-run-leases`): a lease with a
//!   heartbeat, a fencing token checked on every driving write, takeover on expiry.
//! - [`vault`]: the one-time secrets that wait for a person, sealed with a key that is not
//!   in NATS, for a bounded time.
//! - [`runner`]: what a step needs from the outside world; [`services`] does it over gRPC,
//!   with one module per resource kind (`resources/`, one `Managed` trait) and the clients
//!   and the retryable decision in [`clients`].
//! - [`scheduler`]: the engine's decisions as pure functions of (run, graph, now).
//! - [`engine`]: drives runs: persists the scheduler's decisions and launches the calls.
//! - [`resume`]: waiting steps finished by `MFA Device Enabled` / `Subscription Confirmed`.
//! - [`grpc`]: the `groundwork.v1.Orchestrator` service.
//! - [`settings`], [`error`].
//!
//! [`serve`] runs it all until shutdown; `main.rs` hands it to kit's one service `main`.

pub mod clients;
pub mod engine;
pub mod error;
pub mod graph;
pub mod grpc;
pub mod lease;
pub mod machine;
pub mod plan;
mod resources;
pub mod resume;
pub mod run;
pub mod runner;
pub mod scheduler;
pub mod services;
pub mod settings;
pub mod store;
pub mod vault;

use std::sync::Arc;
use std::time::Duration;

use groundwork_bus::Emitter;
use groundwork_events::envelope::{DEFAULT_BUS, Origin};
use groundwork_kit::Shutdown;
use groundwork_proto::v1::orchestrator_server::OrchestratorServer;
use tokio::net::TcpListener;

pub use error::Error;
pub use groundwork_spec as spec;
pub use groundwork_spec::{diagram, resource};
pub use settings::Settings;

/// The source of the orchestrator's events.
pub const SOURCE: &str = groundwork_events::catalog::sources::ORCHESTRATOR;

/// Connects to NATS with the service's name.
pub async fn connect(settings: &Settings) -> Result<async_nats::Client, Error> {
    Ok(groundwork_bus::connect::for_service(&settings.common, "groundwork-orchestrator").await?)
}

/// Runs the orchestrator on `listener` until `shutdown`: opens the run store, resumes
/// every unfinished run, follows the bus for the events that finish waiting steps, and
/// serves the gRPC API.
pub async fn serve(
    settings: Settings,
    client: async_nats::Client,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let timeout = settings.common.nats_timeout();
    let store = store::RunStore::open(&client, timeout, settings.common.stream_replicas).await?;
    let key = match &settings.secrets_key_file {
        Some(path) => vault::SealingKey::from_file(path)?,
        None => {
            tracing::warn!(
                "no GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE: one-time secrets waiting for a \
                 person are sealed with a key kept in memory, and are lost if the orchestrator \
                 restarts before they are fetched (`groundwork secrets init` makes a key file)"
            );
            vault::SealingKey::ephemeral()?
        }
    };
    let vault = vault::Vault::open(
        &client,
        timeout,
        settings.common.stream_replicas,
        key,
        Duration::from_secs(settings.secrets_ttl_secs.max(1)),
    )
    .await?;
    let events = Emitter::new(
        client.clone(),
        timeout,
        Origin {
            account: settings.common.account.clone(),
            region: settings.common.region.clone(),
        },
        groundwork_bus::access::Principal::Orchestrator,
        DEFAULT_BUS,
    )?;
    // The audit trail of this service's API goes out through its emitter.
    let audit: groundwork_kit::audit::Audit = std::sync::Arc::new(events.clone());
    let runner = services::Services::new(&services::ServiceUrls {
        eventbus: settings.eventbus_url.clone(),
        identity: settings.identity_url.clone(),
        budget: settings.budget_url.clone(),
        alerting: settings.alerting_url.clone(),
        api_token: settings.common.client_token()?,
        tls: settings.common.client_tls()?,
    })?;
    let replica = settings
        .replica_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let leases = lease::Leases::open(
        &client,
        timeout,
        settings.common.stream_replicas,
        replica,
        settings.leases(),
    )
    .await?;
    let engine = engine::Engine::new(
        store,
        vault.clone(),
        Arc::new(runner),
        Some(events),
        engine::EngineSettings {
            max_attempts: settings.max_attempts.max(1),
            backoff_base: Duration::from_millis(settings.backoff_ms),
            backoff_max: Duration::from_secs(30),
            recheck_interval: Duration::from_millis(settings.recheck_ms.max(100)),
        },
        leases,
        shutdown.clone(),
    );
    let resumed = engine.resume_all().await?;
    if resumed > 0 {
        tracing::info!(runs = resumed, "resuming unfinished runs");
    }
    let js = groundwork_bus::connect::jetstream(&client, timeout);
    let resume_api = resume::EventBusApi {
        url: settings.eventbus_url.clone(),
        api_token: settings.common.client_token()?,
        tls: settings.common.client_tls()?,
    };
    let resume_task = tokio::spawn(resume::run(
        js,
        resume_api,
        engine.clone(),
        shutdown.clone(),
    ));

    let sweep_task = tokio::spawn(sweep(vault, shutdown.clone()));
    let nudge_task = tokio::spawn({
        let engine = engine.clone();
        async move { engine.follow_nudges().await }
    });
    let takeover_task = tokio::spawn({
        let engine = engine.clone();
        async move { engine.take_over_expired().await }
    });

    let api = grpc::OrchestratorApi::new(engine);
    let served = groundwork_kit::grpc::serve_api(
        listener,
        OrchestratorServer::new(api),
        &settings.common,
        audit,
        &shutdown,
    )
    .await;
    let _ = resume_task.await;
    let _ = sweep_task.await;
    let _ = nudge_task.await;
    let _ = takeover_task.await;
    groundwork_bus::connect::drain(&client).await;
    Ok(served?)
}

/// Discards the one-time secrets nobody fetched in time: at start-up, then every minute.
async fn sweep(vault: vault::Vault, shutdown: Shutdown) {
    let every = vault.ttl().min(Duration::from_secs(60));
    loop {
        match vault.sweep(run::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                secrets = n,
                "one-time secrets expired before a person fetched them; discarded"
            ),
            Err(e) => tracing::debug!(error = %e, "expired one-time secrets not swept"),
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
