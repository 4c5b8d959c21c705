//! The service's state in the JetStream KV bucket `budget-watch` (the service keeps none
//! of its own, so it can run as several replicas):
//!
//! | key | value |
//! |---|---|
//! | `managed.<budget>` | a budget Groundwork manages (the watcher watches it) |
//! | `crossed.<budget>.<period>.<threshold>` | a threshold crossing already published |
//! | `leader` | the watcher's leadership lease: holder and expiry |
//! | `pass` | the last completed watcher pass: holder and count |
//!
//! Crossings are claimed with `create` (compare-and-set on "absent"), so two replicas or a
//! restarted one never publish the same crossing twice.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::TryStreamExt;
use groundwork_bus::names::{BUDGET_WATCH_BUCKET, escape_token, unescape_token};
use serde::{Deserialize, Serialize};

use crate::domain::BudgetName;
use crate::error::Error;

/// The KV bucket, opened (or created) once.
#[derive(Debug, Clone)]
pub struct WatchStore {
    kv: kv::Store,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!(
        "NATS JetStream KV ({BUDGET_WATCH_BUCKET}) could not {what}: {e}; try again shortly"
    ))
}

/// A crossing, as recorded.
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

fn to_bytes<T: Serialize>(v: &T) -> Result<bytes::Bytes, Error> {
    serde_json::to_vec(v)
        .map(Into::into)
        .map_err(|e| Error::internal(format!("cannot encode KV value: {e}")))
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

impl WatchStore {
    /// Opens the bucket, creating it when it does not exist.
    pub async fn open(js: &jetstream::Context, replicas: usize) -> Result<Self, Error> {
        let kv = match js.get_key_value(BUDGET_WATCH_BUCKET).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: BUDGET_WATCH_BUCKET.to_owned(),
                    description: "Budget watcher: managed budgets, crossings published, lease"
                        .to_owned(),
                    history: 1,
                    num_replicas: replicas.max(1),
                    storage: jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| unavailable("be created", e))?,
        };
        Ok(Self { kv })
    }

    pub async fn mark_managed(&self, name: &BudgetName) -> Result<(), Error> {
        let value = to_bytes(&serde_json::json!({ "budget": name.as_str() }))?;
        self.kv
            .put(managed_key(name), value)
            .await
            .map_err(|e| unavailable("record a managed budget", e))?;
        Ok(())
    }

    pub async fn unmark_managed(&self, name: &BudgetName) -> Result<(), Error> {
        self.kv
            .delete(managed_key(name))
            .await
            .map_err(|e| unavailable("forget a managed budget", e))
    }

    pub async fn is_managed(&self, name: &BudgetName) -> Result<bool, Error> {
        Ok(self
            .kv
            .get(managed_key(name))
            .await
            .map_err(|e| unavailable("read", e))?
            .is_some())
    }

    /// Every managed budget.
    pub async fn managed(&self) -> Result<Vec<BudgetName>, Error> {
        let keys: Vec<String> = self
            .kv
            .keys()
            .await
            .map_err(|e| unavailable("list keys", e))?
            .try_collect()
            .await
            .map_err(|e| unavailable("list keys", e))?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix("managed."))
            .filter_map(unescape_token)
            .map(|n| BudgetName::from_aws(&n))
            .collect())
    }

    /// Claims a crossing: `true` when this caller is the first (and must publish it).
    pub async fn claim(&self, key: &str, crossing: &Crossing) -> Result<bool, Error> {
        match self.kv.create(key, to_bytes(crossing)?).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(unavailable("claim a crossing", e)),
        }
    }

    /// Gives a claim back (the event could not be published; the next pass retries).
    pub async fn release(&self, key: &str) -> Result<(), Error> {
        self.kv
            .purge(key)
            .await
            .map_err(|e| unavailable("release a crossing", e))
    }

    pub async fn crossing(&self, key: &str) -> Result<Option<Crossing>, Error> {
        let value = self.kv.get(key).await.map_err(|e| unavailable("read", e))?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Takes or renews the leadership lease; `false` when another holder has it.
    pub async fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<bool, Error> {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let lease = to_bytes(&Lease {
            holder: holder.to_owned(),
            until: now().saturating_add(ttl),
        })?;
        let entry = self
            .kv
            .entry("leader")
            .await
            .map_err(|e| unavailable("read the lease", e))?;
        let result = match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                let current: Option<Lease> = serde_json::from_slice(&e.value).ok();
                let free = current.is_none_or(|l| l.holder == holder || l.until < now());
                if !free {
                    return Ok(false);
                }
                self.kv
                    .update("leader", lease, e.revision)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.kind() == kv::UpdateErrorKind::WrongLastRevision)
            }
            _ => self
                .kv
                .create("leader", lease)
                .await
                .map(|_| ())
                .map_err(|e| e.kind() == kv::CreateErrorKind::AlreadyExists),
        };
        match result {
            Ok(()) => Ok(true),
            // Another replica got there first.
            Err(true) => Ok(false),
            Err(false) => Err(unavailable("write the lease", "compare-and-set failed")),
        }
    }

    /// Gives the lease up (on shutdown) so that another replica takes over at once.
    pub async fn release_lease(&self, holder: &str) -> Result<(), Error> {
        let entry = self
            .kv
            .entry("leader")
            .await
            .map_err(|e| unavailable("read the lease", e))?;
        if let Some(e) = entry
            && e.operation == kv::Operation::Put
            && serde_json::from_slice::<Lease>(&e.value).is_ok_and(|l| l.holder == holder)
        {
            self.kv
                .delete_expect_revision("leader", Some(e.revision))
                .await
                .map_err(|e| unavailable("release the lease", e))?;
        }
        Ok(())
    }

    pub async fn record_pass(&self, holder: &str, passes: u64) -> Result<(), Error> {
        let pass = Pass {
            holder: holder.to_owned(),
            passes,
            at: now(),
        };
        self.kv
            .put("pass", to_bytes(&pass)?)
            .await
            .map_err(|e| unavailable("record a pass", e))?;
        Ok(())
    }

    pub async fn last_pass(&self) -> Result<Option<Pass>, Error> {
        let value = self
            .kv
            .get("pass")
            .await
            .map_err(|e| unavailable("read", e))?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }
}
