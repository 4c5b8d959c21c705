//! The NATS side of Groundwork.
//!
//! Layout:
//! - [`names`]: every subject, stream, consumer and bucket name, as constants and builders.
//! - [`connect`]: connecting to NATS so that a restart of the server is survived.
//! - [`streams`]: creating the JetStream streams a bus needs, idempotently.
//! - [`publish`]: storing events on a bus stream, deduplicated on the event id.
//! - [`error`]: [`BusError`], with a kind the caller branches on.

pub mod connect;
pub mod emit;
pub mod error;
pub mod names;
pub mod publish;
pub mod streams;

pub use connect::{ConnectSettings, connect};
pub use emit::{Emitted, Emitter};
pub use error::{BusError, BusErrorKind};
pub use publish::EventPublisher;
pub use streams::StreamSettings;
