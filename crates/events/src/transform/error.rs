//! Why a target's input settings were refused, and why an input could not be rendered.

/// Input settings refused by PutTargets; the message is EventBridge's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransformError {
    message: String,
}

impl TransformError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// An input that cannot be produced for one event. Retrying does not help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template produced text that starts like JSON but is not JSON.
    #[error("the input template produced invalid JSON: {0}")]
    InvalidJson(String),
    /// The rendered input would exceed the largest input a target takes.
    #[error("the input template's output exceeds {limit} bytes")]
    TooLarge { limit: usize },
}
