//! The engine: drives runs to COMPLETED or FAILED.
//!
//! One task per active run reads the run from KV, starts every ready step (independent
//! steps in parallel), records each step's result with a compare-and-set transition, and
//! derives the run's status. It sleeps until a step finishes, a backoff is due, a waiting
//! step should be checked again, or it is woken (an event, `apply --resume`).
//!
//! Crash safety: a step is marked RUNNING before its call and its result is written after;
//! a process that dies in between leaves RUNNING, which the next start turns back into
//! PENDING (the table's `Resume`), and the idempotent call runs again.
//!
//! Replicas: a run is driven by the replica that holds its lease ([`crate::lease`]), renewed
//! by a heartbeat; every write of the driving loop is fenced by the lease's token, and a
//! replica that finds its lease lost stops driving the run at once (calls in flight are
//! abandoned; the new holder runs that step again). Every replica takes over the runs
//! whose lease expired. A replica that is asked to move a run it does not drive (an event
//! for a waiting step, `apply --resume`) nudges the driver, which looks at the run at once.
//!
//! One-time secrets are sealed into the [`Vault`] first, where they wait for a person, then
//! handed to the [`SecretHub`] (the attached apply streams); never into the run record,
//! which notes only whether they were delivered (`secrets_delivered`: `no` until a client
//! acknowledges them, then `yes`) and until when they are held (`secrets_expire_at`).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use groundwork_bus::Emitter;
use groundwork_events::catalog::{
    CatalogEvent, SetupRunCompleted, SetupRunStarted, SetupRunWaiting, SetupStepFailed,
    SetupStepSucceeded, WaitingStep,
};
use groundwork_kit::Shutdown;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::graph::Graph;
use crate::lease::{self, Leases};
use crate::machine::{RunStatus, StepEvent, StepState};
use crate::resource::{Resource, ResourceId};
use crate::run::{Run, RunKind, StepRecord, now_ms, rfc3339};
use crate::runner::{OneTimeSecret, StepResult, StepRunner};
use crate::scheduler;
use crate::store::RunStore;
use crate::vault::Vault;

/// Retry and check timings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Calls per step before the run fails.
    pub max_attempts: u32,
    /// First backoff; doubles per attempt up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How often a WAITING step is checked again when no event arrives.
    pub recheck_interval: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            recheck_interval: Duration::from_secs(15),
        }
    }
}

/// Where apply streams receive the secrets of their run.
#[derive(Debug, Default, Clone)]
pub struct SecretHub {
    inner: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Vec<OneTimeSecret>>>>>,
}

impl SecretHub {
    /// Attaches a receiver for a run's secrets (the latest attach wins).
    pub fn attach(&self, run_id: &str) -> mpsc::UnboundedReceiver<Vec<OneTimeSecret>> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut map) = self.inner.lock() {
            map.insert(run_id.to_owned(), tx);
        }
        rx
    }

    /// Hands secrets to the attached stream; `false` when nobody listens.
    pub fn deliver(&self, run_id: &str, secrets: Vec<OneTimeSecret>) -> bool {
        let Ok(mut map) = self.inner.lock() else {
            return false;
        };
        match map.get(run_id) {
            Some(tx) if tx.send(secrets).is_ok() => true,
            Some(_) => {
                map.remove(run_id);
                false
            }
            None => false,
        }
    }
}

/// Drives runs; cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: RunStore,
    vault: Vault,
    runner: Arc<dyn StepRunner>,
    events: Option<Emitter>,
    secrets: SecretHub,
    settings: EngineSettings,
    leases: Leases,
    /// The runs this replica drives, or is about to.
    active: Mutex<HashMap<String, Arc<Active>>>,
    shutdown: Shutdown,
}

/// A run this replica drives.
#[derive(Debug, Default)]
struct Active {
    notify: Notify,
    /// The fencing token of this replica's lease on the run; 0 until it is taken.
    token: AtomicU64,
}

impl Engine {
    pub fn new(
        store: RunStore,
        vault: Vault,
        runner: Arc<dyn StepRunner>,
        events: Option<Emitter>,
        settings: EngineSettings,
        leases: Leases,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                vault,
                runner,
                events,
                secrets: SecretHub::default(),
                settings,
                leases,
                active: Mutex::new(HashMap::new()),
                shutdown,
            }),
        }
    }

    pub fn store(&self) -> &RunStore {
        &self.inner.store
    }

    /// The run leases, as this replica sees them.
    pub fn leases(&self) -> &Leases {
        &self.inner.leases
    }

    pub fn secrets(&self) -> &SecretHub {
        &self.inner.secrets
    }

    /// The one-time secrets that wait for a person.
    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    /// A client delivered these secrets of run `id` to the person (`how`: `terminal` or
    /// `sealed-file`): the vault forgets them, and each step none of whose secrets still
    /// waits records them as delivered. Returns (delivered now, still waiting).
    pub async fn acknowledge(
        &self,
        id: &str,
        secret_ids: &[String],
        how: &str,
    ) -> Result<(usize, usize), Error> {
        let released = self.inner.vault.release(id, secret_ids).await?;
        let still = self.inner.vault.held(id, now_ms()).await?;
        let done: BTreeSet<String> = released
            .iter()
            .map(|r| r.resource.clone())
            .filter(|r| !still.iter().any(|h| &h.resource == r))
            .collect();
        if !done.is_empty() {
            self.inner
                .store
                .modify(id, |run| {
                    let mut changed = false;
                    for r in &done {
                        changed |= scheduler::secrets_delivered(run, r, how);
                    }
                    changed
                })
                .await?;
        }
        Ok((released.len(), still.len()))
    }

    /// The service's shutdown: streams that follow a run end with it.
    pub fn shutdown(&self) -> &Shutdown {
        &self.inner.shutdown
    }

    pub fn runner(&self) -> &Arc<dyn StepRunner> {
        &self.inner.runner
    }

    /// Stores a new run and starts driving it.
    pub async fn start(&self, kind: RunKind, resources: Vec<Resource>) -> Result<Run, Error> {
        let run = Self::prepare(kind, resources)?;
        self.launch(&run).await?;
        Ok(run)
    }

    /// A new run, checked but neither stored nor started: its id is known, so that an
    /// apply stream can attach to its secrets before any step can produce one.
    pub fn prepare(kind: RunKind, resources: Vec<Resource>) -> Result<Run, Error> {
        Graph::new(&resources).map_err(|e| Error::invalid("spec", e.to_string()))?;
        Ok(Run::new(uuid::Uuid::new_v4().to_string(), kind, resources))
    }

    /// A new apply run of `resources` that also deletes `removed` (see
    /// [`Run::apply_with_deletions`]), checked but neither stored nor started.
    pub fn prepare_apply(resources: Vec<Resource>, removed: Vec<Resource>) -> Result<Run, Error> {
        let run = Run::apply_with_deletions(uuid::Uuid::new_v4().to_string(), resources, removed);
        Graph::new(&run.resources()).map_err(|e| Error::invalid("spec", e.to_string()))?;
        Ok(run)
    }

    /// Stores a prepared run and starts driving it.
    pub async fn launch(&self, run: &Run) -> Result<(), Error> {
        self.inner.store.create(run).await?;
        self.drive(&run.id, false);
        Ok(())
    }

    /// `apply --resume`: failed, cancelled and waiting steps are looked at again (a waiting
    /// step whose secrets still wait for the person keeps waiting).
    pub async fn resume(&self, id: &str) -> Result<Run, Error> {
        let held = self.inner.vault.held_resources(id, now_ms()).await?;
        let (run, _) = self
            .inner
            .store
            .modify(id, |run| scheduler::resume(run, &held))
            .await?;
        // Driven here, or the replica that drives it is nudged to look at it now.
        self.drive(id, true);
        Ok(run)
    }

    /// At start-up: drives every run that is not finished.
    pub async fn resume_all(&self) -> Result<usize, Error> {
        let runs = self.inner.store.list().await?;
        let mut n = 0;
        for run in runs.iter().filter(|r| !r.status.is_terminal()) {
            self.drive(&run.id, false);
            n += 1;
        }
        Ok(n)
    }

    /// Wakes a run's task (a person acted).
    pub fn wake(&self, id: &str) {
        if let Ok(map) = self.inner.active.lock()
            && let Some(a) = map.get(id)
        {
            a.notify.notify_one();
        }
    }

    /// The fencing token with which this replica drives run `id`, if it does.
    fn token(&self, id: &str) -> Option<u64> {
        let map = self.inner.active.lock().ok()?;
        let token = map.get(id)?.token.load(Ordering::SeqCst);
        (token > 0).then_some(token)
    }

    /// An event says a person may have finished matching WAITING steps. The runs this
    /// replica drives are checked against the live state, as the periodic re-check does,
    /// and a step finishes only when AWS confirms it: an event wakes a step, it never
    /// finishes one by itself (any producer of the bus can publish an event with any
    /// detail). The replica driving any other unfinished run with a matching step is
    /// nudged, and checks it at once. Returns the runs that moved on or were handed to
    /// their driver; an error (a service that cannot be asked) means try again later.
    pub async fn event_wakes(&self, matches: impl Fn(&StepRecord) -> bool) -> Result<usize, Error> {
        let mut n = 0;
        for run in self.inner.store.list().await? {
            if run.status.is_terminal()
                || !run
                    .steps
                    .iter()
                    .any(|s| s.state == StepState::Waiting && matches(s))
            {
                continue;
            }
            match self.token(&run.id) {
                Some(token) => {
                    if self.check_waiting(&run.id, token, &matches).await? {
                        n += 1;
                    }
                }
                None => {
                    self.inner.leases.nudge(&run.id).await?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Checks the WAITING steps of run `id` that `matches` selects against the live state,
    /// as the driver of the run (fencing `token`); those a person finished move on.
    /// `true` when any did. A lease lost meanwhile hands the check to the new driver.
    async fn check_waiting(
        &self,
        id: &str,
        token: u64,
        matches: &impl Fn(&StepRecord) -> bool,
    ) -> Result<bool, Error> {
        let Some((run, _)) = self.inner.store.get(id).await? else {
            return Ok(false);
        };
        let mut confirmed: Vec<ResourceId> = Vec::new();
        for step in run
            .steps
            .iter()
            .filter(|s| s.state == StepState::Waiting && matches(s))
        {
            if self.inner.runner.is_done(step).await? {
                confirmed.push(step.resource.id.clone());
            } else {
                tracing::warn!(run = %id, step = %step.resource.id, "an event said this step is done, but the live state does not show it; still waiting");
            }
        }
        if confirmed.is_empty() {
            return Ok(false);
        }
        // The steps this change finished (cleared when a compare-and-set is retried).
        let mut finished: Vec<ResourceId> = Vec::new();
        let written = self
            .inner
            .store
            .modify_fenced(id, token, |run| {
                finished.clear();
                for t in &confirmed {
                    if scheduler::person_done(run, t) {
                        finished.push(t.clone());
                    }
                }
                !finished.is_empty()
            })
            .await;
        let (after, changed) = match written {
            Ok(w) => w,
            Err(e) if lease::is_lost(&e) => {
                self.inner.leases.nudge(id).await?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if changed {
            for step in &finished {
                step_succeeded(&self.inner, &after, step).await;
            }
            self.wake(id);
        }
        Ok(changed)
    }

    /// Follows the nudges until shutdown: a nudged run this replica drives is woken and
    /// its waiting steps are checked at once.
    pub async fn follow_nudges(&self) {
        let shutdown = self.inner.shutdown.clone();
        loop {
            match self.inner.leases.nudges().await {
                Ok(nudges) => {
                    let mut nudges = std::pin::pin!(nudges);
                    loop {
                        let id = tokio::select! {
                            () = shutdown.wait() => return,
                            id = futures::StreamExt::next(&mut nudges) => id,
                        };
                        let Some(id) = id else { break };
                        let Some(token) = self.token(&id) else {
                            continue;
                        };
                        self.wake(&id);
                        let this = self.clone();
                        tokio::spawn(async move {
                            if let Err(e) = this.check_waiting(&id, token, &|_| true).await {
                                tracing::debug!(run = %id, error = %e, "nudged run not checked; the periodic check follows");
                            }
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot follow run nudges; retrying"),
            }
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Until shutdown, every heartbeat: takes over the unfinished runs whose lease expired
    /// (their driver died or gave them up). A run without a lease yet is left for a lease
    /// time to the replica that just created it.
    pub async fn take_over_expired(&self) {
        let settings = self.inner.leases.settings();
        let shutdown = self.inner.shutdown.clone();
        loop {
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(settings.heartbeat) => {}
            }
            if let Err(e) = self.take_over_once(settings.ttl).await {
                tracing::debug!(error = %e, "run leases not looked at; next heartbeat");
            }
        }
    }

    async fn take_over_once(&self, ttl: Duration) -> Result<(), Error> {
        let now = now_ms();
        for run in self.inner.store.list().await? {
            if run.status.is_terminal() || self.is_active(&run.id) {
                continue;
            }
            let free = match self.inner.leases.get(&run.id).await? {
                Some(l) => !l.is_live(now),
                None => now - run.updated_at_ms > ttl.as_millis() as i64,
            };
            if free {
                self.drive(&run.id, false);
            }
        }
        Ok(())
    }

    fn is_active(&self, id: &str) -> bool {
        self.inner
            .active
            .lock()
            .map(|m| m.contains_key(id))
            .unwrap_or(false)
    }

    /// Drives run `id` here if this replica can take its lease; otherwise another replica
    /// drives it, and is nudged when `nudge` says it should look at the run now.
    fn drive(&self, id: &str, nudge: bool) {
        let active = {
            let Ok(mut map) = self.inner.active.lock() else {
                return;
            };
            if let Some(a) = map.get(id) {
                a.notify.notify_one();
                return;
            }
            let a = Arc::new(Active::default());
            map.insert(id.to_owned(), a.clone());
            a
        };
        let inner = self.inner.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            lead(&inner, &id, &active, nudge).await;
            if let Ok(mut map) = inner.active.lock() {
                map.remove(&id);
            }
        });
    }
}

/// Publishes a run event of the catalog (source `groundwork.orchestrator`).
async fn emit<E: CatalogEvent>(inner: &Inner, event: &E) {
    if let Some(events) = &inner.events
        && let Err(e) = events.emit_event(event, Vec::new()).await
    {
        tracing::warn!(error = %e, detail_type = E::DETAIL_TYPE, "run event not published");
    }
}

/// Retries a store operation while NATS is away (the run must not stop because the bus
/// blinked); gives up at shutdown. A macro, because the operation borrows from the caller.
macro_rules! persist {
    ($inner:expr, $op:expr) => {{
        let mut failures = 0u32;
        loop {
            match async { $op }.await {
                Ok(v) => break Ok::<_, Error>(v),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "run store unavailable; retrying");
                    if $inner.shutdown.is_triggered() {
                        break Err(e);
                    }
                    failures += 1;
                    tokio::select! {
                        () = $inner.shutdown.wait() => {}
                        () = tokio::time::sleep(STORE_BACKOFF.jittered(failures)) => {}
                    }
                }
                Err(e) => break Err(e),
            }
        }
    }};
}

/// How the run store is retried while NATS is away: quickly, for as long as it takes.
const STORE_BACKOFF: groundwork_kit::retry::Backoff = groundwork_kit::retry::Backoff {
    first: Duration::from_millis(100),
    max: Duration::from_secs(2),
    ..groundwork_kit::retry::Backoff::FOREVER
};

/// Takes the run's lease, drives the run while the lease is held, and gives the lease up
/// when the run is over or the replica stops.
async fn lead(inner: &Inner, id: &str, active: &Active, nudge: bool) {
    let taken = persist!(inner, {
        let floor = inner
            .store
            .get(id)
            .await?
            .map_or(0, |(run, _)| run.lease_token);
        inner.leases.acquire(id, floor).await
    });
    let token = match taken {
        Ok(Some(token)) => token,
        Ok(None) => {
            tracing::debug!(run = %id, "another orchestrator replica drives this run");
            if nudge && let Err(e) = inner.leases.nudge(id).await {
                tracing::warn!(run = %id, error = %e, "the replica driving this run could not be nudged; it looks again at its next check");
            }
            return;
        }
        Err(e) => {
            tracing::warn!(run = %id, error = %e, "run lease not taken; another replica or the next look takes the run");
            return;
        }
    };
    active.token.store(token, Ordering::SeqCst);
    tracing::info!(run = %id, token, replica = inner.leases.replica(), "driving the run");
    let lost = CancellationToken::new();
    let beat = tokio::spawn(heartbeat(
        inner.leases.clone(),
        id.to_owned(),
        token,
        lost.clone(),
    ));
    let result = drive(inner, id, &active.notify, token, &lost).await;
    beat.abort();
    match result {
        Err(e) if lease::is_lost(&e) => {
            tracing::warn!(run = %id, token, "the run was taken over by another replica; no longer driven here");
        }
        Err(e) => {
            // Not released: the lease runs out, and a replica takes the run again then.
            tracing::warn!(run = %id, error = %e, "run paused; it is taken again when its lease expires, at the next start, or by `apply --resume`");
        }
        Ok(()) => {
            if let Err(e) = inner.leases.release(id, token).await {
                tracing::debug!(run = %id, error = %e, "run lease not released; it expires");
            }
        }
    }
}

/// Renews the lease every heartbeat; cancels `lost` when another replica took it over, or
/// when it could not be renewed for a whole lease time (it may have been taken over).
async fn heartbeat(leases: Leases, id: String, token: u64, lost: CancellationToken) {
    let settings = leases.settings();
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(settings.heartbeat).await;
        match leases.renew(&id, token).await {
            Ok(true) => renewed = tokio::time::Instant::now(),
            Ok(false) => {
                lost.cancel();
                return;
            }
            Err(e) if renewed.elapsed() >= settings.ttl => {
                tracing::warn!(run = %id, error = %e, "run lease not renewed for a lease time; no longer driven here");
                lost.cancel();
                return;
            }
            Err(e) => tracing::debug!(run = %id, error = %e, "run lease not renewed; retrying"),
        }
    }
}

async fn drive(
    inner: &Inner,
    id: &str,
    notify: &Notify,
    token: u64,
    lost: &CancellationToken,
) -> Result<(), Error> {
    // Steps left RUNNING belong to a process that is gone (or lost the run): run them
    // again. This first fenced write also stores this lease's token in the run.
    persist!(
        inner,
        inner
            .store
            .modify_fenced(id, token, scheduler::recover)
            .await
    )?;

    let mut inflight: JoinSet<(ResourceId, StepResult)> = JoinSet::new();
    // The steps whose call this task has in flight.
    let mut running_here: BTreeSet<ResourceId> = BTreeSet::new();
    let mut next_recheck = tokio::time::Instant::now() + inner.settings.recheck_interval;
    loop {
        if inner.shutdown.is_triggered() {
            inflight.abort_all();
            return Ok(());
        }
        let (run, _) = persist!(inner, {
            inner
                .store
                .get(id)
                .await?
                .ok_or_else(|| Error::not_found(format!("no run {id}")))
        })?;
        if scheduler::is_over(&run, inflight.len()) {
            return Ok(());
        }
        let before = run.clone();
        let graph = Graph::new(&run.resources()).map_err(|e| Error::internal(e.to_string()))?;

        // Start the run, cancel what cannot run, start what is ready.
        let now = now_ms();
        let (run, _) = persist!(inner, {
            inner
                .store
                .modify_fenced(id, token, |run| scheduler::advance(run, &graph, now))
                .await
        })?;

        if run.status != before.status {
            if before.status == RunStatus::Pending {
                emit(
                    inner,
                    &SetupRunStarted {
                        run_id: run.id.clone(),
                        kind: run.kind.as_str().to_owned(),
                        steps: run.steps.len(),
                    },
                )
                .await;
            }
            announce(inner, &run).await;
        }

        // Launch the calls of steps now RUNNING that are not in flight here.
        let launch: Vec<StepRecord> = scheduler::to_launch(&run, &running_here)
            .into_iter()
            .cloned()
            .collect();
        for step in launch {
            running_here.insert(step.resource.id.clone());
            let runner = inner.runner.clone();
            let snapshot = run.clone();
            let kind = run.kind;
            inflight.spawn(async move {
                let result = runner.run(kind, &step, &snapshot).await;
                (step.resource.id, result)
            });
        }

        if scheduler::is_over(&run, inflight.len()) {
            return Ok(());
        }

        let sleep_for = scheduler::next_due(&run, now_ms()).unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            () = inner.shutdown.wait() => {
                inflight.abort_all();
                return Ok(());
            }
            () = lost.cancelled() => {
                inflight.abort_all();
                return Err(lease::lost(id));
            }
            Some(joined) = inflight.join_next() => {
                if let Ok((step_id, result)) = joined {
                    running_here.remove(&step_id);
                    record(inner, &run, &step_id, result, token).await?;
                }
            }
            () = notify.notified() => {}
            () = tokio::time::sleep(sleep_for) => {}
            () = tokio::time::sleep_until(next_recheck) => {
                next_recheck = tokio::time::Instant::now() + inner.settings.recheck_interval;
                recheck(inner, &run, token).await?;
            }
        }
    }
}

async fn record(
    inner: &Inner,
    run: &Run,
    step_id: &ResourceId,
    result: StepResult,
    token: u64,
) -> Result<(), Error> {
    let mut secrets = result.secrets;
    // Sealed into the vault before anything else: from then on a person can fetch them,
    // whoever follows the run (or nobody).
    let held_until = if secrets.is_empty() {
        None
    } else {
        let now = now_ms();
        match persist!(inner, inner.vault.hold(&run.id, &mut secrets, now).await) {
            Ok(()) => secrets.first().map(|s| rfc3339(s.expires_at_ms)),
            Err(e) => {
                tracing::error!(run = %run.id, step = %step_id, error = %e, "one-time secrets could not be held; only a client following the run now receives them");
                Some(String::new())
            }
        }
    };
    let outcome = result.outcome;
    let settings = &inner.settings;
    let (after, changed) = persist!(inner, {
        inner
            .store
            .modify_fenced(&run.id, token, |run| {
                let delivered = held_until.as_ref().map(|_| false);
                let recorded =
                    scheduler::record(run, step_id, &outcome, delivered, settings, now_ms());
                if let (Some(_), Some(until), Some(step)) =
                    (recorded, &held_until, run.step_mut(step_id))
                    && !until.is_empty()
                {
                    step.outputs
                        .insert("secrets_expire_at".into(), until.clone());
                }
                recorded.is_some()
            })
            .await
    })?;
    // Handed to the apply stream only now that the run says they wait: an acknowledgement
    // that comes back at once finds the step to mark delivered.
    if !secrets.is_empty() {
        inner.secrets.deliver(&run.id, secrets);
    }
    if !changed {
        return Ok(());
    }
    if let Some(step) = after.step(step_id) {
        match step.state {
            StepState::Succeeded => step_succeeded(inner, &after, step_id).await,
            StepState::Failed => {
                emit(
                    inner,
                    &SetupStepFailed {
                        run_id: after.id.clone(),
                        resource: step_id.as_str().to_owned(),
                        error: step.error.clone(),
                        attempts: step.attempts,
                    },
                )
                .await;
            }
            _ => {}
        }
    }
    settle(inner, &after, token).await
}

/// `Setup Step Succeeded` for a step that just succeeded, by its call or by a person.
async fn step_succeeded(inner: &Inner, run: &Run, step_id: &ResourceId) {
    if let Some(step) = run.step(step_id) {
        emit(
            inner,
            &SetupStepSucceeded {
                run_id: run.id.clone(),
                resource: step_id.as_str().to_owned(),
                outcome: step.outcome.clone(),
                attempts: step.attempts,
            },
        )
        .await;
    }
}

/// Derives the run's status after a step changed; emits the run-level events.
async fn settle(inner: &Inner, _run: &Run, token: u64) -> Result<(), Error> {
    let before = _run.status;
    let (after, changed) = persist!(inner, {
        inner
            .store
            .modify_fenced(&_run.id, token, scheduler::settle)
            .await
    })?;
    if changed && after.status != before {
        announce(inner, &after).await;
    }
    Ok(())
}

async fn announce(inner: &Inner, run: &Run) {
    match run.status {
        RunStatus::Waiting => {
            let waiting: Vec<_> = run
                .steps
                .iter()
                .filter(|s| s.state == StepState::Waiting)
                .map(|s| WaitingStep {
                    resource: s.resource.id.as_str().to_owned(),
                    instructions: s.instructions.clone(),
                })
                .collect();
            emit(
                inner,
                &SetupRunWaiting {
                    run_id: run.id.clone(),
                    waiting,
                },
            )
            .await;
        }
        RunStatus::Completed | RunStatus::Failed => finish(inner, run).await,
        _ => {}
    }
}

async fn finish(inner: &Inner, run: &Run) {
    emit(
        inner,
        &SetupRunCompleted {
            run_id: run.id.clone(),
            kind: run.kind.as_str().to_owned(),
            status: run.status.as_str().to_owned(),
            error: run.error.clone(),
        },
    )
    .await;
}

/// Checks WAITING steps read-only; those a person finished move on.
async fn recheck(inner: &Inner, run: &Run, token: u64) -> Result<(), Error> {
    for step in scheduler::to_recheck(run) {
        match inner.runner.is_done(step).await {
            Ok(true) => {
                let id = step.resource.id.clone();
                let (after, changed) = persist!(inner, {
                    inner
                        .store
                        .modify_fenced(&run.id, token, |r| r.step_event(&id, StepEvent::PersonDone))
                        .await
                })?;
                if changed {
                    step_succeeded(inner, &after, &id).await;
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(error = %e, step = %step.resource.id, "waiting step not checked")
            }
        }
    }
    Ok(())
}
