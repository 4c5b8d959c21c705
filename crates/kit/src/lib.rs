//! Service scaffolding shared by every Groundwork service.
//!
//! Layout:
//! - [`config`]: the settings every service has (NATS, API token, account, region, AWS
//!   retries) and the default ports.
//! - [`telemetry`]: the tracing subscriber (terminal or JSON, filtered by `RUST_LOG`).
//! - [`grpc`]: the gRPC server with `grpc.health.v1`, reflection and bearer-token auth.
//! - [`auth`]: the bearer-token check: operator and read-only roles, the read-only methods;
//!   the same roles for HTTP callers, by bearer token or AWS SigV4 ([`sigv4`]).
//! - [`audit`]: the audit trail of calls that may change something (kept by a sink).
//! - [`tls`]: TLS for servers and clients (rustls, ring), the local CA.
//! - [`secrets`]: the local stack's secrets directory (`.groundwork/secrets/`).
//! - [`error`]: the one error model of every service and its mapping to gRPC status codes
//!   with standard error details (reason, field violations, retry info), both ways.
//! - [`client`]: every gRPC channel to a Groundwork service, with the API token.
//! - [`retry`]: in-process retries (one backoff policy, one loop).
//! - [`service`]: the one `main` of every service binary.
//! - [`settings_file`]: settings in layers: defaults, a TOML file, environment, flags.
//! - [`shutdown`]: SIGINT/SIGTERM into a cancellation token that every task watches.

pub mod audit;
pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod grpc;
pub mod retry;
pub mod secrets;
pub mod service;
pub mod settings_file;
pub mod shutdown;
pub mod sigv4;
pub mod telemetry;
pub mod tls;

pub use config::CommonSettings;
pub use error::{Error, ErrorKind};
pub use shutdown::Shutdown;
