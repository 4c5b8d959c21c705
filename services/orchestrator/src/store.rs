//! Runs in the KV bucket `orchestrator-runs`, one key per run (`run.<id>`), as typed records
//! of the bus's KV layer: a run changes only by compare-and-set, and a change that loses to
//! a concurrent writer is applied again to the newer value. Changes are transitions of the
//! tables in [`crate::machine`], so applying one twice is harmless. The replica that drives
//! a run writes through [`RunStore::modify_fenced`], which refuses the write of a replica
//! whose lease was taken over; the other writes (`apply --resume`, a person's
//! acknowledgement of secrets) are single transitions applied by compare-and-set to the
//! latest record, keep its fencing token, and cannot undo the driver's progress.

use std::time::Duration;

use groundwork_bus::kv::{Bucket, Change, Records};
use groundwork_bus::names::RUNS_BUCKET;

use crate::error::Error;
use crate::lease;
use crate::run::{Run, now_ms};

/// The bucket of runs.
const BUCKET: Bucket = Bucket {
    name: RUNS_BUCKET,
    description: "Orchestrator runs: steps, states, attempts, outputs (no secrets)",
    history: 5,
};

/// The run store.
#[derive(Debug, Clone)]
pub struct RunStore {
    records: Records<Run>,
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
        Ok(Self {
            records: Records::open(&js, &BUCKET, replicas).await?,
        })
    }

    /// Stores a new run; fails if the id exists.
    pub async fn create(&self, run: &Run) -> Result<u64, Error> {
        self.records
            .create(&key(&run.id), run)
            .await?
            .ok_or_else(|| Error::already_exists(format!("run {} exists already", run.id)))
    }

    /// A run and its revision.
    pub async fn get(&self, id: &str) -> Result<Option<(Run, u64)>, Error> {
        Ok(self
            .records
            .get(&key(id))
            .await?
            .map(|v| (v.value, v.revision)))
    }

    /// Applies `change` by compare-and-set. `change` returns whether it changed the run;
    /// an unchanged run is not written. Returns the run as stored, and whether it changed.
    pub async fn modify(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Run) -> bool,
    ) -> Result<(Run, bool), Error> {
        let (run, changed) = self
            .records
            .modify(&key(id), |current| {
                let Some(current) = current else {
                    return Change::Keep;
                };
                let mut run = current.clone();
                if change(&mut run) {
                    run.updated_at_ms = now_ms();
                    Change::Write(run)
                } else {
                    Change::Keep
                }
            })
            .await?;
        let run = run.ok_or_else(|| Error::not_found(format!("no run {id}")))?;
        Ok((run.value, changed))
    }

    /// Applies `change` by compare-and-set for the replica that drives the run under the
    /// lease with fencing `token` (see [`crate::lease`]). The write is refused with
    /// [`lease::lost`] when the run record stores a greater token: another replica took
    /// the run over, and this one must stop driving it. The check and the write are one
    /// compare-and-set on the record's revision, so a takeover that lands between this
    /// call's read and its write makes the write fail and run again on the newer record,
    /// where it is refused. The first write under a new token stores it in the record.
    /// Returns the run as stored, and whether `change` changed it.
    pub async fn modify_fenced(
        &self,
        id: &str,
        token: u64,
        mut change: impl FnMut(&mut Run) -> bool,
    ) -> Result<(Run, bool), Error> {
        let mut fenced = false;
        let mut changed = false;
        let (run, _) = self
            .records
            .modify(&key(id), |current| {
                fenced = false;
                changed = false;
                let Some(current) = current else {
                    return Change::Keep;
                };
                if current.lease_token > token {
                    fenced = true;
                    return Change::Keep;
                }
                let mut run = current.clone();
                changed = change(&mut run);
                if changed || run.lease_token != token {
                    run.lease_token = token;
                    run.updated_at_ms = now_ms();
                    Change::Write(run)
                } else {
                    Change::Keep
                }
            })
            .await?;
        if fenced {
            return Err(lease::lost(id));
        }
        let run = run.ok_or_else(|| Error::not_found(format!("no run {id}")))?;
        Ok((run.value, changed))
    }

    /// Every run, newest first (small: one key per run).
    pub async fn list(&self) -> Result<Vec<Run>, Error> {
        let mut runs: Vec<Run> = self
            .records
            .list("run.")
            .await?
            .into_iter()
            .map(|(_, v)| v.value)
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse(r.created_at_ms));
        Ok(runs)
    }

    /// The run now, then every change.
    pub async fn watch(
        &self,
        id: &str,
    ) -> Result<impl futures::Stream<Item = Result<Run, Error>> + use<>, Error> {
        use futures::StreamExt;
        let watch = self.records.watch(&key(id)).await?;
        Ok(watch.map(|r| r.map_err(Error::from)))
    }
}
