//! The role AWS Budgets assumes to run budget actions (identity), allowed exactly what the
//! spec's actions need.

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::budget_action::DENY_NEW_SPEND;
use groundwork_spec::resource::BudgetsActionRole;

use super::{Ctx, LiveCtx, Managed, Reads, failed, identity_outcome, outputs};
use crate::clients::{Clients, read_error};
use crate::error::Error;
use crate::runner::StepResult;

/// The grants the identity service asks for: `deny-new-spend` stands for Groundwork's
/// policy, whose ARN the identity service knows.
pub(crate) fn grants(role: &BudgetsActionRole) -> pb::BudgetsActionGrants {
    pb::BudgetsActionGrants {
        deny_new_spend: role.policies.iter().any(|p| p == DENY_NEW_SPEND),
        policy_arns: role
            .policies
            .iter()
            .filter(|p| *p != DENY_NEW_SPEND)
            .cloned()
            .collect(),
        group_names: role.groups.clone(),
        user_names: role.users.clone(),
        stop_instances: role
            .stop_instances
            .iter()
            .map(|s| pb::StopInstancesGrant {
                kind: s.kind.as_aws().into(),
                region: s.region.clone(),
                instance_ids: s.instance_ids.clone(),
            })
            .collect(),
    }
}

/// The deny policy and the role as IAM has them, compared with `grants`.
pub(crate) async fn describe(
    clients: &Clients,
    grants: pb::BudgetsActionGrants,
) -> Result<pb::DescribeGuardrailResourcesResponse, Error> {
    Ok(clients
        .identity
        .clone()
        .describe_guardrail_resources(pb::DescribeGuardrailResourcesRequest {
            grants: Some(grants),
        })
        .await
        .map_err(|e| read_error("identity DescribeGuardrailResources", &e))?
        .into_inner())
}

impl Managed for BudgetsActionRole {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        match cx
            .clients
            .identity
            .clone()
            .ensure_budgets_action_role(pb::EnsureBudgetsActionRoleRequest {
                grants: Some(grants(self)),
            })
            .await
        {
            Ok(resp) => {
                let resp = resp.into_inner();
                StepResult::done(
                    identity_outcome(resp.outcome()),
                    outputs([("role_arn", resp.arn)]),
                )
            }
            Err(e) => failed("EnsureBudgetsActionRole", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match clients
            .identity
            .clone()
            .delete_budgets_action_role(pb::DeleteBudgetsActionRoleRequest {})
            .await
        {
            Ok(resp) => {
                StepResult::done(identity_outcome(resp.get_ref().outcome()), BTreeMap::new())
            }
            Err(e) => failed("DeleteBudgetsActionRole", &e),
        }
    }

    /// In place when the role exists; `current` says whether its trust and permissions
    /// are exactly what these grants need.
    async fn read_live(&self, cx: LiveCtx<'_>, _reads: &mut Reads) -> Result<Option<Self>, Error> {
        let state = describe(cx.clients, grants(self)).await?;
        Ok(state.role_exists.then(|| BudgetsActionRole {
            current: state.role_current,
            ..self.clone()
        }))
    }
}
