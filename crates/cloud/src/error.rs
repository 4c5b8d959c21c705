//! AWS SDK errors, classified once so that every service decides the same way: retry
//! (throttling, a dependency that is down), treat as done ("already exists" in an
//! idempotent step), or give up with a message a person can act on.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure, for the caller's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The resource exists already: in an idempotent step, that is success.
    AlreadyExists,
    /// The resource does not exist.
    NotFound,
    /// The request was invalid (a bad name, a policy that does not exist, a limit).
    Invalid,
    /// The credentials may not do this.
    AccessDenied,
    /// No or bad credentials.
    Unauthenticated,
    /// Throttled: retry later.
    Throttled,
    /// AWS (or the sandbox) could not be reached or failed: retry later.
    Unavailable,
    /// Anything else.
    Other,
}

/// A failed AWS call: the operation, AWS's error code and message, and its kind.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {code}: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub kind: AwsErrorKind,
}

impl AwsError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            AwsErrorKind::Throttled | AwsErrorKind::Unavailable
        )
    }

    /// Classifies an SDK error of `operation`.
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        match &err {
            SdkError::ServiceError(service) => {
                let inner = service.err();
                let code = inner.code().unwrap_or("Unknown").to_owned();
                let message = inner.message().unwrap_or_default().to_owned();
                let kind = kind_of_code(&code);
                Self {
                    operation,
                    code,
                    message,
                    kind,
                }
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Self {
                operation,
                code: "Unavailable".into(),
                message: format!(
                    "AWS did not answer ({}); check the network or AWS_ENDPOINT_URL",
                    describe(&err)
                ),
                kind: AwsErrorKind::Unavailable,
            },
            SdkError::ResponseError(_) => Self {
                operation,
                code: "ResponseError".into(),
                message: format!("unreadable response: {}", describe(&err)),
                kind: AwsErrorKind::Unavailable,
            },
            SdkError::ConstructionFailure(_) => Self {
                operation,
                code: "ConstructionFailure".into(),
                message: format!(
                    "the request could not be built ({}); are credentials and a region configured?",
                    describe(&err)
                ),
                kind: AwsErrorKind::Unauthenticated,
            },
            _ => Self {
                operation,
                code: "Unknown".into(),
                message: describe(&err),
                kind: AwsErrorKind::Other,
            },
        }
    }
}

/// The whole chain of an error's sources, on one line.
fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Maps AWS error codes (IAM, STS, SNS, CloudWatch, Budgets) to kinds.
pub fn kind_of_code(code: &str) -> AwsErrorKind {
    match code {
        "EntityAlreadyExists"
        | "DuplicateRecordException"
        | "ResourceAlreadyExistsException"
        | "AlreadyExists"
        | "AlreadyExistsException" => AwsErrorKind::AlreadyExists,
        "NoSuchEntity"
        | "NotFoundException"
        | "NotFound"
        | "ResourceNotFound"
        | "ResourceNotFoundException" => AwsErrorKind::NotFound,
        "AccessDenied"
        | "AccessDeniedException"
        | "AuthorizationError"
        | "UnauthorizedOperation" => AwsErrorKind::AccessDenied,
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "UnrecognizedClientException"
        | "MissingAuthenticationToken" => AwsErrorKind::Unauthenticated,
        "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => AwsErrorKind::Throttled,
        "ServiceUnavailable"
        | "ServiceFailure"
        | "InternalFailure"
        | "InternalError"
        | "InternalErrorException" => AwsErrorKind::Unavailable,
        "InvalidInput"
        | "InvalidParameter"
        | "InvalidParameterValue"
        | "InvalidParameterException"
        | "ValidationError"
        | "ValidationException"
        | "MalformedPolicyDocument"
        | "LimitExceeded"
        | "LimitExceededException"
        | "PasswordPolicyViolation"
        | "InvalidAuthenticationCode"
        | "CreationLimitExceededException"
        | "InvalidParameterCombination" => AwsErrorKind::Invalid,
        _ => AwsErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_callers_decision() {
        assert_eq!(
            kind_of_code("EntityAlreadyExists"),
            AwsErrorKind::AlreadyExists
        );
        assert_eq!(
            kind_of_code("DuplicateRecordException"),
            AwsErrorKind::AlreadyExists
        );
        assert_eq!(kind_of_code("NoSuchEntity"), AwsErrorKind::NotFound);
        assert_eq!(kind_of_code("Throttling"), AwsErrorKind::Throttled);
        assert_eq!(kind_of_code("InvalidInput"), AwsErrorKind::Invalid);
        assert_eq!(kind_of_code("SomethingNew"), AwsErrorKind::Other);
        let e = AwsError {
            operation: "CreateUser",
            code: "Throttling".into(),
            message: "slow down".into(),
            kind: AwsErrorKind::Throttled,
        };
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "CreateUser failed: Throttling: slow down");
    }
}

/// The one conversion of an AWS failure into the services' error: the same AWS failure
/// gives the same gRPC code, reason and retryability from every service.
impl From<AwsError> for groundwork_kit::Error {
    fn from(e: AwsError) -> Self {
        use groundwork_kit::Error;
        let message = e.to_string();
        let error = match e.kind {
            AwsErrorKind::AlreadyExists => {
                Error::already_exists(message).with_reason("AWS_ALREADY_EXISTS")
            }
            AwsErrorKind::NotFound => Error::not_found(message).with_reason("AWS_NOT_FOUND"),
            AwsErrorKind::Invalid => {
                Error::new(groundwork_kit::ErrorKind::InvalidArgument, message)
                    .with_reason("AWS_INVALID_REQUEST")
            }
            AwsErrorKind::AccessDenied => Error::permission_denied(format!(
                "{message}; the service's AWS credentials need IAM permissions for this"
            ))
            .with_reason("AWS_ACCESS_DENIED"),
            AwsErrorKind::Unauthenticated => Error::unauthenticated(format!(
                "{message}; check the service's AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID…)"
            ))
            .with_reason("AWS_UNAUTHENTICATED"),
            AwsErrorKind::Throttled => Error::unavailable(message)
                .with_reason("AWS_THROTTLED")
                .with_retry(Some(std::time::Duration::from_secs(2))),
            AwsErrorKind::Unavailable => Error::unavailable(message).with_reason("AWS_UNAVAILABLE"),
            AwsErrorKind::Other => Error::internal(message).with_reason("AWS_ERROR"),
        };
        error
            .with_metadata("aws_operation", e.operation)
            .with_metadata("aws_code", e.code)
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn aws_failures_map_to_one_code_reason_and_retryability() {
        use tonic::Code;
        let cases = [
            (AwsErrorKind::AlreadyExists, Code::AlreadyExists, false),
            (AwsErrorKind::NotFound, Code::NotFound, false),
            (AwsErrorKind::Invalid, Code::InvalidArgument, false),
            (AwsErrorKind::AccessDenied, Code::PermissionDenied, false),
            (AwsErrorKind::Unauthenticated, Code::Unauthenticated, false),
            (AwsErrorKind::Throttled, Code::Unavailable, true),
            (AwsErrorKind::Unavailable, Code::Unavailable, true),
            (AwsErrorKind::Other, Code::Internal, false),
        ];
        for (kind, code, retryable) in cases {
            let aws = AwsError {
                operation: "CreateUser",
                code: "X".into(),
                message: "m".into(),
                kind,
            };
            let status = groundwork_kit::Error::from(aws).into_status();
            assert_eq!(status.code(), code, "{kind:?}");
            let back = groundwork_kit::Error::from_status(&status);
            assert_eq!(back.is_retryable(), retryable, "{kind:?}");
            assert_eq!(back.metadata("aws_code"), Some("X"));
        }
    }
}
