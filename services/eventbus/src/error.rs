//! The event bus's error type, and its one mapping to gRPC status codes.

use groundwork_bus::{BusError, BusErrorKind};
use groundwork_events::envelope::RequestError;

/// Everything a call to the event bus can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    /// Invalid input, with EventBridge's own message (`ValidationException`).
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidRequest(#[from] RequestError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// A quota (rules per bus, targets per rule, running replays) would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// The call is valid but the resource's state refuses it (a rule with targets).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Another writer changed the same record; the caller may retry.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<BusError> for Error {
    fn from(e: BusError) -> Self {
        match e.kind() {
            BusErrorKind::Unavailable => Self::Unavailable(e.to_string()),
            BusErrorKind::Rejected | BusErrorKind::Internal => Self::Internal(e.to_string()),
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::InvalidArgument { .. } | Error::Validation(_) | Error::InvalidRequest(_) => {
                Self::invalid_argument(message)
            }
            Error::NotFound(_) => Self::not_found(message),
            Error::AlreadyExists(_) => Self::already_exists(message),
            Error::LimitExceeded(_) => Self::resource_exhausted(message),
            Error::FailedPrecondition(_) => Self::failed_precondition(message),
            Error::Conflict(_) => Self::aborted(message),
            Error::Unavailable(_) => Self::unavailable(message),
            Error::Internal(_) => Self::internal(message),
        }
    }
}

/// A KV or stream call that failed: NATS is away or did not answer.
pub fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("{what}: {e}"))
}
