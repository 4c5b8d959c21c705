//! What the watchers saw last, in the JetStream KV bucket `alerting-watch`, and the
//! publication of the events a change of it causes — once per transition, whichever
//! replica sees it first, and also across restarts.
//!
//! A record holds the last observation and an *outbox*: the event a transition produced,
//! written by the same compare-and-set as the observation. The event is published (its
//! id is the JetStream de-duplication id) and then the outbox is cleared, again by
//! compare-and-set. A watcher that finds a record with a full outbox (its writer crashed
//! between the two steps) publishes that same event before anything else. So:
//! - two replicas seeing the same transition: one compare-and-set wins, one event;
//! - a restart: the last observation is in KV, nothing is published again;
//! - a crash after the write: the outbox is published by the next pass.

use async_nats::jetstream::kv;
use groundwork_bus::kv::{Bucket, Change, Records, open_bucket};
use groundwork_bus::{Emitter, names};
use groundwork_events::envelope::Event;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Error;

const BUCKET: Bucket = Bucket {
    name: names::ALERTING_WATCH_BUCKET,
    description: "What the alerting watchers saw last",
    history: 1,
};

/// Rounds of [`WatchStore::observe`]: each one either decides or publishes an event another
/// writer left in the outbox.
const OUTBOX_ROUNDS: usize = 5;

/// A stored observation and the event it still has to publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record<T> {
    pub observed: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<Event>,
}

/// What [`WatchStore::observe`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Nothing changed.
    Same,
    /// The observation changed and was recorded; no event is due.
    Recorded,
    /// A transition: this event was published.
    Published(Box<Event>),
}

/// The KV bucket and the bus events go to.
#[derive(Debug, Clone)]
pub struct WatchStore {
    kv: kv::Store,
    emitter: Emitter,
}

impl WatchStore {
    /// Opens (or creates) the bucket.
    pub async fn open(
        js: &async_nats::jetstream::Context,
        emitter: Emitter,
        replicas: usize,
    ) -> Result<Self, Error> {
        let kv = open_bucket(js, &BUCKET, replicas).await?;
        Ok(Self { kv, emitter })
    }

    /// The typed view of the bucket for records of `T`.
    fn records<T>(&self) -> Records<Record<T>> {
        Records::new(self.kv.clone(), &BUCKET)
    }

    /// The record under `key` and its revision.
    pub async fn get<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<(Record<T>, u64)>, Error> {
        Ok(self
            .records::<T>()
            .get(key)
            .await?
            .map(|v| (v.value, v.revision)))
    }

    /// Writes `record` if `key` is still at `revision` (`None`: if it does not exist).
    /// `Ok(None)` when someone else wrote first.
    async fn swap<T: Serialize>(
        &self,
        key: &str,
        record: &Record<T>,
        revision: Option<u64>,
    ) -> Result<Option<u64>, Error> {
        Ok(self.records::<T>().swap(key, record, revision).await?)
    }

    /// Publishes the outbox of the record at `revision`, then clears it. Another replica
    /// clearing it first is fine: the event id de-duplicates the publication.
    async fn flush<T: Serialize + Clone>(
        &self,
        key: &str,
        record: &Record<T>,
        revision: u64,
    ) -> Result<Option<Event>, Error> {
        let Some(event) = &record.outbox else {
            return Ok(None);
        };
        self.emitter.publish(event).await?;
        let cleared = Record {
            observed: record.observed.clone(),
            outbox: None,
        };
        self.swap(key, &cleared, Some(revision)).await?;
        Ok(Some(event.clone()))
    }

    /// Records `now` under `key`. When it differs from the last observation, `transition`
    /// decides (from the previous observation, if any) whether an event is due; that event
    /// is published once.
    ///
    /// The change is one [`Records::modify`] (compare-and-set, re-read on a lost race), as
    /// budget claims its crossings: of two replicas seeing the same transition, only the
    /// one whose write lands has an event to publish; the other re-reads, finds the new
    /// observation and does nothing. A record whose outbox is full is left as it is and
    /// its event published first (its writer crashed, or is publishing it right now: the
    /// event id makes the second publication a duplicate the bus drops).
    pub async fn observe<T>(
        &self,
        key: &str,
        now: &T,
        transition: impl Fn(Option<&T>, &T) -> Option<Event>,
    ) -> Result<Observed, Error>
    where
        T: Serialize + DeserializeOwned + Clone + PartialEq,
    {
        let records = self.records::<T>();
        // Each round that flushes another writer's outbox ends with it cleared, so the next
        // round decides on a clean record; more rounds mean the key keeps moving elsewhere.
        for _ in 0..OUTBOX_ROUNDS {
            let (stored, wrote) = records
                .modify(key, |current| match current {
                    Some(record) if record.outbox.is_some() || record.observed == *now => {
                        Change::Keep
                    }
                    current => {
                        let previous = current.map(|r| &r.observed);
                        Change::Write(Record {
                            observed: now.clone(),
                            outbox: transition(previous, now),
                        })
                    }
                })
                .await?;
            let Some(stored) = stored else {
                return Ok(Observed::Same);
            };
            if stored.value.outbox.is_none() {
                return Ok(if wrote {
                    Observed::Recorded
                } else {
                    Observed::Same
                });
            }
            let flushed = self.flush(key, &stored.value, stored.revision).await?;
            if wrote && let Some(event) = flushed {
                return Ok(Observed::Published(Box::new(event)));
            }
        }
        Err(Error::unavailable(format!(
            "watch state {key} kept changing under this replica; trying again next pass"
        )))
    }

    /// Forgets what was seen under `key` (the resource was deleted: if it comes back, its
    /// creation takes a new baseline).
    pub async fn forget(&self, key: &str) -> Result<(), Error> {
        self.kv
            .purge(key)
            .await
            .map_err(|e| Error::unavailable(format!("watch state {key}: {e}")))
    }

    /// Records `now` only if nothing is recorded yet (a baseline taken when the resource
    /// is created, so that its first change is a transition).
    pub async fn baseline<T: Serialize>(&self, key: &str, now: &T) -> Result<(), Error> {
        let record = Record {
            observed: now,
            outbox: None,
        };
        self.swap(key, &record, None).await.map(|_| ())
    }
}
