//! The identity service: never work as root.
//!
//! An IAM admin group and user instead of root, a console password returned once, virtual
//! MFA enrolled by a person, an MFA-enforcement policy, the account password policy, an
//! audit of root hygiene against the CIS AWS Foundations Benchmark, and the one manual
//! step (IAM access to billing) explained and checked. Every call that changes the
//! account refuses root credentials, except the explicit admin bootstrap.
//!
//! Layout:
//! - [`settings`]: flags and environment (`GROUNDWORK_IDENTITY__*`).
//! - [`grpc`]: the `groundwork.v1.Identity` service: wire types to domain types, and back.
//! - [`domain`]: validated names (`UserName`, `PolicyArn`, `AuthenticationCode`, …).
//! - [`service`]: the AWS clients and the root guard every mutating call goes through.
//! - [`audit`]: AuditAccount, judged by a pure function; [`credential_report`] reads IAM's.
//! - [`admin`]: EnsureAdmin and DeleteAdmin; [`password`] generates the one-time password;
//!   [`reset_password`] issues a new one when a person lost it.
//! - [`mfa`]: virtual MFA enrollment; [`qr`] draws its QR code; [`mfa_policy`] the
//!   MFA-enforcement policy.
//! - [`password_policy`]: the account password policy and its CIS defaults.
//! - [`guardrails`]: the "deny new spend" policy and the budget actions' execution role
//!   (names, ARNs, documents; pure); [`guardrail_iam`] creates, fixes and deletes them.
//! - [`billing`]: the manual billing-access step and its check.
//! - [`kill_switch`]: the kill switch: budget crossings delivered by the event bus attach
//!   the deny-new-spend policy to the admin group; a person releases it.
//! - [`events`]: the events emitted on the bus.
//! - [`error`]: the service's error type and its one mapping to gRPC status codes.
//!
//! [`serve`] runs it until shutdown; `main.rs` hands it to kit's one service `main`.

pub mod admin;
pub mod audit;
pub mod billing;
pub mod credential_report;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod guardrail_iam;
pub mod guardrails;
pub mod kill_switch;
pub mod mfa;
pub mod mfa_policy;
pub mod password;
pub mod password_policy;
pub mod qr;
pub mod reset_password;
pub mod service;
pub mod settings;

use aws_config::SdkConfig;
use groundwork_bus::Emitter;
use groundwork_events::envelope::Origin;
use groundwork_kit::Shutdown;
use groundwork_proto::v1::identity_server::IdentityServer;
use tokio::net::TcpListener;

pub use error::Error;
pub use settings::Settings;

/// Connects to NATS with the service's name.
pub async fn connect(settings: &Settings) -> Result<async_nats::Client, Error> {
    Ok(groundwork_bus::connect::for_service(&settings.common, "groundwork-identity").await?)
}

/// The shared AWS SDK configuration: the standard chain and variables, with the
/// service's retry setting.
pub async fn aws_config(settings: &Settings) -> SdkConfig {
    groundwork_cloud::config::for_service(&settings.common).await
}

/// What the service runs on besides its settings: AWS and the NATS connection.
pub type Deps = groundwork_kit::service::Deps<SdkConfig, async_nats::Client>;

/// Runs the identity service on `listener` until `shutdown`, with `sdk` for AWS and
/// `client` for the bus; then drains the NATS connection.
pub async fn serve(
    settings: Settings,
    deps: Deps,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let Deps {
        aws: sdk,
        nats: client,
    } = deps;
    let emitter = Emitter::new(
        client.clone(),
        settings.common.nats_timeout(),
        Origin {
            account: settings.common.account.clone(),
            region: settings.common.region.clone(),
        },
        groundwork_bus::access::Principal::Identity,
        settings.bus.clone(),
    )?;
    // The audit trail of this service's API goes out through its emitter.
    let audit: groundwork_kit::audit::Audit = std::sync::Arc::new(emitter.clone());
    let service = service::Service::new(sdk, events::Events::new(emitter.clone()));
    let js = groundwork_bus::connect::jetstream(&client, settings.common.nats_timeout());
    let kill_switch = kill_switch::KillSwitch::open(
        service.clone(),
        &js,
        settings.common.stream_replicas,
        emitter,
        Origin {
            account: settings.common.account.clone(),
            region: settings.common.region.clone(),
        },
    )
    .await?;
    // The kill switch's deliveries, whatever the API does meanwhile.
    let consumer = tokio::spawn(kill_switch::run(js, kill_switch.clone(), shutdown.clone()));
    let api = grpc::IdentityApi::new(service, kill_switch);
    let served = groundwork_kit::grpc::serve_api(
        listener,
        IdentityServer::new(api),
        &settings.common,
        audit,
        &shutdown,
    )
    .await;
    if let Err(e) = consumer.await {
        tracing::warn!(error = %e, "the kill switch's consumer failed");
    }
    groundwork_bus::connect::drain(&client).await;
    Ok(served?)
}
