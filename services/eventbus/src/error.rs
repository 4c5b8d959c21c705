//! The event bus's errors are the one error model of every service
//! ([`groundwork_kit::Error`]). EventBridge's own validation failures keep its message text
//! and carry the reason [`VALIDATION`], so the HTTP and NATS faces can answer with
//! `ValidationException` as AWS does; invalid patterns carry [`INVALID_PATTERN`]
//! (`InvalidEventPatternException`) and calls on a resource in the wrong state
//! [`ILLEGAL_STATUS`] (`IllegalStatusException`).

pub use groundwork_kit::{Error, ErrorKind};

use groundwork_events::envelope::RequestError;

/// The reason of invalid input answered with EventBridge's own message.
pub const VALIDATION: &str = "VALIDATION_EXCEPTION";

/// Invalid input, with EventBridge's own message (`ValidationException`).
pub fn validation(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message).with_reason(VALIDATION)
}

/// The reason of an event pattern that is not valid (`InvalidEventPatternException`).
pub const INVALID_PATTERN: &str = "INVALID_EVENT_PATTERN";

/// The reason of a call on a resource in a state that does not allow it, such as cancelling
/// a replay that has ended (`IllegalStatusException`).
pub const ILLEGAL_STATUS: &str = "ILLEGAL_STATUS";

/// An event pattern that is not valid, with the pattern engine's (EventBridge's) message.
pub fn invalid_pattern(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidArgument, e.to_string()).with_reason(INVALID_PATTERN)
}

/// A PutEvents request that EventBridge would refuse as a whole.
pub fn invalid_request(e: RequestError) -> Error {
    validation(e.to_string())
}

/// A KV or stream call that failed: NATS is away or did not answer.
pub fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("{what}: {e}"))
}
