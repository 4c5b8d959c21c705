//! AWS Budgets' action calls, and the conversion between the SDK's types and the domain's:
//! CreateBudgetAction, DescribeBudgetActionsForBudget, UpdateBudgetAction,
//! DeleteBudgetAction, ExecuteBudgetAction. Budgets live in us-east-1 (the client is
//! pinned there by [`crate::aws::AwsClients`]).

use std::collections::BTreeSet;

use aws_sdk_budgets::types as sdk;
use groundwork_cloud::{AwsError, AwsErrorKind};

use super::{ActionSpec, ApprovalModel, Definition, LiveAction, StopSubType};
use crate::aws::{BudgetsApi, subscriber_to_sdk};
use crate::domain::{BudgetName, NotificationType, Subscriber, Threshold, ThresholdType};
use crate::error::Error;

fn build_error(e: aws_smithy_types::error::operation::BuildError) -> Error {
    Error::internal(format!("cannot build an AWS Budgets action request: {e}"))
}

/// What a person asks of an action (ExecuteBudgetAction's `ExecutionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// Run a MANUAL action that is waiting (status PENDING).
    Approve,
    /// Undo what the action did (detach the policy, start the instances again).
    Reverse,
    /// Put the action back to STANDBY so that it can run again this period.
    Reset,
    /// Try a failed execution again.
    Retry,
}

impl Execution {
    pub fn parse(text: &str, field: &str) -> Result<Self, crate::domain::InvalidField> {
        match text {
            "APPROVE_BUDGET_ACTION" => Ok(Self::Approve),
            "REVERSE_BUDGET_ACTION" => Ok(Self::Reverse),
            "RESET_BUDGET_ACTION" => Ok(Self::Reset),
            "RETRY_BUDGET_ACTION" => Ok(Self::Retry),
            other => Err(crate::domain::InvalidField::new(
                field,
                format!(
                    "'{other}' is not an execution type; use APPROVE_BUDGET_ACTION, REVERSE_BUDGET_ACTION, RESET_BUDGET_ACTION or RETRY_BUDGET_ACTION"
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "APPROVE_BUDGET_ACTION",
            Self::Reverse => "REVERSE_BUDGET_ACTION",
            Self::Reset => "RESET_BUDGET_ACTION",
            Self::Retry => "RETRY_BUDGET_ACTION",
        }
    }
}

/// The SDK's `Definition` for a declared one.
pub fn definition_to_sdk(d: &Definition) -> Result<sdk::Definition, Error> {
    let list = |s: &BTreeSet<String>| (!s.is_empty()).then(|| s.iter().cloned().collect());
    Ok(match d {
        Definition::ApplyIamPolicy {
            policy_arn,
            groups,
            users,
            roles,
        } => sdk::Definition::builder()
            .iam_action_definition(
                sdk::IamActionDefinition::builder()
                    .policy_arn(policy_arn)
                    .set_groups(list(groups))
                    .set_users(list(users))
                    .set_roles(list(roles))
                    .build()
                    .map_err(build_error)?,
            )
            .build(),
        Definition::StopInstances {
            sub_type,
            region,
            instance_ids,
        } => sdk::Definition::builder()
            .ssm_action_definition(
                sdk::SsmActionDefinition::builder()
                    .action_sub_type(sdk::ActionSubType::from(sub_type.as_str()))
                    .region(region)
                    .set_instance_ids(Some(instance_ids.iter().cloned().collect()))
                    .build()
                    .map_err(build_error)?,
            )
            .build(),
    })
}

/// The SDK's `ActionThreshold` for a declared threshold.
pub fn threshold_to_sdk(spec: &ActionSpec) -> Result<sdk::ActionThreshold, Error> {
    sdk::ActionThreshold::builder()
        .action_threshold_value(spec.threshold.value())
        .action_threshold_type(sdk::ThresholdType::from(spec.threshold_type.as_str()))
        .build()
        .map_err(build_error)
}

fn subscribers_to_sdk(spec: &ActionSpec) -> Result<Vec<sdk::Subscriber>, Error> {
    spec.subscribers.iter().map(subscriber_to_sdk).collect()
}

/// An action as AWS reports it; `None` for kinds Groundwork does not declare
/// (`APPLY_SCP_POLICY`, or a definition it cannot read).
pub fn action_from_sdk(a: &sdk::Action) -> Option<LiveAction> {
    let definition = a.definition.as_ref()?;
    let definition = match a.action_type {
        sdk::ActionType::Iam => {
            let iam = definition.iam_action_definition.as_ref()?;
            let set = |v: &Option<Vec<String>>| -> BTreeSet<String> {
                v.iter().flatten().cloned().collect()
            };
            Definition::ApplyIamPolicy {
                policy_arn: iam.policy_arn.clone(),
                groups: set(&iam.groups),
                users: set(&iam.users),
                roles: set(&iam.roles),
            }
        }
        sdk::ActionType::Ssm => {
            let ssm = definition.ssm_action_definition.as_ref()?;
            Definition::StopInstances {
                sub_type: match ssm.action_sub_type {
                    sdk::ActionSubType::StopEc2 => StopSubType::Ec2,
                    sdk::ActionSubType::StopRds => StopSubType::Rds,
                    _ => return None,
                },
                region: ssm.region.clone(),
                instance_ids: ssm.instance_ids.iter().cloned().collect(),
            }
        }
        _ => return None,
    };
    let threshold = a.action_threshold.as_ref()?;
    Some(LiveAction {
        id: a.action_id.clone(),
        status: a.status.as_str().to_owned(),
        spec: ActionSpec {
            budget: BudgetName::from_aws(&a.budget_name),
            notification_type: match a.notification_type {
                sdk::NotificationType::Forecasted => NotificationType::Forecasted,
                _ => NotificationType::Actual,
            },
            threshold_type: match threshold.action_threshold_type {
                sdk::ThresholdType::AbsoluteValue => ThresholdType::AbsoluteValue,
                _ => ThresholdType::Percentage,
            },
            threshold: Threshold::from_aws(threshold.action_threshold_value),
            approval: match a.approval_model {
                sdk::ApprovalModel::Manual => ApprovalModel::Manual,
                _ => ApprovalModel::Automatic,
            },
            definition,
            execution_role_arn: a.execution_role_arn.clone(),
            subscribers: a
                .subscribers
                .iter()
                .map(|s| Subscriber::from_aws(s.subscription_type.as_str(), &s.address))
                .collect(),
        },
    })
}

impl BudgetsApi {
    /// Every action of a budget Groundwork can declare. NOT_FOUND when the budget does not
    /// exist.
    pub async fn actions(&self, name: &BudgetName) -> Result<Vec<LiveAction>, Error> {
        let account = self.account().await?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .clients()
                .budgets
                .describe_budget_actions_for_budget()
                .account_id(&account)
                .budget_name(name.as_str())
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeBudgetActionsForBudget", e))
                .map_err(|e| not_found_budget(e, name))?;
            out.extend(page.actions().iter().filter_map(action_from_sdk));
            match page.next_token {
                Some(t) if !t.is_empty() && Some(&t) != token.as_ref() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Creates the action; returns its id.
    pub async fn create_action(&self, spec: &ActionSpec) -> Result<String, Error> {
        let account = self.account().await?;
        let out = self
            .clients()
            .budgets
            .create_budget_action()
            .account_id(&account)
            .budget_name(spec.budget.as_str())
            .notification_type(sdk::NotificationType::from(spec.notification_type.as_str()))
            .action_type(sdk::ActionType::from(spec.definition.action_type()))
            .action_threshold(threshold_to_sdk(spec)?)
            .definition(definition_to_sdk(&spec.definition)?)
            .execution_role_arn(&spec.execution_role_arn)
            .approval_model(sdk::ApprovalModel::from(spec.approval.as_str()))
            .set_subscribers(Some(subscribers_to_sdk(spec)?))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateBudgetAction", e))
            .map_err(|e| not_found_budget(e, &spec.budget))?;
        Ok(out.action_id)
    }

    /// Brings the action `id` to `spec` in place (every field but its type).
    pub async fn update_action(&self, id: &str, spec: &ActionSpec) -> Result<(), Error> {
        let account = self.account().await?;
        self.clients()
            .budgets
            .update_budget_action()
            .account_id(&account)
            .budget_name(spec.budget.as_str())
            .action_id(id)
            .notification_type(sdk::NotificationType::from(spec.notification_type.as_str()))
            .action_threshold(threshold_to_sdk(spec)?)
            .definition(definition_to_sdk(&spec.definition)?)
            .execution_role_arn(&spec.execution_role_arn)
            .approval_model(sdk::ApprovalModel::from(spec.approval.as_str()))
            .set_subscribers(Some(subscribers_to_sdk(spec)?))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateBudgetAction", e))?;
        Ok(())
    }

    /// Deletes the action; `Ok(false)` when there was no such action.
    pub async fn delete_action(&self, name: &BudgetName, id: &str) -> Result<bool, Error> {
        let account = self.account().await?;
        match self
            .clients()
            .budgets
            .delete_budget_action()
            .account_id(&account)
            .budget_name(name.as_str())
            .action_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = AwsError::from_sdk("DeleteBudgetAction", e);
                if e.kind == AwsErrorKind::NotFound {
                    Ok(false)
                } else {
                    Err(e.into())
                }
            }
        }
    }

    /// Approves, reverses, resets or retries the action `id`.
    pub async fn execute_action(
        &self,
        name: &BudgetName,
        id: &str,
        execution: Execution,
    ) -> Result<(), Error> {
        let account = self.account().await?;
        self.clients()
            .budgets
            .execute_budget_action()
            .account_id(&account)
            .budget_name(name.as_str())
            .action_id(id)
            .execution_type(sdk::ExecutionType::from(execution.as_str()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ExecuteBudgetAction", e))?;
        Ok(())
    }
}

/// A missing budget named in the error, so that a person knows what to create first.
fn not_found_budget(e: AwsError, name: &BudgetName) -> Error {
    if e.kind == AwsErrorKind::NotFound {
        Error::not_found(format!(
            "budget {name} does not exist in this account; create it first (EnsureBudget)"
        ))
    } else {
        e.into()
    }
}
