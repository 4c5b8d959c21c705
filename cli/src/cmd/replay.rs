//! `groundwork replay start|describe`: replays of an archive over a time window.

use clap::Subcommand;
use groundwork_proto::v1 as pb;
use serde_json::json;

use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::{OutputFormat, print_json, print_table};

#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// Start a replay (StartReplay) to the archive's bus.
    Start {
        #[arg(long)]
        name: String,
        /// The archive's ARN.
        #[arg(long)]
        archive_arn: String,
        /// Start of the window (RFC 3339).
        #[arg(long)]
        start: String,
        /// End of the window (RFC 3339).
        #[arg(long)]
        end: String,
        /// Replay only to these rules (their ARNs; repeatable).
        #[arg(long = "rule-arn")]
        rule_arns: Vec<String>,
    },
    /// Show a replay's state and progress (DescribeReplay).
    Describe {
        #[arg(long)]
        name: String,
    },
}

fn timestamp(field: &str, text: &str) -> Result<prost_types::Timestamp, CliError> {
    let t = groundwork_events::envelope::parse_time(text).map_err(|e| {
        CliError::usage(format!("--{field}: '{text}' is not an RFC 3339 time: {e}"))
    })?;
    Ok(prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
    })
}

fn time_text(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn print_replay(r: &pb::Replay, output: OutputFormat) {
    match output {
        OutputFormat::Json => print_json(&json!({
            "ReplayName": r.replay_name,
            "ReplayArn": r.replay_arn,
            "State": r.state,
            "StateReason": r.state_reason,
            "EventSourceArn": r.event_source_arn,
            "EventStartTime": time_text(r.event_start_time.as_ref()),
            "EventEndTime": time_text(r.event_end_time.as_ref()),
            "EventLastReplayedTime": time_text(r.event_last_replayed_time.as_ref()),
            "ReplayStartTime": time_text(r.replay_start_time.as_ref()),
            "ReplayEndTime": time_text(r.replay_end_time.as_ref()),
            "Deliveries": r.deliveries,
        })),
        OutputFormat::Table => print_table(
            &["NAME", "STATE", "LAST REPLAYED", "DELIVERIES"],
            &[vec![
                r.replay_name.clone(),
                r.state.clone(),
                time_text(r.event_last_replayed_time.as_ref()),
                r.deliveries.to_string(),
            ]],
        ),
    }
}

pub async fn run(
    command: ReplayCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        ReplayCommand::Start {
            name,
            archive_arn,
            start,
            end,
            rule_arns,
        } => {
            let request = pb::StartReplayRequest {
                replay_name: name,
                description: String::new(),
                event_source_arn: archive_arn,
                event_start_time: Some(timestamp("start", &start)?),
                event_end_time: Some(timestamp("end", &end)?),
                destination: Some(pb::ReplayDestination {
                    arn: String::new(),
                    filter_arns: rule_arns,
                }),
            };
            let mut client = endpoints.eventbus().await?;
            let replay = client.start_replay(request).await?.into_inner();
            print_replay(&replay, output);
        }
        ReplayCommand::Describe { name } => {
            let mut client = endpoints.eventbus().await?;
            let replay = client
                .describe_replay(pb::DescribeReplayRequest { replay_name: name })
                .await?
                .into_inner();
            print_replay(&replay, output);
        }
    }
    Ok(())
}
