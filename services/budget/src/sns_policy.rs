//! An SNS topic that budget alerts go to must let `budgets.amazonaws.com` publish to it,
//! and, when it is encrypted, let it use its KMS key; otherwise AWS accepts the
//! notification and its alerts are silently lost. The topic's access policy
//! (GetTopicAttributes → `Policy`) is checked before anything is created: a topic tagged
//! `managed-by=groundwork` is fixed (SetTopicAttributes), any other is refused with the
//! statement to add. A key Budgets may not use is reported in the notes with its fix (the
//! key policy is changed only by alerting's CheckAlertDelivery, when asked).
//!
//! The statements and the reads and writes are [`groundwork_cloud::delivery`]'s, shared
//! with alerting.

use groundwork_cloud::delivery::{self, Publisher};
use groundwork_cloud::{AwsError, AwsErrorKind};

use crate::aws::AwsClients;
use crate::domain::TopicArn;
use crate::error::Error;

/// The tag that says Groundwork may change the topic.
pub const MANAGED_TAG: (&str, &str) = ("managed-by", "groundwork");

/// Only Budgets is checked here: the topic's alarms are alerting's concern.
const BUDGETS: [Publisher; 1] = [Publisher::Budgets];

/// Whether the policy lets AWS Budgets publish to `topic`.
pub fn allows_budgets(policy: &str, topic: &str) -> bool {
    delivery::topic_allows(policy, topic, Publisher::Budgets)
}

/// Checks one topic; fixes its policy when Groundwork manages it and `fix` is set.
/// Returns the notes for the response: what was (or would be) fixed, and a KMS key
/// Budgets may not use.
pub async fn ensure_topic_allows_budgets(
    clients: &AwsClients,
    topic: &TopicArn,
    account: &str,
    fix: bool,
) -> Result<Vec<String>, Error> {
    let sns = clients.sns(topic.region());
    let Some(access) = delivery::read_topic(&sns, topic.as_str(), &BUDGETS).await? else {
        return Err(Error::failed_precondition(format!(
            "SNS topic {} does not exist; create it first (or use an email subscriber)",
            topic.as_str()
        )));
    };
    let mut notes = Vec::new();
    if let Some(key) = &access.kms_key {
        notes.extend(key_note(clients, topic, key, account).await);
    }
    if access.missing.is_empty() {
        return Ok(notes);
    }
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(topic.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
    let managed = tags
        .tags()
        .iter()
        .any(|t| t.key() == MANAGED_TAG.0 && t.value() == MANAGED_TAG.1);
    let sid = Publisher::Budgets.topic_sid();
    if !managed {
        return Err(Error::failed_precondition(format!(
            "the access policy of SNS topic {topic} does not let AWS Budgets publish to it, so its \
             alerts would be lost. {fix} (the topic's other statements stay), or tag the topic \
             {k}={v} to let Groundwork add it",
            topic = topic.as_str(),
            fix = delivery::topic_fix(topic.as_str(), account, &BUDGETS),
            k = MANAGED_TAG.0,
            v = MANAGED_TAG.1,
        )));
    }
    if fix {
        delivery::grant_topic(&sns, &access, account).await?;
        tracing::info!(
            topic = topic.as_str(),
            "added the AWS Budgets publish statement to the topic policy"
        );
        notes.push(format!(
            "added statement {sid} to the policy of SNS topic {} so that AWS Budgets can publish to it",
            topic.as_str()
        ));
    } else {
        notes.push(format!(
            "would add statement {sid} to the policy of SNS topic {} (managed by Groundwork)",
            topic.as_str()
        ));
    }
    Ok(notes)
}

/// The note for a topic key AWS Budgets may not use; a key that cannot be read is a note
/// too (the budget is still worth creating: its email subscribers get the alerts).
async fn key_note(
    clients: &AwsClients,
    topic: &TopicArn,
    key: &str,
    account: &str,
) -> Option<String> {
    let kms = delivery::kms_client(&clients.sns_config, topic.region());
    match delivery::read_key(&kms, key, &BUDGETS).await {
        Ok(access) => access
            .problem(topic.as_str(), account, &BUDGETS)
            .map(|p| format!("{}. Fix: {}", p.message, p.fix)),
        Err(e) if e.kind == AwsErrorKind::AccessDenied || e.kind == AwsErrorKind::NotFound => {
            Some(format!(
                "SNS topic {} is encrypted with KMS key {key}, which could not be read ({e}): make \
                 sure its policy lets budgets.amazonaws.com use it (kms:GenerateDataKey*, \
                 kms:Decrypt)",
                topic.as_str()
            ))
        }
        Err(e) => {
            tracing::warn!(error = %e, topic = topic.as_str(), "topic key not checked");
            Some(format!(
                "the KMS key of SNS topic {} was not checked: {e}",
                topic.as_str()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:billing-alarm";

    #[test]
    fn only_the_budgets_statement_lets_budgets_publish() {
        let cloudwatch =
            delivery::with_topic_statements("", TOPIC, "123456789012", &[Publisher::CloudWatch]);
        assert!(!allows_budgets(&cloudwatch, TOPIC));
        let budgets = delivery::with_topic_statements(&cloudwatch, TOPIC, "123456789012", &BUDGETS);
        assert!(allows_budgets(&budgets, TOPIC));
    }
}
