//! One module per command group.

pub mod alerting;
pub mod budgets;
pub mod dlq;
pub mod events;
pub mod guardrails;
pub mod health;
pub mod identity;
pub mod one_time;
pub mod orchestrator;
pub mod pattern;
pub mod replay;
pub mod rules;
pub mod secrets;
pub mod targets;
pub mod up;

use crate::error::CliError;

/// Reads an argument that is either inline text or `@path` (a file to read).
pub fn inline_or_file(value: &str, what: &str) -> Result<String, CliError> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("cannot read {what} file {path}: {e}"))),
        None => Ok(value.to_owned()),
    }
}
