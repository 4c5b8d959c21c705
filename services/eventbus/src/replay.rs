//! Replays: the events an archive holds within a time window are read back from the bus
//! stream and matched against the bus's rules (or the chosen ones); their deliveries go
//! straight to `TARGETS` with `replay-name` set. Replayed events never re-enter the bus
//! stream, so they are neither archived again nor routed as originals.
//!
//! The replay record in KV is the state machine: STARTING → RUNNING → COMPLETED, or
//! CANCELLED (CancelReplay) or FAILED; its `EventLastReplayedTime` is the progress.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv};
use futures::StreamExt;
use groundwork_bus::names;
use groundwork_bus::publish::stored_events;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::arn::{Arns, archive_name_from, rule_from_arn};
use crate::buses::{encode, now_ms};
use crate::catalog::Catalog;
use crate::delivery::{Routed, fan_out};
use crate::error::{Error, unavailable, validation};

/// Where a replay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReplayState {
    Starting,
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl ReplayState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "STARTING",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Failed => "FAILED",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, Self::Starting | Self::Running)
    }
}

/// A replay as stored in KV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRecord {
    pub name: String,
    pub arn: String,
    #[serde(default)]
    pub description: String,
    pub state: ReplayState,
    #[serde(default)]
    pub state_reason: String,
    pub archive: String,
    pub event_source_arn: String,
    pub destination_arn: String,
    #[serde(default)]
    pub filter_arns: Vec<String>,
    pub event_start_ms: i64,
    pub event_end_ms: i64,
    #[serde(default)]
    pub event_last_replayed_ms: Option<i64>,
    pub replay_start_ms: i64,
    #[serde(default)]
    pub replay_end_ms: Option<i64>,
    #[serde(default)]
    pub deliveries: u64,
}

/// What StartReplay asks for.
#[derive(Debug, Clone)]
pub struct StartReplay {
    pub name: String,
    pub description: String,
    pub event_source_arn: String,
    pub event_start_ms: i64,
    pub event_end_ms: i64,
    pub destination_arn: String,
    pub filter_arns: Vec<String>,
}

/// Starts, describes and cancels replays; runs the ones started here.
#[derive(Debug, Clone)]
pub struct Replays {
    js: jetstream::Context,
    catalog: Catalog,
    arns: Arns,
    max_running: usize,
    running: Arc<Mutex<BTreeMap<String, CancellationToken>>>,
}

impl Replays {
    pub fn new(js: jetstream::Context, catalog: Catalog, arns: Arns, max_running: usize) -> Self {
        Self {
            js,
            catalog,
            arns,
            max_running,
            running: Arc::default(),
        }
    }

    async fn read(&self, name: &str) -> Result<Option<(ReplayRecord, u64)>, Error> {
        let entry = groundwork_bus::kv::latest(self.catalog.kv(), &names::replay_key(name))
            .await
            .map_err(|e| unavailable("cannot read the replay", e))?;
        match entry {
            Some(e) if matches!(e.operation, kv::Operation::Put) => {
                let record = serde_json::from_slice(&e.value)
                    .map_err(|e| Error::internal(format!("unreadable replay record: {e}")))?;
                Ok(Some((record, e.revision)))
            }
            _ => Ok(None),
        }
    }

    pub async fn describe(&self, name: &str) -> Result<ReplayRecord, Error> {
        crate::rules::validate_name(name, "replayName")?;
        self.read(name)
            .await?
            .map(|(r, _)| r)
            .ok_or_else(|| Error::not_found(format!("Replay {name} does not exist.")))
    }

    /// Replays by name, filtered by state and archive ARN (each filter off when empty).
    /// Reads catch up first (see [`Catalog::catch_up`]), as rule reads do.
    pub async fn list(
        &self,
        prefix: &str,
        state: &str,
        event_source_arn: &str,
    ) -> Result<Vec<ReplayRecord>, Error> {
        self.catalog.catch_up().await?;
        Ok(self
            .catalog
            .replays()
            .into_iter()
            .filter(|r| r.name.starts_with(prefix))
            .filter(|r| state.is_empty() || r.state.as_str() == state)
            .filter(|r| event_source_arn.is_empty() || r.event_source_arn == event_source_arn)
            .collect())
    }

    pub async fn start(&self, request: StartReplay) -> Result<ReplayRecord, Error> {
        crate::rules::validate_name(&request.name, "replayName")?;
        let archive_name = archive_name_from(&request.event_source_arn).ok_or_else(|| {
            validation("Parameter EventSourceArn is not valid. Reason: not an archive ARN.")
        })?;
        if self.catalog.archive(archive_name).is_none() {
            self.catalog.catch_up().await?;
        }
        let archive = self
            .catalog
            .archive(archive_name)
            .ok_or_else(|| Error::not_found(format!("Archive {archive_name} does not exist.")))?;
        if request.event_end_ms <= request.event_start_ms {
            return Err(validation(
                "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.",
            ));
        }
        let destination = if request.destination_arn.is_empty() {
            archive.event_source_arn.clone()
        } else {
            request.destination_arn.clone()
        };
        if destination != archive.event_source_arn {
            return Err(validation(format!(
                "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted; use {}.",
                archive.event_source_arn
            )));
        }
        for arn in &request.filter_arns {
            match rule_from_arn(arn) {
                Some((bus, _)) if bus == archive.bus => {}
                _ => {
                    return Err(validation(format!(
                        "Parameter Destination.FilterArns is not valid. Reason: {arn} is not a rule of bus {}.",
                        archive.bus
                    )));
                }
            }
        }
        let active = self
            .catalog
            .replays()
            .iter()
            .filter(|r| r.state.is_active())
            .count();
        if active >= self.max_running {
            return Err(Error::limit_exceeded(format!(
                "At most {} replays can run at once.",
                self.max_running
            )));
        }
        let record = ReplayRecord {
            name: request.name.clone(),
            arn: self.arns.replay(&request.name),
            description: request.description,
            state: ReplayState::Starting,
            state_reason: String::new(),
            archive: archive.name.clone(),
            event_source_arn: archive.arn.clone(),
            destination_arn: destination,
            filter_arns: request.filter_arns,
            event_start_ms: request.event_start_ms,
            event_end_ms: request.event_end_ms,
            event_last_replayed_ms: None,
            replay_start_ms: now_ms(),
            replay_end_ms: None,
            deliveries: 0,
        };
        let revision = match self
            .catalog
            .kv()
            .create(names::replay_key(&record.name), encode(&record)?)
            .await
        {
            Ok(r) => r,
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                return Err(Error::already_exists(format!(
                    "Replay {} already exists.",
                    record.name
                )));
            }
            Err(e) => return Err(unavailable("cannot store the replay", e)),
        };
        self.catalog.wait_applied(revision).await?;
        let token = CancellationToken::new();
        if let Ok(mut running) = self.running.lock() {
            running.insert(record.name.clone(), token.clone());
        }
        let this = self.clone();
        let name = record.name.clone();
        tokio::spawn(async move {
            let outcome = this.run(&name, &token).await;
            if let Err(e) = outcome {
                tracing::warn!(replay = %name, error = %e, "replay failed");
                let _ = this
                    .finish(&name, ReplayState::Failed, &e.to_string())
                    .await;
            }
            if let Ok(mut running) = this.running.lock() {
                running.remove(&name);
            }
        });
        Ok(record)
    }

    pub async fn cancel(&self, name: &str) -> Result<ReplayRecord, Error> {
        crate::rules::validate_name(name, "replayName")?;
        let (record, _) = self
            .read(name)
            .await?
            .ok_or_else(|| Error::not_found(format!("Replay {name} does not exist.")))?;
        if !record.state.is_active() {
            return Err(validation(format!(
                "Replay {name} is not in a valid state for this operation (it is {}).",
                record.state.as_str()
            ))
            .with_reason(crate::error::ILLEGAL_STATUS));
        }
        if let Some(token) = self.running.lock().ok().and_then(|r| r.get(name).cloned()) {
            token.cancel();
        }
        self.finish(name, ReplayState::Cancelled, "Cancelled by request")
            .await?;
        self.describe(name).await
    }

    /// Moves an active replay to a final state (compare-and-set: a final state wins).
    async fn finish(&self, name: &str, state: ReplayState, reason: &str) -> Result<(), Error> {
        self.change(name, |r| {
            r.state = state;
            r.state_reason = reason.to_owned();
            r.replay_end_ms = Some(now_ms());
        })
        .await
        .map(|_| ())
    }

    /// Applies `change` to an active replay; `Ok(false)` when it is no longer active.
    async fn change(&self, name: &str, change: impl Fn(&mut ReplayRecord)) -> Result<bool, Error> {
        for _ in 0..10 {
            let Some((mut record, revision)) = self.read(name).await? else {
                return Ok(false);
            };
            if !record.state.is_active() {
                return Ok(false);
            }
            change(&mut record);
            match self
                .catalog
                .kv()
                .update(names::replay_key(name), encode(&record)?, revision)
                .await
            {
                Ok(r) => {
                    self.catalog.wait_applied(r).await?;
                    return Ok(true);
                }
                Err(e) => tracing::debug!(error = %e, "replay record changed concurrently"),
            }
        }
        Err(Error::conflict(format!("replay {name} keeps changing")))
    }

    async fn run(&self, name: &str, token: &CancellationToken) -> Result<(), Error> {
        let (record, _) = self
            .read(name)
            .await?
            .ok_or_else(|| Error::not_found(format!("Replay {name} does not exist.")))?;
        let archive = self.catalog.archive(&record.archive).ok_or_else(|| {
            Error::not_found(format!("Archive {} does not exist.", record.archive))
        })?;
        let pattern = archive.pattern()?;
        let bus = archive.bus.clone();
        let only: BTreeSet<String> = record
            .filter_arns
            .iter()
            .filter_map(|arn| rule_from_arn(arn).map(|(_, rule)| rule))
            .collect();
        if !self
            .change(name, |r| r.state = ReplayState::Running)
            .await?
        {
            return Ok(());
        }
        let mut stream = self
            .js
            .get_stream(names::events_stream(&bus))
            .await
            .map_err(|e| unavailable("cannot open the bus stream", e))?;
        let last_sequence = stream
            .info()
            .await
            .map_err(|e| unavailable("cannot read the bus stream", e))?
            .state
            .last_sequence;
        let start_ms = record.event_start_ms.max(archive.created_ms);
        let mut deliveries = 0u64;
        let mut last_replayed = None;
        if last_sequence > 0 && start_ms <= record.event_end_ms {
            let start_time = OffsetDateTimeExt::from_ms(start_ms);
            let consumer = stream
                .create_consumer(consumer::pull::OrderedConfig {
                    deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time },
                    description: Some(format!("replay {name}")),
                    ..Default::default()
                })
                .await
                .map_err(|e| unavailable("cannot read the bus stream", e))?;
            let mut messages = consumer
                .messages()
                .await
                .map_err(|e| unavailable("cannot read the bus stream", e))?;
            let mut since_update = 0u32;
            loop {
                if token.is_cancelled() {
                    return Ok(());
                }
                let next = match tokio::time::timeout(Duration::from_secs(2), messages.next()).await
                {
                    Err(_) | Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        tracing::debug!(error = %e, "replay consumer error");
                        continue;
                    }
                    Ok(Some(Ok(m))) => m,
                };
                let Ok(info) = next.info() else { continue };
                let stored_ms =
                    i64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                let sequence = info.stream_sequence;
                if stored_ms > record.event_end_ms {
                    break;
                }
                for text in stored_events(&next.payload) {
                    let Ok(event) = serde_json::from_slice::<Value>(&text) else {
                        continue;
                    };
                    if !archive.holds(pattern.as_ref(), &event, stored_ms) {
                        continue;
                    }
                    let table = self.catalog.rules(&bus);
                    let matched: Vec<String> = table
                        .matcher
                        .matches(&event)
                        .into_iter()
                        .filter(|r| only.is_empty() || only.contains(r))
                        .collect();
                    let event = Routed::decoded(event);
                    let count = fan_out(
                        &self.js,
                        &bus,
                        &table,
                        &matched,
                        &event,
                        stored_ms,
                        Some(name),
                    )
                    .await?;
                    deliveries += count as u64;
                    last_replayed = Some(stored_ms);
                }
                since_update += 1;
                if since_update >= 500 {
                    since_update = 0;
                    let progressed = self
                        .change(name, |r| {
                            r.event_last_replayed_ms = last_replayed;
                            r.deliveries = deliveries;
                        })
                        .await?;
                    if !progressed {
                        return Ok(());
                    }
                }
                if sequence >= last_sequence {
                    break;
                }
            }
        }
        self.change(name, |r| {
            r.state = ReplayState::Completed;
            r.event_last_replayed_ms = last_replayed.or(r.event_last_replayed_ms);
            r.deliveries = deliveries;
            r.replay_end_ms = Some(now_ms());
        })
        .await?;
        tracing::info!(replay = %name, deliveries, "replay completed");
        Ok(())
    }
}

/// Milliseconds to a time.
struct OffsetDateTimeExt;

impl OffsetDateTimeExt {
    fn from_ms(ms: i64) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}
