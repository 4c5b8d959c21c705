//! The event bus's error type, and its one mapping to gRPC status codes.

use groundwork_bus::{BusError, BusErrorKind};
use groundwork_events::envelope::RequestError;

/// Everything a call to the event bus can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("{0}")]
    InvalidRequest(#[from] RequestError),
    #[error("{0}")]
    NotFound(String),
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
            Error::InvalidArgument { .. } | Error::InvalidRequest(_) => {
                Self::invalid_argument(message)
            }
            Error::NotFound(_) => Self::not_found(message),
            Error::Unavailable(_) => Self::unavailable(message),
            Error::Internal(_) => Self::internal(message),
        }
    }
}
