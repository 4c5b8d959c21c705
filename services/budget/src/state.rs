//! The service's state in the JetStream KV bucket `budget-watch` (the service keeps none
//! of its own, so it can run as several replicas):
//!
//! | key | value |
//! |---|---|
//! | `managed.<budget>` | a budget Groundwork manages (the watcher watches it) |
//! | `crossed.<budget>.<period>.<threshold>` | a threshold crossing already published |
//! | `leader` | the watcher's leadership lease: holder and expiry |
//! | `pass` | the last completed watcher pass: holder and count |
//! | `plan.watch` | what the watcher watches on the Free plan (expected plan, thresholds) |
//! | `plan-crossed.<threshold>` | a Free plan crossing already published (`credits-low-20`, `ending-30`) |
//!
//! Crossings (the budgets' and the Free plan's) are claimed with `create` (compare-and-set
//! on "absent"), so two replicas or a restarted one never publish the same crossing twice.

use std::time::Duration;

use async_nats::jetstream;
use groundwork_bus::kv::{Bucket, Change, Records, open_bucket};
use groundwork_bus::names::{BUDGET_WATCH_BUCKET, escape_token, unescape_token};
use serde::{Deserialize, Serialize};

use crate::account_plan::PlanWatch;
use crate::domain::BudgetName;
use crate::error::Error;

const BUCKET: Bucket = Bucket {
    name: BUDGET_WATCH_BUCKET,
    description: "Budget watcher: managed budgets, crossings published, lease",
    history: 1,
};

/// The bucket's records, opened (or created) once; one typed view per kind of key.
#[derive(Debug, Clone)]
pub struct WatchStore {
    managed: Records<Managed>,
    crossings: Records<Crossing>,
    lease: Records<Lease>,
    passes: Records<Pass>,
    plan_watch: Records<PlanWatch>,
}

/// The `budget` of the Free plan's crossings.
pub const ACCOUNT_PLAN: &str = "account-plan";

const PLAN_WATCH_KEY: &str = "plan.watch";

/// A budget Groundwork manages.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Managed {
    budget: String,
}

/// A crossing, as recorded (for the Free plan's: `budget` is [`ACCOUNT_PLAN`], `period`
/// empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crossing {
    pub budget: String,
    pub period: String,
    pub threshold: String,
    pub at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lease {
    holder: String,
    until: i64,
}

/// The last completed watcher pass (tests and operators read it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    pub holder: String,
    pub passes: u64,
    pub at: i64,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The key of a budget in the `managed.` space.
pub fn managed_key(name: &BudgetName) -> String {
    format!("managed.{}", escape_token(name.as_str()))
}

/// The key of a crossing: budget, period and threshold, each one escaped token.
pub fn crossing_key(name: &BudgetName, period: &str, threshold: &str) -> String {
    format!(
        "crossed.{}.{}.{}",
        escape_token(name.as_str()),
        escape_token(period),
        escape_token(threshold)
    )
}

/// The key of a Free plan crossing (`credits-low-20`, `ending-30`), one escaped token.
pub fn plan_crossing_key(threshold: &str) -> String {
    format!("plan-crossed.{}", escape_token(threshold))
}

impl WatchStore {
    /// Opens the bucket, creating it when it does not exist.
    pub async fn open(js: &jetstream::Context, replicas: usize) -> Result<Self, Error> {
        let kv = open_bucket(js, &BUCKET, replicas).await?;
        Ok(Self {
            managed: Records::new(kv.clone(), &BUCKET),
            crossings: Records::new(kv.clone(), &BUCKET),
            lease: Records::new(kv.clone(), &BUCKET),
            passes: Records::new(kv.clone(), &BUCKET),
            plan_watch: Records::new(kv, &BUCKET),
        })
    }

    pub async fn mark_managed(&self, name: &BudgetName) -> Result<(), Error> {
        let managed = Managed {
            budget: name.as_str().to_owned(),
        };
        self.managed.put(&managed_key(name), &managed).await?;
        Ok(())
    }

    pub async fn unmark_managed(&self, name: &BudgetName) -> Result<(), Error> {
        Ok(self.managed.delete(&managed_key(name)).await?)
    }

    pub async fn is_managed(&self, name: &BudgetName) -> Result<bool, Error> {
        Ok(self.managed.get(&managed_key(name)).await?.is_some())
    }

    /// Every managed budget.
    pub async fn managed(&self) -> Result<Vec<BudgetName>, Error> {
        Ok(self
            .managed
            .keys("managed.")
            .await?
            .iter()
            .filter_map(|k| k.strip_prefix("managed."))
            .filter_map(unescape_token)
            .map(|n| BudgetName::from_aws(&n))
            .collect())
    }

    /// Claims a crossing: `true` when this caller is the first (and must publish it).
    pub async fn claim(&self, key: &str, crossing: &Crossing) -> Result<bool, Error> {
        Ok(self.crossings.create(key, crossing).await?.is_some())
    }

    /// Gives a claim back (the event could not be published; the next pass retries).
    pub async fn release(&self, key: &str) -> Result<(), Error> {
        Ok(self.crossings.purge(key).await?)
    }

    pub async fn crossing(&self, key: &str) -> Result<Option<Crossing>, Error> {
        Ok(self.crossings.get(key).await?.map(|v| v.value))
    }

    /// Takes or renews the leadership lease; `false` when another holder has it.
    pub async fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<bool, Error> {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let (_, taken) = self
            .lease
            .modify("leader", |current| {
                let at = now();
                if current.is_some_and(|l| l.holder != holder && l.until >= at) {
                    return Change::Keep;
                }
                Change::Write(Lease {
                    holder: holder.to_owned(),
                    until: at.saturating_add(ttl),
                })
            })
            .await?;
        Ok(taken)
    }

    /// Gives the lease up (on shutdown) so that another replica takes over at once.
    pub async fn release_lease(&self, holder: &str) -> Result<(), Error> {
        if let Some(lease) = self.lease.get("leader").await?
            && lease.value.holder == holder
        {
            self.lease.delete_at("leader", lease.revision).await?;
        }
        Ok(())
    }

    pub async fn record_pass(&self, holder: &str, passes: u64) -> Result<(), Error> {
        let pass = Pass {
            holder: holder.to_owned(),
            passes,
            at: now(),
        };
        self.passes.put("pass", &pass).await?;
        Ok(())
    }

    /// What the watcher watches on the Free plan, if anything.
    pub async fn plan_watch(&self) -> Result<Option<PlanWatch>, Error> {
        Ok(self.plan_watch.get(PLAN_WATCH_KEY).await?.map(|v| v.value))
    }

    pub async fn set_plan_watch(&self, watch: &PlanWatch) -> Result<(), Error> {
        self.plan_watch.put(PLAN_WATCH_KEY, watch).await?;
        Ok(())
    }

    pub async fn delete_plan_watch(&self) -> Result<(), Error> {
        Ok(self.plan_watch.delete(PLAN_WATCH_KEY).await?)
    }

    pub async fn last_pass(&self) -> Result<Option<Pass>, Error> {
        Ok(self.passes.get("pass").await?.map(|v| v.value))
    }
}
