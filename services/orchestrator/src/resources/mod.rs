//! One module per resource kind, each implementing [`Managed`]: apply, destroy, read the
//! live state (typed, the same struct as the desired state), check a waiting step, and say
//! which event finishes a waiting step. The desired state itself comes from the spec
//! (`groundwork_spec::resource`), typed per kind. [`dispatch`] is the one place that maps
//! a kind to its module.

mod account_plan;
mod admin_user;
mod billing_alarm;
mod budget;
mod budget_action;
mod budgets_action_role;
mod bus_rule;
mod console_step;
mod guardrail_policy;
mod kill_switch;
mod mfa_device;
mod mfa_policy;
mod password_policy;
mod rule;
mod subscription;
mod topic;
mod webhook;

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::Protocol;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

use crate::clients::{Clients, read_error, retryable};
use crate::error::Error;
use crate::resource::{Desired, Fields, ResourceId, fields_of};
use crate::run::{Run, StepRecord};
use crate::runner::{OneTimeSecret, StepResult};

/// What a step's call can see: the clients, the step as stored (outputs of an earlier
/// attempt), and the run as it was when the step started (dependencies' outputs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub clients: &'a Clients,
    pub step: &'a StepRecord,
    pub run: &'a Run,
}

impl Ctx<'_> {
    pub fn id(&self) -> &ResourceId {
        &self.step.resource.id
    }
}

/// A kind of resource: its desired state (`Self`) and what can be done with it.
pub(crate) trait Managed: Serialize + Sized {
    /// Makes the resource what `self` says; idempotent (a crash runs it again).
    async fn apply(&self, cx: Ctx<'_>) -> StepResult;

    /// Removes it. Kinds that Destroy leaves alone keep this default.
    async fn destroy(&self, _clients: &Clients) -> StepResult {
        StepResult::done("kept", BTreeMap::new())
    }

    /// The state in place, in the same type and canonical form as `self`; `None` when the
    /// resource does not exist. Read-only; `reads` shares reads between resources.
    async fn read_live(&self, cx: LiveCtx<'_>, reads: &mut Reads) -> Result<Option<Self>, Error>;

    /// For a WAITING step: whether a person did it, by a read-only check.
    async fn is_done(&self, _cx: Ctx<'_>) -> Result<bool, Error> {
        Ok(false)
    }

    /// Whether a bus event finishes this resource's waiting step.
    fn finished_by(&self, _event: &Value) -> bool {
        false
    }
}

/// What a live read can see: the clients (room for more without touching every kind).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveCtx<'a> {
    pub clients: &'a Clients,
}

/// Calls `$body` with `$r` bound to the typed desired state of `$desired`, whatever its
/// kind: the one match over kinds.
macro_rules! dispatch {
    ($desired:expr, $r:ident => $body:expr) => {
        match $desired {
            Desired::PasswordPolicy($r) => $body,
            Desired::AdminUser($r) => $body,
            Desired::MfaPolicy($r) => $body,
            Desired::MfaDevice($r) => $body,
            Desired::Budget($r) => $body,
            Desired::Topic($r) => $body,
            Desired::Subscription($r) => $body,
            Desired::BillingAlarm($r) => $body,
            Desired::Webhook($r) => $body,
            Desired::Rule($r) => $body,
            Desired::ConsoleStep($r) => $body,
            Desired::KillSwitch($r) => $body,
            Desired::GuardrailPolicy($r) => $body,
            Desired::BudgetsActionRole($r) => $body,
            Desired::BudgetAction($r) => $body,
            Desired::AccountPlan($r) => $body,
        }
    };
}

/// Applies a step's resource.
pub(crate) async fn apply(cx: Ctx<'_>) -> StepResult {
    dispatch!(&cx.step.resource.desired, r => r.apply(cx).await)
}

/// Removes a step's resource.
pub(crate) async fn destroy(clients: &Clients, desired: &Desired) -> StepResult {
    dispatch!(desired, r => r.destroy(clients).await)
}

/// The live fields of a resource, `None` when absent.
pub(crate) async fn read_live(
    clients: &Clients,
    desired: &Desired,
    reads: &mut Reads,
) -> Result<Option<Fields>, Error> {
    let cx = LiveCtx { clients };
    dispatch!(desired, r => Ok(r
        .read_live(cx, reads)
        .await?
        .map(|live| fields_of(serde_json::to_value(&live)))))
}

/// Whether a WAITING step is done.
pub(crate) async fn is_done(cx: Ctx<'_>) -> Result<bool, Error> {
    dispatch!(&cx.step.resource.desired, r => r.is_done(cx).await)
}

/// Whether `event` finishes the waiting `step`.
pub(crate) fn finished_by(event: &Value, step: &StepRecord) -> bool {
    dispatch!(&step.resource.desired, r => r.finished_by(event))
}

/// Reads several resources share, made once per plan.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    audit: Option<pb::AuditAccountResponse>,
    /// The managed policies attached to each group read so far.
    groups: BTreeMap<String, Vec<String>>,
    /// The subscriptions of each topic read so far; `None` when the topic does not exist.
    topics: BTreeMap<String, Option<Vec<pb::AlertingSubscription>>>,
}

impl Reads {
    /// The identity service's account audit (users' MFA, the password policy).
    pub async fn audit(&mut self, clients: &Clients) -> Result<&pb::AuditAccountResponse, Error> {
        if self.audit.is_none() {
            let audit = audit(clients)
                .await
                .map_err(|e| read_error("identity AuditAccount", &e))?;
            self.audit = Some(audit);
        }
        self.audit
            .as_ref()
            .ok_or_else(|| Error::internal("audit not kept"))
    }

    /// Remembers a group's policies read with its admin.
    pub fn saw_group(&mut self, group: &str, arns: Vec<String>) {
        self.groups.insert(group.to_owned(), arns);
    }

    /// The managed policies attached to `group`.
    pub async fn group_policies(
        &mut self,
        clients: &Clients,
        group: &str,
    ) -> Result<&[String], Error> {
        if !self.groups.contains_key(group) {
            let state = describe_admin(clients, "", group)
                .await
                .map_err(|e| read_error("identity DescribeAdmin", &e))?;
            self.groups
                .insert(group.to_owned(), state.group_policy_arns);
        }
        Ok(self
            .groups
            .get(group)
            .map(Vec::as_slice)
            .unwrap_or_default())
    }

    /// The subscriptions of `topic`; `None` when the topic does not exist.
    pub async fn subscriptions(
        &mut self,
        clients: &Clients,
        topic: &str,
    ) -> Result<Option<&[pb::AlertingSubscription]>, Error> {
        if !self.topics.contains_key(topic) {
            let found = match clients
                .alerting
                .clone()
                .list_subscriptions(pb::ListAlertingSubscriptionsRequest {
                    topic: topic.to_owned(),
                })
                .await
            {
                Ok(resp) => Some(resp.into_inner().subscriptions),
                Err(e) if e.code() == tonic::Code::NotFound => None,
                Err(e) => return Err(read_error("alerting ListSubscriptions", &e)),
            };
            self.topics.insert(topic.to_owned(), found);
        }
        Ok(self.topics.get(topic).and_then(|t| t.as_deref()))
    }
}

/// A failed call as a step result, retryable or not.
pub(crate) fn failed(what: &str, s: &tonic::Status) -> StepResult {
    StepResult::failed(
        format!("{what}: {} ({:?})", s.message(), s.code()),
        retryable(s),
    )
}

/// Step outputs, empty values left out.
pub(crate) fn outputs<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

pub(crate) fn secret(resource: &ResourceId, name: &'static str, value: String) -> OneTimeSecret {
    OneTimeSecret {
        resource: resource.0.clone(),
        name: name.to_owned(),
        value: SecretString::from(value),
        png: None,
        id: String::new(),
        expires_at_ms: 0,
    }
}

pub(crate) fn identity_outcome(o: pb::Outcome) -> &'static str {
    match o {
        pb::Outcome::Created => "created",
        pb::Outcome::Updated => "updated",
        pb::Outcome::Deleted => "deleted",
        pb::Outcome::Absent => "absent",
        pb::Outcome::Unchanged | pb::Outcome::Unspecified => "unchanged",
    }
}

pub(crate) fn alerting_outcome(c: pb::AlertingChange) -> &'static str {
    match c {
        pb::AlertingChange::Created => "created",
        pb::AlertingChange::Updated => "updated",
        pb::AlertingChange::Unchanged | pb::AlertingChange::Unspecified => "unchanged",
    }
}

pub(crate) fn deletion(d: pb::AlertingDeletion) -> &'static str {
    match d {
        pb::AlertingDeletion::Deleted => "deleted",
        pb::AlertingDeletion::PendingConfirmation => "pending (goes with the topic)",
        pb::AlertingDeletion::Absent | pb::AlertingDeletion::Unspecified => "absent",
    }
}

pub(crate) fn protocol(p: Protocol) -> pb::AlertingProtocol {
    match p {
        Protocol::Email => pb::AlertingProtocol::Email,
        Protocol::Sms => pb::AlertingProtocol::Sms,
        Protocol::Https => pb::AlertingProtocol::Https,
        Protocol::Sqs => pb::AlertingProtocol::Sqs,
    }
}

pub(crate) async fn audit(clients: &Clients) -> Result<pb::AuditAccountResponse, tonic::Status> {
    Ok(clients
        .identity
        .clone()
        .audit_account(pb::AuditAccountRequest {
            access_key_max_age_days: None,
        })
        .await?
        .into_inner())
}

pub(crate) async fn describe_admin(
    clients: &Clients,
    user: &str,
    group: &str,
) -> Result<pb::DescribeAdminResponse, tonic::Status> {
    Ok(clients
        .identity
        .clone()
        .describe_admin(pb::DescribeAdminRequest {
            user_name: user.into(),
            group_name: group.into(),
        })
        .await?
        .into_inner())
}

/// An amount in the spec's decimal text (`20`, `20.5` → `20.50`), so that a live amount
/// compares with the spec's.
pub(crate) fn usd_text(amount: f64) -> String {
    let cents = (amount * 100.0).round() as i64;
    if cents % 100 == 0 {
        format!("{}", cents / 100)
    } else {
        format!("{}.{:02}", cents / 100, (cents % 100).abs())
    }
}

/// The name at the end of an ARN (`arn:aws:sns:us-east-1:123456789012:billing-alarm`).
pub(crate) fn arn_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_amounts_read_as_the_spec_writes_them() {
        assert_eq!(usd_text(20.0), "20");
        assert_eq!(usd_text(500.0), "500");
        assert_eq!(usd_text(20.5), "20.50");
        assert_eq!(usd_text(0.07), "0.07");
    }

    #[test]
    fn an_arn_ends_with_its_name() {
        assert_eq!(
            arn_name("arn:aws:sns:us-east-1:123456789012:billing-alarm"),
            "billing-alarm"
        );
        assert_eq!(arn_name("plain"), "plain");
    }
}
