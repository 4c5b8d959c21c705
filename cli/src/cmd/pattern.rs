//! `groundwork pattern test`: does an event pattern match an event? Offline, with the same
//! engine as the bus. Prints `true` or `false` (one line per event with `--events`);
//! an invalid pattern prints EventBridge's reason on stderr and exits 2.

use std::io::BufRead;

use clap::Subcommand;
use groundwork_events::pattern::EventPattern;

use crate::cmd::inline_or_file;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum PatternCommand {
    /// Test a pattern against one event, or against every line of a JSONL file.
    Test {
        /// The event pattern: JSON text, or @file.
        #[arg(long)]
        pattern: String,
        /// One event: JSON text, or @file.
        #[arg(long, conflicts_with = "events", required_unless_present = "events")]
        event: Option<String>,
        /// A file of events, one JSON object per line.
        #[arg(long)]
        events: Option<String>,
    },
}

pub fn run(command: PatternCommand) -> Result<(), CliError> {
    let PatternCommand::Test {
        pattern,
        event,
        events,
    } = command;
    let pattern_text = inline_or_file(&pattern, "pattern")?;
    let pattern = EventPattern::parse(&pattern_text).map_err(|e| CliError::usage(e.to_string()))?;
    if let Some(event) = event {
        let event = inline_or_file(&event, "event")?;
        let matched = pattern
            .matches_json(&event)
            .map_err(|e| CliError::usage(format!("the event is not a JSON object: {e}")))?;
        println!("{matched}");
        return Ok(());
    }
    let path = events.unwrap_or_default();
    let file = std::fs::File::open(&path)
        .map_err(|e| CliError::usage(format!("cannot read events file {path}: {e}")))?;
    let mut out = String::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| CliError::usage(format!("cannot read {path}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let matched = pattern.matches_json(&line).map_err(|e| {
            CliError::usage(format!(
                "{path}:{}: the event is not a JSON object: {e}",
                n + 1
            ))
        })?;
        out.push_str(if matched { "true\n" } else { "false\n" });
    }
    print!("{out}");
    Ok(())
}
