//! The kill switch: a budget crossing stops new spend until a person says otherwise.
//!
//! The orchestrator puts the rule `groundwork-kill-switch` on the event bus (from the spec's
//! `[guardrails.kill_switch]`): it matches the `Budget Threshold Crossed` events of the
//! chosen budgets at or above the chosen threshold, and delivers them to the NATS-subject
//! target `nats:identity.kill-switch`, shaped by its input transformer as a [`Delivery`]
//! (the group to act on, the event's id and source, its detail; `groundwork_events::kill_switch`). This module reads those
//! deliveries through the durable consumer `identity-kill-switch` (shared by replicas,
//! at least once), attaches the deny-new-spend managed policy to the group and only then
//! acknowledges; a retryable AWS failure is NAKed with backoff, so a pending retry survives
//! a restart. The engagement is recorded in the KV bucket `identity-guardrails` (per group:
//! since when, by which event, the last release, the last failure) and announced once as
//! `Guardrail Engaged`: the same delivery twice, or a second crossing while engaged,
//! changes nothing and announces nothing.
//!
//! Releasing is a person's decision ([`release`], `groundwork guardrails release --reason`):
//! the policy is detached, the record says who and why, and `Guardrail Released` carries
//! the reason and the caller as the audit trail names it.
//!
//! The policy itself (`Groundwork-DenyNewSpend` under `/groundwork/`) is created by the
//! setup of the budget actions; the kill switch only refers to it by its ARN
//! ([`deny_new_spend_arn`]) and says so when it does not exist.

use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::{self, AckKind};
use groundwork_bus::Emitter;
use groundwork_bus::consumer::{self, Durable};
use groundwork_bus::kv::{Bucket, Change, Records};
use groundwork_bus::names::{self, escape_token};
use groundwork_cloud::{AwsError, AwsErrorKind, RootPolicy};
use groundwork_events::catalog::{
    BudgetThresholdCrossed, CatalogEvent, GuardrailEngaged, GuardrailReleased, sources,
};
use groundwork_events::envelope::{Origin, Producer, validate_entry};
pub use groundwork_events::kill_switch::Delivery;
use groundwork_kit::Shutdown;
use groundwork_kit::auth::Caller;
use groundwork_kit::retry::Backoff;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::GroupName;
use crate::error::Error;
use crate::service::{Service, partition_of};

/// The deny-new-spend managed policy's name and path.
pub const POLICY_NAME: &str = "Groundwork-DenyNewSpend";
pub const POLICY_PATH: &str = "/groundwork/";

/// The one place the policy's ARN is built: `arn:<partition>:iam::<account>:policy/groundwork/Groundwork-DenyNewSpend`.
pub fn deny_new_spend_arn(partition: &str, account: &str) -> String {
    format!("arn:{partition}:iam::{account}:policy{POLICY_PATH}{POLICY_NAME}")
}

/// Longest release reason kept.
pub const MAX_REASON_CHARS: usize = 512;

/// How many times a delivery is tried when AWS keeps failing in a retryable way, before
/// the failure is recorded and the delivery dropped.
const MAX_ATTEMPTS: u32 = 12;

/// Delays between those tries: from a second, doubling up to a minute.
const RETRY: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(60),
    attempts: None,
    within: None,
    jitter: true,
};

const BUCKET: Bucket = Bucket {
    name: names::IDENTITY_GUARDRAILS_BUCKET,
    description: "Identity: the kill switch per group (engaged by which event, released by whom)",
    history: 1,
};

/// The UUID namespace of `Guardrail Engaged` ids: the id is the UUID v5 of the triggering
/// event's id, so announcing the same engagement again is stored once by the bus.
const ENGAGED_EVENT_NAMESPACE: uuid::Uuid = uuid::Uuid::from_bytes([
    0x6b, 0x2e, 0x41, 0x0c, 0x95, 0x7d, 0x4f, 0x1a, 0x8c, 0x3b, 0x52, 0xe9, 0x0d, 0x7f, 0xa4, 0x16,
]);

/// The kill switch's record of one group, in `identity-guardrails` under
/// `kill-switch.<group>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuardrailRecord {
    pub group: String,
    pub policy_arn: String,
    /// Whether the kill switch engaged it and nobody released it since.
    pub engaged: bool,
    /// Unix seconds.
    pub engaged_at: Option<i64>,
    pub trigger_event_id: String,
    pub budget: String,
    pub threshold: f64,
    pub notification_type: String,
    pub period: String,
    /// Whether `Guardrail Engaged` was stored for this engagement.
    pub announced: bool,
    pub released_at: Option<i64>,
    pub released_by: String,
    pub release_reason: String,
    pub last_error: String,
    pub last_error_at: Option<i64>,
    pub last_error_event_id: String,
}

/// The key of a group's record.
pub fn record_key(group: &GroupName) -> String {
    format!("kill-switch.{}", escape_token(group.as_str()))
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The policy was attached now (and announced).
    Engaged,
    /// It was engaged already (this delivery again, or an earlier crossing).
    AlreadyEngaged,
}

/// The kill switch's state and what it acts with.
#[derive(Debug, Clone)]
pub struct KillSwitch {
    service: Service,
    records: Records<GuardrailRecord>,
    emitter: Emitter,
    origin: Origin,
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn rfc3339(at: Option<i64>) -> String {
    at.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl KillSwitch {
    /// Opens (or creates) the bucket of records.
    pub async fn open(
        service: Service,
        js: &jetstream::Context,
        replicas: usize,
        emitter: Emitter,
        origin: Origin,
    ) -> Result<Self, Error> {
        let records = Records::open(js, &BUCKET, replicas).await?;
        Ok(Self {
            service,
            records,
            emitter,
            origin,
        })
    }

    /// The policy's ARN in the account of the service's credentials (root refused).
    async fn policy_arn(&self, operation: &str) -> Result<String, Error> {
        let caller = self.service.guard(operation, RootPolicy::Refuse).await?;
        Ok(deny_new_spend_arn(
            partition_of(&caller.arn),
            &caller.account,
        ))
    }

    async fn policy_exists(&self, arn: &str) -> Result<bool, Error> {
        match self.service.iam.get_policy().policy_arn(arn).send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = AwsError::from_sdk("GetPolicy", e);
                if e.kind == AwsErrorKind::NotFound {
                    Ok(false)
                } else {
                    Err(e.into())
                }
            }
        }
    }

    fn policy_missing(arn: &str) -> Error {
        Error::failed_precondition(format!(
            "the deny-new-spend policy {arn} does not exist: run the setup with budget \
             actions or the kill switch first"
        ))
    }

    /// Whether `arn` is attached to `group`; NOT_FOUND when the group does not exist.
    async fn is_attached(&self, group: &GroupName, arn: &str) -> Result<bool, Error> {
        let mut pages = self
            .service
            .iam
            .list_attached_group_policies()
            .group_name(group.as_str())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                let e = AwsError::from_sdk("ListAttachedGroupPolicies", e);
                if e.kind == AwsErrorKind::NotFound {
                    Error::failed_precondition(format!(
                        "there is no IAM group {group}: the kill switch acts on the admin group \
                         the setup creates"
                    ))
                } else {
                    e.into()
                }
            })?;
            if page
                .attached_policies()
                .iter()
                .any(|p| p.policy_arn() == Some(arn))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Acts on one delivery: attaches the policy unless it is engaged already, records it,
    /// and announces it once.
    #[tracing::instrument(skip_all, fields(group = %delivery.group, event_id = %delivery.event.id))]
    pub async fn engage(&self, delivery: &Delivery) -> Result<Outcome, Error> {
        if delivery.event.source != sources::BUDGET
            || delivery.event.detail_type != BudgetThresholdCrossed::DETAIL_TYPE
        {
            return Err(Error::invalid(
                "event",
                format!(
                    "the kill switch acts on `{}` from {}, not `{}` from {}: check the rule's pattern",
                    BudgetThresholdCrossed::DETAIL_TYPE,
                    sources::BUDGET,
                    delivery.event.detail_type,
                    delivery.event.source
                ),
            ));
        }
        let group = GroupName::parse("group", &delivery.group)?;
        let arn = self.policy_arn("KillSwitch").await?;
        let key = record_key(&group);
        let trigger = &delivery.event.id;
        let attached = self.is_attached(&group, &arn).await?;
        let record = self.records.get(&key).await?.map(|r| r.value);
        if attached
            && let Some(r) = &record
            && r.engaged
            && (r.announced || &r.trigger_event_id != trigger)
        {
            tracing::info!(engaged_by = %r.trigger_event_id, "the kill switch is engaged already");
            return Ok(Outcome::AlreadyEngaged);
        }
        if !attached {
            if !self.policy_exists(&arn).await? {
                return Err(Self::policy_missing(&arn));
            }
            self.service
                .iam
                .attach_group_policy()
                .group_name(group.as_str())
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("AttachGroupPolicy", e))?;
            tracing::warn!(policy = %arn, budget = %delivery.detail.budget, "kill switch engaged: new spend denied to the group");
        }
        let d = &delivery.detail;
        let (stored, _) = self
            .records
            .modify(&key, |current| {
                let mut r = current.cloned().unwrap_or_default();
                if r.engaged && &r.trigger_event_id == trigger {
                    return Change::Keep;
                }
                r.group = group.as_str().to_owned();
                r.policy_arn = arn.clone();
                r.engaged = true;
                r.engaged_at = Some(now());
                r.trigger_event_id = trigger.clone();
                r.budget = d.budget.clone();
                r.threshold = d.threshold;
                r.notification_type = d.notification_type.clone();
                r.period = d.period.clone();
                r.announced = false;
                Change::Write(r)
            })
            .await?;
        if stored.as_ref().is_some_and(|r| !r.value.announced) {
            self.announce(&group, &arn, delivery).await?;
            self.records
                .modify(&key, |current| match current {
                    Some(r) if &r.trigger_event_id == trigger && !r.announced => {
                        Change::Write(GuardrailRecord {
                            announced: true,
                            ..r.clone()
                        })
                    }
                    _ => Change::Keep,
                })
                .await?;
        }
        Ok(Outcome::Engaged)
    }

    /// Stores `Guardrail Engaged` under an id derived from the trigger's, so that announcing
    /// the same engagement again is stored once.
    async fn announce(
        &self,
        group: &GroupName,
        arn: &str,
        delivery: &Delivery,
    ) -> Result<(), Error> {
        let d = &delivery.detail;
        let detail = GuardrailEngaged {
            group_name: group.as_str().to_owned(),
            policy_arn: arn.to_owned(),
            budget: d.budget.clone(),
            threshold: d.threshold,
            notification_type: d.notification_type.clone(),
            period: d.period.clone(),
            trigger_event_id: delivery.event.id.clone(),
        };
        let entry = detail
            .entry(vec![arn.to_owned()])
            .map_err(|e| Error::internal(format!("Guardrail Engaged: {e}")))?;
        let valid = validate_entry(&entry, Producer::TrustedInternal)
            .map_err(|e| Error::internal(format!("Guardrail Engaged: {e}")))?;
        let mut event = valid.into_event(&self.origin, OffsetDateTime::now_utc());
        event.id =
            uuid::Uuid::new_v5(&ENGAGED_EVENT_NAMESPACE, delivery.event.id.as_bytes()).to_string();
        self.emitter.publish(&event).await?;
        Ok(())
    }

    /// Records that a crossing could not be acted on, for DescribeGuardrails.
    async fn record_failure(&self, delivery: &Delivery, error: &Error) {
        let Ok(group) = GroupName::parse("group", &delivery.group) else {
            return;
        };
        let message = error.message().to_owned();
        let event_id = delivery.event.id.clone();
        let result = self
            .records
            .modify(&record_key(&group), |current| {
                let mut r = current.cloned().unwrap_or_default();
                r.group = group.as_str().to_owned();
                r.last_error = message.clone();
                r.last_error_at = Some(now());
                r.last_error_event_id = event_id.clone();
                Change::Write(r)
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "the kill switch's failure could not be recorded");
        }
    }

    /// Detaches the policy from `group`: a person's decision, with `reason`.
    #[tracing::instrument(skip_all, fields(group = %group))]
    pub async fn release(
        &self,
        group: GroupName,
        reason: &str,
        caller: &Caller,
    ) -> Result<GuardrailReleased, Error> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::invalid(
                "reason",
                "say why the spend may go on again (it is recorded with the release)",
            ));
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(Error::invalid(
                "reason",
                format!("at most {MAX_REASON_CHARS} characters"),
            ));
        }
        let arn = self.policy_arn("ReleaseGuardrail").await?;
        if !self.is_attached(&group, &arn).await? {
            return Err(Error::failed_precondition(format!(
                "the kill switch is not engaged on {group} ({arn} is not attached): nothing to release"
            )));
        }
        match self
            .service
            .iam
            .detach_group_policy()
            .group_name(group.as_str())
            .policy_arn(&arn)
            .send()
            .await
        {
            Ok(_) => {}
            // Detached meanwhile (another release): what was asked.
            Err(e) => {
                let e = AwsError::from_sdk("DetachGroupPolicy", e);
                if e.kind != AwsErrorKind::NotFound {
                    return Err(e.into());
                }
            }
        }
        tracing::warn!(policy = %arn, role = caller.role.as_str(), "kill switch released: new spend allowed again");
        let by = caller.name();
        let (stored, _) = self
            .records
            .modify(&record_key(&group), |current| {
                let mut r = current.cloned().unwrap_or_default();
                r.group = group.as_str().to_owned();
                r.policy_arn = arn.clone();
                r.engaged = false;
                r.released_at = Some(now());
                r.released_by = by.clone();
                r.release_reason = reason.to_owned();
                Change::Write(r)
            })
            .await?;
        let trigger = stored
            .map(|r| r.value.trigger_event_id)
            .filter(|t| !t.is_empty());
        let released = GuardrailReleased {
            group_name: group.as_str().to_owned(),
            policy_arn: arn.clone(),
            reason: reason.to_owned(),
            caller: by,
            role: caller.role.as_str().to_owned(),
            trigger_event_id: trigger,
        };
        self.service.events.emit(&released, vec![arn]).await;
        Ok(released)
    }

    /// The state of the kill switch on `group`, or on every group it has a record of (the
    /// default group when none).
    pub async fn describe(&self, group: Option<GroupName>) -> Result<Vec<GuardrailState>, Error> {
        let arn = self.policy_arn("DescribeGuardrails").await?;
        let groups = match group {
            Some(g) => vec![g],
            None => {
                let mut groups = Vec::new();
                for (_, r) in self.records.list("kill-switch.").await? {
                    groups.push(GroupName::parse("group", &r.value.group)?);
                }
                if groups.is_empty() {
                    groups.push(GroupName::or_default("group_name", "")?);
                }
                groups
            }
        };
        let policy_exists = self.policy_exists(&arn).await?;
        let mut out = Vec::new();
        for group in groups {
            // A group that does not exist (yet) has nothing attached.
            let engaged = policy_exists
                && match self.is_attached(&group, &arn).await {
                    Ok(attached) => attached,
                    Err(e) if e.kind() == crate::error::ErrorKind::FailedPrecondition => false,
                    Err(e) => return Err(e),
                };
            let record = self
                .records
                .get(&record_key(&group))
                .await?
                .map(|r| r.value)
                .unwrap_or_default();
            out.push(GuardrailState {
                group: group.as_str().to_owned(),
                policy_arn: arn.clone(),
                engaged,
                policy_exists,
                record,
            });
        }
        Ok(out)
    }
}

/// What DescribeGuardrails says about one group.
#[derive(Debug, Clone)]
pub struct GuardrailState {
    pub group: String,
    pub policy_arn: String,
    /// Read in IAM.
    pub engaged: bool,
    pub policy_exists: bool,
    pub record: GuardrailRecord,
}

impl GuardrailState {
    pub fn to_pb(&self) -> groundwork_proto::v1::Guardrail {
        let r = &self.record;
        // The record's engagement counts only while the policy is attached.
        let by_kill_switch = self.engaged && r.engaged;
        groundwork_proto::v1::Guardrail {
            group_name: self.group.clone(),
            policy_arn: self.policy_arn.clone(),
            engaged: self.engaged,
            policy_exists: self.policy_exists,
            engaged_at: if by_kill_switch {
                rfc3339(r.engaged_at)
            } else {
                String::new()
            },
            trigger_event_id: if by_kill_switch {
                r.trigger_event_id.clone()
            } else {
                String::new()
            },
            budget: if by_kill_switch {
                r.budget.clone()
            } else {
                String::new()
            },
            threshold: if by_kill_switch { r.threshold } else { 0.0 },
            period: if by_kill_switch {
                r.period.clone()
            } else {
                String::new()
            },
            released_at: rfc3339(r.released_at),
            released_by: r.released_by.clone(),
            release_reason: r.release_reason.clone(),
            last_error: r.last_error.clone(),
            last_error_at: rfc3339(r.last_error_at),
            last_error_event_id: r.last_error_event_id.clone(),
        }
    }
}

/// Reads the kill switch's deliveries until shutdown, through the shared durable consumer.
pub async fn run(js: jetstream::Context, kill_switch: KillSwitch, shutdown: Shutdown) {
    // Every delivery is a crossing to act on: none is stale. The ack wait covers a few IAM
    // calls with the SDK's own retries.
    let durable = Durable::new(
        names::DELIVERIES_STREAM,
        names::IDENTITY_KILL_SWITCH_CONSUMER,
        "identity: budget crossings the kill switch acts on",
    )
    .filter(names::deliver_subject(names::IDENTITY_KILL_SWITCH_TARGET))
    .deliver_policy(DeliverPolicy::All)
    .ack_wait(Duration::from_secs(120));
    consumer::run(&js, &durable, shutdown.token(), |message| {
        let kill_switch = kill_switch.clone();
        // Boxed: the IAM calls' futures nest deep enough to overflow the compiler's layout
        // queries for the service's binary otherwise.
        let handled: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
            Box::pin(async move { handle(&kill_switch, &message).await });
        handled
    })
    .await;
}

/// Acts on one delivery, then acknowledges it, NAKs it for a retry, or drops it with the
/// failure recorded.
async fn handle(kill_switch: &KillSwitch, message: &jetstream::Message) {
    let delivery = match serde_json::from_slice::<Delivery>(&message.payload) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "a kill switch delivery is not what its rule's input transformer writes; dropped");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
    };
    let attempt = message
        .info()
        .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
        .unwrap_or(1);
    match kill_switch.engage(&delivery).await {
        Ok(outcome) => {
            tracing::info!(?outcome, event_id = %delivery.event.id, "kill switch delivery done");
            consumer::ack(message).await;
        }
        Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
            let delay = RETRY.jittered(attempt);
            tracing::warn!(error = %e, attempt, delay_ms = delay.as_millis() as u64, "the kill switch could not act yet; retrying");
            consumer::nak_after(message, delay).await;
        }
        Err(e) => {
            tracing::error!(error = %e, event_id = %delivery.event.id, attempt, "the kill switch could not act on a crossing");
            kill_switch.record_failure(&delivery, &e).await;
            consumer::ack(message).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_arn_is_under_the_groundwork_path() {
        assert_eq!(
            deny_new_spend_arn("aws", "123456789012"),
            "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend"
        );
    }
}
