//! SNS: the topic and its subscriptions, in us-east-1. Idempotent: a topic is found by
//! name before it is created, a subscription by protocol and endpoint before subscribing.

use aws_sdk_sns::Client;
use groundwork_cloud::AwsError;

use crate::error::Error;
use crate::model::{Endpoint, TopicArn, TopicName, TopicRef};

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    Absent,
    /// A pending subscription: SNS has no call that removes it.
    PendingConfirmation,
}

/// What an idempotent step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

/// A subscription's confirmation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    PendingConfirmation,
    Confirmed,
}

/// A subscription as SNS lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    /// `None` while pending.
    pub subscription_arn: Option<String>,
    pub status: SubscriptionStatus,
}

/// SNS lists a pending subscription with this instead of an ARN.
const PENDING: &str = "PendingConfirmation";

impl SubscriptionInfo {
    fn from_sdk(s: &aws_sdk_sns::types::Subscription) -> Self {
        let arn = s.subscription_arn().unwrap_or_default();
        let pending =
            arn.is_empty() || arn == PENDING || arn.eq_ignore_ascii_case("pending confirmation");
        Self {
            topic_arn: s.topic_arn().unwrap_or_default().to_owned(),
            protocol: s.protocol().unwrap_or_default().to_owned(),
            endpoint: s.endpoint().unwrap_or_default().to_owned(),
            subscription_arn: (!pending).then(|| arn.to_owned()),
            status: if pending {
                SubscriptionStatus::PendingConfirmation
            } else {
                SubscriptionStatus::Confirmed
            },
        }
    }

    /// Whether this is the subscription of `endpoint` (emails compare without case, as
    /// SNS delivers them).
    pub fn is_for(&self, endpoint: &Endpoint) -> bool {
        self.protocol == endpoint.protocol()
            && match endpoint {
                Endpoint::Email(e) => self.endpoint.eq_ignore_ascii_case(e),
                other => self.endpoint == other.value(),
            }
    }
}

/// Finds a topic by name.
pub async fn find_topic(sns: &Client, name: &str) -> Result<Option<TopicArn>, Error> {
    let mut next: Option<String> = None;
    loop {
        let page = sns
            .list_topics()
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTopics", e))?;
        for topic in page.topics() {
            if let Some(arn) = topic.topic_arn()
                && arn.rsplit(':').next() == Some(name)
            {
                return TopicArn::parse("topic", arn).map(Some);
            }
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => return Ok(None),
        }
    }
}

/// The ARN of an existing topic, or NOT_FOUND saying how to create it.
pub async fn resolve_topic(sns: &Client, topic: &TopicRef) -> Result<TopicArn, Error> {
    let found = match topic {
        TopicRef::Arn(arn) => match sns
            .get_topic_attributes()
            .topic_arn(arn.as_str())
            .send()
            .await
        {
            Ok(_) => Some(arn.clone()),
            Err(e) => {
                let e = AwsError::from_sdk("GetTopicAttributes", e);
                if e.kind == groundwork_cloud::AwsErrorKind::NotFound {
                    None
                } else {
                    return Err(e.into());
                }
            }
        },
        TopicRef::Name(name) => find_topic(sns, name.as_str()).await?,
    };
    found.ok_or_else(|| {
        Error::not_found(format!(
            "SNS topic {} does not exist in us-east-1; create it first (`groundwork alerting topic {}`)",
            topic.name(),
            topic.name()
        ))
    })
}

/// Creates the topic unless it exists, and adds or corrects the requested tags.
pub async fn ensure_topic(
    sns: &Client,
    name: &TopicName,
    tags: &[(String, String)],
) -> Result<(TopicArn, Change), Error> {
    if let Some(arn) = find_topic(sns, name.as_str()).await? {
        let current = sns
            .list_tags_for_resource()
            .resource_arn(arn.as_str())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
        let missing: Vec<&(String, String)> = tags
            .iter()
            .filter(|(k, v)| {
                !current
                    .tags()
                    .iter()
                    .any(|t| t.key() == k.as_str() && t.value() == v.as_str())
            })
            .collect();
        if missing.is_empty() {
            return Ok((arn, Change::Unchanged));
        }
        sns.tag_resource()
            .resource_arn(arn.as_str())
            .set_tags(Some(sdk_tags(missing.into_iter())?))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("TagResource", e))?;
        return Ok((arn, Change::Updated));
    }
    let mut create = sns.create_topic().name(name.as_str());
    if !tags.is_empty() {
        create = create.set_tags(Some(sdk_tags(tags.iter())?));
    }
    let out = create
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateTopic", e))?;
    let arn = TopicArn::parse("topic", out.topic_arn().unwrap_or_default())?;
    Ok((arn, Change::Created))
}

fn sdk_tags<'a>(
    tags: impl Iterator<Item = &'a (String, String)>,
) -> Result<Vec<aws_sdk_sns::types::Tag>, Error> {
    tags.map(|(k, v)| {
        aws_sdk_sns::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .map_err(|e| Error::invalid("tags", e.to_string()))
    })
    .collect()
}

/// Every subscription of a topic.
pub async fn list_subscriptions(
    sns: &Client,
    topic: &TopicArn,
) -> Result<Vec<SubscriptionInfo>, Error> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = sns
            .list_subscriptions_by_topic()
            .topic_arn(topic.as_str())
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListSubscriptionsByTopic", e))?;
        out.extend(page.subscriptions().iter().map(SubscriptionInfo::from_sdk));
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Every subscription of the account in us-east-1 (for the confirmation watcher).
pub async fn list_all_subscriptions(sns: &Client) -> Result<Vec<SubscriptionInfo>, Error> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = sns
            .list_subscriptions()
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListSubscriptions", e))?;
        out.extend(page.subscriptions().iter().map(SubscriptionInfo::from_sdk));
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Subscribes `endpoint` unless it is subscribed already.
pub async fn ensure_subscription(
    sns: &Client,
    topic: &TopicArn,
    endpoint: &Endpoint,
) -> Result<(SubscriptionInfo, Change), Error> {
    if let Some(existing) = list_subscriptions(sns, topic)
        .await?
        .into_iter()
        .find(|s| s.is_for(endpoint))
    {
        return Ok((existing, Change::Unchanged));
    }
    let out = sns
        .subscribe()
        .topic_arn(topic.as_str())
        .protocol(endpoint.protocol())
        .endpoint(endpoint.value())
        .return_subscription_arn(true)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("Subscribe", e))?;
    let arn = out.subscription_arn().unwrap_or_default().to_owned();
    // With ReturnSubscriptionArn the ARN is real even while pending; the attribute says.
    let pending = match sns
        .get_subscription_attributes()
        .subscription_arn(&arn)
        .send()
        .await
    {
        Ok(attrs) => attrs
            .attributes()
            .and_then(|a| a.get("PendingConfirmation"))
            .is_some_and(|v| v == "true"),
        Err(e) => {
            tracing::debug!(error = %AwsError::from_sdk("GetSubscriptionAttributes", e), "confirmation state unknown; assuming pending");
            true
        }
    };
    let info = SubscriptionInfo {
        topic_arn: topic.as_str().to_owned(),
        protocol: endpoint.protocol().to_owned(),
        endpoint: endpoint.value().to_owned(),
        subscription_arn: (!pending).then_some(arn),
        status: if pending {
            SubscriptionStatus::PendingConfirmation
        } else {
            SubscriptionStatus::Confirmed
        },
    };
    Ok((info, Change::Created))
}

/// Deletes a topic (SNS deletes its subscriptions with it); `None` when it did not exist.
pub async fn delete_topic(sns: &Client, topic: &TopicRef) -> Result<Option<TopicArn>, Error> {
    let arn = match resolve_topic(sns, topic).await {
        Ok(arn) => arn,
        Err(e) if e.kind() == crate::error::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    sns.delete_topic()
        .topic_arn(arn.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteTopic", e))?;
    Ok(Some(arn))
}

/// Unsubscribes `endpoint` from the topic. Returns the subscription as it was.
pub async fn delete_subscription(
    sns: &Client,
    topic: &TopicRef,
    endpoint: &Endpoint,
) -> Result<(Deletion, Option<SubscriptionInfo>), Error> {
    let arn = match resolve_topic(sns, topic).await {
        Ok(arn) => arn,
        Err(e) if e.kind() == crate::error::ErrorKind::NotFound => {
            return Ok((Deletion::Absent, None));
        }
        Err(e) => return Err(e),
    };
    let Some(found) = list_subscriptions(sns, &arn)
        .await?
        .into_iter()
        .find(|s| s.is_for(endpoint))
    else {
        return Ok((Deletion::Absent, None));
    };
    let Some(sub_arn) = &found.subscription_arn else {
        return Ok((Deletion::PendingConfirmation, Some(found)));
    };
    if let Err(e) = sns.unsubscribe().subscription_arn(sub_arn).send().await {
        let e = AwsError::from_sdk("Unsubscribe", e);
        if e.kind != groundwork_cloud::AwsErrorKind::NotFound {
            return Err(e.into());
        }
    }
    Ok((Deletion::Deleted, Some(found)))
}
