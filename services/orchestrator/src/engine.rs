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
//! One-time secrets are sealed into the [`Vault`] first, where they wait for a person, then
//! handed to the [`SecretHub`] (the attached apply streams); never into the run record,
//! which notes only whether they were delivered (`secrets_delivered`: `no` until a client
//! acknowledges them, then `yes`) and until when they are held (`secrets_expire_at`).

use std::collections::{BTreeSet, HashMap};
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

use crate::error::Error;
use crate::graph::Graph;
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
    active: Mutex<HashMap<String, Arc<Notify>>>,
    shutdown: Shutdown,
}

impl Engine {
    pub fn new(
        store: RunStore,
        vault: Vault,
        runner: Arc<dyn StepRunner>,
        events: Option<Emitter>,
        settings: EngineSettings,
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
                active: Mutex::new(HashMap::new()),
                shutdown,
            }),
        }
    }

    pub fn store(&self) -> &RunStore {
        &self.inner.store
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
        self.drive(&run.id);
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
        self.drive(id);
        Ok(run)
    }

    /// At start-up: drives every run that is not finished.
    pub async fn resume_all(&self) -> Result<usize, Error> {
        let runs = self.inner.store.list().await?;
        let mut n = 0;
        for run in runs.iter().filter(|r| !r.status.is_terminal()) {
            self.drive(&run.id);
            n += 1;
        }
        Ok(n)
    }

    /// Wakes a run's task (a person acted).
    pub fn wake(&self, id: &str) {
        if let Ok(map) = self.inner.active.lock()
            && let Some(n) = map.get(id)
        {
            n.notify_one();
        }
    }

    /// An event says a person may have finished matching WAITING steps of the active runs.
    /// Each is checked against the live state, as the periodic re-check does, and finishes
    /// only when AWS confirms it: an event wakes a step, it never finishes one by itself
    /// (any producer of the bus can publish an event with any detail). Returns the runs
    /// that moved on; an error (a service that cannot be asked) means try again later.
    pub async fn event_wakes(&self, matches: impl Fn(&StepRecord) -> bool) -> Result<usize, Error> {
        let ids: Vec<String> = match self.inner.active.lock() {
            Ok(map) => map.keys().cloned().collect(),
            Err(_) => Vec::new(),
        };
        let mut n = 0;
        for id in ids {
            let Some((run, _)) = self.inner.store.get(&id).await? else {
                continue;
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
                continue;
            }
            // The steps this change finished (cleared when a compare-and-set is retried).
            let mut finished: Vec<ResourceId> = Vec::new();
            let (after, changed) = self
                .inner
                .store
                .modify(&id, |run| {
                    finished.clear();
                    for t in &confirmed {
                        if scheduler::person_done(run, t) {
                            finished.push(t.clone());
                        }
                    }
                    !finished.is_empty()
                })
                .await?;
            if changed {
                n += 1;
                for step in &finished {
                    step_succeeded(&self.inner, &after, step).await;
                }
                self.wake(&id);
            }
        }
        Ok(n)
    }

    fn drive(&self, id: &str) {
        let notify = {
            let Ok(mut map) = self.inner.active.lock() else {
                return;
            };
            if let Some(n) = map.get(id) {
                n.notify_one();
                return;
            }
            let n = Arc::new(Notify::new());
            map.insert(id.to_owned(), n.clone());
            n
        };
        let inner = self.inner.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = drive(&inner, &id, &notify).await {
                tracing::warn!(run = %id, error = %e, "run paused; it resumes at the next start or `apply --resume`");
            }
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

async fn drive(inner: &Inner, id: &str, notify: &Notify) -> Result<(), Error> {
    // Steps left RUNNING belong to a process that is gone: run them again.
    persist!(inner, inner.store.modify(id, scheduler::recover).await)?;

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
                .modify(id, |run| scheduler::advance(run, &graph, now))
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
            Some(joined) = inflight.join_next() => {
                if let Ok((step_id, result)) = joined {
                    running_here.remove(&step_id);
                    record(inner, &run, &step_id, result).await?;
                }
            }
            () = notify.notified() => {}
            () = tokio::time::sleep(sleep_for) => {}
            () = tokio::time::sleep_until(next_recheck) => {
                next_recheck = tokio::time::Instant::now() + inner.settings.recheck_interval;
                recheck(inner, &run).await?;
            }
        }
    }
}

async fn record(
    inner: &Inner,
    run: &Run,
    step_id: &ResourceId,
    result: StepResult,
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
            .modify(&run.id, |run| {
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
    settle(inner, &after).await
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
async fn settle(inner: &Inner, _run: &Run) -> Result<(), Error> {
    let before = _run.status;
    let (after, changed) = persist!(inner, {
        inner.store.modify(&_run.id, scheduler::settle).await
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
async fn recheck(inner: &Inner, run: &Run) -> Result<(), Error> {
    for step in scheduler::to_recheck(run) {
        match inner.runner.is_done(step).await {
            Ok(true) => {
                let id = step.resource.id.clone();
                let (after, changed) = persist!(inner, {
                    inner
                        .store
                        .modify(&run.id, |r| r.step_event(&id, StepEvent::PersonDone))
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
