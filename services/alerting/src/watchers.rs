//! The watchers: at an interval, read alarm states (DescribeAlarms) and subscription
//! confirmations (ListSubscriptions) in us-east-1, and publish an event for each
//! transition — `CloudWatch Alarm State Change` (source `aws.cloudwatch`) and
//! `Subscription Confirmed` (source `groundwork.alerting`). What was seen last lives in
//! [`WatchStore`], so every replica may run the watchers and a restart publishes nothing
//! twice.

use std::time::Duration;

use groundwork_bus::names::escape_token;
use groundwork_events::catalog::{CatalogEvent, SubscriptionConfirmed, sources};
use groundwork_events::envelope::{Event, Origin, Producer, validate_entry};
use groundwork_kit::Shutdown;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::alarm;
use crate::alarm_event::{self, AlarmState};
use crate::error::Error;
use crate::topic::{self, SubscriptionInfo, SubscriptionStatus};
use crate::watch_store::{Observed, WatchStore};

/// Source of Groundwork's own alerting events.
pub const SOURCE: &str = sources::ALERTING;

/// KV key of an alarm's last state.
pub fn alarm_key(alarm_name: &str) -> String {
    format!("alarm.{}", escape_token(alarm_name))
}

/// KV key of a subscription's last confirmation state: topic, protocol and endpoint (a
/// pending subscription has no ARN yet).
pub fn subscription_key(topic_arn: &str, protocol: &str, endpoint: &str) -> String {
    format!(
        "sub.{}",
        escape_token(&format!(
            "{topic_arn} {protocol} {}",
            endpoint.to_lowercase()
        ))
    )
}

/// A subscription's state as the watcher records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionSeen {
    pub status: SubscriptionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_arn: Option<String>,
}

impl SubscriptionSeen {
    pub fn of(s: &SubscriptionInfo) -> Self {
        Self {
            status: s.status,
            subscription_arn: s.subscription_arn.clone(),
        }
    }
}

/// What the watchers need.
#[derive(Debug, Clone)]
pub struct Watchers {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub store: WatchStore,
    /// Envelope account and region of Groundwork's own events.
    pub origin: Origin,
}

impl Watchers {
    /// One pass over every alarm: the events published.
    pub async fn alarms_pass(&self) -> Result<Vec<Event>, Error> {
        let mut published = Vec::new();
        for alarm in alarm::describe_all(&self.cloudwatch).await? {
            let Some(name) = alarm.alarm_name() else {
                continue;
            };
            let state = AlarmState::of(&alarm);
            let observed = self
                .store
                .observe(&alarm_key(name), &state, |previous, now| {
                    if alarm_event::is_transition(previous, now) {
                        previous.and_then(|p| alarm_event::event(&alarm, p, now))
                    } else {
                        None
                    }
                })
                .await?;
            if let Observed::Published(event) = observed {
                tracing::info!(alarm = name, state = %state.value, event_id = %event.id, "alarm state change published");
                published.push(*event);
            }
        }
        Ok(published)
    }

    /// One pass over every subscription: the events published.
    pub async fn subscriptions_pass(&self) -> Result<Vec<Event>, Error> {
        let mut published = Vec::new();
        for sub in topic::list_all_subscriptions(&self.sns).await? {
            let key = subscription_key(&sub.topic_arn, &sub.protocol, &sub.endpoint);
            let seen = SubscriptionSeen::of(&sub);
            let observed = self
                .store
                .observe(&key, &seen, |previous, now| {
                    let confirmed = previous
                        .is_some_and(|p| p.status == SubscriptionStatus::PendingConfirmation)
                        && now.status == SubscriptionStatus::Confirmed;
                    confirmed
                        .then(|| subscription_confirmed(&self.origin, &sub))
                        .flatten()
                })
                .await?;
            if let Observed::Published(event) = observed {
                tracing::info!(topic = %sub.topic_arn, protocol = %sub.protocol, event_id = %event.id, "subscription confirmed");
                published.push(*event);
            }
        }
        Ok(published)
    }

    /// Runs both passes at `interval` until shutdown; a failed pass is logged and tried
    /// again at the next tick.
    pub async fn run(self, interval: Duration, shutdown: Shutdown) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.wait() => return,
                _ = ticker.tick() => {}
            }
            if let Err(e) = self.alarms_pass().await {
                tracing::warn!(error = %e, retryable = e.is_retryable(), "alarm watcher pass failed");
            }
            if let Err(e) = self.subscriptions_pass().await {
                tracing::warn!(error = %e, retryable = e.is_retryable(), "subscription watcher pass failed");
            }
        }
    }
}

/// `Subscription Confirmed`, about the subscription's ARN. An http(s) endpoint is shown
/// as scheme, host and port: its path or query may be a credential.
fn subscription_confirmed(origin: &Origin, sub: &SubscriptionInfo) -> Option<Event> {
    let endpoint = if matches!(sub.protocol.as_str(), "http" | "https") {
        groundwork_events::redact::redact_url(&sub.endpoint)
    } else {
        sub.endpoint.clone()
    };
    let detail = SubscriptionConfirmed {
        topic_arn: sub.topic_arn.clone(),
        protocol: sub.protocol.clone(),
        endpoint,
        subscription_arn: sub.subscription_arn.clone(),
    };
    let entry = detail
        .entry(sub.subscription_arn.iter().cloned().collect())
        .ok()?;
    let valid = validate_entry(&entry, Producer::TrustedInternal).ok()?;
    Some(valid.into_event(origin, OffsetDateTime::now_utc()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::topic::SubscriptionStatus;

    #[test]
    fn a_confirmed_https_endpoint_is_published_without_its_path() {
        let origin = Origin {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        };
        let sub = |protocol: &str, endpoint: &str| SubscriptionInfo {
            topic_arn: "arn:aws:sns:us-east-1:123456789012:billing-alarm".into(),
            protocol: protocol.into(),
            endpoint: endpoint.into(),
            subscription_arn: Some("arn:aws:sns:us-east-1:123456789012:billing-alarm:1".into()),
            status: SubscriptionStatus::Confirmed,
        };
        let https = subscription_confirmed(
            &origin,
            &sub(
                "https",
                "https://hooks.example.com/services/s3cret?token=s3cret",
            ),
        )
        .unwrap();
        assert_eq!(https.detail["endpoint"], "https://hooks.example.com/...");
        let email = subscription_confirmed(&origin, &sub("email", "ops@example.com")).unwrap();
        assert_eq!(email.detail["endpoint"], "ops@example.com");
    }
}
