//! The orchestrator's error type, and its one mapping to gRPC status codes.

use crate::spec::SpecError;

/// Everything a call to the orchestrator can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid: every problem, with its TOML path.
    #[error("{0}")]
    InvalidSpec(#[from] SpecError),
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be served in the current state (e.g. a part of the spec that
    /// needs an API this deployment does not offer).
    #[error("{0}")]
    FailedPrecondition(String),
    /// NATS or a service is down: try again.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<groundwork_bus::BusError> for Error {
    fn from(e: groundwork_bus::BusError) -> Self {
        if e.is_retryable() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::InvalidSpec(_) | Error::InvalidArgument { .. } => {
                Self::invalid_argument(message)
            }
            Error::NotFound(_) => Self::not_found(message),
            Error::FailedPrecondition(_) => Self::failed_precondition(message),
            Error::Unavailable(_) => Self::unavailable(message),
            Error::Internal(_) => Self::internal(message),
        }
    }
}
