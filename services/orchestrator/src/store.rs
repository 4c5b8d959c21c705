//! Runs in the KV bucket `orchestrator-runs`, one key per run (`run.<id>`). A run changes
//! only by compare-and-set: read the value and its revision, apply the change, write it
//! with `update(key, value, revision)`; a concurrent writer makes the write fail and the
//! change is applied again to the newer value. Changes are transitions of the tables in
//! [`crate::machine`], so applying one twice is harmless.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use groundwork_bus::names::RUNS_BUCKET;

use crate::error::Error;
use crate::run::{Run, now_ms};

/// How many times a compare-and-set is retried against concurrent writers.
const CAS_ATTEMPTS: usize = 20;

/// The run store.
#[derive(Debug, Clone)]
pub struct RunStore {
    kv: kv::Store,
}

fn key(id: &str) -> String {
    format!("run.{id}")
}

impl RunStore {
    /// Opens (or creates) the bucket.
    pub async fn open(
        client: &async_nats::Client,
        timeout: Duration,
        replicas: usize,
    ) -> Result<Self, Error> {
        let js = groundwork_bus::connect::jetstream(client, timeout);
        let kv = match js.get_key_value(RUNS_BUCKET).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: RUNS_BUCKET.to_owned(),
                    description: "Orchestrator runs: steps, states, attempts, outputs (no secrets)"
                        .into(),
                    history: 5,
                    num_replicas: replicas,
                    storage: async_nats::jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| Error::Unavailable(format!("cannot create KV {RUNS_BUCKET}: {e}")))?,
        };
        Ok(Self { kv })
    }

    /// Stores a new run; fails if the id exists.
    pub async fn create(&self, run: &Run) -> Result<u64, Error> {
        let bytes = encode(run)?;
        self.kv
            .create(key(&run.id), bytes.into())
            .await
            .map_err(|e| Error::Unavailable(format!("cannot store run {}: {e}", run.id)))
    }

    /// A run and its revision.
    pub async fn get(&self, id: &str) -> Result<Option<(Run, u64)>, Error> {
        let entry = self
            .kv
            .entry(key(id))
            .await
            .map_err(|e| Error::Unavailable(format!("cannot read run {id}: {e}")))?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                Ok(Some((decode(&e.value)?, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Applies `change` by compare-and-set. `change` returns whether it changed the run;
    /// an unchanged run is not written. Returns the run as stored, and whether it changed.
    pub async fn modify(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Run) -> bool,
    ) -> Result<(Run, bool), Error> {
        for _ in 0..CAS_ATTEMPTS {
            let (mut run, revision) = self
                .get(id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no run {id}")))?;
            if !change(&mut run) {
                return Ok((run, false));
            }
            run.updated_at_ms = now_ms();
            match self
                .kv
                .update(key(id), encode(&run)?.into(), revision)
                .await
            {
                Ok(_) => return Ok((run, true)),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => {
                    return Err(Error::Unavailable(format!("cannot update run {id}: {e}")));
                }
            }
        }
        Err(Error::Unavailable(format!(
            "run {id} kept changing under concurrent writers; try again"
        )))
    }

    /// Every run (small: one key per run).
    pub async fn list(&self) -> Result<Vec<Run>, Error> {
        let mut keys = self
            .kv
            .keys()
            .await
            .map_err(|e| Error::Unavailable(format!("cannot list runs: {e}")))?;
        let mut runs = Vec::new();
        while let Some(k) = keys.next().await {
            let k = k.map_err(|e| Error::Unavailable(format!("cannot list runs: {e}")))?;
            if let Some(id) = k.strip_prefix("run.")
                && let Some((run, _)) = self.get(id).await?
            {
                runs.push(run);
            }
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.created_at_ms));
        Ok(runs)
    }

    /// The run now, then every change.
    pub async fn watch(
        &self,
        id: &str,
    ) -> Result<impl futures::Stream<Item = Result<Run, Error>> + use<>, Error> {
        let watch = self
            .kv
            .watch_with_history(key(id))
            .await
            .map_err(|e| Error::Unavailable(format!("cannot watch run {id}: {e}")))?;
        Ok(watch.filter_map(|entry| async move {
            match entry {
                Ok(e) if e.operation == kv::Operation::Put => Some(decode(&e.value)),
                Ok(_) => None,
                Err(e) => Some(Err(Error::Unavailable(format!("watching a run: {e}")))),
            }
        }))
    }
}

fn encode(run: &Run) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(run).map_err(|e| Error::Internal(format!("cannot encode run: {e}")))
}

fn decode(bytes: &[u8]) -> Result<Run, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Internal(format!("corrupt run record: {e}")))
}
