//! The alerting service's errors are the one error model of every service
//! ([`groundwork_kit::Error`]): AWS and NATS failures convert the same way everywhere.

pub use groundwork_kit::{Error, ErrorKind};
