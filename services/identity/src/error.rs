//! The identity service's error type, and its one mapping to gRPC status codes.
//!
//! Messages never hold secrets: no value that reaches this type is a password, a secret
//! access key or an MFA seed (those only travel as `SecretString`).

use groundwork_bus::{BusError, BusErrorKind};
use groundwork_cloud::caller::RootRefused;
use groundwork_cloud::{AwsError, AwsErrorKind};

/// Everything a call to the identity service can fail with, named for the caller's
/// decision.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: which field, and why. Nothing was changed.
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The account is not in a state that allows the call (e.g. root credentials).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// AWS or NATS is away or throttling: try again later.
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
            AwsErrorKind::AlreadyExists => Self::AlreadyExists(message),
            AwsErrorKind::NotFound => Self::NotFound(message),
            AwsErrorKind::Invalid => Self::InvalidArgument {
                field: "request".into(),
                reason: message,
            },
            AwsErrorKind::AccessDenied => Self::PermissionDenied(format!(
                "{message}; the service's AWS credentials need IAM permissions for this"
            )),
            AwsErrorKind::Unauthenticated => Self::Unauthenticated(format!(
                "{message}; check the service's AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID…)"
            )),
            AwsErrorKind::Throttled | AwsErrorKind::Unavailable => Self::Unavailable(message),
            AwsErrorKind::Other => Self::Internal(message),
        }
    }
}

impl From<RootRefused> for Error {
    fn from(e: RootRefused) -> Self {
        Self::FailedPrecondition(e.to_string())
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
            Error::InvalidArgument { .. } => Self::invalid_argument(message),
            Error::NotFound(_) => Self::not_found(message),
            Error::AlreadyExists(_) => Self::already_exists(message),
            Error::FailedPrecondition(_) => Self::failed_precondition(message),
            Error::Unauthenticated(_) => Self::unauthenticated(message),
            Error::PermissionDenied(_) => Self::permission_denied(message),
            Error::Unavailable(_) => Self::unavailable(message),
            Error::Internal(_) => Self::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(kind: AwsErrorKind) -> AwsError {
        AwsError {
            operation: "CreateUser",
            code: "X".into(),
            message: "m".into(),
            kind,
        }
    }

    #[test]
    fn aws_failures_map_to_the_right_status_codes() {
        let cases = [
            (AwsErrorKind::AlreadyExists, tonic::Code::AlreadyExists),
            (AwsErrorKind::NotFound, tonic::Code::NotFound),
            (AwsErrorKind::Invalid, tonic::Code::InvalidArgument),
            (AwsErrorKind::AccessDenied, tonic::Code::PermissionDenied),
            (AwsErrorKind::Unauthenticated, tonic::Code::Unauthenticated),
            (AwsErrorKind::Throttled, tonic::Code::Unavailable),
            (AwsErrorKind::Unavailable, tonic::Code::Unavailable),
            (AwsErrorKind::Other, tonic::Code::Internal),
        ];
        for (kind, code) in cases {
            let status = tonic::Status::from(Error::from(aws(kind)));
            assert_eq!(status.code(), code, "{kind:?}");
        }
        assert!(Error::from(aws(AwsErrorKind::Throttled)).is_retryable());
        assert!(!Error::from(aws(AwsErrorKind::Invalid)).is_retryable());
    }
}
