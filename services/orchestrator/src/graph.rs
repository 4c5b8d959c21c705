//! The step graph: which steps wait for which. A step is ready once everything it depends
//! on has finished well; independent steps are ready together and run in parallel.
//! Destroy walks the same graph backwards.

use std::collections::{BTreeMap, BTreeSet};

use crate::resource::{Resource, ResourceId};

/// Steps and their dependencies (only dependencies on steps of the graph are kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    order: Vec<ResourceId>,
    deps: BTreeMap<ResourceId, BTreeSet<ResourceId>>,
}

/// The graph has a cycle through this step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the steps depend on each other in a cycle through {0}")]
pub struct CycleError(pub ResourceId);

impl Graph {
    pub fn new(resources: &[Resource]) -> Result<Self, CycleError> {
        let ids: BTreeSet<&ResourceId> = resources.iter().map(|r| &r.id).collect();
        let deps = resources
            .iter()
            .map(|r| {
                let d = r
                    .depends_on
                    .iter()
                    .filter(|d| ids.contains(d))
                    .cloned()
                    .collect();
                (r.id.clone(), d)
            })
            .collect();
        let graph = Self {
            order: resources.iter().map(|r| r.id.clone()).collect(),
            deps,
        };
        graph.levels()?;
        Ok(graph)
    }

    pub fn steps(&self) -> &[ResourceId] {
        &self.order
    }

    pub fn dependencies(&self, id: &ResourceId) -> impl Iterator<Item = &ResourceId> {
        self.deps.get(id).into_iter().flatten()
    }

    /// The steps that depend on `id`.
    pub fn dependents(&self, id: &ResourceId) -> Vec<&ResourceId> {
        self.order
            .iter()
            .filter(|s| self.deps.get(*s).is_some_and(|d| d.contains(id)))
            .collect()
    }

    /// Steps not yet started whose dependencies are all in `done`, in spec order.
    pub fn ready<'a>(
        &'a self,
        done: &BTreeSet<&ResourceId>,
        started: &BTreeSet<&ResourceId>,
    ) -> Vec<&'a ResourceId> {
        self.order
            .iter()
            .filter(|s| !started.contains(s) && !done.contains(s))
            .filter(|s| self.dependencies(s).all(|d| done.contains(d)))
            .collect()
    }

    /// For destroy: steps not yet started all of whose dependents are in `done`.
    pub fn ready_reversed<'a>(
        &'a self,
        done: &BTreeSet<&ResourceId>,
        started: &BTreeSet<&ResourceId>,
    ) -> Vec<&'a ResourceId> {
        self.order
            .iter()
            .rev()
            .filter(|s| !started.contains(s) && !done.contains(s))
            .filter(|s| self.dependents(s).iter().all(|d| done.contains(d)))
            .collect()
    }

    /// Steps grouped in waves: each wave depends only on earlier ones.
    pub fn levels(&self) -> Result<Vec<Vec<ResourceId>>, CycleError> {
        let mut done: BTreeSet<&ResourceId> = BTreeSet::new();
        let mut levels = Vec::new();
        while done.len() < self.order.len() {
            let wave: Vec<&ResourceId> = self.ready(&done, &BTreeSet::new());
            if wave.is_empty() {
                let stuck = self
                    .order
                    .iter()
                    .find(|s| !done.contains(s))
                    .cloned()
                    .unwrap_or_else(|| ResourceId(String::new()));
                return Err(CycleError(stuck));
            }
            levels.push(wave.iter().map(|s| (*s).clone()).collect());
            done.extend(wave);
        }
        Ok(levels)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::resource::{Desired, Topic, resources};

    fn res(id: &str, deps: &[&str]) -> Resource {
        Resource {
            id: ResourceId(id.into()),
            desired: Desired::Topic(Topic { name: id.into() }),
            depends_on: deps.iter().map(|d| ResourceId((*d).into())).collect(),
        }
    }

    fn ids(v: Vec<&ResourceId>) -> Vec<&str> {
        v.into_iter().map(|i| i.as_str()).collect()
    }

    #[test]
    fn independent_steps_are_ready_together() {
        let g = Graph::new(&[res("a", &[]), res("b", &["a"]), res("c", &[])]).unwrap();
        assert_eq!(ids(g.ready(&BTreeSet::new(), &BTreeSet::new())), ["a", "c"]);
        let a = ResourceId("a".into());
        let done = BTreeSet::from([&a]);
        assert_eq!(ids(g.ready(&done, &BTreeSet::new())), ["b", "c"]);
        let c = ResourceId("c".into());
        assert_eq!(ids(g.ready(&done, &BTreeSet::from([&c]))), ["b"]);
    }

    #[test]
    fn destroy_goes_backwards() {
        let g = Graph::new(&[res("a", &[]), res("b", &["a"])]).unwrap();
        assert_eq!(
            ids(g.ready_reversed(&BTreeSet::new(), &BTreeSet::new())),
            ["b"]
        );
        let b = ResourceId("b".into());
        assert_eq!(
            ids(g.ready_reversed(&BTreeSet::from([&b]), &BTreeSet::new())),
            ["a"]
        );
    }

    #[test]
    fn a_cycle_is_refused() {
        let err = Graph::new(&[res("a", &["b"]), res("b", &["a"])]).unwrap_err();
        assert_eq!(err.0.as_str(), "a");
    }

    #[test]
    fn dependencies_outside_the_graph_are_ignored() {
        let g = Graph::new(&[res("a", &["elsewhere"])]).unwrap();
        assert_eq!(g.levels().unwrap().len(), 1);
    }

    #[test]
    fn the_example_runs_in_three_waves_after_the_admin() {
        let spec = crate::spec::parse(include_str!("../../../examples/groundwork.toml")).unwrap();
        let g = Graph::new(&resources(&spec)).unwrap();
        let levels = g.levels().unwrap();
        // The admin alone (it checks the policies before anything is created), then
        // everything that needs only the admin in parallel, then what needs the topic.
        assert_eq!(levels.len(), 3);
        assert_eq!(levels[0], [ResourceId("admin-user/admin".into())]);
        for id in [
            "topic/billing-alarm",
            "mfa-device/admin",
            "budget/monthly-spend",
        ] {
            assert!(levels[1].iter().any(|i| i.as_str() == id), "{id}");
        }
        assert!(
            levels[2]
                .iter()
                .any(|i| i.as_str() == "billing-alarm/billing-alarm")
        );
    }
}
