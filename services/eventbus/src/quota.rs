//! Counted limits that hold across replicas: rules per bus and buses. Each limit is one
//! record in `eventbus-rules` holding the names that took a place, changed only by
//! compare-and-set ([`groundwork_bus::kv::Records::modify`]), so two replicas creating at
//! once cannot both take the last place (an in-memory count let 304 rules in with a limit
//! of 300). Deleting gives the place back; a place whose resource never appeared (its
//! writer stopped midway) lapses after [`RESERVATION_LAPSE_MS`].

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use groundwork_bus::kv::{Change, Records};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::rules::LIMIT_EXCEEDED;

/// How long a place stays reserved without its resource appearing, in milliseconds.
pub const RESERVATION_LAPSE_MS: i64 = 60_000;

/// The names that took a place, with when each took it (Unix milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Places {
    pub reserved: BTreeMap<String, i64>,
}

/// One counted limit: `max` places under `key`.
#[derive(Debug, Clone)]
pub struct Quota {
    records: Records<Places>,
    key: String,
    max: usize,
}

impl Quota {
    pub fn new(kv: kv::Store, key: String, max: usize) -> Self {
        Self {
            records: Records::new(kv, &groundwork_bus::streams::RULES),
            key,
            max,
        }
    }

    /// Takes a place for `name` (kept if it has one), or fails with `LimitExceeded`.
    /// `existing` are the names that exist now: they count whether or not they took a place
    /// (they may predate the record).
    pub async fn reserve(&self, name: &str, existing: &[String]) -> Result<(), Error> {
        let now = crate::buses::now_ms();
        let mut full = false;
        self.records
            .modify(&self.key, |current| {
                full = false;
                let mut places = current.cloned().unwrap_or_default();
                if places.reserved.contains_key(name) {
                    return Change::Keep;
                }
                for taken in existing {
                    places.reserved.entry(taken.clone()).or_insert(now);
                }
                places.reserved.retain(|taken, at| {
                    existing.contains(taken) || now.saturating_sub(*at) < RESERVATION_LAPSE_MS
                });
                if places.reserved.len() >= self.max {
                    full = true;
                    return Change::Keep;
                }
                places.reserved.insert(name.to_owned(), now);
                Change::Write(places)
            })
            .await?;
        if full {
            return Err(Error::limit_exceeded(LIMIT_EXCEEDED));
        }
        Ok(())
    }

    /// Gives `name`'s place back.
    pub async fn release(&self, name: &str) -> Result<(), Error> {
        self.records
            .modify(&self.key, |current| match current {
                Some(places) if places.reserved.contains_key(name) => {
                    let mut places = places.clone();
                    places.reserved.remove(name);
                    Change::Write(places)
                }
                _ => Change::Keep,
            })
            .await?;
        Ok(())
    }
}
