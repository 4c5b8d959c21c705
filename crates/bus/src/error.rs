//! [`BusError`]: what went wrong talking to NATS, as a kind the caller can branch on.

use std::fmt;

/// What kind of failure happened, for the caller's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusErrorKind {
    /// NATS is not reachable or did not answer in time: retry later.
    Unavailable,
    /// The server refused the request (bad configuration, limits): retrying will not help.
    Rejected,
    /// A compare-and-set kept losing to other writers: retry shortly.
    Conflict,
    /// The servers' storage or resource limits would be exceeded (a stream's byte limit is
    /// reserved on every node that holds a copy): retrying will not help until space is made.
    Exhausted,
    /// Anything else.
    Internal,
}

/// A failure talking to NATS or JetStream.
#[derive(Debug, Clone, thiserror::Error)]
pub struct BusError {
    kind: BusErrorKind,
    message: String,
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl BusError {
    pub fn new(kind: BusErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(BusErrorKind::Unavailable, message)
    }

    pub fn kind(&self) -> BusErrorKind {
        self.kind
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            BusErrorKind::Unavailable | BusErrorKind::Conflict
        )
    }
}

impl groundwork_kit::retry::Retryable for BusError {
    fn is_retryable(&self) -> bool {
        BusError::is_retryable(self)
    }
}

/// The one conversion of a NATS failure into the services' error.
impl From<BusError> for groundwork_kit::Error {
    fn from(e: BusError) -> Self {
        use groundwork_kit::Error;
        match e.kind {
            BusErrorKind::Unavailable => {
                Error::unavailable(e.message).with_reason("NATS_UNAVAILABLE")
            }
            BusErrorKind::Conflict => Error::conflict(e.message).with_reason("CONCURRENT_CHANGE"),
            BusErrorKind::Exhausted => {
                Error::limit_exceeded(e.message).with_reason("NATS_STORAGE_EXHAUSTED")
            }
            BusErrorKind::Rejected => Error::internal(e.message).with_reason("NATS_REJECTED"),
            BusErrorKind::Internal => Error::internal(e.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_failures_keep_their_retryability_across_grpc() {
        let cases = [
            (BusErrorKind::Unavailable, tonic::Code::Unavailable, true),
            (BusErrorKind::Conflict, tonic::Code::Aborted, true),
            (BusErrorKind::Rejected, tonic::Code::Internal, false),
            (
                BusErrorKind::Exhausted,
                tonic::Code::ResourceExhausted,
                false,
            ),
            (BusErrorKind::Internal, tonic::Code::Internal, false),
        ];
        for (kind, code, retryable) in cases {
            let status = groundwork_kit::Error::from(BusError::new(kind, "m")).into_status();
            assert_eq!(status.code(), code);
            assert_eq!(
                groundwork_kit::Error::from_status(&status).is_retryable(),
                retryable
            );
        }
    }
}
