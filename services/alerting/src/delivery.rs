//! Whether alerts sent to a topic arrive, as findings: the topic's access policy lets AWS
//! Budgets and CloudWatch alarms publish, its KMS key (if any) lets them use it, and no
//! subscription has waited for its confirmation longer than the allowed hours.
//!
//! The policy statements and the reads and writes of topics and keys are
//! [`groundwork_cloud::delivery`]'s, shared with budget. Here: the findings, which fixes a
//! call may apply, and when a pending subscription was first seen.
//!
//! SNS records no creation time for a subscription (ListSubscriptionsByTopic and
//! GetSubscriptionAttributes show only `PendingConfirmation`). The age of a pending
//! subscription is therefore counted from when Groundwork first saw it pending: when
//! EnsureSubscription created it, or else the first check that listed it. That time is kept
//! in the `alerting-watch` KV bucket (`pending.<topic protocol endpoint>`), so that every
//! replica and every restart counts from the same moment; it is forgotten once the
//! subscription is confirmed.

use groundwork_bus::names::escape_token;
use groundwork_cloud::delivery::{self, KeyAccess, Publisher, TopicAccess};
use groundwork_cloud::{AwsError, AwsErrorKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::Error;
use crate::model::TopicArn;
use crate::topic::{self, SubscriptionInfo, SubscriptionStatus};
use crate::watch_store::WatchStore;

/// How long a subscription may stay pending before it is a finding, by default. SNS's
/// confirmation link is valid for three days: a day leaves time to send it again.
pub const DEFAULT_PENDING_CONFIRMATION_HOURS: u32 = 24;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Alerts of a whole service to the topic are lost.
    High,
    /// Alerts do not reach one subscriber.
    Medium,
}

/// What a finding is about; its id says which check found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// The topic policy does not let a publisher publish.
    TopicPolicy(Publisher),
    /// A customer managed key whose policy does not let the publishers use it.
    KeyPolicy,
    /// The AWS managed key `alias/aws/sns`.
    AwsManagedKey,
    /// The key could not be read (DescribeKey or GetKeyPolicy refused or failed).
    KeyUnreadable,
    /// A subscription pending confirmation for longer than allowed.
    SubscriptionPending,
}

impl FindingKind {
    pub fn id(self) -> &'static str {
        match self {
            Self::TopicPolicy(Publisher::Budgets) => "topic-policy-budgets",
            Self::TopicPolicy(Publisher::CloudWatch) => "topic-policy-cloudwatch",
            Self::KeyPolicy => "key-policy",
            Self::AwsManagedKey => "aws-managed-key",
            Self::KeyUnreadable => "key-unreadable",
            Self::SubscriptionPending => "subscription-pending",
        }
    }
}

/// One thing that keeps alerts from arriving, and its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// The ARN (topic, key) or the subscription's endpoint.
    pub resource: String,
    pub message: String,
    /// What to do, exactly: the statement to add, or the steps.
    pub fix: String,
    /// This call applied the fix.
    pub fixed: bool,
}

/// Which fixes a check may apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fixes {
    /// Add the missing statements to the topic's access policy.
    pub topic_policy: bool,
    /// Add the missing statements to the policy of the topic's customer managed key.
    pub key_policy: bool,
}

/// The topic's access policy and key: findings, with the fixes asked for applied.
pub async fn check_topic(
    sns: &aws_sdk_sns::Client,
    kms: &aws_sdk_kms::Client,
    topic: &TopicArn,
    account: &str,
    fixes: Fixes,
) -> Result<Vec<Finding>, Error> {
    let publishers = Publisher::ALL;
    let Some(access) = delivery::read_topic(sns, topic.as_str(), &publishers).await? else {
        return Err(Error::not_found(format!(
            "SNS topic {topic} does not exist in us-east-1; create it first (`groundwork alerting topic {}`)",
            topic.name()
        )));
    };
    let mut findings = topic_findings(&access, account);
    if fixes.topic_policy && !access.missing.is_empty() {
        delivery::grant_topic(sns, &access, account).await?;
        tracing::info!(topic = %topic, missing = ?access.missing, "added the publish statements to the topic policy");
        for f in &mut findings {
            f.fixed = true;
        }
    }
    if let Some(key) = &access.kms_key {
        findings.extend(key_findings(kms, topic, key, account, fixes.key_policy).await?);
    }
    Ok(findings)
}

fn topic_findings(access: &TopicAccess, account: &str) -> Vec<Finding> {
    access
        .missing
        .iter()
        .map(|p| Finding {
            kind: FindingKind::TopicPolicy(*p),
            severity: Severity::High,
            resource: access.topic_arn.clone(),
            message: format!(
                "the access policy of SNS topic {} does not let {p} ({}) publish to it: their \
                 alerts are accepted and lost",
                access.topic_arn,
                p.service()
            ),
            fix: delivery::topic_fix(&access.topic_arn, account, &[*p]),
            fixed: false,
        })
        .collect()
}

async fn key_findings(
    kms: &aws_sdk_kms::Client,
    topic: &TopicArn,
    key: &str,
    account: &str,
    fix: bool,
) -> Result<Vec<Finding>, Error> {
    let publishers = Publisher::ALL;
    let access = match delivery::read_key(kms, key, &publishers).await {
        Ok(access) => access,
        Err(e) if matches!(e.kind, AwsErrorKind::AccessDenied | AwsErrorKind::NotFound) => {
            return Ok(vec![unreadable_key(topic, key, &e)]);
        }
        Err(e) => return Err(e.into()),
    };
    let Some(problem) = access.problem(topic.as_str(), account, &publishers) else {
        return Ok(Vec::new());
    };
    let kind = match access {
        KeyAccess::AwsManaged { .. } => FindingKind::AwsManagedKey,
        KeyAccess::Customer { .. } => FindingKind::KeyPolicy,
    };
    let fixed = fix && problem.policy_fix && delivery::grant_key(kms, &access, account).await?;
    if fixed {
        tracing::info!(topic = %topic, key = access.key_arn(), "added the publishers' statements to the key policy");
    }
    Ok(vec![Finding {
        kind,
        severity: Severity::High,
        resource: access.key_arn().to_owned(),
        message: problem.message,
        fix: problem.fix,
        fixed,
    }])
}

fn unreadable_key(topic: &TopicArn, key: &str, e: &AwsError) -> Finding {
    Finding {
        kind: FindingKind::KeyUnreadable,
        severity: Severity::High,
        resource: key.to_owned(),
        message: format!(
            "SNS topic {topic} is encrypted with KMS key {key}, which could not be checked ({e})"
        ),
        fix: format!(
            "let Groundwork's credentials call kms:DescribeKey and kms:GetKeyPolicy on the key, or \
             check yourself that its policy has the statements {} and {}",
            delivery::key_statement(Publisher::Budgets, "<account>"),
            delivery::key_statement(Publisher::CloudWatch, "<account>")
        ),
        fixed: false,
    }
}

/// KV key of the moment a subscription was first seen pending (a pending subscription
/// has no ARN yet: topic, protocol and endpoint name it).
pub fn pending_key(topic_arn: &str, protocol: &str, endpoint: &str) -> String {
    format!(
        "pending.{}",
        escape_token(&format!(
            "{topic_arn} {protocol} {}",
            endpoint.to_lowercase()
        ))
    )
}

/// When a subscription was first seen pending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSince {
    /// Unix seconds.
    pub since: i64,
}

impl PendingSince {
    pub fn at(t: OffsetDateTime) -> Self {
        Self {
            since: t.unix_timestamp(),
        }
    }

    pub fn time(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.since).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// Records that `sub` was seen pending at `now`, unless an earlier moment is recorded.
pub async fn record_pending(
    store: &WatchStore,
    sub: &SubscriptionInfo,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let key = pending_key(&sub.topic_arn, &sub.protocol, &sub.endpoint);
    store.baseline(&key, &PendingSince::at(now)).await
}

/// The topic's subscriptions pending longer than `max_hours` at `now`. A pending
/// subscription not seen before is recorded as pending since `now`; a confirmed one's
/// record is dropped.
pub async fn check_subscriptions(
    sns: &aws_sdk_sns::Client,
    store: &WatchStore,
    topic: &TopicArn,
    max_hours: u32,
    now: OffsetDateTime,
) -> Result<Vec<Finding>, Error> {
    let mut findings = Vec::new();
    for sub in topic::list_subscriptions(sns, topic).await? {
        let key = pending_key(&sub.topic_arn, &sub.protocol, &sub.endpoint);
        let recorded = store.get::<PendingSince>(&key).await?;
        if sub.status == SubscriptionStatus::Confirmed {
            if recorded.is_some() {
                store.forget(&key).await?;
            }
            continue;
        }
        let since = match recorded {
            Some((record, _)) => record.observed.time(),
            None => {
                record_pending(store, &sub, now).await?;
                // Another replica may have recorded an earlier moment first.
                store
                    .get::<PendingSince>(&key)
                    .await?
                    .map_or(now, |(r, _)| r.observed.time())
            }
        };
        let age = now - since;
        if age < time::Duration::hours(i64::from(max_hours)) {
            continue;
        }
        findings.push(pending_finding(&sub, since, age));
    }
    Ok(findings)
}

fn pending_finding(sub: &SubscriptionInfo, since: OffsetDateTime, age: time::Duration) -> Finding {
    // The path or query of an https endpoint may be a credential.
    let endpoint = if matches!(sub.protocol.as_str(), "http" | "https") {
        groundwork_events::redact::redact_url(&sub.endpoint)
    } else {
        sub.endpoint.clone()
    };
    let since_text = since
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Finding {
        kind: FindingKind::SubscriptionPending,
        severity: Severity::Medium,
        resource: format!("{} {}", sub.protocol, endpoint),
        message: format!(
            "the {} subscription of {endpoint} to {} has been pending confirmation for {} hours \
             (since {since_text}, when Groundwork first saw it): nothing is delivered to it until \
             it is confirmed",
            sub.protocol,
            sub.topic_arn,
            age.whole_hours()
        ),
        fix: if sub.protocol == "email" {
            format!(
                "the owner of {endpoint} follows the \"Confirm subscription\" link in the email \
                 from AWS Notifications (valid three days). To send it again: aws sns subscribe \
                 --topic-arn {} --protocol email --notification-endpoint {endpoint}",
                sub.topic_arn
            )
        } else {
            format!(
                "the endpoint answers SNS's SubscriptionConfirmation message by visiting its \
                 SubscribeURL (valid three days). To send it again: aws sns subscribe --topic-arn \
                 {} --protocol {} --notification-endpoint <the endpoint>",
                sub.topic_arn, sub.protocol
            )
        },
        fixed: false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_https_endpoint_is_shown_without_its_path() {
        let sub = SubscriptionInfo {
            topic_arn: "arn:aws:sns:us-east-1:123456789012:billing-alarm".into(),
            protocol: "https".into(),
            endpoint: "https://hooks.example.com/services/s3cret".into(),
            subscription_arn: None,
            status: SubscriptionStatus::PendingConfirmation,
        };
        let since = OffsetDateTime::UNIX_EPOCH;
        let f = pending_finding(&sub, since, time::Duration::hours(30));
        assert!(!f.message.contains("s3cret"), "{}", f.message);
        assert!(!f.fix.contains("s3cret"), "{}", f.fix);
        assert!(f.message.contains("30 hours"), "{}", f.message);
        assert_eq!(f.kind.id(), "subscription-pending");
    }

    #[test]
    fn pending_keys_ignore_the_case_of_the_endpoint() {
        let t = "arn:aws:sns:us-east-1:123456789012:billing-alarm";
        assert_eq!(
            pending_key(t, "email", "Ops@Example.com"),
            pending_key(t, "email", "ops@example.com")
        );
    }
}
