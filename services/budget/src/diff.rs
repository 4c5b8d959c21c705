//! The plan that brings a budget in AWS to the declared one: a pure comparison that lists
//! what differs and the AWS calls that correct it in place. Never a delete and re-create
//! of the budget (which loses its history and breaks tools that watch it).

use std::collections::BTreeSet;
use std::fmt;

use crate::domain::{BudgetSpec, NotificationKey, NotificationSpec, Subscriber, Window};

/// One AWS call of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// UpdateBudget with the declared limit, time unit, filter and window.
    UpdateBudget,
    UpdateNotification {
        old: NotificationKey,
        new: NotificationKey,
    },
    CreateSubscriber {
        key: NotificationKey,
        subscriber: Subscriber,
    },
    DeleteSubscriber {
        key: NotificationKey,
        subscriber: Subscriber,
    },
    DeleteNotification {
        key: NotificationKey,
    },
    CreateNotification {
        key: NotificationKey,
        subscribers: BTreeSet<Subscriber>,
    },
}

impl Step {
    pub fn action(&self) -> &'static str {
        match self {
            Self::UpdateBudget => "UpdateBudget",
            Self::UpdateNotification { .. } => "UpdateNotification",
            Self::CreateSubscriber { .. } => "CreateSubscriber",
            Self::DeleteSubscriber { .. } => "DeleteSubscriber",
            Self::DeleteNotification { .. } => "DeleteNotification",
            Self::CreateNotification { .. } => "CreateNotification",
        }
    }
}

/// A difference between AWS and the declaration, for people and events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub field: String,
    pub before: String,
    pub after: String,
    pub action: &'static str,
}

/// What to do, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub changes: Vec<Change>,
    /// Whether subscribers could be compared (see `Settings::read_subscribers`).
    pub subscribers_unverified: bool,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

fn show<T: fmt::Display>(v: Option<&T>) -> String {
    v.map(ToString::to_string).unwrap_or_default()
}

fn show_window(w: Option<Window>) -> String {
    match w {
        None => String::new(),
        Some(w) => format!(
            "{} .. {}",
            w.start
                .map(|t| t.unix_timestamp().to_string())
                .unwrap_or_default(),
            w.end
                .map(|t| t.unix_timestamp().to_string())
                .unwrap_or_default()
        ),
    }
}

fn show_subscribers(s: &BTreeSet<Subscriber>) -> String {
    s.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the window AWS applies satisfies the declared one (only declared ends count).
fn window_matches(actual: Option<Window>, desired: Option<Window>) -> bool {
    let Some(d) = desired else { return true };
    let a = actual.unwrap_or(Window {
        start: None,
        end: None,
    });
    d.start.is_none_or(|s| a.start == Some(s)) && d.end.is_none_or(|e| a.end == Some(e))
}

/// Compares AWS's budget with the declared one.
pub fn plan(actual: &BudgetSpec, desired: &BudgetSpec) -> Plan {
    let mut plan = Plan::default();
    let mut budget_changes = Vec::new();
    if actual.limit != desired.limit {
        budget_changes.push((
            "budget_limit",
            show(actual.limit.as_ref()),
            show(desired.limit.as_ref()),
        ));
    }
    if actual.time_unit != desired.time_unit {
        budget_changes.push((
            "time_unit",
            actual.time_unit.to_string(),
            desired.time_unit.to_string(),
        ));
    }
    if actual.scope != desired.scope {
        budget_changes.push((
            "filter_expression",
            actual.scope.to_string(),
            desired.scope.to_string(),
        ));
    }
    if !window_matches(actual.window, desired.window) {
        budget_changes.push((
            "time_period",
            show_window(actual.window),
            show_window(desired.window),
        ));
    }
    if !budget_changes.is_empty() {
        plan.steps.push(Step::UpdateBudget);
        for (field, before, after) in budget_changes {
            plan.changes.push(Change {
                field: field.into(),
                before,
                after,
                action: "UpdateBudget",
            });
        }
    }

    let desired_keys: BTreeSet<NotificationKey> =
        desired.notifications.iter().map(|n| n.key).collect();
    let actual_keys: BTreeSet<NotificationKey> =
        actual.notifications.iter().map(|n| n.key).collect();
    let find = |list: &[NotificationSpec], key: NotificationKey| {
        list.iter().find(|n| n.key == key).cloned()
    };

    // Same notification on both sides: only the subscribers may differ.
    let mut pairs: Vec<(NotificationSpec, NotificationSpec)> = Vec::new();
    for key in desired_keys.intersection(&actual_keys) {
        if let (Some(a), Some(d)) = (
            find(&actual.notifications, *key),
            find(&desired.notifications, *key),
        ) {
            pairs.push((a, d));
        }
    }
    // A notification whose threshold moved is updated in place (its subscribers and
    // state stay): pair the leftovers of the same type and threshold type, in order.
    let mut removed: Vec<NotificationSpec> = actual
        .notifications
        .iter()
        .filter(|n| !desired_keys.contains(&n.key))
        .cloned()
        .collect();
    let mut added: Vec<NotificationSpec> = Vec::new();
    for d in desired
        .notifications
        .iter()
        .filter(|n| !actual_keys.contains(&n.key))
    {
        let same_kind = removed.iter().position(|a| {
            a.key.notification_type == d.key.notification_type
                && a.key.threshold_type == d.key.threshold_type
        });
        match same_kind {
            Some(i) => {
                let a = removed.remove(i);
                plan.steps.push(Step::UpdateNotification {
                    old: a.key,
                    new: d.key,
                });
                plan.changes.push(Change {
                    field: format!("notifications[{}]", a.key),
                    before: a.key.to_string(),
                    after: d.key.to_string(),
                    action: "UpdateNotification",
                });
                pairs.push((
                    NotificationSpec {
                        key: d.key,
                        subscribers: a.subscribers,
                    },
                    d.clone(),
                ));
            }
            None => added.push(d.clone()),
        }
    }

    pairs.sort_by_key(|(_, d)| d.key);
    let mut creates = Vec::new();
    let mut deletes = Vec::new();
    for (a, d) in &pairs {
        let (Some(have), Some(want)) = (&a.subscribers, &d.subscribers) else {
            plan.subscribers_unverified = true;
            continue;
        };
        let field = format!("notifications[{}].subscribers", d.key);
        if have != want {
            plan.changes.push(Change {
                field,
                before: show_subscribers(have),
                after: show_subscribers(want),
                action: "CreateSubscriber/DeleteSubscriber",
            });
        }
        // Add before removing: a notification must keep at least one subscriber.
        for s in want.difference(have) {
            creates.push(Step::CreateSubscriber {
                key: d.key,
                subscriber: s.clone(),
            });
        }
        for s in have.difference(want) {
            deletes.push(Step::DeleteSubscriber {
                key: d.key,
                subscriber: s.clone(),
            });
        }
    }
    plan.steps.extend(creates);
    plan.steps.extend(deletes);

    // Remove before adding: AWS counts notifications against a per-budget limit.
    for a in removed {
        plan.steps.push(Step::DeleteNotification { key: a.key });
        plan.changes.push(Change {
            field: format!("notifications[{}]", a.key),
            before: a.key.to_string(),
            after: String::new(),
            action: "DeleteNotification",
        });
    }
    for d in added {
        let subscribers = d.subscribers.clone().unwrap_or_default();
        plan.changes.push(Change {
            field: format!("notifications[{}]", d.key),
            before: String::new(),
            after: format!("{} → {}", d.key, show_subscribers(&subscribers)),
            action: "CreateNotification",
        });
        plan.steps.push(Step::CreateNotification {
            key: d.key,
            subscribers,
        });
    }
    plan
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::{
        Amount, BudgetName, Comparison, Currency, EmailAddress, Money, NotificationType, Scope,
        Threshold, ThresholdType, TimeUnit,
    };

    fn email(a: &str) -> Subscriber {
        Subscriber::Email(EmailAddress::parse(a, "f").unwrap())
    }

    fn key(t: NotificationType, v: f64) -> NotificationKey {
        NotificationKey {
            notification_type: t,
            comparison: Comparison::GreaterThan,
            threshold_type: ThresholdType::Percentage,
            threshold: Threshold::from_aws(v),
        }
    }

    fn spec(amount: &str, thresholds: &[f64], emails: &[&str]) -> BudgetSpec {
        BudgetSpec {
            name: BudgetName::parse("spend", "f").unwrap(),
            limit: Some(Money {
                amount: Amount::parse(amount, "f").unwrap(),
                currency: Currency::parse("USD", "f").unwrap(),
            }),
            time_unit: TimeUnit::Monthly,
            scope: Scope::Spend,
            notifications: thresholds
                .iter()
                .map(|t| NotificationSpec {
                    key: key(NotificationType::Actual, *t),
                    subscribers: Some(emails.iter().map(|e| email(e)).collect()),
                })
                .collect(),
            window: None,
        }
        .sorted()
    }

    #[test]
    fn the_same_budget_needs_nothing() {
        let s = spec("20", &[50.0, 75.0, 100.0], &["a@example.com"]);
        assert!(plan(&s, &s).is_empty());
    }

    #[test]
    fn a_new_amount_is_one_update_budget_and_nothing_is_deleted() {
        let p = plan(
            &spec("20", &[50.0, 75.0, 100.0], &["a@example.com"]),
            &spec("30", &[50.0, 75.0, 100.0], &["a@example.com"]),
        );
        assert_eq!(p.steps, vec![Step::UpdateBudget]);
        assert_eq!(p.changes[0].field, "budget_limit");
        assert_eq!(p.changes[0].before, "20 USD");
        assert_eq!(p.changes[0].after, "30 USD");
    }

    #[test]
    fn a_moved_threshold_is_updated_in_place_keeping_its_subscribers() {
        let p = plan(
            &spec("20", &[50.0, 75.0, 100.0], &["a@example.com"]),
            &spec("20", &[50.0, 80.0, 100.0], &["a@example.com"]),
        );
        assert_eq!(
            p.steps,
            vec![Step::UpdateNotification {
                old: key(NotificationType::Actual, 75.0),
                new: key(NotificationType::Actual, 80.0),
            }]
        );
    }

    #[test]
    fn subscribers_are_added_before_others_are_removed() {
        let p = plan(
            &spec("20", &[50.0], &["a@example.com"]),
            &spec("20", &[50.0], &["b@example.com"]),
        );
        let k = key(NotificationType::Actual, 50.0);
        assert_eq!(
            p.steps,
            vec![
                Step::CreateSubscriber {
                    key: k,
                    subscriber: email("b@example.com")
                },
                Step::DeleteSubscriber {
                    key: k,
                    subscriber: email("a@example.com")
                },
            ]
        );
    }

    #[test]
    fn extra_notifications_are_deleted_before_missing_ones_are_created() {
        let mut actual = spec("20", &[50.0], &["a@example.com"]);
        actual.notifications[0].key.threshold_type = ThresholdType::AbsoluteValue;
        let desired = spec("20", &[50.0], &["a@example.com"]);
        let p = plan(&actual, &desired);
        assert_eq!(p.steps.len(), 2);
        assert!(matches!(p.steps[0], Step::DeleteNotification { .. }));
        assert!(matches!(p.steps[1], Step::CreateNotification { .. }));
    }

    #[test]
    fn unreadable_subscribers_are_not_compared_but_said() {
        let mut actual = spec("20", &[50.0], &["a@example.com"]);
        actual.notifications[0].subscribers = None;
        let p = plan(&actual, &spec("20", &[50.0], &["b@example.com"]));
        assert!(p.is_empty());
        assert!(p.subscribers_unverified);
    }
}
