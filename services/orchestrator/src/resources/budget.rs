//! A monthly budget with its alerts (budget). Its live state comes from EnsureBudget's
//! dry run (what differs) and GetBudget (the values in place).

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::resource::{Budget, Kind, ResourceId};
use groundwork_spec::{BudgetKind, BudgetLimit, NotifyOn};

use super::{Ctx, LiveCtx, Managed, Reads, arn_name, failed, outputs, usd_text};
use crate::clients::{Clients, read_error};
use crate::error::Error;
use crate::run::Run;
use crate::runner::StepResult;

/// The limit to ask for: the spec's amount, or the Free plan's remaining credits read now
/// (`limit_usd = "remaining-credits"`). An error names the field and says what to do.
async fn limit(this: &Budget, clients: &Clients) -> Result<String, Error> {
    if this.limit_usd != BudgetLimit::REMAINING_CREDITS {
        return Ok(this.limit_usd.clone());
    }
    let field = format!(
        "budget {}: limit_usd = \"{}\"",
        this.name,
        BudgetLimit::REMAINING_CREDITS
    );
    let plan = clients
        .budget
        .clone()
        .describe_account_plan(pb::DescribeAccountPlanRequest {})
        .await
        .map_err(|e| read_error(&format!("{field}: DescribeAccountPlan"), &e))?
        .into_inner()
        .plan
        .unwrap_or_default();
    let amount = match plan.plan_type() {
        pb::AccountPlanType::Free => plan
            .remaining_credits
            .as_ref()
            .and_then(|c| c.amount.parse::<f64>().ok())
            .filter(|a| *a > 0.0),
        pb::AccountPlanType::Paid => {
            return Err(Error::failed_precondition(format!(
                "{field} takes the Free plan's remaining credits, and the account is on the \
                 Paid plan: give limit_usd an amount"
            ))
            .with_reason("ACCOUNT_PLAN_MISMATCH"));
        }
        _ => {
            return Err(Error::failed_precondition(format!(
                "{field} needs the Free plan's remaining credits, and the plan cannot be read: \
                 {}; give limit_usd an amount",
                plan.unknown_reason
            ))
            .with_reason("ACCOUNT_PLAN_UNKNOWN"));
        }
    };
    amount.map(usd_text).ok_or_else(|| {
        Error::failed_precondition(format!(
            "{field}: the Free plan reports no credits left; give limit_usd an amount"
        ))
    })
}

/// The request; the topic's ARN comes from the topic step of `run`, when there is one.
fn request(
    this: &Budget,
    limit: String,
    run: Option<&Run>,
    dry_run: bool,
) -> pb::EnsureBudgetRequest {
    let mut subscribers: Vec<pb::Subscriber> = this
        .emails
        .iter()
        .map(|address| pb::Subscriber {
            subscription_type: "EMAIL".into(),
            address: address.clone(),
        })
        .collect();
    if !this.sns_topic.is_empty() {
        let arn = run
            .and_then(|run| run.step(&ResourceId::new(Kind::Topic, &this.sns_topic)))
            .and_then(|st| st.outputs.get("topic_arn").cloned())
            .unwrap_or_default();
        if !arn.is_empty() {
            subscribers.push(pb::Subscriber {
                subscription_type: "SNS".into(),
                address: arn,
            });
        }
    }
    let notifications = this
        .notifications()
        .into_iter()
        .map(|(on, t)| pb::NotificationWithSubscribers {
            notification: Some(pb::Notification {
                notification_type: match on {
                    NotifyOn::Actual => "ACTUAL",
                    NotifyOn::Forecasted => "FORECASTED",
                }
                .into(),
                comparison_operator: "GREATER_THAN".into(),
                threshold: f64::from(t),
                threshold_type: "PERCENTAGE".into(),
            }),
            subscribers: subscribers.clone(),
        })
        .collect();
    let kind = match this.kind {
        BudgetKind::Credits => pb::BudgetKind::Credits,
        BudgetKind::Spend => pb::BudgetKind::Spend,
    };
    pb::EnsureBudgetRequest {
        budget: Some(pb::BudgetDefinition {
            budget_name: this.name.clone(),
            budget_limit: Some(pb::Spend {
                amount: limit,
                unit: "USD".into(),
            }),
            time_unit: "MONTHLY".into(),
            kind: kind as i32,
            filter_expression: None,
            notifications_with_subscribers: notifications,
            time_period: None,
        }),
        dry_run,
    }
}

/// The budget in place under this spec's fields: those the dry run found differing
/// (`changes`, the budget service's field names) take the values in place.
fn in_place(this: &Budget, changes: &[String], found: &pb::BudgetDefinition) -> Budget {
    let mut live = this.clone();
    let notifications = &found.notifications_with_subscribers;
    for field in changes {
        if field == "budget_limit" {
            live.limit_usd = found
                .budget_limit
                .as_ref()
                .and_then(|l| l.amount.parse().ok())
                .map(usd_text)
                .unwrap_or_default();
        } else if field.starts_with("notifications") {
            let alerts: Vec<(NotifyOn, u32)> = notifications
                .iter()
                .filter_map(|n| n.notification.as_ref())
                .filter_map(|n| {
                    let on = match n.notification_type.as_str() {
                        "ACTUAL" => NotifyOn::Actual,
                        "FORECASTED" => NotifyOn::Forecasted,
                        _ => return None,
                    };
                    Some((on, n.threshold.round() as u32))
                })
                .collect();
            live.set_notifications(&alerts);
            let subscribers = || notifications.iter().flat_map(|n| &n.subscribers);
            let mut emails: Vec<String> = subscribers()
                .filter(|s| s.subscription_type == "EMAIL")
                .map(|s| s.address.clone())
                .collect();
            emails.sort_unstable();
            emails.dedup();
            live.emails = emails;
            live.sns_topic = subscribers()
                .find(|s| s.subscription_type == "SNS")
                .map(|s| arn_name(&s.address).to_owned())
                .unwrap_or_default();
        } else if field == "filter_expression" {
            // What it counts: the kind, unless AWS holds a scope of neither kind.
            if let Some(kind) = match found.kind() {
                pb::BudgetKind::Credits => Some(BudgetKind::Credits),
                pb::BudgetKind::Spend => Some(BudgetKind::Spend),
                _ => None,
            } {
                live.kind = kind;
            }
        }
    }
    live
}

impl Managed for Budget {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        let limit = match limit(self, cx.clients).await {
            Ok(limit) => limit,
            Err(e) => return StepResult::failed(e.to_string(), e.is_retryable()),
        };
        // The amount a "remaining-credits" budget was given, for the person reading the run.
        let resolved = if self.limit_usd == BudgetLimit::REMAINING_CREDITS {
            outputs([("limit_usd", limit.clone())])
        } else {
            BTreeMap::new()
        };
        match cx
            .clients
            .budget
            .clone()
            .ensure_budget(request(self, limit, Some(cx.run), false))
            .await
        {
            Ok(resp) => StepResult::done(&resp.into_inner().outcome.to_lowercase(), resolved),
            Err(e) => failed("EnsureBudget", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match clients
            .budget
            .clone()
            .delete_budget(pb::DeleteBudgetRequest {
                budget_name: self.name.clone(),
            })
            .await
        {
            Ok(_) => StepResult::done("deleted", BTreeMap::new()),
            Err(e) if e.code() == tonic::Code::NotFound => {
                StepResult::done("absent", BTreeMap::new())
            }
            Err(e) => failed("DeleteBudget", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, _reads: &mut Reads) -> Result<Option<Self>, Error> {
        let planned = cx
            .clients
            .budget
            .clone()
            .ensure_budget(request(self, limit(self, cx.clients).await?, None, true))
            .await
            .map_err(|e| read_error("EnsureBudget", &e))?
            .into_inner();
        match planned.outcome.to_lowercase().as_str() {
            "created" => return Ok(None),
            "unchanged" => return Ok(Some(self.clone())),
            _ => {}
        }
        let found = match cx
            .clients
            .budget
            .clone()
            .get_budget(pb::GetBudgetRequest {
                budget_name: self.name.clone(),
            })
            .await
        {
            Ok(resp) => resp.into_inner().budget.and_then(|b| b.definition),
            // Deleted between the two reads.
            Err(e) if e.code() == tonic::Code::NotFound => return Ok(None),
            Err(e) => return Err(read_error("GetBudget", &e)),
        };
        let changes: Vec<String> = planned.changes.into_iter().map(|c| c.field).collect();
        Ok(Some(match found {
            Some(found) => in_place(self, &changes, &found),
            None => self.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget {
            name: "monthly-spend".into(),
            kind: BudgetKind::Spend,
            limit_usd: "20".into(),
            thresholds_percent: vec![50, 100],
            notify_on: vec![NotifyOn::Actual],
            forecasted_percent: vec![100],
            emails: vec!["ops@example.com".into()],
            sns_topic: String::new(),
        }
    }

    #[test]
    fn differing_fields_take_the_values_in_place() {
        let found = pb::BudgetDefinition {
            budget_name: "monthly-spend".into(),
            budget_limit: Some(pb::Spend {
                amount: "35.0".into(),
                unit: "USD".into(),
            }),
            notifications_with_subscribers: vec![pb::NotificationWithSubscribers {
                notification: Some(pb::Notification {
                    notification_type: "FORECASTED".into(),
                    comparison_operator: "GREATER_THAN".into(),
                    threshold: 80.0,
                    threshold_type: "PERCENTAGE".into(),
                }),
                subscribers: vec![
                    pb::Subscriber {
                        subscription_type: "EMAIL".into(),
                        address: "other@example.com".into(),
                    },
                    pb::Subscriber {
                        subscription_type: "SNS".into(),
                        address: "arn:aws:sns:us-east-1:123456789012:billing-alarm".into(),
                    },
                ],
            }],
            ..Default::default()
        };
        assert_eq!(
            in_place(&budget(), &["budget_limit".into()], &found),
            Budget {
                limit_usd: "35".into(),
                ..budget()
            }
        );
        let live = in_place(
            &budget(),
            &["notifications[ACTUAL GREATER_THAN 50 PERCENTAGE]".into()],
            &found,
        );
        assert_eq!(live.thresholds_percent, vec![80]);
        assert_eq!(live.notify_on, vec![NotifyOn::Forecasted]);
        assert!(live.forecasted_percent.is_empty());
        assert_eq!(live.emails, vec!["other@example.com".to_owned()]);
        assert_eq!(live.sns_topic, "billing-alarm");
        assert_eq!(live.limit_usd, "20");
    }
}
