//! Notifications: the events alerting's rules match become an SNS message on the topic
//! and a POST to each configured webhook. The webhooks are targets of those rules on the
//! event bus, which delivers, retries and dead-letters them as any other target; SNS is
//! alerting's own, from the deliveries to its NATS subject, retried by JetStream
//! redelivery.
//!
//! Layout:
//! - [`rules`]: the event patterns alerting notifies for, and Slack's body for each.
//! - [`targets`]: the targets of those rules (alerting's NATS subject, the webhooks) and
//!   the webhook settings.
//! - [`bus_rules`]: creating the rules with their targets on the event bus at start-up.
//! - [`consumer`]: reading the deliveries to alerting's subject and publishing to SNS.
//! - [`format`]: what an SNS notification says.

pub mod bus_rules;
pub mod consumer;
pub mod format;
pub mod rules;
pub mod targets;

use std::time::Duration;

use groundwork_cloud::AwsError;

use crate::model::TopicRef;
use crate::notify::format::Notification;
use crate::notify::targets::WebhookSpec;
use crate::topic;

/// How one channel fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub channel: &'static str,
    /// The topic ARN, or the redacted webhook URL.
    pub destination: String,
    pub attempts: u32,
    /// Handed to the event bus, which delivers it with the target's retry policy (and
    /// dead-letters it when that runs out): the outcome is not known yet.
    pub queued: bool,
    pub error: Option<String>,
}

/// Why an SNS publish failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsFailure {
    pub message: String,
    pub retryable: bool,
}

/// The notification channels: the SNS topic alerting publishes to itself, and the
/// webhooks the event bus delivers to.
#[derive(Debug, Clone)]
pub struct Notifier {
    sns: aws_sdk_sns::Client,
    topic: Option<TopicRef>,
    webhooks: Vec<WebhookSpec>,
    /// Whether the webhooks are targets of alerting's rules (an event bus is configured
    /// and notifications are on).
    webhooks_on_bus: bool,
    attempts: u32,
    backoff: Duration,
}

/// The longest delay before an SNS publish is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Notifier {
    /// `attempts` (at least 1) and `backoff` (the first delay, doubling up to 30 s) are
    /// for SNS publishes made from deliveries.
    pub fn new(
        sns: aws_sdk_sns::Client,
        topic: Option<TopicRef>,
        webhooks: Vec<WebhookSpec>,
        webhooks_on_bus: bool,
        attempts: u32,
        backoff: Duration,
    ) -> Self {
        Self {
            sns,
            topic,
            webhooks,
            webhooks_on_bus,
            attempts: attempts.max(1),
            backoff,
        }
    }

    pub fn has_topic(&self) -> bool {
        self.topic.is_some()
    }

    pub fn webhooks(&self) -> &[WebhookSpec] {
        &self.webhooks
    }

    pub fn webhooks_on_bus(&self) -> bool {
        self.webhooks_on_bus
    }

    /// When to try again after failed attempt `attempt` (1-based): the backoff doubled
    /// per attempt up to 30 s, or `None` once the attempts are used up.
    pub fn retry_delay(&self, attempt: u32) -> Option<Duration> {
        (attempt < self.attempts).then(|| {
            let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
            self.backoff.saturating_mul(factor).min(MAX_BACKOFF)
        })
    }

    /// The topic as shown in reports: its ARN when configured by ARN, else its name.
    pub fn topic_destination(&self) -> String {
        match &self.topic {
            Some(TopicRef::Arn(arn)) => arn.as_str().to_owned(),
            Some(topic) => topic.name().to_owned(),
            None => String::new(),
        }
    }

    /// One Publish to the topic (the SDK retries throttling and transient errors itself);
    /// `Ok` when there is no topic.
    pub async fn publish(&self, notification: &Notification) -> Result<(), SnsFailure> {
        let Some(topic) = &self.topic else {
            return Ok(());
        };
        let failure = |retryable: bool, message: String| SnsFailure { message, retryable };
        let arn = topic::resolve_topic(&self.sns, topic)
            .await
            .map_err(|e| failure(e.is_retryable(), e.to_string()))?;
        self.sns
            .publish()
            .topic_arn(arn.as_str())
            .subject(&notification.subject)
            .message(notification.sns_message())
            .send()
            .await
            .map_err(|e| {
                let e = AwsError::from_sdk("Publish", e);
                failure(e.is_retryable(), e.to_string())
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sns_retry_delays_double_up_to_the_cap_until_the_attempts_run_out() {
        let config = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .build();
        let notifier = Notifier::new(
            aws_sdk_sns::Client::from_conf(config),
            None,
            Vec::new(),
            false,
            9,
            Duration::from_millis(500),
        );
        let delays: Vec<Option<u64>> = (1..=9)
            .map(|n| notifier.retry_delay(n).map(|d| d.as_millis() as u64))
            .collect();
        assert_eq!(
            delays,
            [
                Some(500),
                Some(1000),
                Some(2000),
                Some(4000),
                Some(8000),
                Some(16000),
                Some(30000),
                Some(30000),
                None
            ]
        );
    }
}
