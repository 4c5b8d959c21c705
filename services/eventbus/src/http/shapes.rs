//! EventBridge's request and response shapes (botocore's `events/2015-10-07` model), read
//! into the protobuf requests of the gRPC methods and written back from their answers.
//! Only the wire form lives here: every check is the method's own.
//!
//! Members of the model that this bus has no use for (`ScheduleExpression`, `RoleArn`, KMS
//! keys, log and dead-letter settings, `EndpointId`, the target parameters of AWS services)
//! are refused with a message naming them, never dropped silently.

use std::collections::BTreeMap;

use groundwork_events::envelope::PutEventsEntry;
use groundwork_proto::v1 as pb;
use pb::event_bus_server::EventBus;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AwsError, Call, read, write};

/// A timestamp as the JSON protocol carries it: seconds since the epoch.
fn epoch(t: Option<prost_types::Timestamp>) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    t.map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
}

/// Seconds since the epoch as a protobuf timestamp.
fn timestamp(member: &str, seconds: f64) -> Result<prost_types::Timestamp, AwsError> {
    // ±9999 years, the range the methods accept.
    if !seconds.is_finite() || seconds.abs() > 253_402_300_799.0 {
        return Err(AwsError::validation(format!(
            "Parameter {member} is not valid. Reason: the time is out of range."
        )));
    }
    let whole = seconds.floor();
    #[allow(clippy::cast_possible_truncation)]
    Ok(prost_types::Timestamp {
        seconds: whole as i64,
        nanos: ((seconds - whole) * 1e9).round().min(999_999_999.0) as i32,
    })
}

fn some(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn required<T>(value: Option<T>, member: &str) -> Result<T, AwsError> {
    value.ok_or_else(|| AwsError::required(member))
}

/// Refuses a member the model has and this bus does not serve.
fn unsupported(present: &[(&str, bool)], why: &str) -> Result<(), AwsError> {
    match present.iter().find(|(_, given)| *given) {
        Some((member, _)) => Err(AwsError::validation(format!(
            "{member} is not supported by this event bus: {why}"
        ))),
        None => Ok(()),
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

fn tags_to_pb(tags: Option<Vec<Tag>>) -> Vec<pb::Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| pb::Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

fn tags_from_pb(tags: Vec<pb::Tag>) -> Vec<Tag> {
    tags.into_iter()
        .map(|t| Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

// ---- PutEvents ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutEventsIn {
    entries: Option<Vec<PutEventsEntry>>,
    endpoint_id: Option<Value>,
}

// ---- Buses ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateEventBusIn {
    name: Option<String>,
    description: Option<String>,
    tags: Option<Vec<Tag>>,
    event_source_name: Option<Value>,
    kms_key_identifier: Option<Value>,
    dead_letter_config: Option<Value>,
    log_config: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateEventBusOut {
    event_bus_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameIn {
    name: Option<String>,
    event_bus_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventBusOut {
    name: String,
    arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_modified_time: Option<f64>,
}

fn bus_out(b: pb::EventBusInfo) -> EventBusOut {
    EventBusOut {
        name: b.name,
        arn: b.arn,
        description: some(b.description),
        creation_time: epoch(b.creation_time),
        last_modified_time: epoch(b.last_modified_time),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListIn {
    name_prefix: Option<String>,
    event_bus_name: Option<String>,
    next_token: Option<String>,
    limit: Option<i32>,
    event_source_arn: Option<String>,
    state: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListEventBusesOut {
    event_buses: Vec<EventBusOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

// ---- Rules ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRuleIn {
    name: Option<String>,
    event_pattern: Option<String>,
    state: Option<String>,
    description: Option<String>,
    tags: Option<Vec<Tag>>,
    event_bus_name: Option<String>,
    schedule_expression: Option<Value>,
    role_arn: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutRuleOut {
    rule_arn: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RuleOut {
    name: String,
    arn: String,
    event_pattern: String,
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    event_bus_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
}

fn rule_out(r: pb::Rule, with_created_by: bool) -> RuleOut {
    RuleOut {
        name: r.name,
        arn: r.arn,
        event_pattern: r.event_pattern,
        state: r.state,
        description: some(r.description),
        event_bus_name: r.event_bus_name,
        // ListRules' Rule shape has no CreatedBy; DescribeRule's answer has.
        created_by: with_created_by.then_some(r.created_by).and_then(some),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListRulesOut {
    rules: Vec<RuleOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteRuleIn {
    name: Option<String>,
    event_bus_name: Option<String>,
    force: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRuleNamesByTargetIn {
    target_arn: Option<String>,
    event_bus_name: Option<String>,
    next_token: Option<String>,
    limit: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListRuleNamesByTargetOut {
    rule_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

// ---- Targets ----

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct InputTransformer {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    input_paths_map: BTreeMap<String, String>,
    input_template: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RetryPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    maximum_retry_attempts: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maximum_event_age_in_seconds: Option<i32>,
}

/// A target as EventBridge's model has it; what this bus does not serve is kept to be
/// refused by name.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TargetIn {
    id: Option<String>,
    arn: Option<String>,
    input: Option<String>,
    input_path: Option<String>,
    input_transformer: Option<InputTransformer>,
    retry_policy: Option<RetryPolicy>,
    role_arn: Option<Value>,
    dead_letter_config: Option<Value>,
    kinesis_parameters: Option<Value>,
    run_command_parameters: Option<Value>,
    ecs_parameters: Option<Value>,
    batch_parameters: Option<Value>,
    sqs_parameters: Option<Value>,
    http_parameters: Option<Value>,
    redshift_data_parameters: Option<Value>,
    sage_maker_pipeline_parameters: Option<Value>,
    app_sync_parameters: Option<Value>,
}

impl TargetIn {
    /// The first member this bus does not serve, with why.
    fn unsupported_member(&self) -> Option<String> {
        if self.dead_letter_config.is_some() {
            return Some(
                "DeadLetterConfig is not supported by this event bus: dead letters are kept in \
                 the bus's own dead-letter stream (ListDeadLetters, RedriveDeadLetters)."
                    .into(),
            );
        }
        if self.role_arn.is_some() {
            return Some(
                "RoleArn is not supported by this event bus: targets are reached with the \
                 event bus's own credentials."
                    .into(),
            );
        }
        [
            ("KinesisParameters", self.kinesis_parameters.is_some()),
            (
                "RunCommandParameters",
                self.run_command_parameters.is_some(),
            ),
            ("EcsParameters", self.ecs_parameters.is_some()),
            ("BatchParameters", self.batch_parameters.is_some()),
            ("SqsParameters", self.sqs_parameters.is_some()),
            ("HttpParameters", self.http_parameters.is_some()),
            (
                "RedshiftDataParameters",
                self.redshift_data_parameters.is_some(),
            ),
            (
                "SageMakerPipelineParameters",
                self.sage_maker_pipeline_parameters.is_some(),
            ),
            ("AppSyncParameters", self.app_sync_parameters.is_some()),
        ]
        .iter()
        .find(|(_, given)| *given)
        .map(|(member, _)| {
            format!(
                "{member} is not supported by this event bus: its targets are NATS subjects \
                 (nats:<subject>), webhooks (http(s):// URLs) and event buses."
            )
        })
    }

    fn into_pb(self, n: usize) -> Result<pb::Target, AwsError> {
        let input_transformer = match self.input_transformer {
            Some(t) => Some(pb::InputTransformer {
                input_paths_map: t.input_paths_map.into_iter().collect(),
                input_template: required(
                    t.input_template,
                    &format!("targets.{n}.member.inputTransformer.inputTemplate"),
                )?,
            }),
            None => None,
        };
        Ok(pb::Target {
            id: required(self.id, &format!("targets.{n}.member.id"))?,
            arn: required(self.arn, &format!("targets.{n}.member.arn"))?,
            input: self.input,
            input_path: self.input_path,
            input_transformer,
            retry_policy: self.retry_policy.map(|r| pb::RetryPolicy {
                maximum_retry_attempts: r.maximum_retry_attempts,
                maximum_event_age_in_seconds: r.maximum_event_age_in_seconds,
            }),
            http_timeout_ms: 0,
        })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetOut {
    id: String,
    arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_transformer: Option<InputTransformer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_policy: Option<RetryPolicy>,
}

fn target_out(t: pb::Target) -> TargetOut {
    TargetOut {
        id: t.id,
        arn: t.arn,
        input: t.input,
        input_path: t.input_path,
        input_transformer: t.input_transformer.map(|x| InputTransformer {
            input_paths_map: x.input_paths_map.into_iter().collect(),
            input_template: Some(x.input_template),
        }),
        retry_policy: t.retry_policy.map(|r| RetryPolicy {
            maximum_retry_attempts: r.maximum_retry_attempts,
            maximum_event_age_in_seconds: r.maximum_event_age_in_seconds,
        }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutTargetsIn {
    rule: Option<String>,
    event_bus_name: Option<String>,
    targets: Option<Vec<TargetIn>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RemoveTargetsIn {
    rule: Option<String>,
    event_bus_name: Option<String>,
    ids: Option<Vec<String>>,
    /// Only for rules managed by AWS services, which this bus has none of.
    #[serde(rename = "Force")]
    _force: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct FailedEntry {
    target_id: String,
    error_code: String,
    error_message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetsOut {
    failed_entry_count: i32,
    failed_entries: Vec<FailedEntry>,
}

fn failed_out(failed: Vec<pb::FailedTargetEntry>) -> Vec<FailedEntry> {
    failed
        .into_iter()
        .map(|f| FailedEntry {
            target_id: f.target_id,
            error_code: f.error_code,
            error_message: f.error_message,
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTargetsIn {
    rule: Option<String>,
    event_bus_name: Option<String>,
    next_token: Option<String>,
    limit: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListTargetsOut {
    targets: Vec<TargetOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

// ---- TestEventPattern ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TestEventPatternIn {
    event_pattern: Option<String>,
    event: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TestEventPatternOut {
    result: bool,
}

// ---- Archives ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveIn {
    archive_name: Option<String>,
    event_source_arn: Option<String>,
    description: Option<String>,
    event_pattern: Option<String>,
    retention_days: Option<i32>,
    kms_key_identifier: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveStateOut {
    archive_arn: String,
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_time: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeArchiveOut {
    archive_arn: String,
    archive_name: String,
    event_source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_pattern: Option<String>,
    state: String,
    retention_days: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_time: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveListed {
    archive_name: String,
    event_source_arn: String,
    state: String,
    retention_days: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_time: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListArchivesOut {
    archives: Vec<ArchiveListed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveNameIn {
    archive_name: Option<String>,
}

// ---- Replays ----

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Destination {
    arn: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    filter_arns: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartReplayIn {
    replay_name: Option<String>,
    description: Option<String>,
    event_source_arn: Option<String>,
    event_start_time: Option<f64>,
    event_end_time: Option<f64>,
    destination: Option<Destination>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReplayStateOut {
    replay_arn: String,
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay_start_time: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReplayOut {
    replay_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_reason: Option<String>,
    event_source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<Destination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_start_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_end_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_last_replayed_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay_start_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay_end_time: Option<f64>,
}

/// DescribeReplay's answer (`full`) or an entry of ListReplays (no ARN, description or
/// destination in EventBridge's `Replay` shape).
fn replay_out(r: pb::Replay, full: bool) -> ReplayOut {
    ReplayOut {
        replay_arn: full.then_some(r.replay_arn),
        description: full.then_some(r.description).and_then(some),
        destination: r.destination.filter(|_| full).map(|d| Destination {
            arn: Some(d.arn),
            filter_arns: d.filter_arns,
        }),
        replay_name: r.replay_name,
        state: r.state,
        state_reason: some(r.state_reason),
        event_source_arn: r.event_source_arn,
        event_start_time: epoch(r.event_start_time),
        event_end_time: epoch(r.event_end_time),
        event_last_replayed_time: epoch(r.event_last_replayed_time),
        replay_start_time: epoch(r.replay_start_time),
        replay_end_time: epoch(r.replay_end_time),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListReplaysOut {
    replays: Vec<ReplayOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReplayNameIn {
    replay_name: Option<String>,
}

// ---- Tags ----

#[derive(Debug, Deserialize)]
struct TagsIn {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    #[serde(rename = "Tags")]
    tags: Option<Vec<Tag>>,
    #[serde(rename = "TagKeys")]
    tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagsOut {
    tags: Vec<Tag>,
}

#[derive(Debug, Serialize)]
struct Empty {}

/// Runs `operation` with the JSON `body` and answers its JSON.
#[allow(clippy::too_many_lines)]
pub async fn dispatch(operation: &str, body: &[u8], call: Call<'_>) -> Result<Vec<u8>, AwsError> {
    match operation {
        "PutEvents" => {
            let r: PutEventsIn = read(body)?;
            unsupported(
                &[("EndpointId", r.endpoint_id.is_some())],
                "there are no global endpoints; send to the bus's own endpoint.",
            )?;
            let entries = required(r.entries, "entries")?;
            write(&call.put_events(&entries).await?)
        }
        "CreateEventBus" => {
            let r: CreateEventBusIn = read(body)?;
            unsupported(
                &[
                    ("EventSourceName", r.event_source_name.is_some()),
                    ("KmsKeyIdentifier", r.kms_key_identifier.is_some()),
                    ("DeadLetterConfig", r.dead_letter_config.is_some()),
                    ("LogConfig", r.log_config.is_some()),
                ],
                "partner sources, KMS keys and log delivery are AWS's own; every bus has its own dead-letter stream.",
            )?;
            let description = r.description.clone();
            let request = pb::CreateEventBusRequest {
                name: required(r.name, "name")?,
                description: r.description.unwrap_or_default(),
                tags: tags_to_pb(r.tags),
            };
            let out = call
                .run(
                    request,
                    |api, q| async move { api.create_event_bus(q).await },
                )
                .await?;
            write(&CreateEventBusOut {
                event_bus_arn: out.event_bus_arn,
                description: description.and_then(some),
            })
        }
        "DescribeEventBus" => {
            let r: NameIn = read(body)?;
            let request = pb::DescribeEventBusRequest {
                name: r.name.unwrap_or_default(),
            };
            let out = call
                .run(
                    request,
                    |api, q| async move { api.describe_event_bus(q).await },
                )
                .await?;
            write(&bus_out(out))
        }
        "ListEventBuses" => {
            let r: ListIn = read(body)?;
            let request = pb::ListEventBusesRequest {
                name_prefix: r.name_prefix.unwrap_or_default(),
                next_token: r.next_token.unwrap_or_default(),
                limit: r.limit.unwrap_or_default(),
            };
            let out = call
                .run(
                    request,
                    |api, q| async move { api.list_event_buses(q).await },
                )
                .await?;
            write(&ListEventBusesOut {
                event_buses: out.event_buses.into_iter().map(bus_out).collect(),
                next_token: some(out.next_token),
            })
        }
        "DeleteEventBus" => {
            let r: NameIn = read(body)?;
            let request = pb::DeleteEventBusRequest {
                name: required(r.name, "name")?,
            };
            call.run(
                request,
                |api, q| async move { api.delete_event_bus(q).await },
            )
            .await?;
            write(&Empty {})
        }
        "PutRule" => {
            let r: PutRuleIn = read(body)?;
            unsupported(
                &[
                    ("ScheduleExpression", r.schedule_expression.is_some()),
                    ("RoleArn", r.role_arn.is_some()),
                ],
                "rules match events by pattern; schedules are EventBridge Scheduler's.",
            )?;
            let request = pb::PutRuleRequest {
                name: required(r.name, "name")?,
                event_bus_name: r.event_bus_name.unwrap_or_default(),
                event_pattern: r.event_pattern.unwrap_or_default(),
                state: r.state.unwrap_or_default(),
                description: r.description.unwrap_or_default(),
                tags: tags_to_pb(r.tags),
            };
            let out = call
                .run(request, |api, q| async move { api.put_rule(q).await })
                .await?;
            write(&PutRuleOut {
                rule_arn: out.rule_arn,
            })
        }
        "DescribeRule" => {
            let r: NameIn = read(body)?;
            let request = pb::DescribeRuleRequest {
                name: required(r.name, "name")?,
                event_bus_name: r.event_bus_name.unwrap_or_default(),
            };
            let out = call
                .run(request, |api, q| async move { api.describe_rule(q).await })
                .await?;
            write(&rule_out(out, true))
        }
        "ListRules" => {
            let r: ListIn = read(body)?;
            let request = pb::ListRulesRequest {
                event_bus_name: r.event_bus_name.unwrap_or_default(),
                name_prefix: r.name_prefix.unwrap_or_default(),
                next_token: r.next_token.unwrap_or_default(),
                limit: r.limit.unwrap_or_default(),
            };
            let out = call
                .run(request, |api, q| async move { api.list_rules(q).await })
                .await?;
            write(&ListRulesOut {
                rules: out.rules.into_iter().map(|r| rule_out(r, false)).collect(),
                next_token: some(out.next_token),
            })
        }
        "DeleteRule" => {
            let r: DeleteRuleIn = read(body)?;
            let request = pb::DeleteRuleRequest {
                name: required(r.name, "name")?,
                event_bus_name: r.event_bus_name.unwrap_or_default(),
                force: r.force.unwrap_or_default(),
            };
            call.run(request, |api, q| async move { api.delete_rule(q).await })
                .await?;
            write(&Empty {})
        }
        "EnableRule" | "DisableRule" => {
            let r: NameIn = read(body)?;
            let (name, event_bus_name) = (
                required(r.name, "name")?,
                r.event_bus_name.unwrap_or_default(),
            );
            if operation == "EnableRule" {
                let request = pb::EnableRuleRequest {
                    name,
                    event_bus_name,
                };
                call.run(request, |api, q| async move { api.enable_rule(q).await })
                    .await?;
            } else {
                let request = pb::DisableRuleRequest {
                    name,
                    event_bus_name,
                };
                call.run(request, |api, q| async move { api.disable_rule(q).await })
                    .await?;
            }
            write(&Empty {})
        }
        "ListRuleNamesByTarget" => {
            let r: ListRuleNamesByTargetIn = read(body)?;
            let request = pb::ListRuleNamesByTargetRequest {
                target_arn: required(r.target_arn, "targetArn")?,
                event_bus_name: r.event_bus_name.unwrap_or_default(),
                next_token: r.next_token.unwrap_or_default(),
                limit: r.limit.unwrap_or_default(),
            };
            let out = call
                .run(request, |api, q| async move {
                    api.list_rule_names_by_target(q).await
                })
                .await?;
            write(&ListRuleNamesByTargetOut {
                rule_names: out.rule_names,
                next_token: some(out.next_token),
            })
        }
        "PutTargets" => {
            let r: PutTargetsIn = read(body)?;
            let rule = required(r.rule, "rule")?;
            let mut refused = Vec::new();
            let mut targets = Vec::new();
            for (i, target) in required(r.targets, "targets")?.into_iter().enumerate() {
                match target.unsupported_member() {
                    Some(message) => refused.push(FailedEntry {
                        target_id: target.id.unwrap_or_default(),
                        error_code: "ValidationException".into(),
                        error_message: message,
                    }),
                    None => targets.push(target.into_pb(i + 1)?),
                }
            }
            let mut failed_entries = refused;
            if !targets.is_empty() || failed_entries.is_empty() {
                let request = pb::PutTargetsRequest {
                    rule,
                    event_bus_name: r.event_bus_name.unwrap_or_default(),
                    targets,
                };
                let out = call
                    .run(request, |api, q| async move { api.put_targets(q).await })
                    .await?;
                failed_entries.extend(failed_out(out.failed_entries));
            }
            write(&TargetsOut {
                failed_entry_count: i32::try_from(failed_entries.len()).unwrap_or(i32::MAX),
                failed_entries,
            })
        }
        "RemoveTargets" => {
            let r: RemoveTargetsIn = read(body)?;
            let request = pb::RemoveTargetsRequest {
                rule: required(r.rule, "rule")?,
                event_bus_name: r.event_bus_name.unwrap_or_default(),
                ids: required(r.ids, "ids")?,
            };
            let out = call
                .run(request, |api, q| async move { api.remove_targets(q).await })
                .await?;
            write(&TargetsOut {
                failed_entry_count: out.failed_entry_count,
                failed_entries: failed_out(out.failed_entries),
            })
        }
        "ListTargetsByRule" => {
            let r: ListTargetsIn = read(body)?;
            let request = pb::ListTargetsByRuleRequest {
                rule: required(r.rule, "rule")?,
                event_bus_name: r.event_bus_name.unwrap_or_default(),
                next_token: r.next_token.unwrap_or_default(),
                limit: r.limit.unwrap_or_default(),
            };
            let out = call
                .run(request, |api, q| async move {
                    api.list_targets_by_rule(q).await
                })
                .await?;
            write(&ListTargetsOut {
                targets: out.targets.into_iter().map(target_out).collect(),
                next_token: some(out.next_token),
            })
        }
        "TestEventPattern" => {
            let r: TestEventPatternIn = read(body)?;
            let request = pb::TestEventPatternRequest {
                event_pattern: required(r.event_pattern, "eventPattern")?,
                event: required(r.event, "event")?,
            };
            let out = call
                .run(
                    request,
                    |api, q| async move { api.test_event_pattern(q).await },
                )
                .await?;
            write(&TestEventPatternOut { result: out.result })
        }
        "CreateArchive" | "UpdateArchive" => {
            let r: ArchiveIn = read(body)?;
            unsupported(
                &[("KmsKeyIdentifier", r.kms_key_identifier.is_some())],
                "archives are read from the bus stream as it is stored.",
            )?;
            let archive_name = required(r.archive_name, "archiveName")?;
            let out = if operation == "CreateArchive" {
                let request = pb::CreateArchiveRequest {
                    archive_name,
                    event_source_arn: required(r.event_source_arn, "eventSourceArn")?,
                    event_pattern: r.event_pattern.unwrap_or_default(),
                    retention_days: r.retention_days.unwrap_or_default(),
                    description: r.description.unwrap_or_default(),
                };
                call.run(request, |api, q| async move { api.create_archive(q).await })
                    .await?
            } else {
                let request = pb::UpdateArchiveRequest {
                    archive_name,
                    description: r.description,
                    event_pattern: r.event_pattern,
                    retention_days: r.retention_days,
                };
                call.run(request, |api, q| async move { api.update_archive(q).await })
                    .await?
            };
            write(&ArchiveStateOut {
                archive_arn: out.archive_arn,
                state: out.state,
                creation_time: epoch(out.creation_time),
            })
        }
        "DescribeArchive" => {
            let r: ArchiveNameIn = read(body)?;
            let request = pb::DescribeArchiveRequest {
                archive_name: required(r.archive_name, "archiveName")?,
            };
            let a = call
                .run(
                    request,
                    |api, q| async move { api.describe_archive(q).await },
                )
                .await?;
            write(&DescribeArchiveOut {
                archive_arn: a.archive_arn,
                archive_name: a.archive_name,
                event_source_arn: a.event_source_arn,
                description: some(a.description),
                event_pattern: some(a.event_pattern),
                state: a.state,
                retention_days: a.retention_days,
                creation_time: epoch(a.creation_time),
            })
        }
        "ListArchives" => {
            let r: ListIn = read(body)?;
            let request = pb::ListArchivesRequest {
                name_prefix: r.name_prefix.unwrap_or_default(),
                event_source_arn: r.event_source_arn.unwrap_or_default(),
                state: r.state.unwrap_or_default(),
                next_token: r.next_token.unwrap_or_default(),
                limit: r.limit.unwrap_or_default(),
            };
            let out = call
                .run(request, |api, q| async move { api.list_archives(q).await })
                .await?;
            write(&ListArchivesOut {
                archives: out
                    .archives
                    .into_iter()
                    .map(|a| ArchiveListed {
                        archive_name: a.archive_name,
                        event_source_arn: a.event_source_arn,
                        state: a.state,
                        retention_days: a.retention_days,
                        creation_time: epoch(a.creation_time),
                    })
                    .collect(),
                next_token: some(out.next_token),
            })
        }
        "DeleteArchive" => {
            let r: ArchiveNameIn = read(body)?;
            let request = pb::DeleteArchiveRequest {
                archive_name: required(r.archive_name, "archiveName")?,
            };
            call.run(request, |api, q| async move { api.delete_archive(q).await })
                .await?;
            write(&Empty {})
        }
        "StartReplay" => {
            let r: StartReplayIn = read(body)?;
            let destination = required(r.destination, "destination")?;
            let request = pb::StartReplayRequest {
                replay_name: required(r.replay_name, "replayName")?,
                description: r.description.unwrap_or_default(),
                event_source_arn: required(r.event_source_arn, "eventSourceArn")?,
                event_start_time: Some(timestamp(
                    "EventStartTime",
                    required(r.event_start_time, "eventStartTime")?,
                )?),
                event_end_time: Some(timestamp(
                    "EventEndTime",
                    required(r.event_end_time, "eventEndTime")?,
                )?),
                destination: Some(pb::ReplayDestination {
                    arn: required(destination.arn, "destination.arn")?,
                    filter_arns: destination.filter_arns,
                }),
            };
            let out = call
                .run(request, |api, q| async move { api.start_replay(q).await })
                .await?;
            write(&ReplayStateOut {
                replay_arn: out.replay_arn,
                state: out.state,
                state_reason: some(out.state_reason),
                replay_start_time: epoch(out.replay_start_time),
            })
        }
        "DescribeReplay" | "CancelReplay" => {
            let r: ReplayNameIn = read(body)?;
            let replay_name = required(r.replay_name, "replayName")?;
            if operation == "DescribeReplay" {
                let request = pb::DescribeReplayRequest { replay_name };
                let out = call
                    .run(
                        request,
                        |api, q| async move { api.describe_replay(q).await },
                    )
                    .await?;
                write(&replay_out(out, true))
            } else {
                let request = pb::CancelReplayRequest { replay_name };
                let out = call
                    .run(request, |api, q| async move { api.cancel_replay(q).await })
                    .await?;
                write(&ReplayStateOut {
                    replay_arn: out.replay_arn,
                    state: out.state,
                    state_reason: some(out.state_reason),
                    replay_start_time: None,
                })
            }
        }
        "ListReplays" => {
            let r: ListIn = read(body)?;
            let request = pb::ListReplaysRequest {
                name_prefix: r.name_prefix.unwrap_or_default(),
                state: r.state.unwrap_or_default(),
                event_source_arn: r.event_source_arn.unwrap_or_default(),
                next_token: r.next_token.unwrap_or_default(),
                limit: r.limit.unwrap_or_default(),
            };
            let out = call
                .run(request, |api, q| async move { api.list_replays(q).await })
                .await?;
            write(&ListReplaysOut {
                replays: out
                    .replays
                    .into_iter()
                    .map(|r| replay_out(r, false))
                    .collect(),
                next_token: some(out.next_token),
            })
        }
        "TagResource" => {
            let r: TagsIn = read(body)?;
            let request = pb::TagResourceRequest {
                resource_arn: required(r.resource_arn, "resourceARN")?,
                tags: tags_to_pb(Some(required(r.tags, "tags")?)),
            };
            call.run(request, |api, q| async move { api.tag_resource(q).await })
                .await?;
            write(&Empty {})
        }
        "UntagResource" => {
            let r: TagsIn = read(body)?;
            let request = pb::UntagResourceRequest {
                resource_arn: required(r.resource_arn, "resourceARN")?,
                tag_keys: required(r.tag_keys, "tagKeys")?,
            };
            call.run(request, |api, q| async move { api.untag_resource(q).await })
                .await?;
            write(&Empty {})
        }
        "ListTagsForResource" => {
            let r: TagsIn = read(body)?;
            let request = pb::ListTagsForResourceRequest {
                resource_arn: required(r.resource_arn, "resourceARN")?,
            };
            let out = call
                .run(request, |api, q| async move {
                    api.list_tags_for_resource(q).await
                })
                .await?;
            write(&TagsOut {
                tags: tags_from_pb(out.tags),
            })
        }
        other => Err(AwsError::client(
            "UnknownOperationException",
            format!("Operation 'AWSEvents.{other}' is not served by this event bus."),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_epoch_seconds_both_ways() {
        let t = timestamp("T", 1_700_000_000.25).unwrap();
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 250_000_000));
        assert_eq!(epoch(Some(t)), Some(1_700_000_000.25));
        assert!(timestamp("T", f64::NAN).is_err());
        assert!(timestamp("T", 1e13).is_err());
    }

    #[test]
    fn unsupported_target_members_are_named() {
        let target: TargetIn = serde_json::from_value(serde_json::json!({
            "Id": "q", "Arn": "arn:aws:sqs:us-east-1:111111111111:q",
            "SqsParameters": {"MessageGroupId": "g"}
        }))
        .unwrap();
        let why = target.unsupported_member().unwrap();
        assert!(why.starts_with("SqsParameters is not supported"), "{why}");
        let plain: TargetIn =
            serde_json::from_value(serde_json::json!({"Id": "n", "Arn": "nats:x"})).unwrap();
        assert_eq!(plain.unsupported_member(), None);
        let missing: TargetIn = serde_json::from_value(serde_json::json!({"Id": "n"})).unwrap();
        assert_eq!(
            missing.into_pb(2).unwrap_err().message,
            "1 validation error detected: Value null at 'targets.2.member.arn' failed to satisfy constraint: Member must not be null"
        );
    }
}
