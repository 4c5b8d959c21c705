//! An AWS Budgets action of a budget (budget): the deny policy on the admin group, or
//! stopping instances, when the budget crosses a threshold. AWS gives an action an id,
//! not a name: within its budget the action is the one that applies the same policy, or
//! stops the same kind of instances in the same region.

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::NotifyOn;
use groundwork_spec::budget_action::{Approval, DENY_NEW_SPEND, InstanceKind};
use groundwork_spec::resource::{
    BUDGETS_ACTION_ROLE_NAME, BudgetAction, GUARDRAIL_POLICY_NAME, Kind, ResourceId, StopInstances,
};

use super::{Ctx, LiveCtx, Managed, Reads, failed, outputs, usd_text};
use crate::clients::{Clients, read_error};
use crate::error::Error;
use crate::runner::StepResult;

/// The end of the deny policy's ARN, whatever the account.
fn deny_policy_suffix() -> String {
    format!(":policy/groundwork/{GUARDRAIL_POLICY_NAME}")
}

/// Whether the live action `found` is the one `this` declares.
fn is_this(this: &BudgetAction, found: &pb::BudgetActionDefinition) -> bool {
    match (
        &this.stop_instances,
        &found.iam_action_definition,
        &found.ssm_action_definition,
    ) {
        (None, Some(iam), None) => {
            if this.apply_policy == DENY_NEW_SPEND {
                iam.policy_arn.ends_with(&deny_policy_suffix())
            } else {
                iam.policy_arn == this.apply_policy
            }
        }
        (Some(stop), None, Some(ssm)) => {
            ssm.action_sub_type == stop.kind.sub_type() && ssm.region == stop.region
        }
        _ => false,
    }
}

/// A live action in the spec's terms.
fn from_live(this: &BudgetAction, found: &pb::BudgetActionDefinition) -> BudgetAction {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (apply_policy, to_groups, to_users) = match &found.iam_action_definition {
        Some(iam) => (
            if iam.policy_arn.ends_with(&deny_policy_suffix()) {
                DENY_NEW_SPEND.to_owned()
            } else {
                iam.policy_arn.clone()
            },
            sorted(&iam.groups),
            sorted(&iam.users),
        ),
        None => (String::new(), Vec::new(), Vec::new()),
    };
    let stop_instances = found
        .ssm_action_definition
        .as_ref()
        .map(|ssm| StopInstances {
            kind: if ssm.action_sub_type == InstanceKind::Rds.sub_type() {
                InstanceKind::Rds
            } else {
                InstanceKind::Ec2
            },
            region: ssm.region.clone(),
            instance_ids: sorted(&ssm.instance_ids),
        });
    let emails: Vec<String> = found
        .subscribers
        .iter()
        .filter(|s| s.subscription_type == "EMAIL")
        .map(|s| s.address.clone())
        .collect();
    BudgetAction {
        budget: this.budget.clone(),
        threshold: usd_text(found.action_threshold_value),
        threshold_type: if found.action_threshold_type == "ABSOLUTE_VALUE" {
            "usd"
        } else {
            "percent"
        }
        .into(),
        notify_on: if found.notification_type == "FORECASTED" {
            NotifyOn::Forecasted
        } else {
            NotifyOn::Actual
        },
        approval: if found.approval_model == "MANUAL" {
            Approval::Manual
        } else {
            Approval::Automatic
        },
        apply_policy,
        to_groups,
        to_users,
        stop_instances,
        execution_role: found
            .execution_role_arn
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        emails: sorted(&emails),
    }
}

/// The request, with the ARNs of the policy and the role from their steps in this run.
fn request(this: &ActionArns<'_>) -> pb::BudgetActionDefinition {
    let a = this.action;
    let (iam, ssm) = match &a.stop_instances {
        None => (
            Some(pb::IamActionDefinition {
                policy_arn: this.policy_arn.to_owned(),
                groups: a.to_groups.clone(),
                users: a.to_users.clone(),
                roles: Vec::new(),
            }),
            None,
        ),
        Some(stop) => (
            None,
            Some(pb::SsmActionDefinition {
                action_sub_type: stop.kind.sub_type().into(),
                region: stop.region.clone(),
                instance_ids: stop.instance_ids.clone(),
            }),
        ),
    };
    pb::BudgetActionDefinition {
        budget_name: a.budget.clone(),
        notification_type: match a.notify_on {
            NotifyOn::Actual => "ACTUAL",
            NotifyOn::Forecasted => "FORECASTED",
        }
        .into(),
        action_threshold_value: a.threshold.parse().unwrap_or(0.0),
        action_threshold_type: if a.threshold_type == "usd" {
            "ABSOLUTE_VALUE"
        } else {
            "PERCENTAGE"
        }
        .into(),
        approval_model: a.approval.as_aws().into(),
        iam_action_definition: iam,
        ssm_action_definition: ssm,
        execution_role_arn: this.role_arn.to_owned(),
        subscribers: a
            .emails
            .iter()
            .map(|e| pb::Subscriber {
                subscription_type: "EMAIL".into(),
                address: e.clone(),
            })
            .collect(),
    }
}

/// An action with the ARNs its request needs.
struct ActionArns<'a> {
    action: &'a BudgetAction,
    policy_arn: &'a str,
    role_arn: &'a str,
}

/// The budget's actions; `None` when the budget does not exist.
async fn live_actions(
    clients: &Clients,
    budget: &str,
) -> Result<Option<Vec<pb::BudgetActionView>>, tonic::Status> {
    match clients
        .budget
        .clone()
        .list_budget_actions(pb::ListBudgetActionsRequest {
            budget_name: budget.to_owned(),
        })
        .await
    {
        Ok(resp) => Ok(Some(resp.into_inner().actions)),
        Err(e) if e.code() == tonic::Code::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Managed for BudgetAction {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        let output_of = |kind: Kind, name: &str, key: &str| {
            cx.run
                .step(&ResourceId::new(kind, name))
                .and_then(|st| st.outputs.get(key).cloned())
                .unwrap_or_default()
        };
        let policy_arn = if self.stop_instances.is_some() {
            String::new()
        } else if self.apply_policy == DENY_NEW_SPEND {
            output_of(Kind::GuardrailPolicy, GUARDRAIL_POLICY_NAME, "policy_arn")
        } else {
            self.apply_policy.clone()
        };
        let role_arn = output_of(
            Kind::BudgetsActionRole,
            BUDGETS_ACTION_ROLE_NAME,
            "role_arn",
        );
        if role_arn.is_empty() || (self.stop_instances.is_none() && policy_arn.is_empty()) {
            return StepResult::failed(
                "the execution role or the deny policy step of this run gave no ARN; apply the whole spec".to_owned(),
                false,
            );
        }
        let definition = request(&ActionArns {
            action: self,
            policy_arn: &policy_arn,
            role_arn: &role_arn,
        });
        match cx
            .clients
            .budget
            .clone()
            .ensure_budget_action(pb::EnsureBudgetActionRequest {
                action: Some(definition),
                dry_run: false,
            })
            .await
        {
            Ok(resp) => {
                let resp = resp.into_inner();
                let id = resp.action.map(|a| a.action_id).unwrap_or_default();
                StepResult::done(&resp.outcome.to_lowercase(), outputs([("action_id", id)]))
            }
            Err(e) => failed("EnsureBudgetAction", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        let actions = match live_actions(clients, &self.budget).await {
            Ok(Some(actions)) => actions,
            Ok(None) => return StepResult::done("absent", BTreeMap::new()),
            Err(e) => return failed("ListBudgetActions", &e),
        };
        let Some(found) = actions
            .iter()
            .find(|a| a.definition.as_ref().is_some_and(|d| is_this(self, d)))
        else {
            return StepResult::done("absent", BTreeMap::new());
        };
        match clients
            .budget
            .clone()
            .delete_budget_action(pb::DeleteBudgetActionRequest {
                budget_name: self.budget.clone(),
                action_id: found.action_id.clone(),
            })
            .await
        {
            Ok(resp) => {
                StepResult::done(&resp.into_inner().outcome.to_lowercase(), BTreeMap::new())
            }
            Err(e) => failed("DeleteBudgetAction", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, _reads: &mut Reads) -> Result<Option<Self>, Error> {
        let actions = live_actions(cx.clients, &self.budget)
            .await
            .map_err(|e| read_error("budget ListBudgetActions", &e))?;
        Ok(actions.and_then(|actions| {
            actions
                .iter()
                .filter_map(|a| a.definition.as_ref())
                .find(|d| is_this(self, d))
                .map(|d| from_live(self, d))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny() -> BudgetAction {
        BudgetAction {
            budget: "monthly-spend".into(),
            threshold: "100".into(),
            threshold_type: "percent".into(),
            notify_on: NotifyOn::Actual,
            approval: Approval::Automatic,
            apply_policy: DENY_NEW_SPEND.into(),
            to_groups: vec!["Admins".into()],
            to_users: vec![],
            stop_instances: None,
            execution_role: BUDGETS_ACTION_ROLE_NAME.into(),
            emails: vec!["ops@example.com".into()],
        }
    }

    #[test]
    fn the_request_read_back_is_the_declared_action() {
        let policy = "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend";
        let role = "arn:aws:iam::123456789012:role/groundwork/Groundwork-BudgetsActionRole";
        let this = deny();
        let sent = request(&ActionArns {
            action: &this,
            policy_arn: policy,
            role_arn: role,
        });
        assert_eq!(sent.action_threshold_type, "PERCENTAGE");
        assert_eq!(sent.approval_model, "AUTOMATIC");
        assert!(is_this(&this, &sent));
        assert_eq!(from_live(&this, &sent), this);

        let mut stop = deny();
        stop.apply_policy = String::new();
        stop.to_groups = vec![];
        stop.threshold = "50".into();
        stop.threshold_type = "usd".into();
        stop.approval = Approval::Manual;
        stop.stop_instances = Some(StopInstances {
            kind: InstanceKind::Rds,
            region: "eu-west-1".into(),
            instance_ids: vec!["orders-db".into()],
        });
        let sent = request(&ActionArns {
            action: &stop,
            policy_arn: "",
            role_arn: role,
        });
        assert_eq!(sent.action_threshold_type, "ABSOLUTE_VALUE");
        assert!(sent.iam_action_definition.is_none());
        assert!(is_this(&stop, &sent));
        assert!(!is_this(&this, &sent));
        assert_eq!(from_live(&stop, &sent), stop);
    }

    #[test]
    fn drift_in_place_shows_in_the_spec_terms() {
        let this = deny();
        let mut found = request(&ActionArns {
            action: &this,
            policy_arn: "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend",
            role_arn: "arn:aws:iam::123456789012:role/groundwork/Groundwork-BudgetsActionRole",
        });
        found.action_threshold_value = 80.0;
        found.approval_model = "MANUAL".into();
        let live = from_live(&this, &found);
        assert_eq!(live.threshold, "80");
        assert_eq!(live.approval, Approval::Manual);
        assert_ne!(live, this);
    }
}
