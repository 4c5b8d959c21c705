//! The in-memory view of the `eventbus-rules` KV bucket: buses, rules with their targets
//! (compiled into one [`RuleSet`] per bus), archives and replays. One watch keeps it
//! current, so a change made through any replica reaches every router without a restart.
//!
//! Writers put records in KV and then wait until the watch has applied their revision
//! ([`Catalog::wait_applied`]), so that a call that returns has taken effect locally.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use groundwork_bus::names::{self, RulesKey};
use groundwork_events::pattern::{EventPattern, RuleSet};
use groundwork_kit::Shutdown;
use tokio::sync::watch;

use crate::archive::ArchiveRecord;
use crate::buses::BusRecord;
use crate::error::{Error, unavailable};
use crate::replay::ReplayRecord;
use crate::rules::{RuleRecord, RuleState};
use crate::targets::TargetKind;

/// The rules of one bus: every rule by name, and the enabled ones compiled for matching.
#[derive(Debug, Clone, Default)]
pub struct BusRules {
    pub matcher: RuleSet,
    pub rules: BTreeMap<String, Arc<RuleRecord>>,
    /// Each rule's targets' `DELIVERIES` subjects, in the order of its targets (`None`
    /// for a target that is not a NATS subject): read once per rule change instead of
    /// once per delivery.
    subjects: BTreeMap<String, Arc<[Option<async_nats::Subject>]>>,
}

impl BusRules {
    /// The subject a rule's `index`th target's deliveries are stored under, when it is a
    /// NATS-subject target.
    pub fn nats_subject(&self, rule: &str, index: usize) -> Option<&async_nats::Subject> {
        self.subjects.get(rule)?.get(index)?.as_ref()
    }
}

#[derive(Debug, Default)]
struct State {
    buses: BTreeMap<String, BusRecord>,
    rules: BTreeMap<String, Arc<BusRules>>,
    archives: BTreeMap<String, ArchiveRecord>,
    replays: BTreeMap<String, (ReplayRecord, u64)>,
}

/// A shared handle on the catalog; cheap to clone (the KV handle holds the whole stream
/// description, so it is shared rather than copied).
#[derive(Debug, Clone)]
pub struct Catalog {
    kv: Arc<kv::Store>,
    state: Arc<RwLock<State>>,
    applied: Arc<watch::Sender<u64>>,
}

impl Catalog {
    /// Loads the bucket and keeps following it until `shutdown`; returns once everything
    /// stored at the time of the call is applied.
    pub async fn start(
        js: &jetstream::Context,
        kv: kv::Store,
        shutdown: Shutdown,
    ) -> Result<Self, Error> {
        let stream_name = format!("KV_{}", names::RULES_BUCKET);
        let last = js
            .get_stream(&stream_name)
            .await
            .map_err(|e| unavailable("cannot open the rules bucket", e))?
            .info()
            .await
            .map_err(|e| unavailable("cannot read the rules bucket", e))?
            .state
            .last_sequence;
        let (applied, _) = watch::channel(0);
        let catalog = Self {
            kv: Arc::new(kv),
            state: Arc::new(RwLock::new(State::default())),
            applied: Arc::new(applied),
        };
        tokio::spawn(catalog.clone().follow(shutdown));
        if last > 0 {
            catalog.wait_applied(last).await?;
        }
        Ok(catalog)
    }

    async fn follow(self, shutdown: Shutdown) {
        let mut from = 1;
        loop {
            let watch = tokio::select! {
                () = shutdown.wait() => return,
                w = self.kv.watch_all_from_revision(from) => w,
            };
            match watch {
                Ok(mut entries) => loop {
                    let entry = tokio::select! {
                        () = shutdown.wait() => return,
                        e = entries.next() => e,
                    };
                    match entry {
                        Some(Ok(entry)) => {
                            from = entry.revision + 1;
                            self.apply(&entry);
                            self.applied.send_replace(entry.revision);
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "rules watch failed; restarting it");
                            break;
                        }
                        None => break,
                    }
                },
                Err(e) => tracing::warn!(error = %e, "cannot watch the rules bucket; retrying"),
            }
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    fn apply(&self, entry: &kv::Entry) {
        let Some(key) = names::parse_rules_key(&entry.key) else {
            return;
        };
        let deleted = !matches!(entry.operation, kv::Operation::Put);
        let Ok(mut state) = self.state.write() else {
            return;
        };
        match key {
            RulesKey::Bus(bus) => {
                if deleted {
                    state.buses.remove(&bus);
                } else if let Ok(record) = serde_json::from_slice(&entry.value) {
                    state.buses.insert(bus, record);
                }
            }
            RulesKey::Rule { bus, rule } => {
                let table = Arc::make_mut(state.rules.entry(bus).or_default());
                table.matcher.remove_rule(&rule);
                table.rules.remove(&rule);
                table.subjects.remove(&rule);
                if deleted {
                    return;
                }
                let Ok(record) = serde_json::from_slice::<RuleRecord>(&entry.value) else {
                    tracing::warn!(key = %entry.key, "unreadable rule record ignored");
                    return;
                };
                if record.state == RuleState::Enabled
                    && let Ok(pattern) = EventPattern::parse(&record.event_pattern)
                {
                    table.matcher.add_rule(rule.clone(), &pattern);
                }
                let subjects = record
                    .targets
                    .iter()
                    .map(|target| match TargetKind::parse(&target.arn) {
                        Ok(TargetKind::Nats { subject }) => Some(subject.into()),
                        _ => None,
                    })
                    .collect();
                table.subjects.insert(rule.clone(), subjects);
                table.rules.insert(rule, Arc::new(record));
            }
            RulesKey::Archive(name) => {
                if deleted {
                    state.archives.remove(&name);
                } else if let Ok(record) = serde_json::from_slice(&entry.value) {
                    state.archives.insert(name, record);
                }
            }
            RulesKey::Replay(name) => {
                if deleted {
                    state.replays.remove(&name);
                } else if let Ok(record) = serde_json::from_slice(&entry.value) {
                    state.replays.insert(name, (record, entry.revision));
                }
            }
        }
    }

    /// Waits until the watch has applied `revision` (a KV write's result).
    pub async fn wait_applied(&self, revision: u64) -> Result<(), Error> {
        let mut rx = self.applied.subscribe();
        match tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|&a| a >= revision)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Error::unavailable(
                "the rules bucket watch is behind; the change is stored and will apply shortly",
            )),
        }
    }

    /// Waits until everything the bucket held when called (as its stream leader says) is
    /// applied here. Another replica's write is acknowledged once stored, not once every
    /// replica's watch has applied it; a lookup that finds nothing catches up first, so
    /// that a bus or rule created through another replica a moment ago is found.
    pub async fn catch_up(&self) -> Result<(), Error> {
        let last = self
            .kv
            .stream
            .get_info()
            .await
            .map_err(|e| unavailable("cannot read the rules bucket", e))?
            .state
            .last_sequence;
        if *self.applied.borrow() < last {
            self.wait_applied(last).await?;
        }
        Ok(())
    }

    /// Whether `bus` exists, caught up first when it is not known here (see
    /// [`Catalog::catch_up`]).
    pub async fn knows_bus(&self, bus: &str) -> Result<bool, Error> {
        if !self.has_bus(bus) {
            self.catch_up().await?;
        }
        Ok(self.has_bus(bus))
    }

    /// A rule, caught up first when it is not known here (see [`Catalog::catch_up`]).
    pub async fn find_rule(&self, bus: &str, rule: &str) -> Result<Option<Arc<RuleRecord>>, Error> {
        if let Some(found) = self.rule(bus, rule) {
            return Ok(Some(found));
        }
        self.catch_up().await?;
        Ok(self.rule(bus, rule))
    }

    /// Changes one record of the bucket by compare-and-set (see
    /// [`groundwork_bus::kv::Records::modify`]) and waits until the catalog has applied it.
    /// `change` gets the current record and answers the new one, `Ok(None)` to leave it, or
    /// an error that is returned as it is. Returns the record as stored afterwards.
    pub async fn modify<T>(
        &self,
        key: &str,
        mut change: impl FnMut(Option<&T>) -> Result<Option<T>, Error>,
    ) -> Result<Option<T>, Error>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        use groundwork_bus::kv::{Change, Records};
        let records: Records<T> = Records::new((*self.kv).clone(), &groundwork_bus::streams::RULES);
        let mut refused = None;
        let (stored, wrote) = records
            .modify(key, |current| match change(current) {
                Ok(Some(next)) => Change::Write(next),
                Ok(None) => Change::Keep,
                Err(e) => {
                    refused = Some(e);
                    Change::Keep
                }
            })
            .await?;
        if let Some(e) = refused {
            return Err(e);
        }
        if let (Some(stored), true) = (&stored, wrote) {
            self.wait_applied(stored.revision).await?;
        }
        Ok(stored.map(|s| s.value))
    }

    /// Changes to the catalog, as the last applied revision.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    pub fn kv(&self) -> &kv::Store {
        &self.kv
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        match self.state.read() {
            Ok(state) => f(&state),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    pub fn has_bus(&self, bus: &str) -> bool {
        self.read(|s| s.buses.contains_key(bus))
    }

    pub fn buses(&self) -> Vec<BusRecord> {
        self.read(|s| s.buses.values().cloned().collect())
    }

    /// The rules of a bus (empty for a bus without rules).
    pub fn rules(&self, bus: &str) -> Arc<BusRules> {
        self.read(|s| s.rules.get(bus).cloned().unwrap_or_default())
    }

    pub fn rule(&self, bus: &str, rule: &str) -> Option<Arc<RuleRecord>> {
        self.read(|s| s.rules.get(bus).and_then(|t| t.rules.get(rule).cloned()))
    }

    pub fn archives(&self) -> Vec<ArchiveRecord> {
        self.read(|s| s.archives.values().cloned().collect())
    }

    pub fn archive(&self, name: &str) -> Option<ArchiveRecord> {
        self.read(|s| s.archives.get(name).cloned())
    }

    pub fn replays(&self) -> Vec<ReplayRecord> {
        self.read(|s| s.replays.values().map(|(r, _)| r.clone()).collect())
    }
}
