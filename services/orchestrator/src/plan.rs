//! The plan: for each resource, what an apply would do — create it, update the fields that
//! differ, leave it unchanged, or delete it (it was applied before and left the spec).
//! A pure comparison of desired fields with the live fields the services read.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resource::{Kind, Resource, ResourceId};

/// What an apply does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Unchanged => "unchanged",
            Self::Delete => "delete",
        }
    }
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The change to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub id: ResourceId,
    pub kind: Kind,
    pub action: Action,
    pub fields: Vec<FieldChange>,
}

/// The whole plan, in spec order, deletions last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<ResourceChange>,
}

impl Plan {
    /// Whether applying would change nothing.
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Unchanged)
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

pub use crate::resource::LiveState;

/// Compares `desired` with `live`. `previously_applied` are resources an earlier apply
/// created: those that exist live but left the spec are planned for deletion.
pub fn diff(desired: &[Resource], live: &LiveState, previously_applied: &[Resource]) -> Plan {
    let mut changes: Vec<ResourceChange> = desired
        .iter()
        .map(|r| match live.get(&r.id) {
            None => ResourceChange {
                id: r.id.clone(),
                kind: r.kind(),
                action: Action::Create,
                fields: r
                    .fields()
                    .into_iter()
                    .map(|(k, v)| FieldChange {
                        field: k,
                        before: None,
                        after: Some(v),
                    })
                    .collect(),
            },
            Some(fields) => {
                let differing: Vec<FieldChange> = r
                    .fields()
                    .into_iter()
                    .filter(|(k, v)| fields.get(k) != Some(v))
                    .map(|(k, v)| FieldChange {
                        before: fields.get(&k).cloned(),
                        field: k,
                        after: Some(v),
                    })
                    .collect();
                ResourceChange {
                    id: r.id.clone(),
                    kind: r.kind(),
                    action: if differing.is_empty() {
                        Action::Unchanged
                    } else {
                        Action::Update
                    },
                    fields: differing,
                }
            }
        })
        .collect();
    for old in previously_applied {
        let still_wanted = desired.iter().any(|r| r.id == old.id);
        if !still_wanted && old.kind().destroyable() && live.contains_key(&old.id) {
            changes.push(ResourceChange {
                id: old.id.clone(),
                kind: old.kind(),
                action: Action::Delete,
                fields: Vec::new(),
            });
        }
    }
    Plan { changes }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resource::{Desired, Fields};

    /// A budget resource: the fields given over a minimal budget.
    fn resource(id: &str, fields: Value) -> Resource {
        let mut state = json!({
            "name": "b", "kind": "spend", "limit_usd": "1", "thresholds_percent": [],
            "notify_on": [], "emails": [], "sns_topic": ""
        });
        if let (Some(state), Value::Object(given)) = (state.as_object_mut(), fields) {
            state.extend(given);
        }
        Resource {
            id: ResourceId(id.into()),
            desired: Desired::Budget(serde_json::from_value(state).unwrap()),
            depends_on: vec![],
        }
    }

    /// Live fields: the resource's own, changed by `fields`.
    fn live_of(r: &Resource, fields: Value) -> Fields {
        let mut live = r.fields();
        if let Value::Object(given) = fields {
            live.extend(given);
        }
        live
    }

    #[test]
    fn a_missing_resource_is_created_with_every_field() {
        let plan = diff(
            &[resource("budget/b", json!({"limit_usd": "20"}))],
            &LiveState::new(),
            &[],
        );
        assert_eq!(plan.changes[0].action, Action::Create);
        let limit = plan.changes[0]
            .fields
            .iter()
            .find(|f| f.field == "limit_usd");
        assert_eq!(limit.unwrap().after, Some(json!("20")));
        assert_eq!(plan.changes[0].fields.len(), 8, "every field of a budget");
        assert!(!plan.is_noop());
    }

    #[test]
    fn only_differing_fields_make_an_update() {
        let want = resource("budget/b", json!({"limit_usd": "20", "emails": ["a@x.io"]}));
        let live = LiveState::from([(
            want.id.clone(),
            live_of(
                &want,
                json!({"limit_usd": "10", "emails": ["a@x.io"], "extra": 1}),
            ),
        )]);
        let plan = diff(std::slice::from_ref(&want), &live, &[]);
        assert_eq!(plan.changes[0].action, Action::Update);
        assert_eq!(
            plan.changes[0].fields,
            vec![FieldChange {
                field: "limit_usd".into(),
                before: Some(json!("10")),
                after: Some(json!("20")),
            }]
        );
    }

    #[test]
    fn equal_fields_are_unchanged_and_extra_live_fields_do_not_count() {
        let want = resource("budget/b", json!({"limit_usd": "20"}));
        let live = LiveState::from([(want.id.clone(), live_of(&want, json!({"arn": "x"})))]);
        let plan = diff(&[want], &live, &[]);
        assert!(plan.is_noop());
        assert_eq!(plan.count(Action::Unchanged), 1);
    }

    #[test]
    fn a_resource_that_left_the_spec_is_deleted_if_it_still_exists() {
        let gone = resource("budget/old", json!({}));
        let also_gone = resource("budget/vanished", json!({}));
        let live = LiveState::from([(gone.id.clone(), Fields::new())]);
        let plan = diff(&[], &live, &[gone, also_gone]);
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].action, Action::Delete);
        assert_eq!(plan.changes[0].id.as_str(), "budget/old");
    }
}
