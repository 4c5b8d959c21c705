//! The budget service's error type, and its one mapping to gRPC status codes.

use groundwork_bus::{BusError, BusErrorKind};
use groundwork_cloud::{AwsError, AwsErrorKind};

use crate::domain::InvalidField;

/// Everything a call to the budget service can fail with, named for the caller's decision.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input; nothing was changed.
    #[error("{0}")]
    InvalidArgument(#[from] InvalidField),
    #[error("{0}")]
    NotFound(String),
    /// The request is fine but the world is not ready for it (root credentials, an SNS
    /// topic whose policy does not let AWS Budgets publish, a budget of another type).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// AWS or NATS is down or throttling: retry later.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl Error {
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
            AwsErrorKind::Invalid => Self::FailedPrecondition(format!("AWS refused it: {message}")),
            AwsErrorKind::AccessDenied => Self::PermissionDenied(format!(
                "{message}. The credentials need the budgets:* permissions (ViewBudget, ModifyBudget)"
            )),
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
            BusErrorKind::Rejected | BusErrorKind::Internal => Self::Internal(e.to_string()),
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::InvalidArgument(_) => Self::invalid_argument(message),
            Error::NotFound(_) => Self::not_found(message),
            Error::FailedPrecondition(_) => Self::failed_precondition(message),
            Error::Unauthenticated(_) => Self::unauthenticated(message),
            Error::PermissionDenied(_) => Self::permission_denied(message),
            Error::Unavailable(_) => Self::unavailable(message),
            Error::Internal(_) => Self::internal(message),
        }
    }
}
