//! The identity service's errors are the one error model of every service
//! ([`groundwork_kit::Error`]): AWS and NATS failures convert the same way everywhere, and
//! each reaches the caller with its gRPC code, reason and retryability.
//!
//! Messages never hold secrets: no value that reaches this type is a password, a secret
//! access key or an MFA seed (those only travel as `SecretString`).

pub use groundwork_kit::{Error, ErrorKind};
