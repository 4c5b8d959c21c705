//! Archives. A bus stream (`EVENTS_<bus>`) already keeps every accepted event, so an
//! archive is only a KV record `{pattern, retention, created}` that says which of those
//! events it holds: the ones stored after its creation, within its retention, that match
//! its pattern (all when it has none).

use async_nats::jetstream::kv;
use groundwork_bus::names;
use groundwork_events::envelope::bus_name_from;
use groundwork_events::pattern::EventPattern;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arn::Arns;
use crate::buses::{encode, now_ms};
use crate::catalog::Catalog;
use crate::error::{Error, invalid_pattern, unavailable, validation};

/// An archive as stored in KV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveRecord {
    pub name: String,
    pub arn: String,
    pub bus: String,
    pub event_source_arn: String,
    #[serde(default)]
    pub event_pattern: String,
    /// 0 keeps events as long as the bus stream does.
    pub retention_days: u32,
    #[serde(default)]
    pub description: String,
    /// Unix milliseconds.
    pub created_ms: i64,
}

impl ArchiveRecord {
    /// Whether an event stored at `stored_ms` belongs to the archive.
    pub fn holds(&self, pattern: Option<&EventPattern>, event: &Value, stored_ms: i64) -> bool {
        if stored_ms < self.created_ms {
            return false;
        }
        if self.retention_days > 0
            && stored_ms < now_ms() - i64::from(self.retention_days) * 86_400_000
        {
            return false;
        }
        pattern.is_none_or(|p| p.matches(event))
    }

    pub fn pattern(&self) -> Result<Option<EventPattern>, Error> {
        if self.event_pattern.is_empty() {
            return Ok(None);
        }
        EventPattern::parse(&self.event_pattern)
            .map(Some)
            .map_err(invalid_pattern)
    }
}

fn check_pattern(event_pattern: &str) -> Result<(), Error> {
    if !event_pattern.is_empty() {
        EventPattern::parse(event_pattern).map_err(invalid_pattern)?;
    }
    Ok(())
}

fn check_retention(retention_days: i32) -> Result<u32, Error> {
    u32::try_from(retention_days).map_err(|_| {
        validation(format!(
            "1 validation error detected: Value '{retention_days}' at 'retentionDays' failed to satisfy constraint: Member must have value greater than or equal to 0"
        ))
    })
}

/// What UpdateArchive changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ArchiveUpdate {
    pub description: Option<String>,
    pub event_pattern: Option<String>,
    pub retention_days: Option<i32>,
}

/// CreateArchive, DescribeArchive, UpdateArchive, DeleteArchive, ListArchives.
#[derive(Debug, Clone)]
pub struct Archives {
    catalog: Catalog,
    arns: Arns,
}

impl Archives {
    pub fn new(catalog: Catalog, arns: Arns) -> Self {
        Self { catalog, arns }
    }

    pub async fn create(
        &self,
        name: &str,
        event_source_arn: &str,
        event_pattern: &str,
        retention_days: i32,
        description: &str,
    ) -> Result<ArchiveRecord, Error> {
        crate::rules::validate_name(name, "archiveName")?;
        let bus = bus_name_from(event_source_arn).ok_or_else(|| {
            validation(format!(
                "Parameter EventSourceArn is not valid. Reason: '{event_source_arn}' is not an event bus ARN."
            ))
        })?;
        if !self.catalog.knows_bus(&bus).await? {
            return Err(Error::not_found(format!("Event bus {bus} does not exist.")));
        }
        check_pattern(event_pattern)?;
        let retention_days = check_retention(retention_days)?;
        crate::rules::validate_description(description)?;
        let record = ArchiveRecord {
            name: name.to_owned(),
            arn: self.arns.archive(name),
            event_source_arn: self.arns.bus(&bus),
            bus,
            event_pattern: event_pattern.to_owned(),
            retention_days,
            description: description.to_owned(),
            created_ms: now_ms(),
        };
        let revision = match self
            .catalog
            .kv()
            .create(names::archive_key(name), encode(&record)?)
            .await
        {
            Ok(r) => r,
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                return Err(Error::already_exists(format!(
                    "Archive {name} already exists."
                )));
            }
            Err(e) => return Err(unavailable("cannot store the archive", e)),
        };
        self.catalog.wait_applied(revision).await?;
        Ok(record)
    }

    /// Changes an archive's description, pattern or retention. A new pattern applies to the
    /// events the archive is read for from then on (replays): the bus stream keeps them all.
    pub async fn update(&self, name: &str, update: ArchiveUpdate) -> Result<ArchiveRecord, Error> {
        crate::rules::validate_name(name, "archiveName")?;
        if let Some(pattern) = &update.event_pattern {
            check_pattern(pattern)?;
        }
        let retention = update.retention_days.map(check_retention).transpose()?;
        if let Some(description) = &update.description {
            crate::rules::validate_description(description)?;
        }
        self.catalog
            .modify::<ArchiveRecord>(&names::archive_key(name), |current| {
                let mut record = current
                    .cloned()
                    .ok_or_else(|| Error::not_found(format!("Archive {name} does not exist.")))?;
                if let Some(description) = &update.description {
                    record.description.clone_from(description);
                }
                if let Some(pattern) = &update.event_pattern {
                    record.event_pattern.clone_from(pattern);
                }
                if let Some(days) = retention {
                    record.retention_days = days;
                }
                Ok(Some(record))
            })
            .await?
            .ok_or_else(|| Error::not_found(format!("Archive {name} does not exist.")))
    }

    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        if self.catalog.archive(name).is_none() {
            self.catalog.catch_up().await?;
        }
        if self.catalog.archive(name).is_none() {
            return Err(Error::not_found(format!("Archive {name} does not exist.")));
        }
        self.catalog
            .kv()
            .delete(names::archive_key(name))
            .await
            .map_err(|e| unavailable("cannot delete the archive", e))?;
        Ok(())
    }

    /// Reads catch up first (see [`Catalog::catch_up`]), as rule reads do.
    pub async fn list(
        &self,
        prefix: &str,
        event_source_arn: &str,
    ) -> Result<Vec<ArchiveRecord>, Error> {
        self.catalog.catch_up().await?;
        Ok(self
            .catalog
            .archives()
            .into_iter()
            .filter(|a| a.name.starts_with(prefix))
            .filter(|a| event_source_arn.is_empty() || a.event_source_arn == event_source_arn)
            .collect())
    }

    pub async fn get(&self, name: &str) -> Result<ArchiveRecord, Error> {
        crate::rules::validate_name(name, "archiveName")?;
        self.catalog.catch_up().await?;
        self.catalog
            .archive(name)
            .ok_or_else(|| Error::not_found(format!("Archive {name} does not exist.")))
    }
}
