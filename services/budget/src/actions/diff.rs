//! Which live action is the declared one, and what differs: a pure comparison. A
//! difference is corrected by one UpdateBudgetAction carrying the whole declaration, never
//! by deleting and re-creating the action (which would lose its status and history, and
//! could run it again).

use std::collections::BTreeSet;

use super::{ActionSpec, LiveAction};
use crate::diff::Change;
use crate::domain::Subscriber;

/// What EnsureBudgetAction does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionPlan {
    /// No action of the budget acts on the same thing: CreateBudgetAction.
    Create,
    /// The action `id` acts on the same thing and differs: UpdateBudgetAction.
    Update { id: String, changes: Vec<Change> },
    /// The action `id` is as declared.
    Unchanged { id: String },
}

fn subscribers_text(s: &BTreeSet<Subscriber>) -> String {
    s.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The differences between the live spec and the declared one, field by field.
pub fn changes(live: &ActionSpec, wanted: &ActionSpec) -> Vec<Change> {
    let mut out = Vec::new();
    let mut differ = |field: &str, before: String, after: String| {
        if before != after {
            out.push(Change {
                field: field.to_owned(),
                before,
                after,
                action: "UpdateBudgetAction",
            });
        }
    };
    differ(
        "action_threshold",
        live.threshold_text(),
        wanted.threshold_text(),
    );
    differ(
        "notification_type",
        live.notification_type.as_str().to_owned(),
        wanted.notification_type.as_str().to_owned(),
    );
    differ(
        "approval_model",
        live.approval.as_str().to_owned(),
        wanted.approval.as_str().to_owned(),
    );
    differ(
        "definition",
        live.definition.to_string(),
        wanted.definition.to_string(),
    );
    differ(
        "execution_role_arn",
        live.execution_role_arn.clone(),
        wanted.execution_role_arn.clone(),
    );
    differ(
        "subscribers",
        subscribers_text(&live.subscribers),
        subscribers_text(&wanted.subscribers),
    );
    out
}

/// The plan for `wanted` given the budget's live actions: the first live action with the
/// same key is the declared one.
pub fn plan(live: &[LiveAction], wanted: &ActionSpec) -> ActionPlan {
    let key = wanted.key();
    match live.iter().find(|a| {
        a.spec.key() == key && a.spec.definition.action_type() == wanted.definition.action_type()
    }) {
        None => ActionPlan::Create,
        Some(found) => {
            let changes = changes(&found.spec, wanted);
            if changes.is_empty() {
                ActionPlan::Unchanged {
                    id: found.id.clone(),
                }
            } else {
                ActionPlan::Update {
                    id: found.id.clone(),
                    changes,
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
pub(crate) mod tests {
    use super::*;
    use crate::actions::{ApprovalModel, Definition, StopSubType};
    use crate::domain::{BudgetName, NotificationType, Threshold, ThresholdType};

    pub(crate) fn deny_action() -> ActionSpec {
        ActionSpec {
            budget: BudgetName::parse("spend", "b").unwrap(),
            notification_type: NotificationType::Actual,
            threshold_type: ThresholdType::Percentage,
            threshold: Threshold::from_aws(100.0),
            approval: ApprovalModel::Automatic,
            definition: Definition::ApplyIamPolicy {
                policy_arn: "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend"
                    .into(),
                groups: ["Admins".to_owned()].into(),
                users: BTreeSet::new(),
                roles: BTreeSet::new(),
            },
            execution_role_arn:
                "arn:aws:iam::123456789012:role/groundwork/Groundwork-BudgetsActionRole".into(),
            subscribers: [Subscriber::parse("EMAIL", "ops@example.com", "s").unwrap()].into(),
        }
    }

    fn live(id: &str, spec: ActionSpec) -> LiveAction {
        LiveAction {
            id: id.into(),
            status: "STANDBY".into(),
            spec,
        }
    }

    #[test]
    fn no_action_on_the_same_policy_is_a_create() {
        let mut other = deny_action();
        other.definition = Definition::StopInstances {
            sub_type: StopSubType::Ec2,
            region: "eu-west-1".into(),
            instance_ids: ["i-0123456789abcdef0".to_owned()].into(),
        };
        assert_eq!(
            plan(&[live("a", other)], &deny_action()),
            ActionPlan::Create
        );
        assert_eq!(plan(&[], &deny_action()), ActionPlan::Create);
    }

    #[test]
    fn the_same_action_is_unchanged() {
        assert_eq!(
            plan(&[live("a", deny_action())], &deny_action()),
            ActionPlan::Unchanged { id: "a".into() }
        );
    }

    #[test]
    fn each_drifted_field_is_one_change_and_one_update_in_place() {
        let mut drifted = deny_action();
        drifted.threshold = Threshold::from_aws(80.0);
        drifted.notification_type = NotificationType::Forecasted;
        drifted.approval = ApprovalModel::Manual;
        drifted.execution_role_arn = "arn:aws:iam::123456789012:role/Other".into();
        drifted.subscribers = [Subscriber::parse("EMAIL", "old@example.com", "s").unwrap()].into();
        if let Definition::ApplyIamPolicy { groups, .. } = &mut drifted.definition {
            groups.insert("Developers".into());
        }
        let ActionPlan::Update { id, changes } = plan(&[live("a", drifted)], &deny_action()) else {
            panic!("expected an update");
        };
        assert_eq!(id, "a");
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "action_threshold",
                "notification_type",
                "approval_model",
                "definition",
                "execution_role_arn",
                "subscribers"
            ]
        );
        assert_eq!(changes[0].before, "80 %");
        assert_eq!(changes[0].after, "100 %");
        assert!(changes.iter().all(|c| c.action == "UpdateBudgetAction"));
    }

    #[test]
    fn a_percentage_and_an_absolute_threshold_of_the_same_number_differ() {
        let mut absolute = deny_action();
        absolute.threshold_type = ThresholdType::AbsoluteValue;
        let ActionPlan::Update { changes, .. } = plan(&[live("a", absolute)], &deny_action())
        else {
            panic!("expected an update");
        };
        assert_eq!(changes[0].before, "100");
        assert_eq!(changes[0].after, "100 %");
    }

    #[test]
    fn stop_actions_are_known_by_kind_and_region() {
        let stop = |region: &str, ids: &[&str]| {
            let mut a = deny_action();
            a.definition = Definition::StopInstances {
                sub_type: StopSubType::Rds,
                region: region.into(),
                instance_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            };
            a
        };
        let live_actions = [
            live("west", stop("eu-west-1", &["orders-db"])),
            live("east", stop("us-east-1", &["orders-db"])),
        ];
        let ActionPlan::Update { id, changes } = plan(
            &live_actions,
            &stop("us-east-1", &["orders-db", "users-db"]),
        ) else {
            panic!("expected an update");
        };
        assert_eq!(id, "east");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "definition");
    }
}
