//! The account's plan (account-plan): the budget service reads it with the Free Tier API,
//! checks the plan the spec expects and watches the Free plan's credits and end date.
//! The step's outputs report the plan: on the Free plan, the remaining credits and the
//! date the plan ends and the account closes.

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::PlanChoice;
use groundwork_spec::resource::AccountPlan;

use super::{Ctx, LiveCtx, Managed, Reads, failed, outputs, usd_text};
use crate::clients::{Clients, read_error};
use crate::error::Error;
use crate::runner::StepResult;

fn watch(this: &AccountPlan) -> pb::AccountPlanWatch {
    pb::AccountPlanWatch {
        expected: this.plan.as_str().to_owned(),
        credits_low_usd: this.credits_low_usd.clone(),
        ending_within_days: this.ending_within_days,
    }
}

fn day(t: &prost_types::Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_default()
}

/// One line for a person: where the account stands.
pub(crate) fn report(plan: &pb::AccountPlan) -> String {
    match plan.plan_type() {
        pb::AccountPlanType::Free => {
            let credits = plan.remaining_credits.as_ref().map_or_else(
                || "no credits reported".to_owned(),
                |c| {
                    let amount = c.amount.parse().map(usd_text).unwrap_or(c.amount.clone());
                    format!("{amount} {} of credits left", c.unit)
                },
            );
            match plan.ends_at.as_ref() {
                Some(ends) => format!(
                    "Free plan ({}): {credits}, until {}; the account closes then (or when \
                     the credits run out) unless upgraded to the Paid plan",
                    plan.status,
                    day(ends)
                ),
                None => format!("Free plan ({}): {credits}", plan.status),
            }
        }
        pb::AccountPlanType::Paid => format!("Paid plan ({})", plan.status),
        _ => format!("plan unknown: {}", plan.unknown_reason),
    }
}

fn plan_outputs(plan: &pb::AccountPlan) -> BTreeMap<String, String> {
    let kind = match plan.plan_type() {
        pb::AccountPlanType::Free => "free",
        pb::AccountPlanType::Paid => "paid",
        _ => "unknown",
    };
    outputs([
        ("plan", kind.to_owned()),
        ("status", plan.status.clone()),
        (
            "remaining_credits",
            plan.remaining_credits
                .as_ref()
                .map(|c| format!("{} {}", c.amount, c.unit))
                .unwrap_or_default(),
        ),
        (
            "plan_ends",
            plan.ends_at.as_ref().map(day).unwrap_or_default(),
        ),
        ("unknown_reason", plan.unknown_reason.clone()),
        ("report", report(plan)),
    ])
}

impl Managed for AccountPlan {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        match cx
            .clients
            .budget
            .clone()
            .ensure_account_plan_watch(pb::EnsureAccountPlanWatchRequest {
                watch: Some(watch(self)),
                dry_run: false,
            })
            .await
        {
            Ok(resp) => {
                let resp = resp.into_inner();
                let plan = resp.plan.unwrap_or_default();
                StepResult::done(&resp.outcome.to_lowercase(), plan_outputs(&plan))
            }
            Err(e) => failed("EnsureAccountPlanWatch", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match clients
            .budget
            .clone()
            .delete_account_plan_watch(pb::DeleteAccountPlanWatchRequest {})
            .await
        {
            Ok(_) => StepResult::done("deleted", BTreeMap::new()),
            Err(e) => failed("DeleteAccountPlanWatch", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, _reads: &mut Reads) -> Result<Option<Self>, Error> {
        let described = cx
            .clients
            .budget
            .clone()
            .describe_account_plan(pb::DescribeAccountPlanRequest {})
            .await
            .map_err(|e| read_error("budget DescribeAccountPlan", &e))?
            .into_inner();
        let Some(watch) = described.watch else {
            return Ok(None);
        };
        let plan = match watch.expected.as_str() {
            "free" => PlanChoice::Free,
            "paid" => PlanChoice::Paid,
            _ => PlanChoice::Auto,
        };
        Ok(Some(Self {
            plan,
            credits_low_usd: watch
                .credits_low_usd
                .parse()
                .map(usd_text)
                .unwrap_or(watch.credits_low_usd),
            ending_within_days: watch.ending_within_days,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_what_is_left_and_when_the_account_closes() {
        let free = pb::AccountPlan {
            plan_type: pb::AccountPlanType::Free as i32,
            status: "ACTIVE".into(),
            remaining_credits: Some(pb::Spend {
                amount: "87.5".into(),
                unit: "USD".into(),
            }),
            ends_at: Some(prost_types::Timestamp {
                seconds: 1_780_272_000,
                nanos: 0,
            }),
            ..Default::default()
        };
        assert_eq!(
            report(&free),
            "Free plan (ACTIVE): 87.50 USD of credits left, until 2026-06-01; the account \
             closes then (or when the credits run out) unless upgraded to the Paid plan"
        );
        let out = plan_outputs(&free);
        assert_eq!(out["plan"], "free");
        assert_eq!(out["remaining_credits"], "87.5 USD");
        assert_eq!(out["plan_ends"], "2026-06-01");
        let unknown = pb::AccountPlan {
            plan_type: pb::AccountPlanType::Unknown as i32,
            unknown_reason: "no Free Tier API".into(),
            ..Default::default()
        };
        assert_eq!(report(&unknown), "plan unknown: no Free Tier API");
    }
}
