//! `groundwork dlq list|redrive`: dead letters of a bus.

use clap::Subcommand;
use groundwork_proto::v1 as pb;
use serde_json::json;

use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::{OutputFormat, print_json, print_table};

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List the oldest dead letters.
    List {
        #[arg(long, default_value = "default")]
        bus: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Send dead letters back for delivery (all, or the oldest --count).
    Redrive {
        #[arg(long, default_value = "default")]
        bus: String,
        #[arg(long, default_value_t = 0)]
        count: u32,
    },
}

pub async fn run(
    command: DlqCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.eventbus().await?;
    match command {
        DlqCommand::List { bus, limit } => {
            let letters = client
                .list_dead_letters(pb::ListDeadLettersRequest {
                    event_bus_name: bus,
                    limit,
                })
                .await?
                .into_inner()
                .dead_letters;
            match output {
                OutputFormat::Json => print_json(&json!({
                    "DeadLetters": letters.iter().map(|d| json!({
                        "Sequence": d.sequence,
                        "EventId": d.event_id,
                        "RULE_ARN": d.rule_arn,
                        "TARGET_ARN": d.target_arn,
                        "ERROR_CODE": d.error_code,
                        "ERROR_MESSAGE": d.error_message,
                        "EXHAUSTED_RETRY_CONDITION": d.exhausted_retry_condition,
                        "RETRY_ATTEMPTS": d.retry_attempts,
                        "Event": serde_json::from_str::<serde_json::Value>(&d.event_json).unwrap_or_default(),
                    })).collect::<Vec<_>>()
                })),
                OutputFormat::Table => print_table(
                    &["SEQ", "EVENT", "TARGET", "ERROR", "RETRIES"],
                    &letters
                        .iter()
                        .map(|d| {
                            vec![
                                d.sequence.to_string(),
                                d.event_id.clone(),
                                d.target_arn.clone(),
                                d.error_code.clone(),
                                d.retry_attempts.to_string(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        DlqCommand::Redrive { bus, count } => {
            let redriven = client
                .redrive_dead_letters(pb::RedriveDeadLettersRequest {
                    event_bus_name: bus,
                    count,
                })
                .await?
                .into_inner()
                .redriven;
            match output {
                OutputFormat::Json => print_json(&json!({"Redriven": redriven})),
                OutputFormat::Table => println!("{redriven} dead letter(s) redriven"),
            }
        }
    }
    Ok(())
}
