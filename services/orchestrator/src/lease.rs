//! Run leases: which orchestrator replica drives a run, so that several replicas can run
//! side by side against one NATS.
//!
//! KV bucket `orchestrator-run-leases`, two kinds of keys per run:
//!
//! | key | value |
//! |---|---|
//! | `lease.<run>` | [`Lease`]: the holder (a replica id), the fencing token, the expiry |
//! | `nudge.<run>` | a time: written by a replica that is not driving the run but has a reason for the driver to look at it now (an event that may finish a waiting step, `apply --resume`) |
//!
//! The replica that drives a run holds its lease and renews it every heartbeat (3 s by
//! default) for the lease time (10 s by default). Every replica looks at the leases of the
//! unfinished runs every heartbeat, and takes over a run whose lease has expired: a
//! replica killed at time t renewed last after t − heartbeat, so its lease expires by
//! t + lease, and the next look of another replica takes the run over by
//! t + lease + heartbeat (13 s with the defaults; 7 s at the soonest).
//!
//! Each takeover increases the fencing token (one more than both the expired lease's and
//! the token stored in the run record), and the new holder writes its token into the run
//! record ([`Run::lease_token`](crate::run::Run::lease_token)) with its first write. Every
//! write of the driving loop is a compare-and-set of the run record that is refused when
//! the stored token is not the writer's own (see [`crate::store::RunStore::modify_fenced`]),
//! so a replica that lost its lease (paused, cut off from NATS, or just slow) cannot
//! overwrite the new holder's progress: its write either sees the greater token and is
//! refused, or raced the new holder's first write and lost the compare-and-set, and is
//! then applied again to the newer record, where it sees the greater token. Expiry
//! compares the holder's wall clock with the reader's: replicas' clocks must agree to well
//! under the lease time (NTP does); a skew only moves the takeover time, fencing holds
//! regardless.
//!
//! A replica id is unique per running process. The same id used again by a restarted
//! process (a pod that keeps its name) takes its old lease over at once instead of waiting
//! for it to expire; it still increases the token.

use std::time::Duration;

use futures::StreamExt;
use groundwork_bus::kv::{Bucket, Change, Records};
use groundwork_bus::names::RUN_LEASES_BUCKET;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::run::now_ms;

/// The bucket of leases and nudges.
const BUCKET: Bucket = Bucket {
    name: RUN_LEASES_BUCKET,
    description: "Orchestrator run leases (holder, fencing token, expiry) and nudges",
    history: 1,
};

/// The lease time and the heartbeat.
#[derive(Debug, Clone, Copy)]
pub struct LeaseSettings {
    /// How long a lease lasts without renewal.
    pub ttl: Duration,
    /// How often the holder renews its leases, and every replica looks for expired ones.
    pub heartbeat: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            heartbeat: Duration::from_secs(3),
        }
    }
}

/// A run's lease as stored under `lease.<run>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The replica that drives the run.
    pub holder: String,
    /// Increases on every takeover; the run record stores the token of its driver.
    pub token: u64,
    /// Unix milliseconds; 0 once the holder gave the lease up.
    pub expires_at_ms: i64,
}

impl Lease {
    /// Whether the lease still binds other replicas at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at_ms > now
    }
}

fn lease_key(run: &str) -> String {
    format!("lease.{run}")
}

fn nudge_key(run: &str) -> String {
    format!("nudge.{run}")
}

const NUDGE_PREFIX: &str = "nudge.";

/// The reason of the error a driving write gets once another replica took the run over.
pub const LEASE_LOST: &str = "RUN_LEASE_LOST";

/// The error of a driving write refused by the fence: the replica stops driving the run.
pub fn lost(run: &str) -> Error {
    Error::new(
        ErrorKind::FailedPrecondition,
        format!("run {run} is driven by another orchestrator replica now"),
    )
    .with_reason(LEASE_LOST)
}

/// Whether `e` says the lease was lost.
pub fn is_lost(e: &Error) -> bool {
    e.reason() == LEASE_LOST
}

/// This replica's view of the leases; cheap to clone.
#[derive(Debug, Clone)]
pub struct Leases {
    leases: Records<Lease>,
    nudges: Records<i64>,
    replica: String,
    settings: LeaseSettings,
}

impl Leases {
    /// Opens (or creates) the bucket, for the replica `replica`.
    pub async fn open(
        client: &async_nats::Client,
        timeout: Duration,
        replicas: usize,
        replica: String,
        settings: LeaseSettings,
    ) -> Result<Self, Error> {
        let js = groundwork_bus::connect::jetstream(client, timeout);
        let leases: Records<Lease> = Records::open(&js, &BUCKET, replicas).await?;
        let nudges = Records::new(leases.store().clone(), &BUCKET);
        Ok(Self {
            leases,
            nudges,
            replica,
            settings,
        })
    }

    /// This replica's id.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub fn settings(&self) -> LeaseSettings {
        self.settings
    }

    /// The lease of `run`, if there is one.
    pub async fn get(&self, run: &str) -> Result<Option<Lease>, Error> {
        Ok(self.leases.get(&lease_key(run)).await?.map(|v| v.value))
    }

    /// Takes the lease of `run` when nobody else holds it live; `floor` is the token stored
    /// in the run record. Returns the new fencing token, `None` when another replica holds
    /// the lease.
    pub async fn acquire(&self, run: &str, floor: u64) -> Result<Option<u64>, Error> {
        let now = now_ms();
        let ttl = self.settings.ttl.as_millis() as i64;
        let (lease, wrote) = self
            .leases
            .modify(&lease_key(run), |current| match current {
                Some(l) if l.holder != self.replica && l.is_live(now) => Change::Keep,
                other => Change::Write(Lease {
                    holder: self.replica.clone(),
                    token: other.map_or(0, |l| l.token).max(floor) + 1,
                    expires_at_ms: now + ttl,
                }),
            })
            .await?;
        Ok(lease.filter(|_| wrote).map(|l| l.value.token))
    }

    /// Renews the lease held with `token`; `false` when it is no longer ours (taken over).
    pub async fn renew(&self, run: &str, token: u64) -> Result<bool, Error> {
        let now = now_ms();
        let ttl = self.settings.ttl.as_millis() as i64;
        let (_, wrote) = self
            .leases
            .modify(&lease_key(run), |current| match current {
                Some(l) if l.holder == self.replica && l.token == token => Change::Write(Lease {
                    expires_at_ms: now + ttl,
                    ..l.clone()
                }),
                _ => Change::Keep,
            })
            .await?;
        Ok(wrote)
    }

    /// Gives the lease up (the run is over, or the replica stops), so that another replica
    /// may take the run at once. The token stays, so the next one is greater.
    pub async fn release(&self, run: &str, token: u64) -> Result<(), Error> {
        self.leases
            .modify(&lease_key(run), |current| match current {
                Some(l) if l.holder == self.replica && l.token == token => Change::Write(Lease {
                    expires_at_ms: 0,
                    ..l.clone()
                }),
                _ => Change::Keep,
            })
            .await?;
        Ok(())
    }

    /// Asks the replica that drives `run` to look at it now.
    pub async fn nudge(&self, run: &str) -> Result<(), Error> {
        self.nudges.put(&nudge_key(run), &now_ms()).await?;
        Ok(())
    }

    /// The runs nudged from now on.
    pub async fn nudges(&self) -> Result<impl futures::Stream<Item = String> + use<>, Error> {
        let watch = self
            .nudges
            .store()
            .watch(format!("{NUDGE_PREFIX}>"))
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("NATS KV {RUN_LEASES_BUCKET}: cannot watch nudges: {e}"),
                )
            })?;
        Ok(watch.filter_map(|entry| async move {
            entry
                .ok()
                .and_then(|e| e.key.strip_prefix(NUDGE_PREFIX).map(str::to_owned))
        }))
    }
}
