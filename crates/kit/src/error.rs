//! The one error model of every Groundwork service, and its one mapping to gRPC.
//!
//! An [`Error`] is a [`ErrorKind`] (the caller's decision: fix the input, look elsewhere, try
//! again later…), a message a person can act on, and the machine-readable part a program
//! branches on: a reason (`ErrorInfo.reason`, e.g. `AWS_ACCESS_DENIED`), the fields that were
//! wrong (`BadRequest` field violations) and whether a retry makes sense (`RetryInfo`).
//! [`Error::into_status`] writes all of it into standard gRPC error details
//! (`google.rpc.ErrorInfo`, `BadRequest`, `RetryInfo`), and [`Error::from_status`] reads it
//! back on the client side, so a client never guesses retryability from the status code.
//!
//! The conversions from the other crates' errors live beside those errors
//! (`groundwork_cloud` for AWS, `groundwork_bus` for NATS), so every service converts the
//! same failure the same way.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every Groundwork error.
pub const DOMAIN: &str = "groundwork";

/// What kind of failure, named for the caller's decision. Each maps to one gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is invalid: fix the fields named. Nothing was changed.
    InvalidArgument,
    NotFound,
    AlreadyExists,
    /// The request is fine but the world is not ready for it (root credentials, a rule
    /// that still has targets).
    FailedPrecondition,
    /// The caller (or the service's own AWS credentials) may not do this.
    PermissionDenied,
    /// No or bad credentials.
    Unauthenticated,
    /// A quota would be exceeded.
    LimitExceeded,
    /// Another writer changed the same record at the same time.
    Conflict,
    /// A dependency (AWS, NATS, another service) is away or throttling.
    Unavailable,
    Internal,
}

impl ErrorKind {
    /// The gRPC status code of this kind.
    pub fn code(self) -> Code {
        match self {
            Self::InvalidArgument => Code::InvalidArgument,
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists => Code::AlreadyExists,
            Self::FailedPrecondition => Code::FailedPrecondition,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::LimitExceeded => Code::ResourceExhausted,
            Self::Conflict => Code::Aborted,
            Self::Unavailable => Code::Unavailable,
            Self::Internal => Code::Internal,
        }
    }

    /// The kind of a gRPC status code (codes no Groundwork service sends map to the
    /// nearest kind: a deadline is a dependency that did not answer).
    pub fn from_code(code: Code) -> Self {
        match code {
            Code::InvalidArgument | Code::OutOfRange => Self::InvalidArgument,
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists => Self::AlreadyExists,
            Code::FailedPrecondition => Self::FailedPrecondition,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::ResourceExhausted => Self::LimitExceeded,
            Code::Aborted => Self::Conflict,
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Self::Unavailable,
            Code::Ok | Code::Unknown | Code::Unimplemented | Code::Internal | Code::DataLoss => {
                Self::Internal
            }
        }
    }

    /// The reason used when none more precise is given (`ErrorInfo.reason`).
    pub fn default_reason(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::NotFound => "NOT_FOUND",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::Conflict => "CONFLICT",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    /// Whether a failure of this kind is worth retrying when nothing more is known, and
    /// after how long: a dependency that is away, or a concurrent writer.
    fn default_retry(self) -> Option<Duration> {
        match self {
            Self::Unavailable => Some(Duration::from_secs(1)),
            Self::Conflict => Some(Duration::from_millis(100)),
            _ => None,
        }
    }
}

/// A field that was wrong, and why (a `BadRequest` field violation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// One constructor per kind: `Error::not_found(message)` is `Error::new(ErrorKind::NotFound,
/// message)`.
macro_rules! constructors {
    ($($name:ident => $kind:ident),* $(,)?) => {
        $(
            #[doc = concat!("An error of kind [`ErrorKind::", stringify!($kind), "`].")]
            pub fn $name(message: impl Into<String>) -> Self {
                Self::new(ErrorKind::$kind, message)
            }
        )*
    };
}

/// A failure of a Groundwork call. Messages never hold secrets: no value that reaches this
/// type is a password, a key, a token or an MFA seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    reason: Cow<'static, str>,
    violations: Vec<FieldViolation>,
    retry_after: Option<Duration>,
    metadata: Vec<(String, String)>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The result of a Groundwork call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind`; retryable as its kind is by default.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            reason: Cow::Borrowed(kind.default_reason()),
            violations: Vec::new(),
            retry_after: kind.default_retry(),
            metadata: Vec::new(),
        }
    }

    /// Bad input in `field` (a request field, or a JSON/TOML path), and why. The message is
    /// `field: reason`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let (field, reason) = (field.into(), reason.into());
        let mut e = Self::new(ErrorKind::InvalidArgument, format!("{field}: {reason}"));
        e.violations.push(FieldViolation {
            field,
            description: reason,
        });
        e
    }

    constructors! {
        not_found => NotFound,
        already_exists => AlreadyExists,
        failed_precondition => FailedPrecondition,
        permission_denied => PermissionDenied,
        unauthenticated => Unauthenticated,
        limit_exceeded => LimitExceeded,
        conflict => Conflict,
        unavailable => Unavailable,
        internal => Internal,
    }

    /// Sets the machine-readable reason (`UPPER_SNAKE_CASE`, stable across releases).
    pub fn with_reason(mut self, reason: impl Into<Cow<'static, str>>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Adds one more wrong field (the first is given to [`Error::invalid`]).
    pub fn with_violation(mut self, field: impl Into<String>, why: impl Into<String>) -> Self {
        self.violations.push(FieldViolation {
            field: field.into(),
            description: why.into(),
        });
        self
    }

    /// Marks the failure retryable after `delay`, or terminal with `None`, whatever its kind.
    pub fn with_retry(mut self, delay: Option<Duration>) -> Self {
        self.retry_after = delay;
        self
    }

    /// Adds a key/value to `ErrorInfo.metadata` (e.g. the AWS error code). Never a secret.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Prefixes the message with what was being done (`"reading run r-1: …"`).
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn violations(&self) -> &[FieldViolation] {
        &self.violations
    }

    /// The first wrong field, if the input was wrong.
    pub fn field(&self) -> Option<&str> {
        self.violations.first().map(|v| v.field.as_str())
    }

    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retry_after.is_some()
    }

    /// How long to wait before retrying, when a retry makes sense.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The gRPC status: the kind's code, the message, and `ErrorInfo` (reason, domain,
    /// metadata), `BadRequest` (field violations) and `RetryInfo` (only when retryable) as
    /// standard error details.
    pub fn into_status(self) -> Status {
        let mut details = ErrorDetails::new();
        let metadata: HashMap<String, String> = self.metadata.into_iter().collect();
        details.set_error_info(self.reason.into_owned(), DOMAIN, metadata);
        for v in self.violations {
            details.add_bad_request_violation(v.field, v.description);
        }
        if let Some(delay) = self.retry_after {
            details.set_retry_info(Some(delay));
        }
        Status::with_error_details(self.kind.code(), self.message, details)
    }

    /// Reads a status back into an error: the client-side decoder. A status without
    /// Groundwork's details (from another server, or from the transport) is classified by
    /// its code alone, and is retryable only when its code says a dependency was away.
    pub fn from_status(status: &Status) -> Self {
        let kind = ErrorKind::from_code(status.code());
        let details = status.check_error_details().unwrap_or_default();
        let mut error = Self::new(kind, status.message());
        match details.error_info().filter(|i| i.domain == DOMAIN) {
            Some(info) => {
                error.reason = Cow::Owned(info.reason.clone());
                let mut metadata: Vec<(String, String)> = info
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                metadata.sort();
                error.metadata = metadata;
                error.retry_after = details
                    .retry_info()
                    .map(|r| r.retry_delay.unwrap_or_default());
            }
            // Transport failures (connection refused, reset) carry no details.
            None if status.code() == Code::Unavailable => {
                error.retry_after = Some(Duration::from_secs(1));
            }
            None => error.retry_after = None,
        }
        if let Some(bad) = details.bad_request() {
            error.violations = bad
                .field_violations
                .iter()
                .map(|v| FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect();
        }
        error
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        e.into_status()
    }
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Self::from_status(&status)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_code() {
        use ErrorKind::*;
        for kind in [
            InvalidArgument,
            NotFound,
            AlreadyExists,
            FailedPrecondition,
            PermissionDenied,
            Unauthenticated,
            LimitExceeded,
            Conflict,
            Unavailable,
            Internal,
        ] {
            assert_eq!(ErrorKind::from_code(kind.code()), kind);
            let back = Error::from_status(&Error::new(kind, "m").into_status());
            assert_eq!(back.kind(), kind);
            assert_eq!(back.reason(), kind.default_reason());
            assert_eq!(
                back.is_retryable(),
                matches!(kind, Unavailable | Conflict),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn details_survive_the_wire() {
        let e = Error::invalid("budget.limit", "must be positive")
            .with_violation("budget.name", "too long")
            .with_reason("INVALID_BUDGET")
            .with_metadata("aws_code", "ValidationException");
        let status = e.clone().into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "budget.limit: must be positive");
        let back = Error::from_status(&status);
        assert_eq!(back, e);
        assert_eq!(back.field(), Some("budget.limit"));
        assert_eq!(back.metadata("aws_code"), Some("ValidationException"));
    }

    #[test]
    fn retryability_is_what_the_server_says_not_what_the_code_suggests() {
        let terminal = Error::unavailable("the account is closed").with_retry(None);
        assert!(!Error::from_status(&terminal.into_status()).is_retryable());
        let retry = Error::internal("a hiccup").with_retry(Some(Duration::from_secs(3)));
        let back = Error::from_status(&retry.into_status());
        assert!(back.is_retryable());
        assert_eq!(back.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn statuses_without_details_are_classified_by_code() {
        assert!(Error::from_status(&Status::unavailable("connection refused")).is_retryable());
        assert!(!Error::from_status(&Status::internal("boom")).is_retryable());
        assert!(!Error::from_status(&Status::aborted("x")).is_retryable());
        assert_eq!(
            Error::from_status(&Status::unknown("x")).kind(),
            ErrorKind::Internal
        );
    }

    #[test]
    fn context_prefixes_the_message() {
        let e = Error::unavailable("timed out").context("reading run r-1");
        assert_eq!(e.to_string(), "reading run r-1: timed out");
    }
}
