//! Rules: an event pattern on a bus, with a state and targets, stored in the
//! `eventbus-rules` bucket (one record per rule, targets included, changed only by
//! compare-and-set). The API calls PutRule, DeleteRule, DescribeRule, ListRules and
//! Enable/DisableRule live here.

use std::sync::Arc;

use async_nats::jetstream::kv;
use groundwork_bus::names;
use groundwork_events::pattern::EventPattern;
use serde::{Deserialize, Serialize};

use crate::arn::Arns;
use crate::buses::{encode, page};
use crate::catalog::Catalog;
use crate::error::{Error, invalid_pattern, unavailable, validation};
use crate::quota::Quota;
use crate::targets::Target;

/// Whether a rule routes events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleState {
    #[serde(rename = "ENABLED")]
    Enabled,
    #[serde(rename = "DISABLED")]
    Disabled,
}

impl RuleState {
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "" | "ENABLED" => Ok(Self::Enabled),
            "DISABLED" => Ok(Self::Disabled),
            other => Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "ENABLED",
            Self::Disabled => "DISABLED",
        }
    }
}

/// A rule as stored in KV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRecord {
    pub name: String,
    pub bus: String,
    pub arn: String,
    pub event_pattern: String,
    pub state: RuleState,
    #[serde(default)]
    pub description: String,
    pub created_by: String,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "crate::tags::Tags::is_empty")]
    pub tags: crate::tags::Tags,
}

/// Checks a name of a rule or target against EventBridge's constraint.
pub fn validate_name(value: &str, field: &str) -> Result<(), Error> {
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
        )));
    }
    if value.len() > 64 {
        return Err(validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to 64"
        )));
    }
    Ok(())
}

/// Largest stored rule record (the rule and its targets), in bytes: well below NATS's
/// default 1 MiB `max_payload`, which a KV value must fit.
pub const MAX_RULE_RECORD_BYTES: usize = 256 * 1024;

/// Longest rule description, in characters (EventBridge: 512).
pub const MAX_DESCRIPTION_CHARS: usize = 512;

/// Checks a rule's or bus's description against EventBridge's length constraint.
pub fn validate_description(description: &str) -> Result<(), Error> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(validation(format!(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to {MAX_DESCRIPTION_CHARS}"
        )));
    }
    Ok(())
}

pub fn rule_not_found(bus: &str, rule: &str) -> Error {
    Error::not_found(format!("Rule {rule} does not exist on EventBus {bus}."))
}

/// The limit message EventBridge uses for rules per bus and targets per rule.
pub const LIMIT_EXCEEDED: &str = "The requested resource exceeds the maximum number allowed.";

/// The rule API over the catalog.
#[derive(Debug, Clone)]
pub struct Rules {
    catalog: Catalog,
    arns: Arns,
    account: String,
    max_rules: usize,
}

impl Rules {
    pub fn new(catalog: Catalog, arns: Arns, max_rules: usize) -> Self {
        let account = arns.account.clone();
        Self {
            catalog,
            arns,
            account,
            max_rules,
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn arns(&self) -> &Arns {
        &self.arns
    }

    async fn require_bus(&self, bus: &str) -> Result<(), Error> {
        if self.catalog.knows_bus(bus).await? {
            Ok(())
        } else {
            Err(Error::not_found(format!("Event bus {bus} does not exist.")))
        }
    }

    /// Creates or updates a rule; its targets are kept, `tags` are added to its tags.
    pub async fn put_rule(
        &self,
        bus: &str,
        name: &str,
        event_pattern: &str,
        state: RuleState,
        description: &str,
        tags: &crate::tags::Tags,
    ) -> Result<String, Error> {
        validate_name(name, "name")?;
        validate_description(description)?;
        tags.validate()?;
        if event_pattern.is_empty() {
            return Err(validation(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.",
            ));
        }
        EventPattern::parse(event_pattern).map_err(invalid_pattern)?;
        self.require_bus(bus).await?;
        let arn = self.arns.rule(bus, name);
        let (arn_out, pattern, description) = (
            arn.clone(),
            event_pattern.to_owned(),
            description.to_owned(),
        );
        let created = self
            .update_or_create(bus, name, move |existing| match existing {
                Some(mut rule) => {
                    rule.event_pattern = pattern.clone();
                    rule.state = state;
                    rule.description = description.clone();
                    rule.tags = rule.tags.merged(tags);
                    rule.tags.validate()?;
                    Ok(rule)
                }
                None => Ok(RuleRecord {
                    name: name.to_owned(),
                    bus: bus.to_owned(),
                    arn: arn.clone(),
                    event_pattern: pattern.clone(),
                    state,
                    description: description.clone(),
                    created_by: self.account.clone(),
                    targets: Vec::new(),
                    tags: tags.clone(),
                }),
            })
            .await?;
        tracing::info!(%bus, rule = %created.name, state = created.state.as_str(), "rule stored");
        Ok(arn_out)
    }

    pub async fn set_state(&self, bus: &str, name: &str, state: RuleState) -> Result<(), Error> {
        validate_name(name, "name")?;
        self.update(bus, name, |mut rule| {
            rule.state = state;
            Ok(rule)
        })
        .await
        .map(|_| ())
    }

    pub async fn delete_rule(&self, bus: &str, name: &str, force: bool) -> Result<(), Error> {
        validate_name(name, "name")?;
        self.require_bus(bus).await?;
        let key = names::rule_key(bus, name);
        let Some(entry) = groundwork_bus::kv::latest(self.catalog.kv(), &key)
            .await
            .map_err(|e| unavailable("cannot read the rule", e))?
            .filter(|e| matches!(e.operation, kv::Operation::Put))
        else {
            // EventBridge answers a delete of a missing rule with success.
            return Ok(());
        };
        let rule: RuleRecord = serde_json::from_slice(&entry.value)
            .map_err(|e| Error::internal(format!("unreadable rule record: {e}")))?;
        if !rule.targets.is_empty() && !force {
            return Err(Error::failed_precondition(
                "Rule can't be deleted since it has targets.",
            ));
        }
        self.catalog
            .kv()
            .delete_expect_revision(&key, Some(entry.revision))
            .await
            .map_err(|e| Error::conflict(format!("the rule changed while deleting it: {e}")))?;
        self.release(bus, name).await?;
        let mut changes = self.catalog.changes();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while self.catalog.rule(bus, name).is_some() {
                if changes.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        Ok(())
    }

    /// A rule as last written through any replica: reads catch up first (see
    /// [`Catalog::catch_up`]), so that a client spreading its calls over the replicas reads
    /// its own writes.
    pub async fn describe_rule(&self, bus: &str, name: &str) -> Result<Arc<RuleRecord>, Error> {
        self.catalog.catch_up().await?;
        self.require_bus(bus).await?;
        self.catalog
            .find_rule(bus, name)
            .await?
            .ok_or_else(|| rule_not_found(bus, name))
    }

    pub async fn list_rules(
        &self,
        bus: &str,
        prefix: &str,
        next_token: &str,
        limit: i32,
    ) -> Result<(Vec<Arc<RuleRecord>>, Option<String>), Error> {
        self.catalog.catch_up().await?;
        self.require_bus(bus).await?;
        let rules: Vec<Arc<RuleRecord>> = self
            .catalog
            .rules(bus)
            .rules
            .values()
            .filter(|r| r.name.starts_with(prefix))
            .cloned()
            .collect();
        page(rules, |r| r.name.as_str(), next_token, limit)
    }

    /// The names of the rules of `bus` that have a target with ARN `target_arn`, in order.
    pub async fn rule_names_by_target(
        &self,
        bus: &str,
        target_arn: &str,
        next_token: &str,
        limit: i32,
    ) -> Result<(Vec<String>, Option<String>), Error> {
        if target_arn.is_empty() {
            return Err(validation(
                "1 validation error detected: Value null at 'targetArn' failed to satisfy constraint: Member must not be null",
            ));
        }
        self.catalog.catch_up().await?;
        self.require_bus(bus).await?;
        let names: Vec<String> = self
            .catalog
            .rules(bus)
            .rules
            .values()
            .filter(|r| r.targets.iter().any(|t| t.arn == target_arn))
            .map(|r| r.name.clone())
            .collect();
        page(names, String::as_str, next_token, limit)
    }

    fn quota(&self, bus: &str) -> Quota {
        Quota::new(
            self.catalog.kv().clone(),
            names::rule_quota_key(bus),
            self.max_rules,
        )
    }

    /// Counts a new rule against the bus's limit, across replicas (see [`crate::quota`]).
    async fn reserve(&self, bus: &str, name: &str) -> Result<(), Error> {
        let existing: Vec<String> = self.catalog.rules(bus).rules.keys().cloned().collect();
        self.quota(bus).reserve(name, &existing).await
    }

    /// Gives a deleted rule's place back.
    async fn release(&self, bus: &str, name: &str) -> Result<(), Error> {
        self.quota(bus).release(name).await
    }

    /// Changes an existing rule by compare-and-set, retrying on concurrent changes.
    pub async fn update(
        &self,
        bus: &str,
        name: &str,
        change: impl Fn(RuleRecord) -> Result<RuleRecord, Error>,
    ) -> Result<RuleRecord, Error> {
        self.require_bus(bus).await?;
        self.update_or_create(bus, name, |existing| match existing {
            Some(rule) => change(rule),
            None => Err(rule_not_found(bus, name)),
        })
        .await
    }

    async fn update_or_create(
        &self,
        bus: &str,
        name: &str,
        change: impl Fn(Option<RuleRecord>) -> Result<RuleRecord, Error>,
    ) -> Result<RuleRecord, Error> {
        let key = names::rule_key(bus, name);
        let kv = self.catalog.kv();
        for _ in 0..10 {
            let entry = groundwork_bus::kv::latest(kv, &key)
                .await
                .map_err(|e| unavailable("cannot read the rule", e))?
                .filter(|e| matches!(e.operation, kv::Operation::Put));
            let existing = match &entry {
                Some(e) => Some(
                    serde_json::from_slice::<RuleRecord>(&e.value)
                        .map_err(|e| Error::internal(format!("unreadable rule record: {e}")))?,
                ),
                None => None,
            };
            let creating = existing.is_none();
            let record = change(existing)?;
            if creating {
                self.reserve(bus, name).await?;
            }
            let encoded = encode(&record)?;
            // Every field is bounded, so only a record built around those bounds gets here;
            // refused as invalid input instead of failing in NATS over and over.
            if encoded.len() > MAX_RULE_RECORD_BYTES {
                return Err(validation(format!(
                    "Rule {name} with its targets would take {} bytes; the limit is {MAX_RULE_RECORD_BYTES}.",
                    encoded.len()
                )));
            }
            let written = match &entry {
                Some(e) => kv
                    .update(&key, encoded, e.revision)
                    .await
                    .map_err(|e| e.to_string()),
                None => kv.create(&key, encoded).await.map_err(|e| e.to_string()),
            };
            match written {
                Ok(revision) => {
                    self.catalog.wait_applied(revision).await?;
                    return Ok(record);
                }
                Err(e) => tracing::debug!(error = %e, "rule changed concurrently; retrying"),
            }
        }
        Err(Error::conflict(format!(
            "rule {name} keeps changing concurrently; try again"
        )))
    }
}
