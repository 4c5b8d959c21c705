//! A run as it is stored in KV `orchestrator-runs`: the spec's resources, each step's
//! state, attempts, outcome, non-secret outputs and instructions, and the run's status.
//! Secrets are not fields of these types, so they cannot be stored by accident.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::machine::{RunEvent, RunStatus, StepEvent, StepState, Transition};
use crate::resource::{Resource, ResourceId};

/// Apply or destroy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Apply,
    Destroy,
}

impl RunKind {
    /// As serialized: `apply` or `destroy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "apply",
            Self::Destroy => "destroy",
        }
    }
}

/// One step's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub resource: Resource,
    pub state: StepState,
    #[serde(default)]
    pub attempts: u32,
    /// `created`, `updated`, `unchanged`, `deleted`, `absent`.
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub instructions: Vec<String>,
    /// Non-secret results (ARNs, serial numbers).
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// Unix milliseconds before which a step in BACKOFF is not retried.
    #[serde(default)]
    pub not_before_ms: i64,
}

/// A run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub kind: RunKind,
    pub status: RunStatus,
    /// In spec order.
    pub steps: Vec<StepRecord>,
    #[serde(default)]
    pub error: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Run {
    pub fn new(id: String, kind: RunKind, resources: Vec<Resource>) -> Self {
        let now = now_ms();
        Self {
            id,
            kind,
            status: RunStatus::Pending,
            steps: resources
                .into_iter()
                .map(|resource| StepRecord {
                    resource,
                    state: StepState::Pending,
                    attempts: 0,
                    outcome: String::new(),
                    error: String::new(),
                    instructions: Vec::new(),
                    outputs: BTreeMap::new(),
                    not_before_ms: 0,
                })
                .collect(),
            error: String::new(),
            created_at_ms: now,
            updated_at_ms: now,
        }
    }

    pub fn step(&self, id: &ResourceId) -> Option<&StepRecord> {
        self.steps.iter().find(|s| &s.resource.id == id)
    }

    pub fn step_mut(&mut self, id: &ResourceId) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|s| &s.resource.id == id)
    }

    pub fn resources(&self) -> Vec<Resource> {
        self.steps.iter().map(|s| s.resource.clone()).collect()
    }

    /// Applies a step event through the table; `true` when the step changed.
    pub fn step_event(&mut self, id: &ResourceId, event: StepEvent) -> bool {
        let Some(step) = self.step_mut(id) else {
            return false;
        };
        match step.state.on(event) {
            Transition::To(next) => {
                step.state = next;
                if event == StepEvent::Start {
                    step.attempts += 1;
                }
                true
            }
            Transition::Ignored => false,
            Transition::Invalid => {
                tracing::warn!(step = %id, state = ?step.state, ?event, "impossible step transition refused");
                false
            }
        }
    }

    /// Applies a run event through the table; `true` when the status changed.
    pub fn run_event(&mut self, event: RunEvent) -> bool {
        match self.status.on(event) {
            Transition::To(next) => {
                self.status = next;
                true
            }
            Transition::Ignored => false,
            Transition::Invalid => {
                tracing::warn!(run = %self.id, status = ?self.status, ?event, "impossible run transition refused");
                false
            }
        }
    }

    /// What the steps say about the run as a whole, if anything: every step finished
    /// well, a step failed and nothing else can move, or everything left waits for a
    /// person.
    pub fn derived_event(&self) -> Option<RunEvent> {
        let states: Vec<StepState> = self.steps.iter().map(|s| s.state).collect();
        let moving = states.iter().any(|s| {
            matches!(
                s,
                StepState::Pending | StepState::Running | StepState::Backoff
            )
        });
        if states.iter().all(|s| s.lets_dependents_run()) {
            return Some(RunEvent::AllDone);
        }
        if moving {
            // A pending step may be stuck behind a failed one: the engine cancels those.
            return None;
        }
        if states.contains(&StepState::Failed) || states.contains(&StepState::Cancelled) {
            return Some(RunEvent::StepFailed);
        }
        if states.contains(&StepState::Waiting) {
            return Some(RunEvent::AllWaiting);
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::resource::Kind;

    #[test]
    fn a_kind_reads_as_it_is_stored() {
        for kind in [RunKind::Apply, RunKind::Destroy] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
        }
    }

    fn run(n: usize) -> Run {
        let resources = (0..n)
            .map(|i| Resource {
                id: ResourceId(format!("topic/t{i}")),
                kind: Kind::Topic,
                fields: Default::default(),
                depends_on: vec![],
            })
            .collect();
        Run::new("r".into(), RunKind::Apply, resources)
    }

    #[test]
    fn the_run_is_done_when_every_step_is() {
        let mut r = run(2);
        let ids: Vec<ResourceId> = r.steps.iter().map(|s| s.resource.id.clone()).collect();
        assert_eq!(r.derived_event(), None);
        for id in &ids {
            assert!(r.step_event(id, StepEvent::Start));
            assert!(r.step_event(id, StepEvent::Succeed));
        }
        assert_eq!(r.steps[0].attempts, 1);
        assert_eq!(r.derived_event(), Some(RunEvent::AllDone));
    }

    #[test]
    fn the_run_waits_only_when_nothing_else_moves() {
        let mut r = run(2);
        let a = r.steps[0].resource.id.clone();
        let b = r.steps[1].resource.id.clone();
        r.step_event(&a, StepEvent::Start);
        r.step_event(&a, StepEvent::NeedPerson);
        assert_eq!(r.derived_event(), None, "b is still pending");
        r.step_event(&b, StepEvent::Start);
        r.step_event(&b, StepEvent::Succeed);
        assert_eq!(r.derived_event(), Some(RunEvent::AllWaiting));
        assert!(r.step_event(&a, StepEvent::PersonDone));
        assert!(
            !r.step_event(&a, StepEvent::PersonDone),
            "a duplicate is ignored"
        );
        assert_eq!(r.derived_event(), Some(RunEvent::AllDone));
    }

    #[test]
    fn a_failed_step_fails_the_run_once_nothing_moves() {
        let mut r = run(2);
        let a = r.steps[0].resource.id.clone();
        let b = r.steps[1].resource.id.clone();
        r.step_event(&a, StepEvent::Start);
        r.step_event(&a, StepEvent::GiveUp);
        assert_eq!(r.derived_event(), None);
        r.step_event(&b, StepEvent::DependencyFailed);
        assert_eq!(r.derived_event(), Some(RunEvent::StepFailed));
    }

    #[test]
    fn records_round_trip_through_json() {
        let r = run(1);
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Run>(&text).unwrap(), r);
        assert!(text.contains("\"PENDING\""));
    }
}
