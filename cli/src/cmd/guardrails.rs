//! `groundwork guardrails status|release`: the kill switch, as the identity service keeps it.
//! `status` says whether the deny-new-spend policy is attached to the admin group, since
//! when and by which budget crossing; `release --reason TEXT` detaches it again, a person's
//! decision recorded with the reason as `Guardrail Released`.

use clap::Subcommand;
use groundwork_proto::v1 as pb;
use serde_json::json;

use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::{OutputFormat, print_json, print_table};

#[derive(Debug, Subcommand)]
pub enum GuardrailsCommand {
    /// Whether the kill switch is engaged (the deny-new-spend policy attached to the group),
    /// since when, by which event; its last release and its last failure.
    Status {
        /// The IAM group; every group the kill switch has acted on when unset.
        #[arg(long)]
        group: Option<String>,
    },
    /// Detach the deny-new-spend policy the kill switch attached: spend may go on again.
    /// The reason is recorded with who released it.
    Release {
        /// Why the spend may go on again (required; recorded as given).
        #[arg(long)]
        reason: String,
        /// The IAM group (`Admins` when unset).
        #[arg(long)]
        group: Option<String>,
    },
}

pub async fn run(
    command: GuardrailsCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        GuardrailsCommand::Status { group } => status(endpoints, group, output).await,
        GuardrailsCommand::Release { reason, group } => {
            release(endpoints, reason, group, output).await
        }
    }
}

fn guardrail_json(g: &pb::Guardrail) -> serde_json::Value {
    json!({
        "GroupName": g.group_name,
        "PolicyArn": g.policy_arn,
        "Engaged": g.engaged,
        "PolicyExists": g.policy_exists,
        "EngagedAt": g.engaged_at,
        "TriggerEventId": g.trigger_event_id,
        "Budget": g.budget,
        "Threshold": g.threshold,
        "Period": g.period,
        "ReleasedAt": g.released_at,
        "ReleasedBy": g.released_by,
        "ReleaseReason": g.release_reason,
        "LastError": g.last_error,
        "LastErrorAt": g.last_error_at,
        "LastErrorEventId": g.last_error_event_id,
    })
}

async fn status(
    endpoints: &Endpoints,
    group: Option<String>,
    output: OutputFormat,
) -> Result<(), CliError> {
    let r = endpoints
        .identity()
        .await?
        .describe_guardrails(pb::DescribeGuardrailsRequest {
            group_name: group.unwrap_or_default(),
        })
        .await?
        .into_inner();
    match output {
        OutputFormat::Json => print_json(&json!({
            "Guardrails": r.guardrails.iter().map(guardrail_json).collect::<Vec<_>>(),
        })),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = r
                .guardrails
                .iter()
                .map(|g| {
                    let state = match (g.engaged, g.policy_exists) {
                        (true, _) => "ENGAGED",
                        (false, true) => "released",
                        (false, false) => "no policy",
                    };
                    let by = if g.trigger_event_id.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "{} at {} % ({}), event {}",
                            g.budget, g.threshold, g.period, g.trigger_event_id
                        )
                    };
                    vec![
                        g.group_name.clone(),
                        state.to_owned(),
                        g.engaged_at.clone(),
                        by,
                    ]
                })
                .collect();
            print_table(&["GROUP", "KILL SWITCH", "SINCE", "ENGAGED BY"], &rows);
            for g in &r.guardrails {
                if !g.policy_exists {
                    println!(
                        "{} does not exist: run the setup with budget actions or the kill switch first",
                        g.policy_arn
                    );
                }
                if !g.released_at.is_empty() {
                    println!(
                        "{}: last released {} by {}: {}",
                        g.group_name, g.released_at, g.released_by, g.release_reason
                    );
                }
                if !g.last_error.is_empty() {
                    println!(
                        "{}: could not act on event {} at {}: {}",
                        g.group_name, g.last_error_event_id, g.last_error_at, g.last_error
                    );
                }
            }
        }
    }
    Ok(())
}

async fn release(
    endpoints: &Endpoints,
    reason: String,
    group: Option<String>,
    output: OutputFormat,
) -> Result<(), CliError> {
    if reason.trim().is_empty() {
        return Err(CliError::usage(
            "--reason: say why the spend may go on again (it is recorded with the release)",
        ));
    }
    let r = endpoints
        .identity()
        .await?
        .release_guardrail(pb::ReleaseGuardrailRequest {
            group_name: group.unwrap_or_default(),
            reason,
        })
        .await?
        .into_inner();
    match output {
        OutputFormat::Json => print_json(&json!({
            "GroupName": r.group_name,
            "PolicyArn": r.policy_arn,
            "TriggerEventId": r.trigger_event_id,
        })),
        OutputFormat::Table => println!(
            "released: {} detached from {}; new spend is allowed again (recorded as Guardrail Released)",
            r.policy_arn, r.group_name
        ),
    }
    Ok(())
}
