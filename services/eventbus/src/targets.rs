//! Targets of rules: what a target ARN names (a NATS subject, a webhook, another bus),
//! its input settings and retry policy, and the PutTargets / RemoveTargets /
//! ListTargetsByRule calls with EventBridge's validation and per-target failures.

use groundwork_bus::names;
use groundwork_events::envelope::bus_name_from;
use groundwork_events::redact::redact_target_arn;
use groundwork_events::transform::{InputTransformer, TargetInput, TransformError};
use serde::{Deserialize, Serialize};

use crate::buses::page;
use crate::error::{Error, validation};
use crate::retry::RetryPolicy;
use crate::rules::{LIMIT_EXCEEDED, Rules, rule_not_found, validate_name};

/// Most targets one rule may have.
pub const MAX_TARGETS_PER_RULE: usize = 5;

/// Longest target ARN (or webhook URL), in characters (EventBridge: 1,600).
pub const MAX_TARGET_ARN_CHARS: usize = 1600;

/// A target as stored with its rule (and carried in each delivery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<InputTransformer>,
    #[serde(default)]
    pub retry_policy: RetryPolicy,
    /// Webhooks: how long to wait for an answer; the service default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_timeout_ms: Option<u32>,
}

/// What receives a target's deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// Stored in the DELIVERIES stream under this subject.
    Nats { subject: String },
    /// POSTed to this URL.
    Webhook { url: String },
    /// Put on this bus.
    Bus { bus: String },
}

impl TargetKind {
    pub fn parse(arn: &str) -> Result<Self, String> {
        if let Some(name) = arn.strip_prefix("nats:") {
            return if names::is_valid_deliver_name(name) {
                Ok(Self::Nats {
                    subject: names::deliver_subject(name),
                })
            } else {
                Err(format!(
                    "'{arn}' does not name a NATS subject: nats:<token>[.<token>…] without wildcards"
                ))
            };
        }
        if arn.starts_with("http://") || arn.starts_with("https://") {
            return match arn.parse::<http::Uri>() {
                Ok(uri) if uri.host().is_some() => Ok(Self::Webhook {
                    url: arn.to_owned(),
                }),
                _ => Err(format!("'{}' is not a valid URL", redact_target_arn(arn))),
            };
        }
        if arn.starts_with("arn:") && arn.contains(":event-bus/") {
            return bus_name_from(arn)
                .map(|bus| Self::Bus { bus })
                .ok_or_else(|| {
                    format!("'{}' is not a valid event bus ARN", redact_target_arn(arn))
                });
        }
        Err(format!(
            "Target ARN '{}' is not supported: use nats:<subject>, an http(s):// webhook URL or an event bus ARN",
            redact_target_arn(arn)
        ))
    }
}

impl Target {
    /// Whether the target receives the whole event (no `Input`, `InputPath` or
    /// `InputTransformer`).
    pub fn takes_whole_event(&self) -> bool {
        self.input.is_none() && self.input_path.is_none() && self.input_transformer.is_none()
    }

    pub fn input(&self) -> Result<TargetInput, TransformError> {
        TargetInput::validate(
            &self.id,
            self.input.as_deref(),
            self.input_path.as_deref(),
            self.input_transformer.clone(),
        )
    }

    /// The ARN as shown in logs, dead letters and errors: a webhook URL as its scheme,
    /// host and port only (its path and query may hold a token).
    pub fn display_arn(&self) -> String {
        redact_target_arn(&self.arn)
    }
}

/// One target that PutTargets or RemoveTargets could not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEntry {
    pub target_id: String,
    pub error_code: String,
    pub error_message: String,
}

/// Adds or replaces targets of a rule. Invalid requests fail whole, as EventBridge's
/// `ValidationException`s do; a target whose ARN cannot be used is reported on its own.
pub async fn put_targets(
    rules: &Rules,
    bus: &str,
    rule: &str,
    targets: Vec<Target>,
) -> Result<Vec<FailedEntry>, Error> {
    validate_name(rule, "rule")?;
    if targets.is_empty() || targets.len() > 10 {
        return Err(validation(format!(
            "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and 10 (got {})",
            targets.len()
        )));
    }
    for (i, target) in targets.iter().enumerate() {
        validate_name(&target.id, &format!("targets.{}.member.id", i + 1))?;
        if target.arn.is_empty() || target.arn.chars().count() > MAX_TARGET_ARN_CHARS {
            return Err(validation(format!(
                "1 validation error detected: Value at 'targets.{}.member.arn' failed to satisfy constraint: Member must have length between 1 and {MAX_TARGET_ARN_CHARS}",
                i + 1
            )));
        }
        target.input().map_err(|e| validation(e.to_string()))?;
    }
    let mut failed = Vec::new();
    let mut accepted = Vec::new();
    for target in targets {
        let parsed = TargetKind::parse(&target.arn);
        if let Ok(TargetKind::Bus { bus: other }) = &parsed {
            // Known before the match, so that a bus another replica just made is found.
            rules.catalog().knows_bus(other).await?;
        }
        match parsed {
            Ok(TargetKind::Bus { bus: other }) if !rules.catalog().has_bus(&other) => {
                failed.push(FailedEntry {
                    target_id: target.id.clone(),
                    error_code: "ResourceNotFoundException".into(),
                    error_message: format!("Event bus {other} does not exist."),
                });
            }
            Ok(_) => accepted.push(target),
            Err(message) => failed.push(FailedEntry {
                target_id: target.id.clone(),
                error_code: "ValidationException".into(),
                error_message: message,
            }),
        }
    }
    if rules.catalog().find_rule(bus, rule).await?.is_none() && rules.catalog().has_bus(bus) {
        return Err(rule_not_found(bus, rule));
    }
    if !accepted.is_empty() {
        rules
            .update(bus, rule, |mut record| {
                for target in &accepted {
                    match record.targets.iter_mut().find(|t| t.id == target.id) {
                        Some(existing) => *existing = target.clone(),
                        None => record.targets.push(target.clone()),
                    }
                }
                if record.targets.len() > MAX_TARGETS_PER_RULE {
                    return Err(Error::limit_exceeded(LIMIT_EXCEEDED));
                }
                Ok(record)
            })
            .await?;
    }
    Ok(failed)
}

/// Removes targets by id; ids the rule does not have are ignored, as in EventBridge.
pub async fn remove_targets(
    rules: &Rules,
    bus: &str,
    rule: &str,
    ids: &[String],
) -> Result<Vec<FailedEntry>, Error> {
    if ids.is_empty() {
        return Err(validation(
            "1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    rules
        .update(bus, rule, |mut record| {
            record.targets.retain(|t| !ids.contains(&t.id));
            Ok(record)
        })
        .await?;
    Ok(Vec::new())
}

pub async fn list_targets(
    rules: &Rules,
    bus: &str,
    rule: &str,
    next_token: &str,
    limit: i32,
) -> Result<(Vec<Target>, Option<String>), Error> {
    let record = rules.describe_rule(bus, rule).await?;
    let mut targets = record.targets.clone();
    targets.sort_by(|a, b| a.id.cmp(&b.id));
    page(targets, |t| t.id.as_str(), next_token, limit)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn target_arns_name_subjects_webhooks_and_buses() {
        assert_eq!(
            TargetKind::parse("nats:orders.created").unwrap(),
            TargetKind::Nats {
                subject: "groundwork.deliver.orders.created".into()
            }
        );
        assert!(TargetKind::parse("nats:orders.*").is_err());
        assert!(matches!(
            TargetKind::parse("https://example.com/hook?token=s3cret").unwrap(),
            TargetKind::Webhook { .. }
        ));
        assert_eq!(
            TargetKind::parse("arn:aws:events:us-east-1:1:event-bus/other").unwrap(),
            TargetKind::Bus {
                bus: "other".into()
            }
        );
        let err = TargetKind::parse("arn:aws:sqs:us-east-1:1:q").unwrap_err();
        assert!(err.contains("not supported"));
    }

    #[test]
    fn webhook_arns_are_shown_without_path_query_or_user_info() {
        let target = |arn: &str| Target {
            id: "t".into(),
            arn: arn.into(),
            input: None,
            input_path: None,
            input_transformer: None,
            retry_policy: RetryPolicy::default(),
            http_timeout_ms: None,
        };
        assert_eq!(
            target("https://user:pw@example.com:8443/services/T0/s3cret?token=s3cret#x")
                .display_arn(),
            "https://example.com:8443/..."
        );
        assert_eq!(
            target("nats:orders.created").display_arn(),
            "nats:orders.created"
        );
        let err = TargetKind::parse("ftp://u:s3cret@example.com/s3cret?s3cret").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        let err = TargetKind::parse("https://example.com/s3cret x").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
