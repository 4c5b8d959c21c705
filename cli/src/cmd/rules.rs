//! `groundwork rules put|list|delete`: EventBridge rules on a bus.

use clap::Subcommand;
use groundwork_proto::v1 as pb;
use serde_json::json;

use crate::cmd::inline_or_file;
use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::{OutputFormat, print_json, print_table};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Create or update a rule (PutRule).
    Put {
        #[arg(long)]
        name: String,
        /// The event pattern: JSON, or @file.
        #[arg(long)]
        pattern: String,
        /// The bus name or ARN.
        #[arg(long, default_value = "default")]
        bus: String,
        /// Create the rule disabled.
        #[arg(long)]
        disabled: bool,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the rules of a bus (ListRules), every page.
    List {
        #[arg(long, default_value = "default")]
        bus: String,
        /// Only rules whose name starts with this.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Delete a rule (DeleteRule); a rule with targets needs --force.
    Delete {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "default")]
        bus: String,
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(
    command: RulesCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.eventbus().await?;
    match command {
        RulesCommand::Put {
            name,
            pattern,
            bus,
            disabled,
            description,
        } => {
            let response = client
                .put_rule(pb::PutRuleRequest {
                    name,
                    event_bus_name: bus,
                    event_pattern: inline_or_file(&pattern, "pattern")?,
                    state: if disabled { "DISABLED" } else { "ENABLED" }.into(),
                    description,
                    tags: Vec::new(),
                })
                .await?
                .into_inner();
            match output {
                OutputFormat::Json => print_json(&json!({"RuleArn": response.rule_arn})),
                OutputFormat::Table => println!("{}", response.rule_arn),
            }
        }
        RulesCommand::List { bus, prefix } => {
            let mut rules = Vec::new();
            let mut next_token = String::new();
            loop {
                let page = client
                    .list_rules(pb::ListRulesRequest {
                        event_bus_name: bus.clone(),
                        name_prefix: prefix.clone(),
                        next_token,
                        limit: 100,
                    })
                    .await?
                    .into_inner();
                rules.extend(page.rules);
                if page.next_token.is_empty() {
                    break;
                }
                next_token = page.next_token;
            }
            match output {
                OutputFormat::Json => print_json(&json!({
                    "Rules": rules.iter().map(|r| json!({
                        "Name": r.name,
                        "Arn": r.arn,
                        "EventBusName": r.event_bus_name,
                        "EventPattern": r.event_pattern,
                        "State": r.state,
                        "Description": r.description,
                    })).collect::<Vec<_>>()
                })),
                OutputFormat::Table => print_table(
                    &["NAME", "STATE", "PATTERN"],
                    &rules
                        .iter()
                        .map(|r| vec![r.name.clone(), r.state.clone(), r.event_pattern.clone()])
                        .collect::<Vec<_>>(),
                ),
            }
        }
        RulesCommand::Delete { name, bus, force } => {
            client
                .delete_rule(pb::DeleteRuleRequest {
                    name,
                    event_bus_name: bus,
                    force,
                })
                .await?;
        }
    }
    Ok(())
}
