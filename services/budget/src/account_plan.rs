//! The account's plan, Free or Paid, through the AWS Free Tier API, and the watch on it.
//!
//! Since 15 July 2025 a new account starts on the Free plan: credits, and the account
//! closes when they run out or when the plan ends (six months after sign-up) unless it is
//! upgraded. What is read is `GetAccountPlanState` (us-east-1): `accountPlanType`
//! (`FREE`/`PAID`), `accountPlanStatus`, `accountPlanRemainingCredits` and
//! `accountPlanExpirationDate`. A server without the Free Tier API (moto answers 500),
//! or credentials without `freetier:GetAccountPlanState`, make the plan UNKNOWN with the
//! reason: reading it is a report, and must not fail a setup that does not insist on a
//! plan.
//!
//! The watch (`plan.watch` in `budget-watch`) holds what the spec expects and the
//! thresholds; the watcher's pass ([`pass`]) publishes `Free Plan Credits Low` and `Free
//! Plan Ending` once per crossing, claimed in KV exactly as budget crossings are
//! ([`crate::state::WatchStore::claim`]); a claim is given back when the condition no longer
//! holds, so that the next crossing is published again.

use groundwork_cloud::{AwsError, AwsErrorKind};
use groundwork_events::catalog::{FreePlanCreditsLow, FreePlanEnding};
use groundwork_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::service::Budgets;
use crate::state::{Crossing, plan_crossing_key};

/// The plan, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanType {
    Free,
    Paid,
    Unknown,
}

/// What `GetAccountPlanState` said, or why it could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanState {
    pub account_id: String,
    pub plan_type: PlanType,
    /// `ACTIVE`, `NOT_STARTED`, `EXPIRED`; empty when unknown.
    pub status: String,
    /// Amount and unit.
    pub remaining_credits: Option<(f64, String)>,
    pub ends_at: Option<time::OffsetDateTime>,
    /// Why the plan is unknown.
    pub unknown_reason: String,
    /// Whether reading again later may succeed (throttled, AWS unreachable).
    pub retryable: bool,
}

impl PlanState {
    fn unknown(reason: String, retryable: bool) -> Self {
        Self {
            account_id: String::new(),
            plan_type: PlanType::Unknown,
            status: String::new(),
            remaining_credits: None,
            ends_at: None,
            unknown_reason: reason,
            retryable,
        }
    }

    /// "the Free plan", "the Paid plan", "an unknown plan".
    fn described(&self) -> &'static str {
        match self.plan_type {
            PlanType::Free => "the Free plan",
            PlanType::Paid => "the Paid plan",
            PlanType::Unknown => "a plan that cannot be read",
        }
    }

    /// The error for a caller that needs the plan read (a `free`/`paid` expectation,
    /// `limit_usd = "remaining-credits"`), when it is unknown.
    pub fn unknown_error(&self, what: &str) -> Error {
        let message = format!(
            "{what} needs the account's plan, which cannot be read: {}",
            self.unknown_reason
        );
        if self.retryable {
            Error::unavailable(message)
        } else {
            Error::failed_precondition(message).with_reason("ACCOUNT_PLAN_UNKNOWN")
        }
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Reads the plan; a failure is an UNKNOWN plan with its reason, never an error.
pub async fn read(client: &aws_sdk_freetier::Client) -> PlanState {
    let out = match client.get_account_plan_state().send().await {
        Ok(out) => out,
        Err(e) => {
            let e = AwsError::from_sdk("GetAccountPlanState", e);
            let retryable = matches!(e.kind, AwsErrorKind::Throttled | AwsErrorKind::Unavailable);
            let reason = if e.code == "Unknown" && e.message.is_empty() {
                // moto answers an HTML 500 for a service it does not have.
                "GetAccountPlanState got no AWS answer: the endpoint does not serve the AWS \
                 Free Tier API (the sandbox's moto has none; groundwork up puts a stand-in in \
                 front of it)"
                    .to_owned()
            } else if e.kind == AwsErrorKind::AccessDenied {
                format!("{e}; allow freetier:GetAccountPlanState to the service's credentials")
            } else {
                e.to_string()
            };
            tracing::debug!(reason, retryable, "account plan unknown");
            return PlanState::unknown(reason, retryable);
        }
    };
    let plan_type = match out.account_plan_type().as_str() {
        "FREE" => PlanType::Free,
        "PAID" => PlanType::Paid,
        other => {
            return PlanState::unknown(
                format!("GetAccountPlanState answered the plan type '{other}'"),
                false,
            );
        }
    };
    PlanState {
        account_id: out.account_id().to_owned(),
        plan_type,
        status: out.account_plan_status().as_str().to_owned(),
        remaining_credits: out
            .account_plan_remaining_credits()
            .map(|c| (c.amount(), c.unit().as_str().to_owned())),
        ends_at: out
            .account_plan_expiration_date()
            .and_then(|d| time::OffsetDateTime::from_unix_timestamp(d.secs()).ok()),
        unknown_reason: String::new(),
        retryable: false,
    }
}

pub fn plan_to_pb(state: &PlanState) -> pb::AccountPlan {
    pb::AccountPlan {
        plan_type: match state.plan_type {
            PlanType::Free => pb::AccountPlanType::Free,
            PlanType::Paid => pb::AccountPlanType::Paid,
            PlanType::Unknown => pb::AccountPlanType::Unknown,
        } as i32,
        status: state.status.clone(),
        remaining_credits: state
            .remaining_credits
            .as_ref()
            .map(|(amount, unit)| pb::Spend {
                amount: format!("{amount}"),
                unit: unit.clone(),
            }),
        ends_at: state.ends_at.map(crate::wire::time_to_pb),
        unknown_reason: state.unknown_reason.clone(),
        account_id: state.account_id.clone(),
    }
}

/// What the spec expects of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    Auto,
    Free,
    Paid,
}

impl Expected {
    fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "auto" | "" => Ok(Self::Auto),
            "free" => Ok(Self::Free),
            "paid" => Ok(Self::Paid),
            other => Err(Error::invalid(
                "watch.expected",
                format!("'{other}' is not one of auto, free, paid"),
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Free => "free",
            Self::Paid => "paid",
        }
    }
}

/// What the watcher watches on the Free plan (KV `plan.watch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanWatch {
    pub expected: Expected,
    pub credits_low_usd: f64,
    pub ending_within_days: u32,
}

impl PlanWatch {
    /// From the wire, checked.
    pub fn from_pb(watch: &pb::AccountPlanWatch) -> Result<Self, Error> {
        let credits_low_usd: f64 = watch.credits_low_usd.trim().parse().map_err(|_| {
            Error::invalid(
                "watch.credits_low_usd",
                format!("'{}' is not an amount in USD", watch.credits_low_usd),
            )
        })?;
        if !credits_low_usd.is_finite() || credits_low_usd <= 0.0 {
            return Err(Error::invalid(
                "watch.credits_low_usd",
                "the amount must be greater than 0",
            ));
        }
        if !(1..=366).contains(&watch.ending_within_days) {
            return Err(Error::invalid(
                "watch.ending_within_days",
                "a number of days from 1 to 366",
            ));
        }
        Ok(Self {
            expected: Expected::parse(&watch.expected)?,
            credits_low_usd,
            ending_within_days: watch.ending_within_days,
        })
    }

    pub fn to_pb(&self) -> pb::AccountPlanWatch {
        pb::AccountPlanWatch {
            expected: self.expected.as_str().to_owned(),
            credits_low_usd: format!("{}", self.credits_low_usd),
            ending_within_days: self.ending_within_days,
        }
    }
}

/// Whether the plan read is the one expected; the error says what differs and what to do.
pub fn check_expected(expected: Expected, state: &PlanState) -> Result<(), Error> {
    let want = match expected {
        Expected::Auto => return Ok(()),
        Expected::Free => PlanType::Free,
        Expected::Paid => PlanType::Paid,
    };
    let field = format!("account.plan = \"{}\"", expected.as_str());
    if state.plan_type == PlanType::Unknown {
        return Err(state.unknown_error(&field));
    }
    if state.plan_type != want {
        return Err(Error::failed_precondition(format!(
            "{field}, but the account is on {} (GetAccountPlanState: accountPlanType {}); \
             set account.plan to \"{}\" or \"auto\"",
            state.described(),
            if state.plan_type == PlanType::Free {
                "FREE"
            } else {
                "PAID"
            },
            if state.plan_type == PlanType::Free {
                "free"
            } else {
                "paid"
            },
        ))
        .with_reason("ACCOUNT_PLAN_MISMATCH"));
    }
    Ok(())
}

/// EnsureAccountPlanWatch: checks the plan against the expectation, records the watch.
pub async fn ensure_watch(
    budgets: &Budgets,
    watch: PlanWatch,
    dry_run: bool,
) -> Result<(&'static str, PlanState), Error> {
    let state = read(&budgets.aws().clients().freetier).await;
    check_expected(watch.expected, &state)?;
    let outcome = match budgets.store().plan_watch().await? {
        None => "CREATED",
        Some(w) if w == watch => "UNCHANGED",
        Some(_) => "UPDATED",
    };
    if !dry_run && outcome != "UNCHANGED" {
        budgets.store().set_plan_watch(&watch).await?;
        tracing::info!(
            outcome,
            expected = watch.expected.as_str(),
            "account plan watch recorded"
        );
    }
    Ok((outcome, state))
}

/// Whole days from `now` to `at` (negative once past).
fn days_until(now: time::OffsetDateTime, at: time::OffsetDateTime) -> i64 {
    (at - now).whole_days()
}

/// The watcher's pass over the plan: publishes what crossed; returns how many events.
pub async fn pass(budgets: &Budgets, now: time::OffsetDateTime) -> Result<usize, Error> {
    let Some(watch) = budgets.store().plan_watch().await? else {
        return Ok(0);
    };
    let state = read(&budgets.aws().clients().freetier).await;
    if state.plan_type != PlanType::Free {
        tracing::debug!(
            reason = state.unknown_reason,
            "not on the Free plan; nothing to watch"
        );
        return Ok(0);
    }
    let mut published = 0;

    let low = state
        .remaining_credits
        .as_ref()
        .is_some_and(|(amount, _)| *amount < watch.credits_low_usd);
    let label = format!("credits-low-{}", watch.credits_low_usd);
    if let Some((amount, unit)) = state.remaining_credits.clone() {
        let detail = FreePlanCreditsLow {
            account_id: state.account_id.clone(),
            remaining_credits: amount,
            currency: unit,
            threshold: watch.credits_low_usd,
            credits_expire_at: state.ends_at.map(rfc3339),
        };
        published += crossing(budgets, &label, low, &detail, now).await?;
    }

    if let Some(ends_at) = state.ends_at {
        let days_left = days_until(now, ends_at);
        let ending = days_left <= i64::from(watch.ending_within_days);
        let detail = FreePlanEnding {
            account_id: state.account_id.clone(),
            closes_at: rfc3339(ends_at),
            days_left,
            within_days: watch.ending_within_days,
            remaining_credits: state.remaining_credits.as_ref().map(|(a, _)| *a),
            currency: state.remaining_credits.as_ref().map(|(_, u)| u.clone()),
        };
        let label = format!("ending-{}", watch.ending_within_days);
        published += crossing(budgets, &label, ending, &detail, now).await?;
    }
    Ok(published)
}

/// Publishes `detail` once while `holds`, by claim; gives the claim back once it no
/// longer holds, so that the next crossing counts.
async fn crossing<E: groundwork_events::catalog::CatalogEvent>(
    budgets: &Budgets,
    label: &str,
    holds: bool,
    detail: &E,
    now: time::OffsetDateTime,
) -> Result<usize, Error> {
    let key = plan_crossing_key(label);
    let store = budgets.store();
    if !holds {
        if store.crossing(&key).await?.is_some() {
            tracing::info!(
                threshold = label,
                "Free plan back over the threshold; re-armed"
            );
            store.release(&key).await?;
        }
        return Ok(0);
    }
    let claim = Crossing {
        budget: crate::state::ACCOUNT_PLAN.to_owned(),
        period: String::new(),
        threshold: label.to_owned(),
        at: now.unix_timestamp(),
    };
    if !store.claim(&key, &claim).await? {
        return Ok(0);
    }
    match budgets.emitter().emit_event(detail, Vec::new()).await {
        Ok(_) => {
            tracing::info!(
                detail_type = E::DETAIL_TYPE,
                threshold = label,
                "Free plan crossing"
            );
            Ok(1)
        }
        Err(e) => {
            tracing::warn!(error = %e, "Free plan event refused; giving the claim back");
            store.release(&key).await?;
            Err(e.into())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn state(plan_type: PlanType) -> PlanState {
        PlanState {
            account_id: "123456789012".into(),
            plan_type,
            status: "ACTIVE".into(),
            remaining_credits: None,
            ends_at: None,
            unknown_reason: "no Free Tier API".into(),
            retryable: false,
        }
    }

    #[test]
    fn an_expected_plan_must_be_the_one_read() {
        assert!(check_expected(Expected::Auto, &state(PlanType::Unknown)).is_ok());
        assert!(check_expected(Expected::Free, &state(PlanType::Free)).is_ok());
        let e = check_expected(Expected::Free, &state(PlanType::Paid)).unwrap_err();
        assert_eq!(e.reason(), "ACCOUNT_PLAN_MISMATCH");
        assert!(e.message().contains("account.plan = \"free\""), "{e}");
        assert!(e.message().contains("the Paid plan"), "{e}");
        let e = check_expected(Expected::Paid, &state(PlanType::Unknown)).unwrap_err();
        assert_eq!(e.reason(), "ACCOUNT_PLAN_UNKNOWN");
        assert!(e.message().contains("no Free Tier API"), "{e}");
    }

    #[test]
    fn a_watch_from_the_wire_is_checked() {
        let ok = PlanWatch::from_pb(&pb::AccountPlanWatch {
            expected: "free".into(),
            credits_low_usd: "20".into(),
            ending_within_days: 30,
        })
        .unwrap();
        assert_eq!(ok.expected, Expected::Free);
        for (expected, credits, days, field) in [
            ("maybe", "20", 30, "watch.expected"),
            ("auto", "-1", 30, "watch.credits_low_usd"),
            ("auto", "20", 0, "watch.ending_within_days"),
        ] {
            let e = PlanWatch::from_pb(&pb::AccountPlanWatch {
                expected: expected.into(),
                credits_low_usd: credits.into(),
                ending_within_days: days,
            })
            .unwrap_err();
            assert_eq!(e.field(), Some(field));
        }
    }
}
