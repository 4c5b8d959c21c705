//! `groundwork events put|tail`.

use clap::Subcommand;
use groundwork_events::envelope::PutEventsEntry;
use groundwork_proto::v1 as pb;
use serde_json::json;

use crate::cmd::inline_or_file;
use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::{OutputFormat, print_json, print_table};

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Publish events (PutEvents): one from flags, or up to 10 from a file in the format of
    /// `aws events put-events --entries file://entries.json`.
    Put {
        /// The producer, e.g. com.example.orders.
        #[arg(long, required_unless_present = "entries")]
        source: Option<String>,
        /// The kind of event, e.g. "Order Placed".
        #[arg(long, required_unless_present = "entries")]
        detail_type: Option<String>,
        /// The event's detail: a JSON object, or @file.
        #[arg(long, default_value = "{}")]
        detail: String,
        /// ARNs of the resources the event is about (repeatable).
        #[arg(long = "resource")]
        resources: Vec<String>,
        /// The bus name or ARN.
        #[arg(long, default_value = "default")]
        bus: String,
        /// A JSON file of entries (`file://` prefix accepted), EventBridge field names.
        #[arg(long, conflicts_with_all = ["source", "detail_type"])]
        entries: Option<String>,
    },
    /// Follow a bus: one event per line, as JSON, until interrupted.
    Tail {
        /// The bus name or ARN.
        #[arg(long, default_value = "default")]
        bus: String,
        /// Start with every event stored on the bus.
        #[arg(long, conflicts_with = "last")]
        from_beginning: bool,
        /// Start with the last N stored events.
        #[arg(long)]
        last: Option<u64>,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<u64>,
    },
}

pub async fn run(
    command: EventsCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        EventsCommand::Put {
            source,
            detail_type,
            detail,
            resources,
            bus,
            entries,
        } => {
            let entries = match entries {
                Some(path) => read_entries(&path)?,
                None => vec![PutEventsEntry {
                    source,
                    detail_type,
                    detail: Some(inline_or_file(&detail, "detail")?),
                    resources,
                    event_bus_name: Some(bus),
                    ..Default::default()
                }],
            };
            put(endpoints, entries, output).await
        }
        EventsCommand::Tail {
            bus,
            from_beginning,
            last,
            limit,
        } => tail(endpoints, bus, from_beginning, last, limit).await,
    }
}

fn read_entries(path: &str) -> Result<Vec<PutEventsEntry>, CliError> {
    let path = path.strip_prefix("file://").unwrap_or(path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {path}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "{path} is not a list of PutEvents entries ([{{\"Source\": …, \"DetailType\": …, \"Detail\": \"…\"}}]): {e}"
        ))
    })
}

fn entry_to_pb(e: PutEventsEntry) -> pb::PutEventsRequestEntry {
    pb::PutEventsRequestEntry {
        time: e.time.map(|t| prost_types::Timestamp {
            seconds: t.unix_timestamp(),
            nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
        }),
        source: e.source.unwrap_or_default(),
        resources: e.resources,
        detail_type: e.detail_type.unwrap_or_default(),
        detail: e.detail.unwrap_or_default(),
        event_bus_name: e.event_bus_name.unwrap_or_default(),
        trace_header: e.trace_header.unwrap_or_default(),
    }
}

async fn put(
    endpoints: &Endpoints,
    entries: Vec<PutEventsEntry>,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.eventbus().await?;
    let request = pb::PutEventsRequest {
        entries: entries.into_iter().map(entry_to_pb).collect(),
    };
    let response = client.put_events(request).await?.into_inner();
    match output {
        OutputFormat::Json => print_json(&json!({
            "FailedEntryCount": response.failed_entry_count,
            "Entries": response.entries.iter().map(|e| if e.event_id.is_empty() {
                json!({"ErrorCode": e.error_code, "ErrorMessage": e.error_message})
            } else {
                json!({"EventId": e.event_id})
            }).collect::<Vec<_>>(),
        })),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = response
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    if e.event_id.is_empty() {
                        vec![
                            i.to_string(),
                            "failed".into(),
                            format!("{}: {}", e.error_code, e.error_message),
                        ]
                    } else {
                        vec![i.to_string(), "accepted".into(), e.event_id.clone()]
                    }
                })
                .collect();
            print_table(&["ENTRY", "RESULT", "EVENT ID / ERROR"], &rows);
        }
    }
    if response.failed_entry_count > 0 {
        return Err(CliError::failed(format!(
            "{} of {} entries failed",
            response.failed_entry_count,
            response.entries.len()
        )));
    }
    Ok(())
}

async fn tail(
    endpoints: &Endpoints,
    bus: String,
    from_beginning: bool,
    last: Option<u64>,
    limit: Option<u64>,
) -> Result<(), CliError> {
    let mut client = endpoints.eventbus().await?;
    let start = match (from_beginning, last) {
        (true, _) => Some(pb::tail_events_request::Start::FromBeginning(true)),
        (false, Some(n)) => Some(pb::tail_events_request::Start::Last(n)),
        (false, None) => None,
    };
    let mut stream = client
        .tail_events(pb::TailEventsRequest {
            event_bus_name: bus,
            start,
        })
        .await?
        .into_inner();
    let mut seen = 0u64;
    while limit.is_none_or(|l| seen < l) {
        tokio::select! {
            message = stream.message() => match message? {
                Some(event) => {
                    println!("{}", event.event_json);
                    seen += 1;
                }
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}
