//! The budget service: AWS Budgets for the first-day setup of an account — a credits
//! budget and a spend budget with threshold alerts to email and SNS — kept as declared,
//! importable from the AWS CLI's JSON files, and watched.
//!
//! Layout:
//! - [`settings`]: flags and environment (`GROUNDWORK_BUDGET__*`).
//! - [`domain`]: validated newtypes and the declared budget ([`domain::BudgetSpec`]); pure.
//! - [`wire`]: protobuf messages to domain types (validation at the edge) and back.
//! - [`legacy`]: the legacy `CostFilters`/`CostTypes` form into the current filter.
//! - [`import`]: the `aws budgets create-budget` JSON files into the native request.
//! - [`diff`]: the plan that corrects drift in place; pure.
//! - [`aws`]: AWS Budgets and STS calls, SDK types to domain types.
//! - [`actions`]: AWS Budgets' own actions (apply a policy, stop instances), declared and
//!   corrected in place like budgets.
//! - [`sns_policy`]: the check (and fix) that AWS Budgets may publish to an SNS topic, and
//!   a note when it may not use the topic's KMS key.
//! - [`state`]: the KV bucket `budget-watch` (managed budgets, crossings, lease).
//! - [`service`]: ensure, get, list, delete, and the events they publish.
//! - [`watcher`]: periodic spend reads → `Budget Threshold Crossed`, once per threshold
//!   per period; and the Free plan's → `Free Plan Credits Low`, `Free Plan Ending`.
//! - [`account_plan`]: the account's plan (Free or Paid) through the Free Tier API, the
//!   watch on it and its crossings.
//! - [`grpc`]: the `groundwork.v1.Budget` service.
//! - [`error`]: the service's error type and its mapping to gRPC status codes.
//!
//! [`serve`] runs it all until shutdown; `main.rs` hands it to kit's one service `main`.

pub mod account_plan;
pub mod actions;
pub mod aws;
pub mod diff;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod import;
pub mod legacy;
pub mod service;
pub mod settings;
pub mod sns_policy;
pub mod state;
pub mod watcher;
pub mod wire;

use std::sync::Arc;

use groundwork_bus::Emitter;
use groundwork_events::envelope::Origin;
use groundwork_kit::Shutdown;
use groundwork_proto::v1::budget_server::BudgetServer;
use tokio::net::TcpListener;

pub use aws::AwsClients;
pub use error::Error;
pub use settings::Settings;

/// The event source of the service.
pub const SOURCE: &str = groundwork_events::catalog::sources::BUDGET;

/// Connects to NATS with the service's name.
pub async fn connect(settings: &Settings) -> Result<async_nats::Client, Error> {
    Ok(groundwork_bus::connect::for_service(&settings.common, "groundwork-budget").await?)
}

/// The AWS clients from the standard SDK configuration (`AWS_*` variables).
pub async fn aws_clients(settings: &Settings) -> AwsClients {
    AwsClients::from_config(&groundwork_cloud::config::for_service(&settings.common).await)
}

/// What the service runs on besides its settings: AWS and the NATS connection.
pub type Deps = groundwork_kit::service::Deps<AwsClients, async_nats::Client>;

/// Runs the budget service on `listener` until `shutdown`: the gRPC API and, unless
/// switched off, the watcher; then drains the NATS connection.
pub async fn serve(
    settings: Settings,
    deps: Deps,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let Deps {
        aws: clients,
        nats: client,
    } = deps;
    let emitter = Emitter::new(
        client.clone(),
        settings.common.nats_timeout(),
        Origin {
            account: settings.common.account.clone(),
            region: settings.common.region.clone(),
        },
        groundwork_bus::access::Principal::Budget,
        settings.bus.clone(),
    )?;
    // The audit trail of this service's API goes out through its emitter.
    let audit: groundwork_kit::audit::Audit = std::sync::Arc::new(emitter.clone());
    let js = groundwork_bus::connect::jetstream(&client, settings.common.nats_timeout());
    let store = state::WatchStore::open(&js, settings.common.stream_replicas).await?;
    let budgets = Arc::new(service::Budgets::new(
        aws::BudgetsApi::new(clients, settings.read_subscribers),
        store,
        emitter,
    ));

    let watcher = settings
        .watch_interval()
        .map(|interval| tokio::spawn(watcher::run(budgets.clone(), interval, shutdown.clone())));
    let served = groundwork_kit::grpc::serve_api(
        listener,
        BudgetServer::new(grpc::BudgetApi::new(budgets)),
        &settings.common,
        audit,
        &shutdown,
    )
    .await;
    if let Some(task) = watcher
        && let Err(e) = task.await
    {
        tracing::warn!(error = %e, "budget watcher task failed");
    }
    groundwork_bus::connect::drain(&client).await;
    Ok(served?)
}
