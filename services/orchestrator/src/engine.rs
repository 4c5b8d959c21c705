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
//! One-time secrets go to the [`SecretHub`] (the attached apply streams) and never into
//! the run record; the record only notes whether they were delivered.

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
use crate::machine::{RunEvent, RunStatus, StepEvent, StepState};
use crate::resource::{Resource, ResourceId};
use crate::run::{Run, RunKind, StepRecord, now_ms};
use crate::runner::{OneTimeSecret, StepOutcome, StepResult, StepRunner};
use crate::store::RunStore;

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
    fn deliver(&self, run_id: &str, secrets: Vec<OneTimeSecret>) -> bool {
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
        runner: Arc<dyn StepRunner>,
        events: Option<Emitter>,
        settings: EngineSettings,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
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
        Graph::new(&resources).map_err(|e| Error::InvalidArgument {
            field: "spec".into(),
            reason: e.to_string(),
        })?;
        Ok(Run::new(uuid::Uuid::new_v4().to_string(), kind, resources))
    }

    /// Stores a prepared run and starts driving it.
    pub async fn launch(&self, run: &Run) -> Result<(), Error> {
        self.inner.store.create(run).await?;
        self.drive(&run.id);
        Ok(())
    }

    /// `apply --resume`: failed, cancelled and waiting steps are looked at again.
    pub async fn resume(&self, id: &str) -> Result<Run, Error> {
        let (run, _) = self
            .inner
            .store
            .modify(id, |run| {
                let mut changed = false;
                for step in &mut run.steps {
                    let rerun = match step.state {
                        StepState::Failed | StepState::Cancelled | StepState::ActionRequired => {
                            true
                        }
                        // A waiting step whose secrets never reached a terminal starts over.
                        StepState::Waiting => {
                            step.outputs.get("secrets_delivered").map(String::as_str) == Some("no")
                        }
                        _ => false,
                    };
                    if rerun
                        && let crate::machine::Transition::To(next) =
                            step.state.on(StepEvent::Resume)
                    {
                        step.state = next;
                        step.error.clear();
                        step.attempts = 0;
                        changed = true;
                    }
                }
                if run.status.is_terminal() || run.status == RunStatus::Waiting {
                    changed |= run.run_event(RunEvent::Resume);
                    run.error.clear();
                }
                changed
            })
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

    /// Marks matching WAITING steps of every active run done (an event said so).
    pub async fn person_done(&self, matches: impl Fn(&StepRecord) -> bool) -> Result<usize, Error> {
        let ids: Vec<String> = match self.inner.active.lock() {
            Ok(map) => map.keys().cloned().collect(),
            Err(_) => Vec::new(),
        };
        let mut n = 0;
        for id in ids {
            // The steps this change finished (cleared when a compare-and-set is retried).
            let mut finished: Vec<ResourceId> = Vec::new();
            let (after, changed) = self
                .inner
                .store
                .modify(&id, |run| {
                    finished.clear();
                    let targets: Vec<ResourceId> = run
                        .steps
                        .iter()
                        .filter(|s| s.state == StepState::Waiting && matches(s))
                        .map(|s| s.resource.id.clone())
                        .collect();
                    for t in targets {
                        if run.step_event(&t, StepEvent::PersonDone) {
                            if let Some(s) = run.step_mut(&t) {
                                s.instructions.clear();
                            }
                            finished.push(t);
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

fn backoff(settings: &EngineSettings, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
    settings
        .backoff_base
        .saturating_mul(factor)
        .min(settings.backoff_max)
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
        let mut delay = Duration::from_millis(100);
        loop {
            match async { $op }.await {
                Ok(v) => break Ok::<_, Error>(v),
                Err(Error::Unavailable(e)) => {
                    tracing::warn!(error = %e, "run store unavailable; retrying");
                    if $inner.shutdown.is_triggered() {
                        break Err(Error::Unavailable(e));
                    }
                    tokio::select! {
                        () = $inner.shutdown.wait() => {}
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => break Err(e),
            }
        }
    }};
}

async fn drive(inner: &Inner, id: &str, notify: &Notify) -> Result<(), Error> {
    // Steps left RUNNING belong to a process that is gone: run them again.
    persist!(inner, {
        inner
            .store
            .modify(id, |run| {
                let running: Vec<ResourceId> = run
                    .steps
                    .iter()
                    .filter(|s| s.state == StepState::Running)
                    .map(|s| s.resource.id.clone())
                    .collect();
                let mut changed = false;
                for r in running {
                    changed |= run.step_event(&r, StepEvent::Resume);
                }
                changed
            })
            .await
    })?;

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
                .ok_or_else(|| Error::NotFound(format!("no run {id}")))
        })?;
        if run.status.is_terminal() && inflight.is_empty() {
            return Ok(());
        }
        let before = run.clone();
        let graph = Graph::new(&run.resources()).map_err(|e| Error::Internal(e.to_string()))?;

        // Start the run, cancel what cannot run, start what is ready.
        let now = now_ms();
        let (run, _) = persist!(inner, {
            inner
                .store
                .modify(id, |run| {
                    let mut changed = false;
                    if run.status == RunStatus::Pending {
                        changed |= run.run_event(RunEvent::Start);
                    }
                    if run.status.is_terminal() {
                        return changed;
                    }
                    let bad: BTreeSet<ResourceId> = run
                        .steps
                        .iter()
                        .filter(|s| matches!(s.state, StepState::Failed | StepState::Cancelled))
                        .map(|s| s.resource.id.clone())
                        .collect();
                    let blocked: Vec<ResourceId> = run
                        .steps
                        .iter()
                        .filter(|s| matches!(s.state, StepState::Pending | StepState::Backoff))
                        .filter(|s| deps(&graph, run.kind, &s.resource.id).any(|d| bad.contains(d)))
                        .map(|s| s.resource.id.clone())
                        .collect();
                    for b in blocked {
                        changed |= run.step_event(&b, StepEvent::DependencyFailed);
                    }
                    let ready: Vec<ResourceId> = run
                        .steps
                        .iter()
                        .filter(|s| {
                            s.state == StepState::Pending
                                || (s.state == StepState::Backoff && s.not_before_ms <= now)
                        })
                        .filter(|s| {
                            deps(&graph, run.kind, &s.resource.id)
                                .all(|d| run.step(d).is_some_and(|x| x.state.lets_dependents_run()))
                        })
                        .map(|s| s.resource.id.clone())
                        .collect();
                    for r in ready {
                        changed |= run.step_event(&r, StepEvent::Start);
                    }
                    if let Some(event) = run.derived_event() {
                        changed |= run.run_event(event);
                    }
                    changed
                })
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
        for step in run.steps.iter().filter(|s| s.state == StepState::Running) {
            if !running_here.insert(step.resource.id.clone()) {
                continue;
            }
            let runner = inner.runner.clone();
            let step = step.clone();
            let snapshot = run.clone();
            let kind = run.kind;
            inflight.spawn(async move {
                let result = runner.run(kind, &step, &snapshot).await;
                (step.resource.id, result)
            });
        }

        if run.status.is_terminal() && inflight.is_empty() {
            return Ok(());
        }

        let next_backoff = run
            .steps
            .iter()
            .filter(|s| s.state == StepState::Backoff)
            .map(|s| s.not_before_ms)
            .min();
        let sleep_for = match next_backoff {
            Some(at) => Duration::from_millis(at.saturating_sub(now_ms()).max(0) as u64),
            None => Duration::from_secs(3600),
        };
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

fn deps<'a>(
    graph: &'a Graph,
    kind: RunKind,
    id: &ResourceId,
) -> Box<dyn Iterator<Item = &'a ResourceId> + 'a> {
    match kind {
        RunKind::Apply => Box::new(graph.dependencies(id).collect::<Vec<_>>().into_iter()),
        RunKind::Destroy => Box::new(graph.dependents(id).into_iter()),
    }
}

async fn record(
    inner: &Inner,
    run: &Run,
    step_id: &ResourceId,
    result: StepResult,
) -> Result<(), Error> {
    let delivered = if result.secrets.is_empty() {
        None
    } else {
        Some(inner.secrets.deliver(&run.id, result.secrets))
    };
    let outcome = result.outcome;
    let max = inner.settings.max_attempts;
    let settings = inner.settings.clone();
    let (after, changed) = persist!(inner, {
        inner
            .store
            .modify(&run.id, |run| {
                let attempts = run.step(step_id).map(|s| s.attempts).unwrap_or(0);
                let event = match &outcome {
                    StepOutcome::Done { .. } => StepEvent::Succeed,
                    StepOutcome::NeedPerson { .. } => StepEvent::NeedPerson,
                    StepOutcome::NeedAttention { .. } => StepEvent::NeedAttention,
                    StepOutcome::Failed {
                        retryable: true, ..
                    } if attempts < max => StepEvent::AttemptFailed,
                    StepOutcome::Failed { .. } => StepEvent::GiveUp,
                };
                if !run.step_event(step_id, event) {
                    return false;
                }
                let Some(step) = run.step_mut(step_id) else {
                    return false;
                };
                match &outcome {
                    StepOutcome::Done { outcome, outputs } => {
                        step.outcome = outcome.clone();
                        step.outputs.extend(outputs.clone());
                        step.error.clear();
                        step.instructions.clear();
                    }
                    StepOutcome::NeedPerson {
                        instructions,
                        outputs,
                    } => {
                        step.outputs.extend(outputs.clone());
                        step.instructions = instructions.clone();
                        step.error.clear();
                    }
                    StepOutcome::NeedAttention { instructions } => {
                        step.instructions = instructions.clone();
                    }
                    StepOutcome::Failed { error, .. } => {
                        step.error = error.clone();
                        step.not_before_ms =
                            now_ms() + backoff(&settings, step.attempts).as_millis() as i64;
                    }
                }
                if let Some(d) = delivered {
                    step.outputs.insert(
                        "secrets_delivered".into(),
                        if d { "yes" } else { "no" }.into(),
                    );
                }
                if event == StepEvent::GiveUp {
                    run.error = format!(
                        "step {step_id} failed: {}",
                        run.step(step_id)
                            .map(|s| s.error.clone())
                            .unwrap_or_default()
                    );
                }
                true
            })
            .await
    })?;
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
        inner
            .store
            .modify(&_run.id, |run| match run.derived_event() {
                Some(e) => run.run_event(e),
                None => false,
            })
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
async fn recheck(inner: &Inner, run: &Run) -> Result<(), Error> {
    for step in run.steps.iter().filter(|s| s.state == StepState::Waiting) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = EngineSettings {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ..EngineSettings::default()
        };
        assert_eq!(backoff(&s, 1), Duration::from_millis(100));
        assert_eq!(backoff(&s, 2), Duration::from_millis(200));
        assert_eq!(backoff(&s, 3), Duration::from_millis(400));
        assert_eq!(backoff(&s, 4), Duration::from_millis(500));
        assert_eq!(backoff(&s, 40), Duration::from_millis(500));
    }
}
