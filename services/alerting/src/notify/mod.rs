//! Notifications: the events alerting's rules match become an SNS message on the topic
//! and a POST to each configured webhook, each retried with bounded exponential backoff.
//!
//! Layout:
//! - [`rules`]: the event patterns alerting notifies for.
//! - [`bus_rules`]: creating those rules, with alerting's NATS-subject target, on the
//!   event bus at start-up.
//! - [`consumer`]: reading the deliveries to that target through a durable consumer.
//! - [`format`]: what a notification says.
//! - [`webhook`]: the HTTP client and the webhook settings.
//! - [`retry`]: the backoff.

pub mod bus_rules;
pub mod consumer;
pub mod format;
pub mod retry;
pub mod rules;
pub mod webhook;

use groundwork_cloud::AwsError;

use crate::model::TopicRef;
use crate::notify::format::Notification;
use crate::notify::retry::{AttemptError, RetryPolicy, with_retries};
use crate::notify::webhook::{WebhookClient, WebhookFormat, WebhookSpec};
use crate::topic;

/// How one channel fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub channel: &'static str,
    /// The topic ARN, or the redacted webhook URL.
    pub destination: String,
    pub attempts: u32,
    pub error: Option<String>,
}

/// Sends notifications through every configured channel.
#[derive(Debug, Clone)]
pub struct Notifier {
    sns: aws_sdk_sns::Client,
    topic: Option<TopicRef>,
    webhooks: Vec<WebhookSpec>,
    http: WebhookClient,
    retry: RetryPolicy,
}

impl Notifier {
    pub fn new(
        sns: aws_sdk_sns::Client,
        topic: Option<TopicRef>,
        webhooks: Vec<WebhookSpec>,
        http: WebhookClient,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            sns,
            topic,
            webhooks,
            http,
            retry,
        }
    }

    /// Delivers to every channel, each with its own retries; never fails as a whole.
    pub async fn deliver(&self, notification: &Notification) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        if let Some(topic) = &self.topic {
            deliveries.push(self.to_sns(topic, notification).await);
        }
        for hook in &self.webhooks {
            deliveries.push(self.to_webhook(hook, notification).await);
        }
        deliveries
    }

    async fn to_sns(&self, topic: &TopicRef, notification: &Notification) -> Delivery {
        let mut destination = topic.name().to_owned();
        let (result, attempts) = with_retries(self.retry, || async {
            let arn = topic::resolve_topic(&self.sns, topic)
                .await
                .map_err(|e| classify(e.is_retryable(), e.to_string()))?;
            self.sns
                .publish()
                .topic_arn(arn.as_str())
                .subject(&notification.subject)
                .message(notification.sns_message())
                .send()
                .await
                .map_err(|e| {
                    let e = AwsError::from_sdk("Publish", e);
                    classify(e.is_retryable(), e.to_string())
                })?;
            Ok(())
        })
        .await;
        if let TopicRef::Arn(arn) = topic {
            destination = arn.as_str().to_owned();
        }
        report("sns", destination, attempts, result)
    }

    async fn to_webhook(&self, hook: &WebhookSpec, notification: &Notification) -> Delivery {
        let body = match hook.format {
            WebhookFormat::Json => notification.event.to_string(),
            WebhookFormat::Slack => notification.slack_body().to_string(),
        }
        .into_bytes();
        let (result, attempts) =
            with_retries(self.retry, || self.http.post(hook, body.clone())).await;
        report(hook.channel(), hook.redacted(), attempts, result)
    }
}

fn classify(retryable: bool, message: String) -> AttemptError {
    if retryable {
        AttemptError::retryable(message)
    } else {
        AttemptError::terminal(message)
    }
}

fn report(
    channel: &'static str,
    destination: String,
    attempts: u32,
    result: Result<(), AttemptError>,
) -> Delivery {
    match result {
        Ok(()) => Delivery {
            channel,
            destination,
            attempts,
            error: None,
        },
        Err(e) => {
            tracing::warn!(channel, %destination, attempts, error = %e.message, "notification not delivered");
            Delivery {
                channel,
                destination,
                attempts,
                error: Some(e.message),
            }
        }
    }
}
