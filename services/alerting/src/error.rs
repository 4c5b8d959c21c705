//! The alerting service's error type, and its one mapping to gRPC status codes.

use groundwork_bus::{BusError, BusErrorKind};
use groundwork_cloud::caller::RootRefused;
use groundwork_cloud::{AwsError, AwsErrorKind};

/// Everything a call to the alerting service can fail with, named for the caller's decision.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is invalid: `field` names what to fix (a JSON path for imports).
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    /// The call cannot run in the current state (e.g. with root credentials).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// A dependency (AWS, NATS) is down or throttling: retry later.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<AwsError> for Error {
    fn from(e: AwsError) -> Self {
        let message = e.to_string();
        match e.kind {
            AwsErrorKind::NotFound => Self::NotFound(message),
            AwsErrorKind::Invalid => Self::InvalidArgument {
                field: "request".into(),
                reason: message,
            },
            AwsErrorKind::AccessDenied => Self::PermissionDenied(message),
            AwsErrorKind::Unauthenticated => Self::Unauthenticated(message),
            AwsErrorKind::Throttled | AwsErrorKind::Unavailable => Self::Unavailable(message),
            AwsErrorKind::AlreadyExists | AwsErrorKind::Other => Self::Internal(message),
        }
    }
}

impl From<BusError> for Error {
    fn from(e: BusError) -> Self {
        match e.kind() {
            BusErrorKind::Unavailable => Self::Unavailable(e.to_string()),
            BusErrorKind::Conflict => Self::Unavailable(e.to_string()),
            BusErrorKind::Rejected | BusErrorKind::Internal => Self::Internal(e.to_string()),
        }
    }
}

impl From<RootRefused> for Error {
    fn from(e: RootRefused) -> Self {
        Self::FailedPrecondition(e.to_string())
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::InvalidArgument { .. } => Self::invalid_argument(message),
            Error::NotFound(_) => Self::not_found(message),
            Error::FailedPrecondition(_) => Self::failed_precondition(message),
            Error::PermissionDenied(_) => Self::permission_denied(message),
            Error::Unauthenticated(_) => Self::unauthenticated(message),
            Error::Unavailable(_) => Self::unavailable(message),
            Error::Internal(_) => Self::internal(message),
        }
    }
}
