//! Conversions between protobuf messages and domain types, done at the edge of the API.

use groundwork_events::transform::InputTransformer;
use groundwork_proto::v1 as pb;
use time::OffsetDateTime;

use crate::archive::ArchiveRecord;
use crate::arn::Arns;
use crate::buses::BusRecord;
use crate::dlq::DeadLetter;
use crate::error::{Error, validation};
use crate::replay::ReplayRecord;
use crate::retry::RetryPolicy;
use crate::rules::RuleRecord;
use crate::targets::{FailedEntry, Target};

pub fn timestamp_ms(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

pub fn timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
    }
}

/// A protobuf timestamp as a date, refused with the field's name when it is not one: nanos
/// outside 0..1e9, or a date out of the supported range (years -9999 to 9999). Arithmetic
/// on an unchecked timestamp would overflow.
pub fn datetime(field: &str, t: &prost_types::Timestamp) -> Result<OffsetDateTime, Error> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(validation(format!(
            "Parameter {field} is not valid. Reason: nanos must be within 0 and 999999999."
        )));
    }
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| {
        validation(format!(
            "Parameter {field} is not valid. Reason: the time is out of range."
        ))
    })
}

/// A required timestamp in milliseconds since the epoch.
pub fn ms_from(field: &str, t: Option<prost_types::Timestamp>) -> Result<i64, Error> {
    let t = t.ok_or_else(|| validation(format!("Parameter {field} is required.")))?;
    let at = datetime(field, &t)?;
    // In range by construction: ±9999 years in ms fits an i64 many times over.
    Ok(i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

pub fn bus_to_pb(bus: &BusRecord, arns: &Arns) -> pb::EventBusInfo {
    pb::EventBusInfo {
        name: bus.name.clone(),
        arn: arns.bus(&bus.name),
        description: bus.description.clone(),
        creation_time: Some(timestamp_ms(bus.created_ms)),
        last_modified_time: Some(timestamp_ms(bus.modified_ms.unwrap_or(bus.created_ms))),
    }
}

/// The state of every archive: an archive is a view of the bus stream, ready as soon as it
/// is created.
pub const ARCHIVE_STATE: &str = "ENABLED";

/// The archive states EventBridge knows, for ListArchives' `State` filter.
const ARCHIVE_STATES: &[&str] = &[
    "ENABLED",
    "DISABLED",
    "CREATING",
    "UPDATING",
    "CREATE_FAILED",
    "UPDATE_FAILED",
];

/// The replay states EventBridge knows, for ListReplays' `State` filter.
const REPLAY_STATES: &[&str] = &[
    "STARTING",
    "RUNNING",
    "CANCELLING",
    "COMPLETED",
    "CANCELLED",
    "FAILED",
];

fn state_filter<'a>(field: &str, state: &'a str, known: &[&str]) -> Result<Option<&'a str>, Error> {
    if state.is_empty() {
        return Ok(None);
    }
    if known.contains(&state) {
        return Ok(Some(state));
    }
    Err(validation(format!(
        "1 validation error detected: Value '{state}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        known.join(", ")
    )))
}

/// ListArchives' `State` filter: none when empty, else a known state.
pub fn archive_state_filter(state: &str) -> Result<Option<&str>, Error> {
    state_filter("state", state, ARCHIVE_STATES)
}

/// ListReplays' `State` filter: none when empty, else a known state.
pub fn replay_state_filter(state: &str) -> Result<Option<&str>, Error> {
    state_filter("state", state, REPLAY_STATES)
}

pub fn rule_to_pb(rule: &RuleRecord) -> pb::Rule {
    pb::Rule {
        name: rule.name.clone(),
        arn: rule.arn.clone(),
        event_bus_name: rule.bus.clone(),
        event_pattern: rule.event_pattern.clone(),
        state: rule.state.as_str().to_owned(),
        description: rule.description.clone(),
        created_by: rule.created_by.clone(),
    }
}

pub fn target_from_pb(index: usize, t: pb::Target) -> Result<Target, Error> {
    let retry = t.retry_policy.unwrap_or_default();
    Ok(Target {
        id: t.id,
        arn: t.arn,
        input: t.input,
        input_path: t.input_path,
        input_transformer: t.input_transformer.map(|x| InputTransformer {
            input_paths_map: x.input_paths_map.into_iter().collect(),
            input_template: x.input_template,
        }),
        retry_policy: RetryPolicy::from_request(
            index + 1,
            retry.maximum_retry_attempts,
            retry.maximum_event_age_in_seconds,
        )?,
        http_timeout_ms: (t.http_timeout_ms > 0).then_some(t.http_timeout_ms),
    })
}

pub fn target_to_pb(t: &Target) -> pb::Target {
    pb::Target {
        id: t.id.clone(),
        arn: t.arn.clone(),
        input: t.input.clone(),
        input_path: t.input_path.clone(),
        input_transformer: t.input_transformer.as_ref().map(|x| pb::InputTransformer {
            input_paths_map: x.input_paths_map.clone().into_iter().collect(),
            input_template: x.input_template.clone(),
        }),
        retry_policy: Some(pb::RetryPolicy {
            maximum_retry_attempts: i32::try_from(t.retry_policy.maximum_retry_attempts).ok(),
            maximum_event_age_in_seconds: i32::try_from(
                t.retry_policy.maximum_event_age_in_seconds,
            )
            .ok(),
        }),
        http_timeout_ms: t.http_timeout_ms.unwrap_or(0),
    }
}

pub fn failed_to_pb(failed: Vec<FailedEntry>) -> (i32, Vec<pb::FailedTargetEntry>) {
    let count = i32::try_from(failed.len()).unwrap_or(i32::MAX);
    let entries = failed
        .into_iter()
        .map(|f| pb::FailedTargetEntry {
            target_id: f.target_id,
            error_code: f.error_code,
            error_message: f.error_message,
        })
        .collect();
    (count, entries)
}

pub fn archive_to_pb(a: &ArchiveRecord) -> pb::Archive {
    pb::Archive {
        archive_name: a.name.clone(),
        archive_arn: a.arn.clone(),
        event_source_arn: a.event_source_arn.clone(),
        event_pattern: a.event_pattern.clone(),
        retention_days: i32::try_from(a.retention_days).unwrap_or(i32::MAX),
        description: a.description.clone(),
        state: ARCHIVE_STATE.into(),
        creation_time: Some(timestamp_ms(a.created_ms)),
    }
}

pub fn replay_to_pb(r: &ReplayRecord) -> pb::Replay {
    pb::Replay {
        replay_name: r.name.clone(),
        replay_arn: r.arn.clone(),
        description: r.description.clone(),
        state: r.state.as_str().to_owned(),
        state_reason: r.state_reason.clone(),
        event_source_arn: r.event_source_arn.clone(),
        destination: Some(pb::ReplayDestination {
            arn: r.destination_arn.clone(),
            filter_arns: r.filter_arns.clone(),
        }),
        event_start_time: Some(timestamp_ms(r.event_start_ms)),
        event_end_time: Some(timestamp_ms(r.event_end_ms)),
        event_last_replayed_time: r.event_last_replayed_ms.map(timestamp_ms),
        replay_start_time: Some(timestamp_ms(r.replay_start_ms)),
        replay_end_time: r.replay_end_ms.map(timestamp_ms),
        deliveries: r.deliveries,
    }
}

pub fn dead_letter_to_pb(d: &DeadLetter) -> pb::DeadLetter {
    pb::DeadLetter {
        sequence: d.sequence,
        event_id: d.delivery.event_id().to_owned(),
        rule_arn: d.rule_arn.clone(),
        target_arn: d.target_arn.clone(),
        error_code: d.error_code.clone(),
        error_message: d.error_message.clone(),
        exhausted_retry_condition: d.exhausted_retry_condition.clone(),
        retry_attempts: d.retry_attempts,
        event_json: d.delivery.event.to_string(),
        time: Some(timestamp(d.time)),
    }
}
