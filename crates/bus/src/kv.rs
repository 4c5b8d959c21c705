//! JetStream KV, one way: [`open_bucket`] opens or creates a bucket from its [`Bucket`]
//! description, and [`Records`] stores typed JSON records in it, changed only by
//! compare-and-set ([`Records::modify`], [`Records::swap`]) so that concurrent replicas
//! never overwrite each other's changes.

use std::marker::PhantomData;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{BusError, BusErrorKind};

/// A bucket Groundwork keeps: its name (from [`crate::names`]), what it holds, and how many
/// past values of a key it keeps.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    pub name: &'static str,
    pub description: &'static str,
    pub history: i64,
}

/// Opens `bucket`, creating it with `replicas` copies when it does not exist yet
/// ([`crate::replicas::DETECT`]: as many as the server's cluster calls for, see
/// [`crate::replicas`]), and raising an existing one that keeps fewer
/// ([`crate::streams::raise_replicas`]). Every replica of a service calls this at start-up.
pub async fn open_bucket(
    js: &jetstream::Context,
    bucket: &Bucket,
    replicas: usize,
) -> Result<kv::Store, BusError> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Ok(store) = js.get_key_value(bucket.name).await {
            let wanted = crate::replicas::for_context(js, replicas).await?.max(1);
            crate::streams::raise_replicas(js, store.stream.clone(), wanted).await;
            return Ok(store);
        }
        let created = js
            .create_key_value(kv::Config {
                bucket: bucket.name.to_owned(),
                description: bucket.description.to_owned(),
                history: bucket.history,
                num_replicas: crate::replicas::for_context(js, replicas).await?.max(1),
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| bucket_error(bucket.name, &e));
        match created {
            // A creation that timed out (a cluster still placing it, or another replica
            // creating it at the same moment) may have happened all the same: look again
            // before giving up, as streams do.
            Err(e) if e.kind() == BusErrorKind::Unavailable && attempt < ATTEMPTS => {
                tracing::debug!(bucket = bucket.name, error = %e, attempt, "bucket not created yet; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                    .await;
            }
            created => return created,
        }
    }
}

/// The error for a bucket JetStream did not create; a refusal of its stream is classified
/// as a stream's would be ([`crate::streams::creation_error`]).
fn bucket_error(bucket: &str, e: &jetstream::context::CreateKeyValueError) -> BusError {
    use jetstream::context::CreateKeyValueErrorKind as K;
    let message = format!("cannot create KV bucket {bucket}: {e}");
    let refused = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<jetstream::context::CreateStreamError>())
        .filter(|_| e.kind() == K::BucketCreate);
    match (e.kind(), refused) {
        (_, Some(refused)) => crate::streams::creation_error(message, refused),
        (K::TimedOut | K::JetStream, _) => BusError::new(BusErrorKind::Unavailable, message),
        _ => BusError::new(BusErrorKind::Rejected, message),
    }
}

/// A record and the revision it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub revision: u64,
}

/// How many times [`Records::modify`] re-reads after losing a compare-and-set. Each loss is
/// real progress by another writer, so a handful of rounds is plenty.
const CAS_ROUNDS: usize = 20;

/// Typed JSON records in one bucket.
#[derive(Debug)]
pub struct Records<T> {
    kv: kv::Store,
    bucket: &'static str,
    _record: PhantomData<fn() -> T>,
}

impl<T> Clone for Records<T> {
    fn clone(&self) -> Self {
        Self {
            kv: self.kv.clone(),
            bucket: self.bucket,
            _record: PhantomData,
        }
    }
}

/// The last value of `key` in `store`, asked of the bucket's stream leader.
///
/// async-nats reads entries with JetStream's direct get, which every replica of a replicated
/// bucket answers, followers included, and a follower that has not applied the latest write
/// yet answers with the value before it: nats-server promises no read-after-write there. A
/// record one replica of a service has just written would then look missing or old to
/// another. Every read of Groundwork's that decides something (the base of a
/// compare-and-set, whether a record exists) asks the leader instead, which answers with
/// what was acknowledged. The watches that keep views current are not reads of this kind.
pub async fn latest(store: &kv::Store, key: &str) -> Result<Option<kv::Entry>, BusError> {
    use jetstream::stream::LastRawMessageErrorKind;
    let message = match store
        .stream
        .get_last_raw_message_by_subject(&format!("{}{key}", store.prefix))
        .await
    {
        Ok(message) => message,
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(None),
        Err(e) if e.kind() == LastRawMessageErrorKind::InvalidSubject => {
            return Err(BusError::new(
                BusErrorKind::Rejected,
                format!("NATS KV {}: {key:?} is not a valid key", store.name),
            ));
        }
        Err(e) => return Err(unavailable(&store.name, "read", key, e)),
    };
    // A put has no operation header; deletes and purges (and the server's own markers)
    // say what they are.
    let operation = match message
        .headers
        .get("KV-Operation")
        .or_else(|| message.headers.get(async_nats::header::NATS_MARKER_REASON))
        .map(async_nats::HeaderValue::as_str)
    {
        None | Some("PUT") => kv::Operation::Put,
        Some("DEL" | "Remove") => kv::Operation::Delete,
        Some(_) => kv::Operation::Purge,
    };
    Ok(Some(kv::Entry {
        bucket: store.name.clone(),
        key: key.to_owned(),
        value: message.payload,
        revision: message.sequence,
        delta: 0,
        created: message.time,
        operation,
        seen_current: false,
    }))
}

fn unavailable(bucket: &str, what: &str, key: &str, e: impl std::fmt::Display) -> BusError {
    BusError::unavailable(format!(
        "NATS KV {bucket}: cannot {what} {key}: {e}; try again shortly"
    ))
}

impl<T> Records<T> {
    pub fn new(kv: kv::Store, bucket: &Bucket) -> Self {
        Self {
            kv,
            bucket: bucket.name,
            _record: PhantomData,
        }
    }

    /// The underlying store, for watching keys.
    pub fn store(&self) -> &kv::Store {
        &self.kv
    }
}

impl<T: Serialize> Records<T> {
    fn encode(&self, value: &T) -> Result<bytes::Bytes, BusError> {
        serde_json::to_vec(value).map(Into::into).map_err(|e| {
            BusError::new(
                BusErrorKind::Internal,
                format!("cannot encode a record of {}: {e}", self.bucket),
            )
        })
    }

    /// Writes `value` whatever is there; returns the new revision.
    pub async fn put(&self, key: &str, value: &T) -> Result<u64, BusError> {
        let bytes = self.encode(value)?;
        self.kv
            .put(key, bytes)
            .await
            .map_err(|e| unavailable(self.bucket, "write", key, e))
    }

    /// Writes `value` only if `key` holds nothing; `None` when it exists already.
    pub async fn create(&self, key: &str, value: &T) -> Result<Option<u64>, BusError> {
        self.swap(key, value, None).await
    }

    /// Writes `value` if `key` is still at `revision` (`None`: if it does not exist);
    /// `Ok(None)` when another writer got there first.
    pub async fn swap(
        &self,
        key: &str,
        value: &T,
        revision: Option<u64>,
    ) -> Result<Option<u64>, BusError> {
        let bytes = self.encode(value)?;
        match revision {
            None => match self.kv.create(key, bytes).await {
                Ok(rev) => Ok(Some(rev)),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(unavailable(self.bucket, "create", key, e)),
            },
            Some(rev) => match self.kv.update(key, bytes, rev).await {
                Ok(rev) => Ok(Some(rev)),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
                Err(e) => Err(unavailable(self.bucket, "update", key, e)),
            },
        }
    }
}

impl<T: Serialize + DeserializeOwned> Records<T> {
    /// Opens (or creates) `bucket` and its records.
    pub async fn open(
        js: &jetstream::Context,
        bucket: &Bucket,
        replicas: usize,
    ) -> Result<Self, BusError> {
        Ok(Self::new(open_bucket(js, bucket, replicas).await?, bucket))
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<T, BusError> {
        serde_json::from_slice(bytes).map_err(|e| {
            BusError::new(
                BusErrorKind::Internal,
                format!("record {key} of {} is unreadable: {e}", self.bucket),
            )
        })
    }

    /// The record under `key`, if there is one, as last written by any replica (see
    /// [`latest`]).
    pub async fn get(&self, key: &str) -> Result<Option<Versioned<T>>, BusError> {
        match latest(&self.kv, key).await? {
            Some(e) if e.operation == kv::Operation::Put => Ok(Some(Versioned {
                value: self.decode(key, &e.value)?,
                revision: e.revision,
            })),
            _ => Ok(None),
        }
    }

    /// Changes the record under `key` by compare-and-set: `change` gets the current value
    /// (`None` when there is none) and says what to do; on a lost race it runs again on the
    /// newer value, so it must be a pure function of its input. Returns the record as stored
    /// afterwards (`None` when there is none) and whether this call wrote it.
    pub async fn modify(
        &self,
        key: &str,
        mut change: impl FnMut(Option<&T>) -> Change<T>,
    ) -> Result<(Option<Versioned<T>>, bool), BusError> {
        for _ in 0..CAS_ROUNDS {
            let current = self.get(key).await?;
            let revision = current.as_ref().map(|c| c.revision);
            match change(current.as_ref().map(|c| &c.value)) {
                Change::Keep => return Ok((current, false)),
                Change::Write(value) => {
                    if let Some(revision) = self.swap(key, &value, revision).await? {
                        return Ok((Some(Versioned { value, revision }), true));
                    }
                }
            }
        }
        Err(BusError::new(
            BusErrorKind::Conflict,
            format!(
                "record {key} of {} kept changing under concurrent writers; try again",
                self.bucket
            ),
        ))
    }

    /// Deletes `key` (a tombstone that keeps the key's history).
    pub async fn delete(&self, key: &str) -> Result<(), BusError> {
        self.kv
            .delete(key)
            .await
            .map_err(|e| unavailable(self.bucket, "delete", key, e))
    }

    /// Deletes `key` only if it is still at `revision`; `false` when it changed meanwhile.
    pub async fn delete_at(&self, key: &str, revision: u64) -> Result<bool, BusError> {
        match self.kv.delete_expect_revision(key, Some(revision)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == kv::DeleteErrorKind::WrongLastRevision => Ok(false),
            Err(e) => Err(unavailable(self.bucket, "delete", key, e)),
        }
    }

    /// Removes `key` and its history.
    pub async fn purge(&self, key: &str) -> Result<(), BusError> {
        self.kv
            .purge(key)
            .await
            .map_err(|e| unavailable(self.bucket, "purge", key, e))
    }

    /// Every key starting with `prefix` (a bucket of Groundwork's is small).
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, BusError> {
        let mut keys = self
            .kv
            .keys()
            .await
            .map_err(|e| unavailable(self.bucket, "list", prefix, e))?;
        let mut out = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| unavailable(self.bucket, "list", prefix, e))?;
            if key.starts_with(prefix) {
                out.push(key);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every record whose key starts with `prefix`, with its key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned<T>)>, BusError> {
        let mut out = Vec::new();
        for key in self.keys(prefix).await? {
            if let Some(record) = self.get(&key).await? {
                out.push((key, record));
            }
        }
        Ok(out)
    }

    /// The record under `key` now, then every new value (deletions are skipped).
    pub async fn watch(
        &self,
        key: &str,
    ) -> Result<impl futures::Stream<Item = Result<T, BusError>> + use<T>, BusError> {
        let this = self.clone();
        let watch = self
            .kv
            .watch_with_history(key)
            .await
            .map_err(|e| unavailable(self.bucket, "watch", key, e))?;
        Ok(watch.filter_map(move |entry| {
            let this = this.clone();
            async move {
                match entry {
                    Ok(e) if e.operation == kv::Operation::Put => {
                        Some(this.decode(&e.key, &e.value))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(unavailable(this.bucket, "watch", "a key", e))),
                }
            }
        }))
    }
}

/// What [`Records::modify`]'s closure decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<T> {
    /// Leave the record as it is.
    Keep,
    /// Write this value.
    Write(T),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Counter {
        n: u32,
    }

    const BUCKET: Bucket = Bucket {
        name: "kit-test",
        description: "test",
        history: 1,
    };

    async fn records() -> (groundwork_testkit::NatsServer, Records<Counter>) {
        let nats = groundwork_testkit::NatsServer::start().unwrap();
        let client = nats.admin().await.unwrap();
        let js = jetstream::new(client);
        let records = Records::open(&js, &BUCKET, 1).await.unwrap();
        (nats, records)
    }

    #[tokio::test]
    async fn concurrent_modifications_are_all_applied_once() {
        let (_nats, records) = records().await;
        assert!(
            records
                .create("c", &Counter { n: 0 })
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            records
                .create("c", &Counter { n: 9 })
                .await
                .unwrap()
                .is_none()
        );
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let r = records.clone();
                tokio::spawn(async move {
                    r.modify("c", |c| {
                        Change::Write(Counter {
                            n: c.unwrap().n + 1,
                        })
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().1);
        }
        assert_eq!(records.get("c").await.unwrap().unwrap().value.n, 10);
        let (kept, wrote) = records.modify("c", |_| Change::Keep).await.unwrap();
        assert!(!wrote);
        assert_eq!(kept.unwrap().value.n, 10);
        let (absent, wrote) = records.modify("none", |_| Change::Keep).await.unwrap();
        assert!(absent.is_none() && !wrote);
        assert_eq!(records.keys("").await.unwrap(), ["c"]);
        records.delete("c").await.unwrap();
        assert!(records.get("c").await.unwrap().is_none());
    }

    /// A bucket whose stream the servers refuse is classified as a stream would be: out of
    /// room is a limit, a node away is worth retrying, the rest is refused.
    #[test]
    fn a_refused_bucket_is_classified_as_its_stream_would_be() {
        use jetstream::context::{CreateKeyValueError, CreateKeyValueErrorKind, CreateStreamError};
        let refused = |description: &str| {
            let js: jetstream::Error = serde_json::from_value(serde_json::json!({
                "code": 400, "err_code": 10005, "description": description
            }))
            .unwrap();
            bucket_error(
                "b",
                &CreateKeyValueError::with_source(
                    CreateKeyValueErrorKind::BucketCreate,
                    CreateStreamError::from(js),
                ),
            )
        };
        let full = refused("no suitable peers for placement, insufficient storage");
        assert_eq!(full.kind(), BusErrorKind::Exhausted, "{full}");
        assert!(
            full.to_string().contains("cannot create KV bucket b"),
            "{full}"
        );
        let away = refused("no suitable peers for placement, peer offline");
        assert_eq!(away.kind(), BusErrorKind::Unavailable, "{away}");
        let bad = bucket_error(
            "b",
            &CreateKeyValueError::new(CreateKeyValueErrorKind::InvalidStoreName),
        );
        assert_eq!(bad.kind(), BusErrorKind::Rejected, "{bad}");
    }

    #[tokio::test]
    async fn a_stale_revision_loses() {
        let (_nats, records) = records().await;
        let rev = records.put("k", &Counter { n: 1 }).await.unwrap();
        assert!(
            records
                .swap("k", &Counter { n: 2 }, Some(rev))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            records
                .swap("k", &Counter { n: 3 }, Some(rev))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(records.get("k").await.unwrap().unwrap().value.n, 2);
    }

    /// On a three-node cluster, a record written through one node is read at once through
    /// the others, every time: reads go to the leader, not to whichever replica answers a
    /// direct get first (a follower one write behind answers with the old value).
    #[tokio::test]
    async fn every_replica_reads_the_last_write_at_once() {
        let cluster = groundwork_testkit::NatsCluster::start().unwrap();
        let mut stores = Vec::new();
        for url in cluster.urls() {
            let client = cluster
                .connect_options("admin")
                .unwrap()
                .connect(url)
                .await
                .unwrap();
            // Bursts of 500 puts on a cluster sharing two cores with other tests: an ack
            // may take longer than the client's default 5 s.
            let js = crate::connect::jetstream(&client, std::time::Duration::from_secs(30));
            let records: Records<Counter> = Records::open(&js, &BUCKET, 3).await.unwrap();
            stores.push(records);
        }
        // Each round writes a burst through one node (the acks say that a majority has
        // it, not all three), then reads through every node at once.
        let mut stale = Vec::new();
        for round in 0..40u32 {
            let writer = &stores[round as usize % 3];
            let burst = 500;
            let values: Vec<Counter> = (0..burst)
                .map(|i| Counter {
                    n: round * burst + i,
                })
                .collect();
            let revisions =
                futures::future::join_all(values.iter().map(|v| writer.put("k", v))).await;
            let last = revisions
                .into_iter()
                .map(|r| {
                    r.map_err(|e| format!("round {round}: a put failed: {e}"))
                        .unwrap()
                })
                .max()
                .unwrap();
            let reads = futures::future::join_all(stores.iter().map(|r| r.get("k"))).await;
            for (node, read) in reads.into_iter().enumerate() {
                let seen = read.unwrap().map_or(0, |r| r.revision);
                if seen != last {
                    stale.push((round, node, last - seen));
                }
            }
        }
        assert!(
            stale.is_empty(),
            "stale reads (round, node, revisions behind): {stale:?}"
        );
        stores[1].purge("k").await.unwrap();
        for reader in &stores {
            assert!(reader.get("k").await.unwrap().is_none());
        }
    }
}
