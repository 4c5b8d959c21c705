//! The NATS side of Groundwork.
//!
//! Layout:
//! - [`access`]: the NATS identities, their permissions, the server configuration and
//!   the local stack's credentials.
//! - [`audit`]: the audit trail's records as `Groundwork API Call` events.
//! - [`names`]: every subject, stream, consumer and bucket name, as constants and builders.
//! - [`connect`]: connecting to NATS so that a restart of the server is survived.
//! - [`replicas`]: how many copies of each stream and bucket: configured, or 3 on a
//!   cluster of three or more nodes and 1 otherwise.
//! - [`streams`]: creating the JetStream streams a bus needs, idempotently.
//! - [`publish`]: storing events on a bus stream, deduplicated on the event id.
//! - [`error`]: [`BusError`], with a kind the caller branches on, and its one conversion
//!   into the services' error.
//! - [`consumer`]: the one durable-consumer runner (restart after errors, ack/nak).
//! - [`kv`]: opening buckets and typed KV records changed by compare-and-set.
//! - [`emit`]: services' own events, retried in the background until stored.
//! - [`audit`]: the audit trail: an [`Emitter`] as kit's `AuditSink`.

pub mod access;
pub mod audit;
pub mod connect;
pub mod consumer;
pub mod emit;
pub mod error;
pub mod kv;
pub mod names;
pub mod publish;
pub mod replicas;
pub mod streams;

pub use connect::{ConnectSettings, connect};
pub use emit::{Emitted, Emitter};
pub use error::{BusError, BusErrorKind};
pub use publish::EventPublisher;
pub use streams::StreamSettings;
