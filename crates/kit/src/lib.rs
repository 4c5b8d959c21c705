//! Service scaffolding shared by every Groundwork service.
//!
//! Layout:
//! - [`config`]: the settings every service has (listen address, NATS, API token), from
//!   flags and environment.
//! - [`telemetry`]: the tracing subscriber (terminal or JSON, filtered by `RUST_LOG`).
//! - [`grpc`]: the gRPC server with `grpc.health.v1`, reflection and bearer-token auth.
//! - [`auth`]: the bearer-token check.
//! - [`shutdown`]: SIGINT/SIGTERM into a cancellation token that every task watches.

pub mod auth;
pub mod config;
pub mod grpc;
pub mod shutdown;
pub mod telemetry;

pub use config::CommonSettings;
pub use shutdown::Shutdown;
