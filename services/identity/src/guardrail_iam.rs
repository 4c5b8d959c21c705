//! EnsureGuardrailPolicy, DeleteGuardrailPolicy, EnsureBudgetsActionRole and
//! DeleteBudgetsActionRole: the IAM side of budget actions, with the documents of
//! [`crate::guardrails`]. Each is idempotent and fixes drift in place: a changed policy
//! document becomes a new default version, a changed trust or permissions document is
//! put again on the same role.

use groundwork_cloud::{AwsError, AwsErrorKind, RootPolicy};
use serde_json::Value;

use crate::domain::Outcome;
use crate::error::Error;
use crate::guardrails::{self, RoleGrants};
use crate::mfa_policy::{delete_managed_policy, make_room_for_a_version};
use crate::service::{Service, partition_of};

/// What an ensure or delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub arn: String,
    pub outcome: Outcome,
    /// One line per change (or per removal).
    pub changes: Vec<String>,
}

fn outcome(created: bool, changes: &[String]) -> Outcome {
    if created {
        Outcome::Created
    } else if changes.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    }
}

/// Creates `Groundwork-DenyNewSpend` under `/groundwork/`, or makes its default version
/// the current document. Attaches it to nothing: budget actions and the kill switch do.
#[tracing::instrument(skip_all)]
pub async fn ensure_policy(service: &Service) -> Result<Done, Error> {
    let caller = service
        .guard("EnsureGuardrailPolicy", RootPolicy::Refuse)
        .await?;
    let iam = &service.iam;
    let arn = guardrails::deny_new_spend_arn(partition_of(&caller.arn), &caller.account);
    let wanted = guardrails::deny_new_spend_document();
    let mut changes = Vec::new();
    let mut created = false;
    match current_document(service, &arn).await? {
        Some(current) => {
            if current != wanted {
                make_room_for_a_version(service, &arn).await?;
                iam.create_policy_version()
                    .policy_arn(&arn)
                    .policy_document(wanted.to_string())
                    .set_as_default(true)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("CreatePolicyVersion", e))?;
                changes.push(format!("updated the document of {arn}"));
            }
        }
        None => {
            iam.create_policy()
                .policy_name(guardrails::DENY_NEW_SPEND_POLICY)
                .path(guardrails::GUARDRAILS_PATH)
                .policy_document(wanted.to_string())
                .description("Denies launching, starting, creating or buying billable resources; reading, billing, IAM and deleting stay allowed (Groundwork)")
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreatePolicy", e))?;
            created = true;
            changes.push(format!("created {arn}"));
        }
    }
    let outcome = outcome(created, &changes);
    tracing::info!(?outcome, "deny-new-spend policy ensured");
    Ok(Done {
        arn,
        outcome,
        changes,
    })
}

/// The default version's document, `None` when the policy does not exist.
async fn current_document(service: &Service, arn: &str) -> Result<Option<Value>, Error> {
    let iam = &service.iam;
    let policy = match iam.get_policy().policy_arn(arn).send().await {
        Ok(out) => out.policy,
        Err(e) => {
            let e = AwsError::from_sdk("GetPolicy", e);
            if e.kind == AwsErrorKind::NotFound {
                return Ok(None);
            }
            return Err(e.into());
        }
    };
    let version = policy
        .and_then(|p| p.default_version_id)
        .unwrap_or_default();
    let document = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&version)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetPolicyVersion", e))?
        .policy_version
        .and_then(|v| v.document)
        .and_then(|d| guardrails::parse_document(&d))
        // An unreadable document is drift like any other.
        .unwrap_or(Value::Null);
    Ok(Some(document))
}

/// Deletes the deny policy: detached from every group, user and role first (a budget
/// action that applied it, or the kill switch, may have left it attached), its older
/// versions deleted, then the policy. Absent when there is none.
#[tracing::instrument(skip_all)]
pub async fn delete_policy(service: &Service) -> Result<Done, Error> {
    let caller = service
        .guard("DeleteGuardrailPolicy", RootPolicy::Refuse)
        .await?;
    let arn = guardrails::deny_new_spend_arn(partition_of(&caller.arn), &caller.account);
    if current_document(service, &arn).await?.is_none() {
        return Ok(Done {
            arn,
            outcome: Outcome::Absent,
            changes: Vec::new(),
        });
    }
    let mut removed = delete_managed_policy(service, &arn).await?;
    removed.push(format!("policy {arn}"));
    tracing::info!(removed = removed.len(), "deny-new-spend policy deleted");
    Ok(Done {
        arn,
        outcome: Outcome::Deleted,
        changes: removed,
    })
}

/// Creates `Groundwork-BudgetsActionRole` under `/groundwork/` with the trust of AWS
/// Budgets for this account and the permissions `grants` need, or puts back whichever
/// of the two documents drifted.
#[tracing::instrument(skip_all, fields(groups = grants.groups.len(), users = grants.users.len(), stop = grants.stop.len()))]
pub async fn ensure_role(service: &Service, grants: RoleGrants) -> Result<Done, Error> {
    let caller = service
        .guard("EnsureBudgetsActionRole", RootPolicy::Refuse)
        .await?;
    let iam = &service.iam;
    let partition = partition_of(&caller.arn);
    let arn = guardrails::budgets_action_role_arn(partition, &caller.account);
    let trust = guardrails::budgets_trust_document(&caller.account);
    let permissions = guardrails::budgets_action_role_document(partition, &caller.account, &grants);
    let mut changes = Vec::new();
    let mut created = false;
    match iam
        .get_role()
        .role_name(guardrails::BUDGETS_ACTION_ROLE)
        .send()
        .await
    {
        Ok(out) => {
            let current = out
                .role
                .and_then(|r| r.assume_role_policy_document)
                .and_then(|d| guardrails::parse_document(&d));
            if current.as_ref() != Some(&trust) {
                iam.update_assume_role_policy()
                    .role_name(guardrails::BUDGETS_ACTION_ROLE)
                    .policy_document(trust.to_string())
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("UpdateAssumeRolePolicy", e))?;
                changes.push(format!("updated the trust policy of {arn}"));
            }
        }
        Err(e) => {
            let e = AwsError::from_sdk("GetRole", e);
            if e.kind != AwsErrorKind::NotFound {
                return Err(e.into());
            }
            iam.create_role()
                .role_name(guardrails::BUDGETS_ACTION_ROLE)
                .path(guardrails::GUARDRAILS_PATH)
                .assume_role_policy_document(trust.to_string())
                .description("Assumed by AWS Budgets to run Groundwork's budget actions")
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreateRole", e))?;
            created = true;
            changes.push(format!("created {arn}"));
        }
    }
    let current = match iam
        .get_role_policy()
        .role_name(guardrails::BUDGETS_ACTION_ROLE)
        .policy_name(guardrails::BUDGETS_ACTION_ROLE_POLICY)
        .send()
        .await
    {
        Ok(out) => guardrails::parse_document(&out.policy_document),
        Err(e) => {
            let e = AwsError::from_sdk("GetRolePolicy", e);
            if e.kind != AwsErrorKind::NotFound {
                return Err(e.into());
            }
            None
        }
    };
    if current.as_ref() != Some(&permissions) {
        iam.put_role_policy()
            .role_name(guardrails::BUDGETS_ACTION_ROLE)
            .policy_name(guardrails::BUDGETS_ACTION_ROLE_POLICY)
            .policy_document(permissions.to_string())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutRolePolicy", e))?;
        if !created {
            changes.push(format!(
                "updated the permissions ({}) of {arn}",
                guardrails::BUDGETS_ACTION_ROLE_POLICY
            ));
        }
    }
    let outcome = outcome(created, &changes);
    tracing::info!(?outcome, "budgets action role ensured");
    Ok(Done {
        arn,
        outcome,
        changes,
    })
}

/// The execution role as IAM has it: `None` when it does not exist, else its trust and
/// permissions documents (`Null` where unreadable or missing).
async fn describe_role(service: &Service) -> Result<Option<(Value, Value)>, Error> {
    let iam = &service.iam;
    let trust = match iam
        .get_role()
        .role_name(guardrails::BUDGETS_ACTION_ROLE)
        .send()
        .await
    {
        Ok(out) => out
            .role
            .and_then(|r| r.assume_role_policy_document)
            .and_then(|d| guardrails::parse_document(&d))
            .unwrap_or(Value::Null),
        Err(e) => {
            let e = AwsError::from_sdk("GetRole", e);
            if e.kind == AwsErrorKind::NotFound {
                return Ok(None);
            }
            return Err(e.into());
        }
    };
    let permissions = match iam
        .get_role_policy()
        .role_name(guardrails::BUDGETS_ACTION_ROLE)
        .policy_name(guardrails::BUDGETS_ACTION_ROLE_POLICY)
        .send()
        .await
    {
        Ok(out) => guardrails::parse_document(&out.policy_document).unwrap_or(Value::Null),
        Err(e) => {
            let e = AwsError::from_sdk("GetRolePolicy", e);
            if e.kind != AwsErrorKind::NotFound {
                return Err(e.into());
            }
            Value::Null
        }
    };
    Ok(Some((trust, permissions)))
}

/// Deletes the execution role: its inline policies, any managed policy someone attached,
/// then the role. Absent when there is none.
#[tracing::instrument(skip_all)]
pub async fn delete_role(service: &Service) -> Result<Done, Error> {
    let caller = service
        .guard("DeleteBudgetsActionRole", RootPolicy::Refuse)
        .await?;
    let iam = &service.iam;
    let arn = guardrails::budgets_action_role_arn(partition_of(&caller.arn), &caller.account);
    let role = guardrails::BUDGETS_ACTION_ROLE;
    let inline = match iam.list_role_policies().role_name(role).send().await {
        Ok(out) => out.policy_names,
        Err(e) => {
            let e = AwsError::from_sdk("ListRolePolicies", e);
            if e.kind == AwsErrorKind::NotFound {
                return Ok(Done {
                    arn,
                    outcome: Outcome::Absent,
                    changes: Vec::new(),
                });
            }
            return Err(e.into());
        }
    };
    let mut removed = Vec::new();
    for name in inline {
        iam.delete_role_policy()
            .role_name(role)
            .policy_name(&name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteRolePolicy", e))?;
        removed.push(format!("inline policy {name}"));
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListAttachedRolePolicies", e))?;
    for p in attached.attached_policies() {
        let policy = p.policy_arn().unwrap_or_default();
        iam.detach_role_policy()
            .role_name(role)
            .policy_arn(policy)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DetachRolePolicy", e))?;
        removed.push(format!("attachment of {policy}"));
    }
    if let Err(e) = iam.delete_role().role_name(role).send().await {
        let e = AwsError::from_sdk("DeleteRole", e);
        if e.kind != AwsErrorKind::NotFound {
            return Err(e.into());
        }
    }
    removed.push(format!("role {arn}"));
    tracing::info!(removed = removed.len(), "budgets action role deleted");
    Ok(Done {
        arn,
        outcome: Outcome::Deleted,
        changes: removed,
    })
}

/// The deny policy and the execution role compared with what they should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailsState {
    pub policy_arn: String,
    pub policy_exists: bool,
    pub policy_current: bool,
    pub role_arn: String,
    pub role_exists: bool,
    pub role_current: bool,
}

/// Reads both; changes nothing.
#[tracing::instrument(skip_all)]
pub async fn describe(service: &Service, grants: &RoleGrants) -> Result<GuardrailsState, Error> {
    let caller = service.caller().await?;
    let partition = partition_of(&caller.arn);
    let policy_arn = guardrails::deny_new_spend_arn(partition, &caller.account);
    let policy = current_document(service, &policy_arn).await?;
    let role = describe_role(service).await?;
    let role_current = role.as_ref().is_some_and(|(trust, permissions)| {
        *trust == guardrails::budgets_trust_document(&caller.account)
            && *permissions
                == guardrails::budgets_action_role_document(partition, &caller.account, grants)
    });
    Ok(GuardrailsState {
        policy_current: policy.as_ref() == Some(&guardrails::deny_new_spend_document()),
        policy_exists: policy.is_some(),
        policy_arn,
        role_arn: guardrails::budgets_action_role_arn(partition, &caller.account),
        role_exists: role.is_some(),
        role_current,
    })
}
