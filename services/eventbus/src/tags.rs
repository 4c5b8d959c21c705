//! Tags of buses and rules: TagResource, UntagResource, ListTagsForResource, and the `Tags`
//! of CreateEventBus and PutRule. A resource's tags live in its own record in the
//! `eventbus-rules` bucket, changed by compare-and-set like the rest of it.

use std::collections::BTreeMap;

use groundwork_bus::names;
use groundwork_events::envelope::bus_name_from;
use groundwork_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::arn::{Arns, rule_from_arn};
use crate::buses::{BusRecord, now_ms};
use crate::catalog::Catalog;
use crate::error::{Error, validation};
use crate::rules::{RuleRecord, rule_not_found};

/// Most tags one resource may have (EventBridge: 50).
pub const MAX_TAGS: usize = 50;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// Tags by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tags(pub BTreeMap<String, String>);

impl Tags {
    /// From the tags of a request; a key given twice keeps its last value.
    pub fn from_pb(tags: Vec<pb::Tag>) -> Self {
        Self(tags.into_iter().map(|t| (t.key, t.value)).collect())
    }

    pub fn to_pb(&self) -> Vec<pb::Tag> {
        self.0
            .iter()
            .map(|(key, value)| pb::Tag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// EventBridge's constraints on keys and values, and on their number.
    pub fn validate(&self) -> Result<(), Error> {
        for (i, (key, value)) in self.0.iter().enumerate() {
            let n = i + 1;
            if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
                return Err(validation(format!(
                    "1 validation error detected: Value '{key}' at 'tags.{n}.member.key' failed to satisfy constraint: Member must have length between 1 and {MAX_KEY_CHARS}"
                )));
            }
            if key.to_ascii_lowercase().starts_with("aws:") {
                return Err(validation(format!(
                    "Invalid tag key '{key}': the prefix aws: is reserved for AWS use."
                )));
            }
            if value.chars().count() > MAX_VALUE_CHARS {
                return Err(validation(format!(
                    "1 validation error detected: Value at 'tags.{n}.member.value' failed to satisfy constraint: Member must have length less than or equal to {MAX_VALUE_CHARS}"
                )));
            }
        }
        if self.0.len() > MAX_TAGS {
            return Err(Error::limit_exceeded(format!(
                "A resource can have at most {MAX_TAGS} tags; this would give it {}.",
                self.0.len()
            )));
        }
        Ok(())
    }

    /// These tags with `more` added (replacing the values of keys present in both).
    pub fn merged(&self, more: &Tags) -> Tags {
        let mut all = self.0.clone();
        all.extend(more.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        Tags(all)
    }
}

/// What a taggable ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tagged {
    Bus(String),
    Rule { bus: String, rule: String },
}

fn tagged(arns: &Arns, arn: &str) -> Result<Tagged, Error> {
    let ours = format!("arn:aws:events:{}:{}:", arns.region, arns.account);
    let Some(resource) = arn.strip_prefix(&ours) else {
        return Err(validation(format!(
            "Parameter ResourceARN is not valid. Reason: '{arn}' is not an ARN of this event bus's region and account ({ours}…)."
        )));
    };
    if resource.starts_with("event-bus/") {
        return bus_name_from(arn).map(Tagged::Bus).ok_or_else(|| {
            validation(format!(
                "Parameter ResourceARN is not valid. Reason: '{arn}' names no event bus."
            ))
        });
    }
    if resource.starts_with("rule/") {
        return rule_from_arn(arn)
            .map(|(bus, rule)| Tagged::Rule { bus, rule })
            .ok_or_else(|| {
                validation(format!(
                    "Parameter ResourceARN is not valid. Reason: '{arn}' names no rule."
                ))
            });
    }
    Err(validation(format!(
        "Parameter ResourceARN is not valid. Reason: only event buses and rules have tags, not '{arn}'."
    )))
}

/// Applies `change` to the tags of the resource `arn` names.
async fn change_tags(
    catalog: &Catalog,
    arns: &Arns,
    arn: &str,
    change: impl Fn(&Tags) -> Tags,
) -> Result<(), Error> {
    match tagged(arns, arn)? {
        Tagged::Bus(bus) => {
            catalog
                .modify::<BusRecord>(&names::bus_key(&bus), |current| {
                    let mut record = current.cloned().ok_or_else(|| {
                        Error::not_found(format!("Event bus {bus} does not exist."))
                    })?;
                    record.tags = change(&record.tags);
                    record.tags.validate()?;
                    record.modified_ms = Some(now_ms());
                    Ok(Some(record))
                })
                .await?;
        }
        Tagged::Rule { bus, rule } => {
            if !catalog.knows_bus(&bus).await? {
                return Err(Error::not_found(format!("Event bus {bus} does not exist.")));
            }
            catalog
                .modify::<RuleRecord>(&names::rule_key(&bus, &rule), |current| {
                    let mut record = current
                        .cloned()
                        .ok_or_else(|| rule_not_found(&bus, &rule))?;
                    record.tags = change(&record.tags);
                    record.tags.validate()?;
                    Ok(Some(record))
                })
                .await?;
        }
    }
    Ok(())
}

/// TagResource: adds tags, replacing the values of keys the resource has.
pub async fn tag(catalog: &Catalog, arns: &Arns, arn: &str, more: &Tags) -> Result<(), Error> {
    more.validate()?;
    change_tags(catalog, arns, arn, |tags| tags.merged(more)).await
}

/// UntagResource: removes the keys given; keys the resource does not have are ignored.
pub async fn untag(
    catalog: &Catalog,
    arns: &Arns,
    arn: &str,
    keys: &[String],
) -> Result<(), Error> {
    change_tags(catalog, arns, arn, |tags| {
        let mut kept = tags.clone();
        kept.0.retain(|k, _| !keys.contains(k));
        kept
    })
    .await
}

/// ListTagsForResource.
pub async fn list(catalog: &Catalog, arns: &Arns, arn: &str) -> Result<Tags, Error> {
    let tagged = tagged(arns, arn)?;
    catalog.catch_up().await?;
    match tagged {
        Tagged::Bus(bus) => catalog
            .buses()
            .into_iter()
            .find(|b| b.name == bus)
            .map(|b| b.tags)
            .ok_or_else(|| Error::not_found(format!("Event bus {bus} does not exist."))),
        Tagged::Rule { bus, rule } => {
            if !catalog.knows_bus(&bus).await? {
                return Err(Error::not_found(format!("Event bus {bus} does not exist.")));
            }
            catalog
                .find_rule(&bus, &rule)
                .await?
                .map(|r| r.tags.clone())
                .ok_or_else(|| rule_not_found(&bus, &rule))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn arns() -> Arns {
        Arns {
            region: "us-east-1".into(),
            account: "111111111111".into(),
        }
    }

    #[test]
    fn buses_and_rules_of_this_account_are_taggable_and_nothing_else() {
        let a = arns();
        assert_eq!(
            tagged(&a, &a.bus("orders")).unwrap(),
            Tagged::Bus("orders".into())
        );
        assert_eq!(
            tagged(&a, &a.rule("orders", "r")).unwrap(),
            Tagged::Rule {
                bus: "orders".into(),
                rule: "r".into()
            }
        );
        assert_eq!(
            tagged(&a, &a.rule("default", "r")).unwrap(),
            Tagged::Rule {
                bus: "default".into(),
                rule: "r".into()
            }
        );
        for bad in [
            a.archive("x"),
            "arn:aws:events:eu-west-1:111111111111:event-bus/orders".into(),
            "arn:aws:sqs:us-east-1:111111111111:q".into(),
            "orders".into(),
        ] {
            let e = tagged(&a, &bad).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn tag_constraints_follow_eventbridge() {
        let one = |k: &str, v: &str| Tags([(k.to_owned(), v.to_owned())].into());
        one("team", "").validate().unwrap();
        assert!(one("", "x").validate().is_err());
        assert!(one(&"k".repeat(129), "x").validate().is_err());
        assert!(one("k", &"v".repeat(257)).validate().is_err());
        assert!(one("AWS:owner", "x").validate().is_err());
        let many = Tags((0..51).map(|i| (format!("k{i}"), String::new())).collect());
        assert_eq!(
            many.validate().unwrap_err().kind(),
            crate::error::ErrorKind::LimitExceeded
        );
        let merged = one("a", "1").merged(&one("a", "2"));
        assert_eq!(merged, one("a", "2"));
    }
}
