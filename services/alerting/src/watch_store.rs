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
use groundwork_bus::kv::{Bucket, Records, open_bucket};
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
    pub async fn observe<T>(
        &self,
        key: &str,
        now: &T,
        transition: impl Fn(Option<&T>, &T) -> Option<Event>,
    ) -> Result<Observed, Error>
    where
        T: Serialize + DeserializeOwned + Clone + PartialEq,
    {
        // A lost compare-and-set means another replica moved; read again. A handful of
        // rounds is plenty: each one is lost only to real progress elsewhere.
        for _ in 0..5 {
            let current = self.get::<T>(key).await?;
            if let Some((record, revision)) = &current
                && record.outbox.is_some()
            {
                self.flush(key, record, *revision).await?;
                continue;
            }
            let previous = current.as_ref().map(|(r, _)| &r.observed);
            if previous == Some(now) {
                return Ok(Observed::Same);
            }
            let record = Record {
                observed: now.clone(),
                outbox: transition(previous, now),
            };
            let Some(revision) = self
                .swap(key, &record, current.as_ref().map(|(_, rev)| *rev))
                .await?
            else {
                continue;
            };
            return match self.flush(key, &record, revision).await? {
                Some(event) => Ok(Observed::Published(Box::new(event))),
                None => Ok(Observed::Recorded),
            };
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
