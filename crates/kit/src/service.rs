//! The one `main` of every service binary: settings loaded in layers (defaults, the TOML
//! file, environment, flags), the tracing subscriber, SIGINT/SIGTERM into a [`Shutdown`],
//! then the service's own start-up, whose error ends the process with exit code 1.
//!
//! ```text
//! fn main() -> std::process::ExitCode {
//!     groundwork_kit::service::main("identity", |cli: Cli, shutdown| async move {
//!         let listener = groundwork_kit::grpc::bind(cli.settings.listen).await?;
//!         …
//!         Ok(serve(cli.settings, deps, listener, shutdown).await?)
//!     })
//! }
//! ```

use std::future::Future;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::shutdown::Shutdown;
use crate::telemetry::{self, LogFormat};

/// What an AWS-facing service runs on besides its settings: AWS (`A`: the SDK
/// configuration or clients built from it) and the NATS connection (`N`). Each service names
/// its own (`pub type Deps = groundwork_kit::service::Deps<SdkConfig, async_nats::Client>`),
/// so that every `serve` has the shape `serve(settings, deps, listener, shutdown)`.
#[derive(Debug, Clone)]
pub struct Deps<A, N> {
    pub aws: A,
    pub nats: N,
}

/// Any error a service's start-up or run ends with.
pub type MainError = Box<dyn std::error::Error + Send + Sync>;

/// The exit code of a service that stopped with `e`: 2 for invalid settings (among them
/// settings refused as insecure), 1 otherwise.
pub fn exit_code(e: &(dyn std::error::Error + Send + Sync + 'static)) -> ExitCode {
    match e.downcast_ref::<crate::Error>() {
        Some(e) if e.kind() == crate::ErrorKind::InvalidArgument => ExitCode::from(2),
        _ => match e.downcast_ref::<crate::grpc::ServeError>() {
            Some(crate::grpc::ServeError::Settings(_)) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        },
    }
}

/// Runs a service binary; `service` names its section of the settings file and its logs.
/// Invalid settings print clap's message and exit with code 2, and so do settings that
/// the service refuses at start-up (no API token without `--insecure`, see
/// [`crate::config::CommonSettings::check_exposure`]).
pub fn main<S, F, Fut>(service: &'static str, body: F) -> ExitCode
where
    S: CommandFactory + FromArgMatches,
    F: FnOnce(S, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), MainError>>,
{
    let settings = match crate::settings_file::load::<S>(service) {
        Ok(settings) => settings,
        Err(e) => e.exit(),
    };
    if let Err(e) = telemetry::init(LogFormat::from_env()) {
        eprintln!("groundwork-{service}: cannot set up logging: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("groundwork-{service}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        match body(settings, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "groundwork-{service} stopped with an error");
                eprintln!("groundwork-{service} stopped with an error: {e}");
                exit_code(&*e)
            }
        }
    })
}
