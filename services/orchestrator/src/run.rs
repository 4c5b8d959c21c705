//! A run as it is stored in KV `orchestrator-runs`: the spec's resources, each step's
//! state, attempts, outcome, non-secret outputs and instructions, and the run's status.
//! Secrets are not fields of these types, so they cannot be stored by accident.

use std::collections::{BTreeMap, BTreeSet};

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
    /// In an apply: the step removes a resource that left the spec.
    #[serde(default)]
    pub delete: bool,
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
    /// The fencing token of the lease under which the run was last driven (see
    /// [`crate::lease`]): a driving write is refused once a greater token is stored here.
    #[serde(default)]
    pub lease_token: u64,
}

/// The resources Groundwork manages according to `runs`: made by an apply step that ran
/// (succeeded, or waits for a person) and not removed since by a destroy run or a delete
/// step, in the state the latest apply asked for. Ordered by id.
pub fn managed(runs: &[Run]) -> Vec<Resource> {
    let mut order: Vec<&Run> = runs.iter().collect();
    order.sort_by_key(|r| r.created_at_ms);
    let mut managed: BTreeMap<ResourceId, Resource> = BTreeMap::new();
    for run in order {
        for step in &run.steps {
            let made = matches!(
                step.state,
                StepState::Succeeded | StepState::Waiting | StepState::ActionRequired
            );
            let removed = step.state == StepState::Succeeded;
            match (run.kind, step.delete) {
                (RunKind::Apply, false) if made => {
                    managed.insert(step.resource.id.clone(), step.resource.clone());
                }
                (RunKind::Apply, true) | (RunKind::Destroy, _) if removed => {
                    managed.remove(&step.resource.id);
                }
                _ => {}
            }
        }
    }
    managed.into_values().collect()
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix milliseconds as RFC 3339 (empty when out of range).
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
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
                    delete: false,
                })
                .collect(),
            error: String::new(),
            created_at_ms: now,
            updated_at_ms: now,
            lease_token: 0,
        }
    }

    /// An apply run of `resources` that also deletes `removed` (resources an earlier apply
    /// made that left the spec). A deletion waits for the deletions of what depended on
    /// it, and for nothing else.
    pub fn apply_with_deletions(
        id: String,
        resources: Vec<Resource>,
        removed: Vec<Resource>,
    ) -> Self {
        let ids: BTreeSet<ResourceId> = removed.iter().map(|r| r.id.clone()).collect();
        let deletions: Vec<Resource> = removed
            .iter()
            .map(|r| Resource {
                depends_on: removed
                    .iter()
                    .filter(|d| d.depends_on.contains(&r.id) && ids.contains(&d.id))
                    .map(|d| d.id.clone())
                    .collect(),
                ..r.clone()
            })
            .collect();
        let n = resources.len();
        let mut run = Self::new(
            id,
            RunKind::Apply,
            resources.into_iter().chain(deletions).collect(),
        );
        for step in run.steps.iter_mut().skip(n) {
            step.delete = true;
        }
        run
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
    use crate::resource::{Desired, Topic};

    fn topic(name: &str, depends_on: &[&Resource]) -> Resource {
        Resource {
            id: ResourceId(format!("topic/{name}")),
            desired: Desired::Topic(Topic { name: name.into() }),
            depends_on: depends_on.iter().map(|r| r.id.clone()).collect(),
        }
    }

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
        let resources = (0..n).map(|i| topic(&format!("t{i}"), &[])).collect();
        Run::new("r".into(), RunKind::Apply, resources)
    }

    fn finished(mut run: Run, at: i64) -> Run {
        for s in &mut run.steps {
            s.state = StepState::Succeeded;
        }
        run.created_at_ms = at;
        run
    }

    #[test]
    fn managed_resources_follow_applies_deletions_and_destroys() {
        let (a, b, c) = (topic("a", &[]), topic("b", &[]), topic("c", &[]));
        let first = finished(
            Run::new("1".into(), RunKind::Apply, vec![a.clone(), b.clone()]),
            1,
        );
        assert_eq!(
            managed(std::slice::from_ref(&first)),
            vec![a.clone(), b.clone()]
        );
        // The second apply dropped b and added c; its deletion of b succeeded.
        let second = finished(
            Run::apply_with_deletions("2".into(), vec![a.clone(), c.clone()], vec![b.clone()]),
            2,
        );
        let mut runs = vec![second.clone(), first.clone()];
        assert_eq!(
            managed(&runs),
            vec![a.clone(), c.clone()],
            "whatever the listing order"
        );
        // A destroy removes what it deleted; a failed apply step made nothing.
        let destroy = finished(Run::new("3".into(), RunKind::Destroy, vec![a.clone()]), 3);
        let mut failed = Run::new("4".into(), RunKind::Apply, vec![b.clone()]);
        failed.steps[0].state = StepState::Failed;
        failed.created_at_ms = 4;
        runs.extend([destroy, failed]);
        assert_eq!(managed(&runs), vec![c]);
    }

    #[test]
    fn deletions_wait_for_the_deletions_of_their_dependents() {
        let kept = topic("kept", &[]);
        let parent = topic("parent", &[&kept]);
        let child = topic("child", &[&parent, &kept]);
        let run = Run::apply_with_deletions(
            "r".into(),
            vec![kept.clone()],
            vec![parent.clone(), child.clone()],
        );
        let steps: Vec<(&str, bool, Vec<&str>)> = run
            .steps
            .iter()
            .map(|s| {
                (
                    s.resource.id.as_str(),
                    s.delete,
                    s.resource
                        .depends_on
                        .iter()
                        .map(ResourceId::as_str)
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                ("topic/kept", false, vec![]),
                ("topic/parent", true, vec!["topic/child"]),
                ("topic/child", true, vec![]),
            ]
        );
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
