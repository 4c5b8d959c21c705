//! `groundwork targets put|list|remove`: targets of a rule. A target's ARN is
//! `nats:<subject>`, an `http(s)://` webhook URL, or an event bus ARN. `list` shows a
//! webhook URL as its scheme, host and port only: its path, query or user info may be a
//! credential (a Slack webhook's token is its path), and listings end up in terminals,
//! scripts and CI logs.

use std::collections::BTreeMap;

use clap::Subcommand;
use groundwork_events::redact::redact_target_arn;
use groundwork_proto::v1 as pb;
use serde::Deserialize;
use serde_json::json;

use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::{OutputFormat, print_json, print_table};

#[derive(Debug, Subcommand)]
pub enum TargetsCommand {
    /// Add or replace targets (PutTargets): one from flags, or several from a JSON file in
    /// the format of `aws events put-targets --targets file://targets.json`.
    Put {
        #[arg(long)]
        rule: String,
        #[arg(long, default_value = "default")]
        bus: String,
        #[arg(long, required_unless_present = "targets")]
        id: Option<String>,
        #[arg(long, required_unless_present = "targets")]
        arn: Option<String>,
        /// A constant JSON input sent instead of the event.
        #[arg(long)]
        input: Option<String>,
        /// The part of the event to send, e.g. $.detail.
        #[arg(long)]
        input_path: Option<String>,
        /// Retries before the DLQ (0 to 185).
        #[arg(long)]
        max_retries: Option<i32>,
        /// Oldest event age still delivered, in seconds (60 to 86400).
        #[arg(long)]
        max_age: Option<i32>,
        /// A JSON file of targets (`file://` prefix accepted), EventBridge field names.
        #[arg(long, conflicts_with_all = ["id", "arn"])]
        targets: Option<String>,
    },
    /// List the targets of a rule (ListTargetsByRule).
    List {
        #[arg(long)]
        rule: String,
        #[arg(long, default_value = "default")]
        bus: String,
    },
    /// Remove targets by id (RemoveTargets).
    Remove {
        #[arg(long)]
        rule: String,
        #[arg(long, default_value = "default")]
        bus: String,
        #[arg(long = "id", required = true)]
        ids: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TargetFile {
    id: String,
    arn: String,
    input: Option<String>,
    input_path: Option<String>,
    input_transformer: Option<TransformerFile>,
    retry_policy: Option<RetryFile>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TransformerFile {
    #[serde(default)]
    input_paths_map: BTreeMap<String, String>,
    input_template: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetryFile {
    maximum_retry_attempts: Option<i32>,
    maximum_event_age_in_seconds: Option<i32>,
}

fn read_targets(path: &str) -> Result<Vec<pb::Target>, CliError> {
    let path = path.strip_prefix("file://").unwrap_or(path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {path}: {e}")))?;
    let targets: Vec<TargetFile> = serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "{path} is not a list of targets ([{{\"Id\": …, \"Arn\": …}}]): {e}"
        ))
    })?;
    Ok(targets
        .into_iter()
        .map(|t| pb::Target {
            id: t.id,
            arn: t.arn,
            input: t.input,
            input_path: t.input_path,
            input_transformer: t.input_transformer.map(|x| pb::InputTransformer {
                input_paths_map: x.input_paths_map.into_iter().collect(),
                input_template: x.input_template,
            }),
            retry_policy: t.retry_policy.map(|r| pb::RetryPolicy {
                maximum_retry_attempts: r.maximum_retry_attempts,
                maximum_event_age_in_seconds: r.maximum_event_age_in_seconds,
            }),
            http_timeout_ms: 0,
        })
        .collect())
}

pub async fn run(
    command: TargetsCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        TargetsCommand::Put {
            rule,
            bus,
            id,
            arn,
            input,
            input_path,
            max_retries,
            max_age,
            targets,
        } => {
            let targets = match targets {
                Some(path) => read_targets(&path)?,
                None => vec![pb::Target {
                    id: id.unwrap_or_default(),
                    arn: arn.unwrap_or_default(),
                    input,
                    input_path,
                    input_transformer: None,
                    retry_policy: Some(pb::RetryPolicy {
                        maximum_retry_attempts: max_retries,
                        maximum_event_age_in_seconds: max_age,
                    }),
                    http_timeout_ms: 0,
                }],
            };
            let mut client = endpoints.eventbus().await?;
            let response = client
                .put_targets(pb::PutTargetsRequest {
                    rule,
                    event_bus_name: bus,
                    targets,
                })
                .await?
                .into_inner();
            print_failed(
                response.failed_entry_count,
                &response.failed_entries,
                output,
            )
        }
        TargetsCommand::List { rule, bus } => {
            let mut client = endpoints.eventbus().await?;
            let targets = client
                .list_targets_by_rule(pb::ListTargetsByRuleRequest {
                    rule,
                    event_bus_name: bus,
                    next_token: String::new(),
                    limit: 100,
                })
                .await?
                .into_inner()
                .targets;
            match output {
                OutputFormat::Json => print_json(&json!({
                    "Targets": targets.iter().map(|t| json!({
                        "Id": t.id,
                        "Arn": redact_target_arn(&t.arn),
                        "Input": t.input,
                        "InputPath": t.input_path,
                        "RetryPolicy": t.retry_policy.as_ref().map(|r| json!({
                            "MaximumRetryAttempts": r.maximum_retry_attempts,
                            "MaximumEventAgeInSeconds": r.maximum_event_age_in_seconds,
                        })),
                    })).collect::<Vec<_>>()
                })),
                OutputFormat::Table => print_table(
                    &["ID", "ARN"],
                    &targets
                        .iter()
                        .map(|t| vec![t.id.clone(), redact_target_arn(&t.arn)])
                        .collect::<Vec<_>>(),
                ),
            }
            Ok(())
        }
        TargetsCommand::Remove { rule, bus, ids } => {
            let mut client = endpoints.eventbus().await?;
            let response = client
                .remove_targets(pb::RemoveTargetsRequest {
                    rule,
                    event_bus_name: bus,
                    ids,
                })
                .await?
                .into_inner();
            print_failed(
                response.failed_entry_count,
                &response.failed_entries,
                output,
            )
        }
    }
}

fn print_failed(
    count: i32,
    failed: &[pb::FailedTargetEntry],
    output: OutputFormat,
) -> Result<(), CliError> {
    match output {
        OutputFormat::Json => print_json(&json!({
            "FailedEntryCount": count,
            "FailedEntries": failed.iter().map(|f| json!({
                "TargetId": f.target_id, "ErrorCode": f.error_code, "ErrorMessage": f.error_message,
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Table => {
            if !failed.is_empty() {
                print_table(
                    &["TARGET", "ERROR"],
                    &failed
                        .iter()
                        .map(|f| {
                            vec![
                                f.target_id.clone(),
                                format!("{}: {}", f.error_code, f.error_message),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    if count > 0 {
        return Err(CliError::failed(format!("{count} target(s) failed")));
    }
    Ok(())
}
