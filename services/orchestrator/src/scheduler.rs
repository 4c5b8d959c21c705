//! The scheduler's decisions, as pure functions of (run, graph, now): which steps start,
//! which are cancelled behind a failed dependency, what a step's result does to it (retry
//! after a backoff, wait for a person, fail the run), when the loop must look again, and
//! what the run's status becomes. The engine persists what these return and launches the
//! calls; nothing here does I/O, so every decision is tested without NATS.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::engine::EngineSettings;
use crate::graph::Graph;
use crate::machine::{RunEvent, RunStatus, StepEvent, StepState, Transition};
use crate::resource::ResourceId;
use crate::run::{Run, RunKind, StepRecord};
use crate::runner::StepOutcome;

/// The steps a step waits for: its dependencies in an apply, its dependents in a destroy.
fn deps<'a>(graph: &'a Graph, kind: RunKind, id: &ResourceId) -> Vec<&'a ResourceId> {
    match kind {
        RunKind::Apply => graph.dependencies(id).collect(),
        RunKind::Destroy => graph.dependents(id),
    }
}

/// Moves the run on at `now`: starts it, cancels steps behind a failed or cancelled one,
/// starts every ready step (pending, or in backoff whose delay is over), and derives the
/// run's status. `true` when the run changed.
pub fn advance(run: &mut Run, graph: &Graph, now: i64) -> bool {
    let mut changed = false;
    if run.status == RunStatus::Pending {
        changed |= run.run_event(RunEvent::Start);
    }
    if run.status.is_terminal() {
        return changed;
    }
    // Cancel everything behind a failed or cancelled step, transitively, in this one pass:
    // a run whose step failed for good ends now, not one dependency level per pass.
    loop {
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
            .filter(|s| {
                deps(graph, run.kind, &s.resource.id)
                    .iter()
                    .any(|d| bad.contains(*d))
            })
            .map(|s| s.resource.id.clone())
            .collect();
        if blocked.is_empty() {
            break;
        }
        for b in blocked {
            changed |= run.step_event(&b, StepEvent::DependencyFailed);
        }
    }
    let ready: Vec<ResourceId> = run
        .steps
        .iter()
        .filter(|s| {
            s.state == StepState::Pending
                || (s.state == StepState::Backoff && s.not_before_ms <= now)
        })
        .filter(|s| {
            deps(graph, run.kind, &s.resource.id)
                .iter()
                .all(|d| run.step(d).is_some_and(|x| x.state.lets_dependents_run()))
        })
        .map(|s| s.resource.id.clone())
        .collect();
    for r in ready {
        changed |= run.step_event(&r, StepEvent::Start);
    }
    changed |= settle(run);
    changed
}

/// The RUNNING steps whose call is not in flight in this process: the ones to launch.
pub fn to_launch<'a>(run: &'a Run, in_flight: &BTreeSet<ResourceId>) -> Vec<&'a StepRecord> {
    run.steps
        .iter()
        .filter(|s| s.state == StepState::Running && !in_flight.contains(&s.resource.id))
        .collect()
}

/// The delay before the `attempts`-th retry: doubles per attempt up to the cap (kit's
/// backoff, without jitter: the delay is persisted in the run).
pub fn backoff(settings: &EngineSettings, attempts: u32) -> Duration {
    groundwork_kit::retry::Backoff {
        first: settings.backoff_base,
        max: settings.backoff_max,
        attempts: None,
        within: None,
        jitter: false,
    }
    .delay(attempts)
}

/// Records the result of a step's call at `now`: a retryable failure with attempts left
/// goes to BACKOFF until its delay is over, any other failure fails the step and names it
/// in the run's error. `delivered` says whether the step's one-time secrets reached a
/// terminal. Returns the step event applied, `None` when the step was no longer running
/// (a duplicate result).
pub fn record(
    run: &mut Run,
    step_id: &ResourceId,
    outcome: &StepOutcome,
    delivered: Option<bool>,
    settings: &EngineSettings,
    now: i64,
) -> Option<StepEvent> {
    let attempts = run.step(step_id).map(|s| s.attempts).unwrap_or(0);
    let event = match outcome {
        StepOutcome::Done { .. } => StepEvent::Succeed,
        StepOutcome::NeedPerson { .. } => StepEvent::NeedPerson,
        StepOutcome::NeedAttention { .. } => StepEvent::NeedAttention,
        StepOutcome::Failed {
            retryable: true, ..
        } if attempts < settings.max_attempts => StepEvent::AttemptFailed,
        StepOutcome::Failed { .. } => StepEvent::GiveUp,
    };
    if !run.step_event(step_id, event) {
        return None;
    }
    let step = run.step_mut(step_id)?;
    match outcome {
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
            step.not_before_ms = now + backoff(settings, step.attempts).as_millis() as i64;
        }
    }
    if let Some(d) = delivered {
        step.outputs.insert(
            "secrets_delivered".into(),
            if d { "yes" } else { "no" }.into(),
        );
    }
    if event == StepEvent::GiveUp {
        let error = step.error.clone();
        run.error = format!("step {step_id} failed: {error}");
    }
    Some(event)
}

/// A waiting step a person finished (by an event or a check). `true` when it changed.
pub fn person_done(run: &mut Run, step_id: &ResourceId) -> bool {
    if run.step(step_id).map(|s| s.state) != Some(StepState::Waiting) {
        return false;
    }
    if !run.step_event(step_id, StepEvent::PersonDone) {
        return false;
    }
    if let Some(s) = run.step_mut(step_id) {
        s.instructions.clear();
    }
    true
}

/// Steps left RUNNING by a process that is gone run again. `true` when any did.
pub fn recover(run: &mut Run) -> bool {
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
}

/// `apply --resume`: failed, cancelled and action-required steps run again, as does a
/// waiting step whose secrets were never delivered and no longer wait for the person
/// (`held`: the steps whose secrets the vault still holds); a finished or waiting run
/// moves again. `true` when the run changed.
pub fn resume(run: &mut Run, held: &BTreeSet<String>) -> bool {
    let mut changed = false;
    for step in &mut run.steps {
        let rerun = match step.state {
            StepState::Failed | StepState::Cancelled | StepState::ActionRequired => true,
            StepState::Waiting => {
                step.outputs.get("secrets_delivered").map(String::as_str) == Some("no")
                    && !held.contains(step.resource.id.as_str())
            }
            _ => false,
        };
        if rerun && let Transition::To(next) = step.state.on(StepEvent::Resume) {
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
}

/// A client delivered every secret of step `resource` to the person (`how`: `terminal` or
/// `sealed-file`). `true` when it changed.
pub fn secrets_delivered(run: &mut Run, resource: &str, how: &str) -> bool {
    let Some(step) = run
        .steps
        .iter_mut()
        .find(|s| s.resource.id.as_str() == resource)
    else {
        return false;
    };
    if step.outputs.get("secrets_delivered").map(String::as_str) != Some("no") {
        return false;
    }
    step.outputs
        .insert("secrets_delivered".into(), "yes".into());
    step.outputs
        .insert("secrets_delivered_by".into(), how.to_owned());
    step.outputs.remove("secrets_expire_at");
    true
}

/// Derives the run's status from its steps. `true` when it changed.
pub fn settle(run: &mut Run) -> bool {
    match run.derived_event() {
        Some(e) => run.run_event(e),
        None => false,
    }
}

/// The WAITING steps, checked read-only every `recheck_interval`.
pub fn to_recheck(run: &Run) -> impl Iterator<Item = &StepRecord> {
    run.steps.iter().filter(|s| s.state == StepState::Waiting)
}

/// How long the loop may sleep at `now` before a backoff is due; `None` when no step is
/// in backoff (the loop then waits for a result, a wake-up or the recheck).
pub fn next_due(run: &Run, now: i64) -> Option<Duration> {
    run.steps
        .iter()
        .filter(|s| s.state == StepState::Backoff)
        .map(|s| s.not_before_ms)
        .min()
        .map(|at| Duration::from_millis(at.saturating_sub(now).max(0) as u64))
}

/// Whether the loop of this run is over: the run is terminal and no call is in flight.
pub fn is_over(run: &Run, in_flight: usize) -> bool {
    run.status.is_terminal() && in_flight == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::resource::{Desired, Resource, Topic};

    fn res(id: &str, deps: &[&str]) -> Resource {
        Resource {
            id: ResourceId(id.into()),
            desired: Desired::Topic(Topic { name: id.into() }),
            depends_on: deps.iter().map(|d| ResourceId((*d).into())).collect(),
        }
    }

    /// a ← b ← c, and d on its own.
    fn setup(kind: RunKind) -> (Run, Graph) {
        let rs = vec![
            res("a", &[]),
            res("b", &["a"]),
            res("c", &["b"]),
            res("d", &[]),
        ];
        let graph = Graph::new(&rs).unwrap();
        (Run::new("r".into(), kind, rs), graph)
    }

    fn id(s: &str) -> ResourceId {
        ResourceId(s.into())
    }

    fn state(run: &Run, s: &str) -> StepState {
        run.step(&id(s)).unwrap().state
    }

    fn settings() -> EngineSettings {
        EngineSettings {
            max_attempts: 3,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(250),
            recheck_interval: Duration::from_secs(1),
        }
    }

    fn done() -> StepOutcome {
        StepOutcome::Done {
            outcome: "created".into(),
            outputs: BTreeMap::from([("arn".into(), "x".into())]),
        }
    }

    fn failure(retryable: bool) -> StepOutcome {
        StepOutcome::Failed {
            error: "boom".into(),
            retryable,
        }
    }

    #[test]
    fn steps_start_when_their_dependencies_are_done_and_independent_ones_together() {
        let (mut run, graph) = setup(RunKind::Apply);
        assert!(advance(&mut run, &graph, 0));
        assert_eq!(run.status, RunStatus::Running);
        let launched: Vec<&str> = to_launch(&run, &BTreeSet::new())
            .iter()
            .map(|s| s.resource.id.as_str())
            .collect();
        assert_eq!(launched, ["a", "d"]);
        assert!(
            to_launch(&run, &BTreeSet::from([id("a")])).len() == 1,
            "a call already in flight is not launched twice"
        );
        assert!(!advance(&mut run, &graph, 0), "nothing new is ready");
        record(&mut run, &id("a"), &done(), None, &settings(), 0);
        assert!(advance(&mut run, &graph, 0));
        assert_eq!(state(&run, "b"), StepState::Running);
        assert_eq!(state(&run, "c"), StepState::Pending);
        assert_eq!(run.step(&id("a")).unwrap().outputs["arn"], "x");
    }

    #[test]
    fn a_destroy_starts_from_the_dependents() {
        let (mut run, graph) = setup(RunKind::Destroy);
        advance(&mut run, &graph, 0);
        assert_eq!(state(&run, "c"), StepState::Running);
        assert_eq!(state(&run, "d"), StepState::Running);
        assert_eq!(state(&run, "a"), StepState::Pending);
    }

    #[test]
    fn a_retryable_failure_backs_off_then_runs_again_when_due() {
        let (mut run, graph) = setup(RunKind::Apply);
        advance(&mut run, &graph, 1_000);
        let event = record(&mut run, &id("a"), &failure(true), None, &settings(), 1_000);
        assert_eq!(event, Some(StepEvent::AttemptFailed));
        assert_eq!(state(&run, "a"), StepState::Backoff);
        assert_eq!(run.step(&id("a")).unwrap().not_before_ms, 1_100);
        assert_eq!(next_due(&run, 1_040), Some(Duration::from_millis(60)));
        advance(&mut run, &graph, 1_099);
        assert_eq!(state(&run, "a"), StepState::Backoff, "not before its delay");
        advance(&mut run, &graph, 1_100);
        assert_eq!(state(&run, "a"), StepState::Running);
        assert_eq!(run.step(&id("a")).unwrap().attempts, 2);
        assert_eq!(next_due(&run, 1_100), None);
    }

    #[test]
    fn out_of_attempts_or_terminal_fails_the_run_and_cancels_dependents() {
        let (mut run, graph) = setup(RunKind::Apply);
        let s = settings();
        for now in [0, 1_000, 2_000] {
            advance(&mut run, &graph, now);
            record(&mut run, &id("a"), &failure(true), None, &s, now);
        }
        assert_eq!(
            state(&run, "a"),
            StepState::Failed,
            "three attempts, then no more"
        );
        assert_eq!(run.error, "step a failed: boom");
        record(&mut run, &id("d"), &failure(false), None, &s, 2_000);
        assert_eq!(state(&run, "d"), StepState::Failed, "terminal at once");
        advance(&mut run, &graph, 2_000);
        assert_eq!(state(&run, "b"), StepState::Cancelled);
        assert_eq!(
            state(&run, "c"),
            StepState::Cancelled,
            "dependents of dependents are cancelled in the same pass"
        );
        assert_eq!(run.status, RunStatus::Failed);
        assert!(is_over(&run, 0));
        assert!(!is_over(&run, 1), "a call still in flight is awaited");
    }

    #[test]
    fn a_person_step_waits_then_the_run_completes_when_the_person_is_done() {
        let (mut run, graph) = setup(RunKind::Apply);
        advance(&mut run, &graph, 0);
        let wait = StepOutcome::NeedPerson {
            instructions: vec!["type two codes".into()],
            outputs: BTreeMap::from([("serial_number".into(), "s".into())]),
        };
        record(&mut run, &id("d"), &wait, Some(false), &settings(), 0);
        assert_eq!(state(&run, "d"), StepState::Waiting);
        assert_eq!(
            run.step(&id("d")).unwrap().outputs["secrets_delivered"],
            "no"
        );
        for step in ["a", "b"] {
            record(&mut run, &id(step), &done(), None, &settings(), 0);
            advance(&mut run, &graph, 0);
            assert_eq!(run.status, RunStatus::Running, "{step}: others still move");
        }
        record(&mut run, &id("c"), &done(), None, &settings(), 0);
        advance(&mut run, &graph, 0);
        assert_eq!(run.status, RunStatus::Waiting, "nothing else can move");
        assert_eq!(to_recheck(&run).count(), 1);
        assert!(person_done(&mut run, &id("d")));
        assert!(
            !person_done(&mut run, &id("d")),
            "a second event is ignored"
        );
        assert!(run.step(&id("d")).unwrap().instructions.is_empty());
        advance(&mut run, &graph, 0);
        assert_eq!(run.status, RunStatus::Completed);
    }

    #[test]
    fn a_duplicate_result_changes_nothing() {
        let (mut run, graph) = setup(RunKind::Apply);
        advance(&mut run, &graph, 0);
        assert!(record(&mut run, &id("a"), &done(), None, &settings(), 0).is_some());
        let before = run.clone();
        assert_eq!(
            record(&mut run, &id("a"), &done(), None, &settings(), 0),
            None
        );
        assert_eq!(run, before);
    }

    #[test]
    fn steps_left_running_by_a_dead_process_run_again() {
        let (mut run, graph) = setup(RunKind::Apply);
        advance(&mut run, &graph, 0);
        assert!(recover(&mut run));
        assert_eq!(state(&run, "a"), StepState::Pending);
        assert!(!recover(&mut run));
    }

    #[test]
    fn resume_reruns_failed_steps_and_waits_whose_secrets_were_lost() {
        let (mut run, graph) = setup(RunKind::Apply);
        advance(&mut run, &graph, 0);
        record(&mut run, &id("a"), &failure(false), None, &settings(), 0);
        let wait = StepOutcome::NeedPerson {
            instructions: vec![],
            outputs: BTreeMap::new(),
        };
        record(&mut run, &id("d"), &wait, Some(false), &settings(), 0);
        advance(&mut run, &graph, 0);
        advance(&mut run, &graph, 0);
        assert_eq!(run.status, RunStatus::Failed);
        assert!(resume(&mut run, &BTreeSet::new()));
        assert_eq!(run.status, RunStatus::Running);
        assert!(run.error.is_empty());
        for s in ["a", "b", "c"] {
            assert_eq!(state(&run, s), StepState::Pending, "{s}");
        }
        assert_eq!(state(&run, "d"), StepState::Running, "its call runs again");
        assert_eq!(run.step(&id("a")).unwrap().attempts, 0);
    }

    #[test]
    fn a_wait_whose_secrets_still_wait_for_the_person_keeps_waiting_on_resume() {
        let (mut run, graph) = setup(RunKind::Apply);
        advance(&mut run, &graph, 0);
        let wait = StepOutcome::NeedPerson {
            instructions: vec![],
            outputs: BTreeMap::new(),
        };
        record(&mut run, &id("d"), &wait, Some(false), &settings(), 0);
        assert!(
            !resume(&mut run, &BTreeSet::from(["d".to_owned()])),
            "nothing to run again"
        );
        assert_eq!(
            state(&run, "d"),
            StepState::Waiting,
            "the person can still fetch them: no new enrollment"
        );
        assert!(!secrets_delivered(&mut run, "a", "terminal"), "a has none");
        assert!(secrets_delivered(&mut run, "d", "terminal"));
        let outputs = &run.step(&id("d")).unwrap().outputs;
        assert_eq!(outputs["secrets_delivered"], "yes");
        assert_eq!(outputs["secrets_delivered_by"], "terminal");
        assert!(
            !secrets_delivered(&mut run, "d", "terminal"),
            "a second acknowledgement changes nothing"
        );
        assert!(!resume(&mut run, &BTreeSet::new()));
        assert_eq!(
            state(&run, "d"),
            StepState::Waiting,
            "delivered: the person has the seed"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = settings();
        assert_eq!(backoff(&s, 1), Duration::from_millis(100));
        assert_eq!(backoff(&s, 2), Duration::from_millis(200));
        assert_eq!(backoff(&s, 3), Duration::from_millis(250));
        assert_eq!(backoff(&s, 40), Duration::from_millis(250));
    }
}
