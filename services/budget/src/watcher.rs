//! The watcher: at an interval it reads the actual and forecasted spend of every managed
//! budget (DescribeBudgets' `CalculatedSpend`) and publishes `Budget Threshold Crossed`
//! once per threshold per period; and, when the Free plan is watched, its remaining
//! credits and end date (`crate::account_plan::pass`), claimed the same way.
//!
//! Once means once across restarts and replicas: a crossing is claimed in KV with
//! compare-and-set (`create` of `crossed.<budget>.<period>.<threshold>`) before the event
//! is published, and only the claimant publishes. Replicas also share a leadership lease
//! (`leader`), so that only one of them reads AWS at a time. The trade-off of claiming
//! first: a crash between the claim and the publish loses that one event rather than
//! publishing it twice (a publish that fails gives the claim back, so the next pass tries
//! again).

use std::sync::Arc;
use std::time::Duration;

use groundwork_events::catalog::BudgetThresholdCrossed;
use groundwork_kit::Shutdown;

use crate::aws::AwsBudget;
use crate::domain::{Comparison, Money, NotificationKey, NotificationType, ThresholdType};
use crate::error::Error;
use crate::service::{Budgets, budget_arn};
use crate::state::{Crossing, crossing_key};

/// The amount a notification fires above, in the budget's currency.
pub fn threshold_amount(key: &NotificationKey, limit: &Money) -> f64 {
    match key.threshold_type {
        ThresholdType::Percentage => limit.amount.value() * key.threshold.value() / 100.0,
        ThresholdType::AbsoluteValue => key.threshold.value(),
    }
}

/// Whether a notification's condition holds for this spend.
pub fn is_crossed(
    key: &NotificationKey,
    limit: &Money,
    actual: Option<&Money>,
    forecast: Option<&Money>,
) -> bool {
    let spend = match key.notification_type {
        NotificationType::Actual => actual,
        NotificationType::Forecasted => forecast,
    };
    let Some(spend) = spend else { return false };
    let line = threshold_amount(key, limit);
    match key.comparison {
        Comparison::GreaterThan => spend.amount.value() > line,
        // Only GREATER_THAN alerts are Groundwork's; others are left to AWS.
        Comparison::LessThan | Comparison::EqualTo => false,
    }
}

/// `ACTUAL-PERCENTAGE-50`: a threshold, as a key part and in events.
pub fn threshold_label(key: &NotificationKey) -> String {
    format!(
        "{}-{}-{}",
        key.notification_type.as_str(),
        key.threshold_type.as_str(),
        key.threshold
    )
}

/// Runs passes until shutdown; gives the lease up when stopping.
pub async fn run(budgets: Arc<Budgets>, interval: Duration, shutdown: Shutdown) {
    let holder = uuid::Uuid::new_v4().to_string();
    let lease = (interval * 3).max(Duration::from_secs(10));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut passes = 0u64;
    tracing::info!(
        interval_secs = interval.as_secs(),
        holder,
        "budget watcher started"
    );
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            _ = ticker.tick() => {}
        }
        match budgets.store().acquire_lease(&holder, lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!("another replica holds the watcher lease");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the watcher lease");
                continue;
            }
        }
        let now = time::OffsetDateTime::now_utc();
        match pass(&budgets, now).await {
            Ok(published) => {
                passes += 1;
                tracing::debug!(published, passes, "watcher pass done");
                if let Err(e) = budgets.store().record_pass(&holder, passes).await {
                    tracing::warn!(error = %e, "cannot record the watcher pass");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retryable = e.is_retryable(), "watcher pass failed")
            }
        }
    }
    if let Err(e) = budgets.store().release_lease(&holder).await {
        tracing::debug!(error = %e, "releasing the watcher lease");
    }
    tracing::info!("budget watcher stopped");
}

/// One pass over the Free plan (when watched) and the managed budgets; returns how many
/// events it published.
pub async fn pass(budgets: &Budgets, now: time::OffsetDateTime) -> Result<usize, Error> {
    // The plan's failure must not keep the budgets from being watched, nor theirs the plan's.
    let mut published = match crate::account_plan::pass(budgets, now).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "Free plan watch failed");
            0
        }
    };
    let managed = budgets.store().managed().await?;
    if managed.is_empty() {
        return Ok(published);
    }
    let account = budgets.aws().account().await?;
    let all = budgets.aws().list().await?;
    for name in managed {
        let Some(budget) = all.iter().find(|b| b.spec.name == name) else {
            tracing::debug!(
                budget = name.as_str(),
                "managed budget not found in AWS; skipped"
            );
            continue;
        };
        let keys = budgets.aws().notifications(&account, &name, false).await?;
        for n in keys {
            published += check(budgets, budget, &n.key, &account, now).await?;
        }
    }
    Ok(published)
}

async fn check(
    budgets: &Budgets,
    budget: &AwsBudget,
    key: &NotificationKey,
    account: &str,
    now: time::OffsetDateTime,
) -> Result<usize, Error> {
    let Some(limit) = &budget.spec.limit else {
        return Ok(0);
    };
    if !is_crossed(key, limit, budget.actual.as_ref(), budget.forecast.as_ref()) {
        return Ok(0);
    }
    let name = &budget.spec.name;
    let period = budget.spec.time_unit.period_label(now);
    let label = threshold_label(key);
    let kv_key = crossing_key(name, &period, &label);
    let crossing = Crossing {
        budget: name.as_str().to_owned(),
        period: period.clone(),
        threshold: label.clone(),
        at: now.unix_timestamp(),
    };
    if !budgets.store().claim(&kv_key, &crossing).await? {
        return Ok(0);
    }
    let amount = |m: Option<&Money>| m.map(|m| m.amount.value());
    let detail = BudgetThresholdCrossed {
        budget: name.as_str().to_owned(),
        threshold: key.threshold.value(),
        threshold_type: key.threshold_type.as_str().to_owned(),
        notification_type: key.notification_type.as_str().to_owned(),
        comparison_operator: key.comparison.as_str().to_owned(),
        threshold_amount: threshold_amount(key, limit),
        limit: limit.amount.value(),
        actual: amount(budget.actual.as_ref()),
        forecast: amount(budget.forecast.as_ref()),
        currency: limit.currency.as_str().to_owned(),
        period: period.clone(),
    };
    match budgets
        .emitter()
        .emit_event(&detail, vec![budget_arn(account, name)])
        .await
    {
        Ok(_) => {
            tracing::info!(
                budget = name.as_str(),
                threshold = label,
                period,
                "threshold crossed"
            );
            Ok(1)
        }
        Err(e) => {
            tracing::warn!(error = %e, "threshold event refused; giving the claim back");
            budgets.store().release(&kv_key).await?;
            Err(e.into())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::{Amount, Currency, Threshold};

    fn money(a: &str) -> Money {
        Money {
            amount: Amount::parse(a, "f").unwrap(),
            currency: Currency::parse("USD", "f").unwrap(),
        }
    }

    fn key(t: NotificationType, tt: ThresholdType, v: f64) -> NotificationKey {
        NotificationKey {
            notification_type: t,
            comparison: Comparison::GreaterThan,
            threshold_type: tt,
            threshold: Threshold::from_aws(v),
        }
    }

    #[test]
    fn percentage_thresholds_are_of_the_limit_and_strictly_greater() {
        let limit = money("20");
        let k50 = key(NotificationType::Actual, ThresholdType::Percentage, 50.0);
        assert!(is_crossed(&k50, &limit, Some(&money("10.01")), None));
        assert!(!is_crossed(&k50, &limit, Some(&money("10")), None));
        assert!(!is_crossed(&k50, &limit, None, Some(&money("100"))));
        let f100 = key(
            NotificationType::Forecasted,
            ThresholdType::Percentage,
            100.0,
        );
        assert!(is_crossed(
            &f100,
            &limit,
            Some(&money("1")),
            Some(&money("25"))
        ));
        let abs = key(NotificationType::Actual, ThresholdType::AbsoluteValue, 5.0);
        assert!(is_crossed(&abs, &limit, Some(&money("5.5")), None));
        assert_eq!(threshold_label(&k50), "ACTUAL-PERCENTAGE-50");
    }
}
