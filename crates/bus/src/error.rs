//! [`BusError`]: what went wrong talking to NATS, as a kind the caller can branch on.

use std::fmt;

/// What kind of failure happened, for the caller's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusErrorKind {
    /// NATS is not reachable or did not answer in time: retry later.
    Unavailable,
    /// The server refused the request (bad configuration, limits): retrying will not help.
    Rejected,
    /// Anything else.
    Internal,
}

/// A failure talking to NATS or JetStream.
#[derive(Debug, thiserror::Error)]
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
        self.kind == BusErrorKind::Unavailable
    }
}
