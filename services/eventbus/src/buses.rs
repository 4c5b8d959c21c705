//! Buses: `default` and named ones, kept in the `eventbus-rules` bucket so that every
//! replica agrees on the set. Creating a bus creates its event and dead-letter streams.

use async_nats::jetstream::{self, kv};
use groundwork_bus::StreamSettings;
use groundwork_bus::names;
use groundwork_bus::streams::{
    apply_bus_retention, bus_fits_stream_names, ensure_dlq_stream, ensure_events_stream,
};
use groundwork_events::envelope::{DEFAULT_BUS, is_valid_bus_name};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::catalog::Catalog;
use crate::error::{Error, unavailable, validation};
use crate::quota::Quota;

/// Most buses by default, `default` included: each costs nats-server two streams (and
/// two file descriptors each).
pub const DEFAULT_MAX_BUSES: usize = 100;

/// A bus as stored in KV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusRecord {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Unix milliseconds.
    pub created_ms: i64,
    /// Unix milliseconds of the last change (tags); the creation time when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "crate::tags::Tags::is_empty")]
    pub tags: crate::tags::Tags,
}

/// Creates, deletes and lists buses.
#[derive(Debug, Clone)]
pub struct Buses {
    catalog: Catalog,
    js: jetstream::Context,
    streams: StreamSettings,
    max_buses: usize,
}

pub fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

impl Buses {
    pub fn new(catalog: Catalog, js: jetstream::Context, streams: StreamSettings) -> Self {
        Self {
            catalog,
            js,
            streams,
            max_buses: DEFAULT_MAX_BUSES,
        }
    }

    /// At most `max` buses, `default` included.
    pub fn with_max_buses(mut self, max: usize) -> Self {
        self.max_buses = max;
        self
    }

    fn quota(&self) -> Quota {
        Quota::new(
            self.catalog.kv().clone(),
            names::BUS_QUOTA_KEY.to_owned(),
            self.max_buses,
        )
    }

    /// Creates the streams of a bus (idempotent) and gives them the configured retention.
    pub async fn ensure_streams(&self, bus: &str) -> Result<(), Error> {
        ensure_events_stream(&self.js, bus, &self.streams).await?;
        ensure_dlq_stream(&self.js, bus, &self.streams).await?;
        apply_bus_retention(&self.js, bus, &self.streams).await?;
        Ok(())
    }

    /// Makes sure the configured buses exist (at start-up); existing ones are kept as they are.
    pub async fn ensure(&self, buses: &[String]) -> Result<(), Error> {
        let mut last = 0;
        for bus in buses {
            if !is_valid_bus_name(bus) || !bus_fits_stream_names(bus) {
                return Err(Error::invalid(
                    "buses",
                    format!(
                        "'{bus}' is not a valid bus name ([A-Za-z0-9._/-], 1 to 256 characters)"
                    ),
                ));
            }
            self.ensure_streams(bus).await?;
            let record = BusRecord {
                name: bus.clone(),
                description: String::new(),
                created_ms: now_ms(),
                modified_ms: None,
                tags: crate::tags::Tags::default(),
            };
            match self
                .catalog
                .kv()
                .create(names::bus_key(bus), encode(&record)?)
                .await
            {
                Ok(revision) => last = last.max(revision),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(unavailable("cannot store a bus", e)),
            }
        }
        if last > 0 {
            self.catalog.wait_applied(last).await?;
        }
        Ok(())
    }

    pub async fn create(
        &self,
        name: &str,
        description: &str,
        tags: crate::tags::Tags,
    ) -> Result<BusRecord, Error> {
        if !is_valid_bus_name(name) || name.starts_with("aws.") {
            return Err(validation(format!(
                "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+"
            )));
        }
        if !bus_fits_stream_names(name) {
            return Err(validation(format!(
                "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must fit a stream name: at most {} characters once '.', '/' and '_' are escaped (each '.' or '/' counts 3, each '_' 2)",
                groundwork_bus::streams::MAX_STREAM_NAME_LEN - "EVENTS_".len()
            )));
        }
        crate::rules::validate_description(description)?;
        tags.validate()?;
        if self.catalog.has_bus(name) {
            return Err(Error::already_exists(format!(
                "Event bus {name} already exists."
            )));
        }
        let existing: Vec<String> = self.catalog.buses().into_iter().map(|b| b.name).collect();
        self.quota().reserve(name, &existing).await?;
        self.ensure_streams(name).await?;
        let record = BusRecord {
            name: name.to_owned(),
            description: description.to_owned(),
            created_ms: now_ms(),
            modified_ms: None,
            tags,
        };
        let revision = match self
            .catalog
            .kv()
            .create(names::bus_key(name), encode(&record)?)
            .await
        {
            Ok(revision) => revision,
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                return Err(Error::already_exists(format!(
                    "Event bus {name} already exists."
                )));
            }
            Err(e) => return Err(unavailable("cannot store the bus", e)),
        };
        self.catalog.wait_applied(revision).await?;
        Ok(record)
    }

    /// Deletes a bus and its rules; its stream (the archive) and DLQ stay.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        if name == DEFAULT_BUS {
            return Err(validation("Cannot delete event bus default."));
        }
        if !self.catalog.knows_bus(name).await? {
            return Err(Error::not_found(format!(
                "Event bus {name} does not exist."
            )));
        }
        let kv = self.catalog.kv();
        for rule in self.catalog.rules(name).rules.keys() {
            kv.delete(names::rule_key(name, rule))
                .await
                .map_err(|e| unavailable("cannot delete a rule of the bus", e))?;
        }
        // The bus's rule quota goes with its rules.
        kv.purge(names::rule_quota_key(name))
            .await
            .map_err(|e| unavailable("cannot delete the rule quota of the bus", e))?;
        kv.delete(names::bus_key(name))
            .await
            .map_err(|e| unavailable("cannot delete the bus", e))?;
        self.quota().release(name).await?;
        let mut changes = self.catalog.changes();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while self.catalog.has_bus(name) {
                if changes.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        Ok(())
    }

    pub async fn describe(&self, name: &str) -> Result<BusRecord, Error> {
        self.catalog.catch_up().await?;
        self.catalog
            .buses()
            .into_iter()
            .find(|b| b.name == name)
            .ok_or_else(|| Error::not_found(format!("Event bus {name} does not exist.")))
    }

    /// Reads catch up first (see [`Catalog::catch_up`]), as rule reads do.
    pub async fn list(&self, prefix: &str) -> Result<Vec<BusRecord>, Error> {
        self.catalog.catch_up().await?;
        Ok(self
            .catalog
            .buses()
            .into_iter()
            .filter(|b| b.name.starts_with(prefix))
            .collect())
    }
}

pub fn encode<T: Serialize>(record: &T) -> Result<bytes::Bytes, Error> {
    serde_json::to_vec(record)
        .map(bytes::Bytes::from)
        .map_err(|e| Error::internal(format!("cannot encode a record: {e}")))
}

/// Pages through names in order: the page after `next_token` (a name), at most `limit`.
pub fn page<T>(
    items: Vec<T>,
    name: impl Fn(&T) -> &str,
    next_token: &str,
    limit: i32,
) -> Result<(Vec<T>, Option<String>), Error> {
    let limit = match limit {
        0 => 100,
        1..=100 => usize::try_from(limit).unwrap_or(100),
        _ => {
            return Err(validation(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100"
            )));
        }
    };
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| next_token.is_empty() || name(i) >= next_token)
        .collect();
    let next = rest.get(limit).map(|i| name(i).to_owned());
    rest.truncate(limit);
    Ok((rest, next))
}
