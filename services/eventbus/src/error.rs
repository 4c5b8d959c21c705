//! The event bus's errors are the one error model of every service
//! ([`groundwork_kit::Error`]). EventBridge's own validation failures keep its message text
//! and carry the reason [`VALIDATION`], so the HTTP and NATS faces can answer with
//! `ValidationException` as AWS does.

pub use groundwork_kit::{Error, ErrorKind};

use groundwork_events::envelope::RequestError;

/// The reason of invalid input answered with EventBridge's own message.
pub const VALIDATION: &str = "VALIDATION_EXCEPTION";

/// Invalid input, with EventBridge's own message (`ValidationException`).
pub fn validation(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message).with_reason(VALIDATION)
}

/// A PutEvents request that EventBridge would refuse as a whole.
pub fn invalid_request(e: RequestError) -> Error {
    validation(e.to_string())
}

/// A KV or stream call that failed: NATS is away or did not answer.
pub fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("{what}: {e}"))
}
