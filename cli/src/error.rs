//! The CLI's error, which decides the exit code.

use groundwork_kit::ErrorKind;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Invalid input or usage: exit code 2.
    #[error("{0}")]
    Usage(String),
    /// The operation failed: exit code 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Failed(_) => 1,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }
}

impl From<tonic::Status> for CliError {
    fn from(status: tonic::Status) -> Self {
        let message = format!("{} ({:?})", status.message(), status.code());
        match groundwork_kit::Error::from_status(&status).kind() {
            ErrorKind::InvalidArgument => Self::Usage(message),
            _ => Self::Failed(message),
        }
    }
}

/// A failure before any call was made (a bad URL or token, a service that cannot be
/// reached).
impl From<groundwork_kit::Error> for CliError {
    fn from(e: groundwork_kit::Error) -> Self {
        match e.kind() {
            ErrorKind::InvalidArgument => Self::Usage(e.to_string()),
            _ => Self::Failed(e.to_string()),
        }
    }
}
