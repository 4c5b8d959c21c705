//! The state machines of a step and of a run, as explicit tables.
//!
//! Every change of a run goes through [`StepState::on`] or [`RunStatus::on`]: a transition
//! either moves to a new state, is a duplicate that is ignored (an event delivered twice,
//! a second `MFA Device Enabled`, a resume of something already finished), or is refused
//! as impossible. The engine persists each accepted transition with a compare-and-set, so
//! two writers racing on one run end in a state the table allows.

use serde::{Deserialize, Serialize};

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepState {
    /// Not started; waits for its dependencies.
    Pending,
    /// Its call is in flight.
    Running,
    /// Failed in a way that may pass later; runs again after a delay.
    Backoff,
    /// Needs a person (confirm an email, type MFA codes, a console step).
    Waiting,
    /// Done.
    Succeeded,
    /// A console step that is not done yet; reported with instructions, does not hold
    /// the run (`console_steps = "report"`).
    ActionRequired,
    /// Failed for good, or out of attempts.
    Failed,
    /// Not run because a step it depends on failed.
    Cancelled,
}

/// What happens to a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StepEvent {
    /// The engine starts (or retries) the step's call.
    Start,
    /// The call finished: done.
    Succeed,
    /// The call finished: a person has to act now.
    NeedPerson,
    /// The call finished: a console step is not done, reported only.
    NeedAttention,
    /// The call failed and attempts remain.
    AttemptFailed,
    /// The call failed for good (terminal error or no attempts left).
    GiveUp,
    /// A person's action was observed (`Subscription Confirmed`, `MFA Device Enabled`).
    PersonDone,
    /// Look again: after a restart, on `apply --resume`, on a periodic check.
    Resume,
    /// A dependency failed; this step will not run.
    DependencyFailed,
}

/// The answer of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition<S> {
    /// Move to this state (persist it).
    To(S),
    /// A duplicate or stale event: nothing to do.
    Ignored,
    /// Cannot happen in this state; a bug or a corrupt record.
    Invalid,
}

impl StepState {
    /// The step transition table.
    pub fn on(self, event: StepEvent) -> Transition<Self> {
        use StepEvent as E;
        use StepState as S;
        use Transition::{Ignored, Invalid, To};
        match (self, event) {
            (S::Pending, E::Start) => To(S::Running),
            (S::Pending, E::DependencyFailed) => To(S::Cancelled),
            (S::Pending, E::Resume) => Ignored,
            (S::Pending, E::PersonDone) => Ignored,

            (S::Running, E::Succeed) => To(S::Succeeded),
            (S::Running, E::NeedPerson) => To(S::Waiting),
            (S::Running, E::NeedAttention) => To(S::ActionRequired),
            (S::Running, E::AttemptFailed) => To(S::Backoff),
            (S::Running, E::GiveUp) => To(S::Failed),
            // The process that ran the call is gone: whether it finished is unknown, and
            // every step is idempotent, so it runs again.
            (S::Running, E::Resume) => To(S::Pending),
            // Seen while the call is in flight: the call's own answer decides.
            (S::Running, E::PersonDone) => Ignored,
            (S::Running, E::Start) => Ignored,

            (S::Backoff, E::Start) => To(S::Running),
            (S::Backoff, E::Resume) => Ignored,
            (S::Backoff, E::PersonDone) => Ignored,
            (S::Backoff, E::DependencyFailed) => To(S::Cancelled),

            (S::Waiting, E::PersonDone) => To(S::Succeeded),
            // Check again whether the person did it (the call is idempotent).
            (S::Waiting, E::Resume) => To(S::Running),
            (S::Waiting, E::NeedPerson) => Ignored,

            (S::ActionRequired, E::PersonDone) => To(S::Succeeded),
            (S::ActionRequired, E::Resume) => To(S::Running),
            (S::ActionRequired, E::NeedAttention) => Ignored,

            (S::Succeeded, E::Succeed | E::PersonDone | E::Resume | E::NeedPerson) => Ignored,

            // `apply --resume` gives failed and cancelled steps another go.
            (S::Failed, E::Resume) => To(S::Pending),
            (S::Failed, E::GiveUp | E::PersonDone | E::DependencyFailed) => Ignored,
            (S::Cancelled, E::Resume) => To(S::Pending),
            (S::Cancelled, E::DependencyFailed | E::PersonDone) => Ignored,

            _ => Invalid,
        }
    }

    /// The step will not change without a resume.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::ActionRequired | Self::Failed | Self::Cancelled
        )
    }

    /// Dependents may start.
    pub fn lets_dependents_run(self) -> bool {
        matches!(self, Self::Succeeded | Self::ActionRequired)
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Pending,
    Running,
    /// Nothing can move until a person acts.
    Waiting,
    Completed,
    Failed,
}

/// What happens to a run; the engine derives these from its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunEvent {
    Start,
    /// Every step left is waiting for a person.
    AllWaiting,
    /// A waiting step moved (a person acted, or a check is due).
    Resume,
    /// Every step finished well.
    AllDone,
    /// A step failed for good and nothing else can move.
    StepFailed,
}

impl RunStatus {
    /// The run transition table.
    pub fn on(self, event: RunEvent) -> Transition<Self> {
        use RunEvent as E;
        use RunStatus as S;
        use Transition::{Ignored, Invalid, To};
        match (self, event) {
            (S::Pending, E::Start) => To(S::Running),
            (S::Pending, E::Resume) => To(S::Running),
            (S::Running, E::AllWaiting) => To(S::Waiting),
            (S::Running, E::AllDone) => To(S::Completed),
            (S::Running, E::StepFailed) => To(S::Failed),
            (S::Running, E::Start | E::Resume) => Ignored,
            (S::Waiting, E::Resume) => To(S::Running),
            (S::Waiting, E::AllWaiting) => Ignored,
            // A waiting step can also finish straight from WAITING (an event arrives).
            (S::Waiting, E::AllDone) => To(S::Completed),
            (S::Waiting, E::StepFailed) => To(S::Failed),
            (S::Completed, _) => Ignored,
            // `apply --resume` on a failed run.
            (S::Failed, E::Resume) => To(S::Running),
            (S::Failed, E::StepFailed | E::AllWaiting) => Ignored,
            _ => Invalid,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Waiting => "WAITING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Backoff => "BACKOFF",
            Self::Waiting => "WAITING",
            Self::Succeeded => "SUCCEEDED",
            Self::ActionRequired => "ACTION_REQUIRED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

#[cfg(test)]
mod tests {
    //! Transition coverage: every (state, event) pair of both tables is listed with its
    //! expected answer, so a change to a table is a change to this list.
    use super::*;
    use StepEvent as E;
    use StepState as S;
    use Transition::{Ignored, Invalid, To};

    const STEP_STATES: [S; 8] = [
        S::Pending,
        S::Running,
        S::Backoff,
        S::Waiting,
        S::Succeeded,
        S::ActionRequired,
        S::Failed,
        S::Cancelled,
    ];
    const STEP_EVENTS: [E; 9] = [
        E::Start,
        E::Succeed,
        E::NeedPerson,
        E::NeedAttention,
        E::AttemptFailed,
        E::GiveUp,
        E::PersonDone,
        E::Resume,
        E::DependencyFailed,
    ];

    fn expected_step(s: S, e: E) -> Transition<S> {
        match (s, e) {
            (S::Pending, E::Start) => To(S::Running),
            (S::Pending, E::DependencyFailed) => To(S::Cancelled),
            (S::Pending, E::Resume | E::PersonDone) => Ignored,
            (S::Running, E::Succeed) => To(S::Succeeded),
            (S::Running, E::NeedPerson) => To(S::Waiting),
            (S::Running, E::NeedAttention) => To(S::ActionRequired),
            (S::Running, E::AttemptFailed) => To(S::Backoff),
            (S::Running, E::GiveUp) => To(S::Failed),
            (S::Running, E::Resume) => To(S::Pending),
            (S::Running, E::PersonDone | E::Start) => Ignored,
            (S::Backoff, E::Start) => To(S::Running),
            (S::Backoff, E::DependencyFailed) => To(S::Cancelled),
            (S::Backoff, E::Resume | E::PersonDone) => Ignored,
            (S::Waiting, E::PersonDone) => To(S::Succeeded),
            (S::Waiting, E::Resume) => To(S::Running),
            (S::Waiting, E::NeedPerson) => Ignored,
            (S::ActionRequired, E::PersonDone) => To(S::Succeeded),
            (S::ActionRequired, E::Resume) => To(S::Running),
            (S::ActionRequired, E::NeedAttention) => Ignored,
            (S::Succeeded, E::Succeed | E::PersonDone | E::Resume | E::NeedPerson) => Ignored,
            (S::Failed, E::Resume) => To(S::Pending),
            (S::Failed, E::GiveUp | E::PersonDone | E::DependencyFailed) => Ignored,
            (S::Cancelled, E::Resume) => To(S::Pending),
            (S::Cancelled, E::DependencyFailed | E::PersonDone) => Ignored,
            _ => Invalid,
        }
    }

    #[test]
    fn every_step_transition_is_as_listed() {
        let mut moves = 0;
        for s in STEP_STATES {
            for e in STEP_EVENTS {
                assert_eq!(s.on(e), expected_step(s, e), "{s:?} on {e:?}");
                if matches!(s.on(e), To(_)) {
                    moves += 1;
                }
            }
        }
        assert_eq!(moves, 16);
    }

    #[test]
    fn duplicate_person_events_are_ignored_after_success() {
        let s = S::Waiting;
        let Transition::To(done) = s.on(E::PersonDone) else {
            unreachable!("waiting steps finish on PersonDone")
        };
        assert_eq!(done, S::Succeeded);
        assert_eq!(done.on(E::PersonDone), Ignored);
    }

    #[test]
    fn a_step_interrupted_by_a_crash_runs_again() {
        assert_eq!(S::Running.on(E::Resume), To(S::Pending));
        assert_eq!(S::Pending.on(E::Start), To(S::Running));
    }

    const RUN_STATES: [RunStatus; 5] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Waiting,
        RunStatus::Completed,
        RunStatus::Failed,
    ];
    const RUN_EVENTS: [RunEvent; 5] = [
        RunEvent::Start,
        RunEvent::AllWaiting,
        RunEvent::Resume,
        RunEvent::AllDone,
        RunEvent::StepFailed,
    ];

    fn expected_run(s: RunStatus, e: RunEvent) -> Transition<RunStatus> {
        use RunEvent as RE;
        use RunStatus as R;
        match (s, e) {
            (R::Pending, RE::Start | RE::Resume) => To(R::Running),
            (R::Running, RE::AllWaiting) => To(R::Waiting),
            (R::Running, RE::AllDone) => To(R::Completed),
            (R::Running, RE::StepFailed) => To(R::Failed),
            (R::Running, RE::Start | RE::Resume) => Ignored,
            (R::Waiting, RE::Resume) => To(R::Running),
            (R::Waiting, RE::AllWaiting) => Ignored,
            (R::Waiting, RE::AllDone) => To(R::Completed),
            (R::Waiting, RE::StepFailed) => To(R::Failed),
            (R::Completed, _) => Ignored,
            (R::Failed, RE::Resume) => To(R::Running),
            (R::Failed, RE::StepFailed | RE::AllWaiting) => Ignored,
            _ => Invalid,
        }
    }

    #[test]
    fn every_run_transition_is_as_listed() {
        for s in RUN_STATES {
            for e in RUN_EVENTS {
                assert_eq!(s.on(e), expected_run(s, e), "{s:?} on {e:?}");
            }
        }
        assert!(RunStatus::Completed.is_terminal() && RunStatus::Failed.is_terminal());
        assert!(!RunStatus::Waiting.is_terminal());
    }
}
