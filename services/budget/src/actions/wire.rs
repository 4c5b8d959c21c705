//! Budget action messages to domain types (validated at the edge, errors naming the
//! request field) and back.

use std::collections::BTreeSet;

use groundwork_proto::v1 as pb;

use super::{ActionSpec, ApprovalModel, Definition, LiveAction, StopSubType};
use crate::domain::{BudgetName, InvalidField, NotificationType, Subscriber, ThresholdType};

/// Validates a declared action; `field` is its path in the request (`action`).
pub fn action_from_pb(
    def: &pb::BudgetActionDefinition,
    field: &str,
) -> Result<ActionSpec, InvalidField> {
    let budget = BudgetName::parse(&def.budget_name, &format!("{field}.budget_name"))?;
    let notification_type = NotificationType::parse(
        &def.notification_type,
        &format!("{field}.notification_type"),
    )?;
    let threshold_type = ThresholdType::parse(
        &def.action_threshold_type,
        &format!("{field}.action_threshold_type"),
    )?;
    let threshold = super::threshold(
        def.action_threshold_value,
        threshold_type,
        &format!("{field}.action_threshold_value"),
    )?;
    let approval = ApprovalModel::parse(&def.approval_model, &format!("{field}.approval_model"))?;
    let definition = match (&def.iam_action_definition, &def.ssm_action_definition) {
        (Some(iam), None) => {
            let at = format!("{field}.iam_action_definition");
            let policy_arn = super::policy_arn(&iam.policy_arn, &format!("{at}.policy_arn"))?;
            let groups = super::principals(&iam.groups, 128, &format!("{at}.groups"))?;
            let users = super::principals(&iam.users, 64, &format!("{at}.users"))?;
            let roles = super::principals(&iam.roles, 64, &format!("{at}.roles"))?;
            if groups.is_empty() && users.is_empty() && roles.is_empty() {
                return Err(InvalidField::new(
                    at,
                    "name at least one group, user or role to apply the policy to",
                ));
            }
            Definition::ApplyIamPolicy {
                policy_arn,
                groups,
                users,
                roles,
            }
        }
        (None, Some(ssm)) => {
            let at = format!("{field}.ssm_action_definition");
            let sub_type =
                StopSubType::parse(&ssm.action_sub_type, &format!("{at}.action_sub_type"))?;
            Definition::StopInstances {
                sub_type,
                region: super::region(&ssm.region, &format!("{at}.region"))?,
                instance_ids: super::instance_ids(
                    &ssm.instance_ids,
                    sub_type,
                    &format!("{at}.instance_ids"),
                )?,
            }
        }
        _ => {
            return Err(InvalidField::new(
                format!("{field}.iam_action_definition"),
                "give exactly one of iam_action_definition (apply a policy) and ssm_action_definition (stop instances)",
            ));
        }
    };
    let execution_role_arn = super::role_arn(
        &def.execution_role_arn,
        &format!("{field}.execution_role_arn"),
    )?;
    let mut subscribers = BTreeSet::new();
    for (i, s) in def.subscribers.iter().enumerate() {
        subscribers.insert(Subscriber::parse(
            &s.subscription_type,
            &s.address,
            &format!("{field}.subscribers[{i}]"),
        )?);
    }
    let subscribers = super::subscribers(subscribers, &format!("{field}.subscribers"))?;
    Ok(ActionSpec {
        budget,
        notification_type,
        threshold_type,
        threshold,
        approval,
        definition,
        execution_role_arn,
        subscribers,
    })
}

/// A spec on the wire.
pub fn action_to_pb(spec: &ActionSpec) -> pb::BudgetActionDefinition {
    let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
    let (iam, ssm) = match &spec.definition {
        Definition::ApplyIamPolicy {
            policy_arn,
            groups,
            users,
            roles,
        } => (
            Some(pb::IamActionDefinition {
                policy_arn: policy_arn.clone(),
                groups: list(groups),
                users: list(users),
                roles: list(roles),
            }),
            None,
        ),
        Definition::StopInstances {
            sub_type,
            region,
            instance_ids,
        } => (
            None,
            Some(pb::SsmActionDefinition {
                action_sub_type: sub_type.as_str().to_owned(),
                region: region.clone(),
                instance_ids: list(instance_ids),
            }),
        ),
    };
    pb::BudgetActionDefinition {
        budget_name: spec.budget.as_str().to_owned(),
        notification_type: spec.notification_type.as_str().to_owned(),
        action_threshold_value: spec.threshold.value(),
        action_threshold_type: spec.threshold_type.as_str().to_owned(),
        approval_model: spec.approval.as_str().to_owned(),
        iam_action_definition: iam,
        ssm_action_definition: ssm,
        execution_role_arn: spec.execution_role_arn.clone(),
        subscribers: spec
            .subscribers
            .iter()
            .map(|s| pb::Subscriber {
                subscription_type: s.kind().to_owned(),
                address: s.address().to_owned(),
            })
            .collect(),
    }
}

/// A live action on the wire.
pub fn live_to_pb(action: &LiveAction) -> pb::BudgetActionView {
    pb::BudgetActionView {
        action_id: action.id.clone(),
        definition: Some(action_to_pb(&action.spec)),
        status: action.status.clone(),
    }
}
