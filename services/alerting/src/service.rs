//! The alerting operations on domain types: the gRPC layer calls these after validating
//! its input, so that nothing here sees a wire type and bad input never reaches AWS.

use groundwork_bus::Emitter;
use groundwork_cloud::{RootGuard, RootPolicy};
use groundwork_events::catalog::{
    Alarm, AlarmCreated, AlarmDeleted, AlarmUpdated, CatalogEvent, SubscriptionCreated,
    SubscriptionDeleted, TestNotification, Topic, TopicCreated, TopicDeleted, TopicUpdated,
};

use crate::alarm;
use crate::alarm_event::AlarmState;
use crate::alarm_spec::AlarmSpec;
use crate::delivery::{self, Finding, Fixes};
use crate::error::Error;
use crate::model::{AlarmName, Endpoint, Tags, TopicName, TopicRef};
use crate::notify::format::Notification;
use crate::notify::{Delivery, Notifier};
use crate::topic::{self, Change, Deletion, SubscriptionInfo};
use crate::watch_store::WatchStore;
use crate::watchers::{SubscriptionSeen, alarm_key, subscription_key};

/// An alarm after EnsureBillingAlarm or an import.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmOutcome {
    pub name: String,
    pub arn: String,
    pub change: Change,
    pub state_value: String,
    /// Dry runs: the fields of the alarm in place that differ from the spec.
    pub differing: Vec<&'static str>,
    /// Dry runs: the alarm in place, for a plan to show its values.
    pub in_place: Option<AlarmInPlace>,
}

/// The fields of an alarm in place that a billing alarm sets.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmInPlace {
    pub threshold: Option<f64>,
    pub description: String,
    pub alarm_actions: Vec<String>,
    pub metric_math: bool,
}

/// Whether billing metrics arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingAlerts {
    pub arriving: bool,
}

/// What CheckAlertDelivery found about a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryReport {
    pub topic_arn: String,
    pub findings: Vec<Finding>,
}

/// Everything the operations use.
#[derive(Debug, Clone)]
pub struct Alerting {
    sns: aws_sdk_sns::Client,
    kms: aws_sdk_kms::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    root: RootGuard,
    emitter: Emitter,
    store: WatchStore,
    notifier: Notifier,
}

impl Alerting {
    pub fn new(
        billing_config: &aws_config::SdkConfig,
        emitter: Emitter,
        store: WatchStore,
        notifier: Notifier,
    ) -> Self {
        Self {
            sns: aws_sdk_sns::Client::new(billing_config),
            // A topic's key is in the topic's region: us-east-1, like every topic here.
            kms: aws_sdk_kms::Client::new(billing_config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(billing_config),
            root: RootGuard::new(billing_config.clone()),
            emitter,
            store,
            notifier,
        }
    }

    /// Refuses root credentials for `operation`.
    async fn guard(&self, operation: &str) -> Result<(), Error> {
        self.root.check(operation, RootPolicy::Refuse).await?;
        Ok(())
    }

    /// Publishes one of alerting's own events; a bus outage does not fail the call (the
    /// emitter retries in the background).
    async fn emit<E: CatalogEvent>(&self, event: &E, resources: Vec<String>) {
        if let Err(e) = self.emitter.emit_event(event, resources).await {
            tracing::warn!(error = %e, detail_type = E::DETAIL_TYPE, "event not published");
        }
    }

    #[tracing::instrument(skip_all, fields(topic = %name))]
    pub async fn ensure_topic(
        &self,
        name: &TopicName,
        tags: &Tags,
    ) -> Result<(String, Change), Error> {
        self.guard("EnsureTopic").await?;
        let (arn, change) = topic::ensure_topic(&self.sns, name, &tags.0).await?;
        let detail = || Topic {
            topic_arn: arn.as_str().to_owned(),
            name: name.as_str().to_owned(),
        };
        let resources = vec![arn.as_str().to_owned()];
        match change {
            Change::Created => self.emit(&TopicCreated(detail()), resources).await,
            Change::Updated => self.emit(&TopicUpdated(detail()), resources).await,
            Change::Unchanged => {}
        }
        Ok((arn.as_str().to_owned(), change))
    }

    #[tracing::instrument(skip_all, fields(topic = %topic.name(), protocol = endpoint.protocol()))]
    pub async fn ensure_subscription(
        &self,
        topic: &TopicRef,
        endpoint: &Endpoint,
    ) -> Result<(SubscriptionInfo, Change), Error> {
        self.guard("EnsureSubscription").await?;
        let arn = topic::resolve_topic(&self.sns, topic).await?;
        let (info, change) = topic::ensure_subscription(&self.sns, &arn, endpoint).await?;
        // SNS keeps no creation time: a pending subscription's age counts from here.
        if info.status == topic::SubscriptionStatus::PendingConfirmation
            && let Err(e) =
                delivery::record_pending(&self.store, &info, time::OffsetDateTime::now_utc()).await
        {
            tracing::warn!(error = %e, "pending subscription's time not recorded");
        }
        // The state at creation is the watcher's baseline: its confirmation later is a
        // transition, published once.
        let key = subscription_key(&info.topic_arn, &info.protocol, &info.endpoint);
        if let Err(e) = self
            .store
            .baseline(&key, &SubscriptionSeen::of(&info))
            .await
        {
            tracing::warn!(error = %e, "subscription baseline not recorded");
        }
        if change == Change::Created {
            self.emit(
                &SubscriptionCreated {
                    topic_arn: info.topic_arn.clone(),
                    protocol: info.protocol.clone(),
                    pending_confirmation: info.subscription_arn.is_none(),
                },
                vec![info.topic_arn.clone()],
            )
            .await;
        }
        Ok((info, change))
    }

    #[tracing::instrument(skip_all, fields(topic = %topic.name()))]
    pub async fn list_subscriptions(
        &self,
        topic: &TopicRef,
    ) -> Result<Vec<SubscriptionInfo>, Error> {
        let arn = topic::resolve_topic(&self.sns, topic).await?;
        topic::list_subscriptions(&self.sns, &arn).await
    }

    /// Whether alerts to `topic` arrive: its access policy, its KMS key, and subscriptions
    /// pending for `pending_hours` or more. Applies the fixes asked for (root credentials
    /// are refused then); reading alone is allowed with any credentials.
    #[tracing::instrument(skip_all, fields(topic = %topic.name(), fix_topic = fixes.topic_policy, fix_key = fixes.key_policy))]
    pub async fn check_delivery(
        &self,
        topic: &TopicRef,
        fixes: Fixes,
        pending_hours: u32,
    ) -> Result<DeliveryReport, Error> {
        if fixes.topic_policy || fixes.key_policy {
            self.guard("CheckAlertDelivery").await?;
        }
        // The conditions name the account whose budgets and alarms publish: the caller's.
        let account = self.root.caller().await?.account;
        let arn = topic::resolve_topic(&self.sns, topic).await?;
        let mut findings =
            delivery::check_topic(&self.sns, &self.kms, &arn, &account, fixes).await?;
        findings.extend(
            delivery::check_subscriptions(
                &self.sns,
                &self.store,
                &arn,
                pending_hours,
                time::OffsetDateTime::now_utc(),
            )
            .await?,
        );
        Ok(DeliveryReport {
            topic_arn: arn.as_str().to_owned(),
            findings,
        })
    }

    /// Resolves a topic (it must exist) for an alarm's actions.
    pub async fn resolve_topic(&self, topic: &TopicRef) -> Result<String, Error> {
        Ok(topic::resolve_topic(&self.sns, topic)
            .await?
            .as_str()
            .to_owned())
    }

    #[tracing::instrument(skip_all, fields(alarm = %spec.name))]
    pub async fn ensure_alarm(
        &self,
        spec: &AlarmSpec,
        tags: &[(String, String)],
    ) -> Result<AlarmOutcome, Error> {
        self.guard("PutMetricAlarm").await?;
        let (described, change) = alarm::ensure(&self.cloudwatch, spec, tags).await?;
        let state = AlarmState::of(&described);
        // The state right after the put is the watcher's baseline, so that the first
        // state change is published even if no watcher pass ran in between.
        if let Err(e) = self
            .store
            .baseline(&alarm_key(spec.name.as_str()), &state)
            .await
        {
            tracing::warn!(error = %e, "alarm baseline not recorded");
        }
        let arn = described.alarm_arn().unwrap_or_default().to_owned();
        let detail = || Alarm {
            alarm_name: spec.name.as_str().to_owned(),
            alarm_arn: arn.clone(),
        };
        match change {
            Change::Created => self.emit(&AlarmCreated(detail()), vec![arn.clone()]).await,
            Change::Updated => self.emit(&AlarmUpdated(detail()), vec![arn.clone()]).await,
            Change::Unchanged => {}
        }
        Ok(AlarmOutcome {
            name: spec.name.as_str().to_owned(),
            arn,
            change,
            state_value: state.value,
            differing: Vec::new(),
            in_place: None,
        })
    }

    /// What [`Self::ensure_alarm`] would do, without doing it: one DescribeAlarms.
    pub async fn plan_alarm(&self, spec: &AlarmSpec) -> Result<AlarmOutcome, Error> {
        let existing = alarm::describe(&self.cloudwatch, spec.name.as_str()).await?;
        let (change, differing) = alarm::compare(existing.as_ref(), spec);
        Ok(AlarmOutcome {
            name: spec.name.as_str().to_owned(),
            arn: existing
                .as_ref()
                .and_then(|a| a.alarm_arn())
                .unwrap_or_default()
                .to_owned(),
            change,
            state_value: existing
                .as_ref()
                .map(|a| AlarmState::of(a).value)
                .unwrap_or_default(),
            differing,
            in_place: existing.as_ref().map(|a| AlarmInPlace {
                threshold: a.threshold(),
                description: a.alarm_description().unwrap_or_default().to_owned(),
                alarm_actions: a.alarm_actions().to_vec(),
                metric_math: !a.metrics().is_empty(),
            }),
        })
    }

    #[tracing::instrument(skip_all, fields(topic = %topic.name()))]
    pub async fn delete_topic(&self, topic: &TopicRef) -> Result<(Deletion, String), Error> {
        self.guard("DeleteTopic").await?;
        let Some(arn) = topic::delete_topic(&self.sns, topic).await? else {
            return Ok((Deletion::Absent, String::new()));
        };
        tracing::info!("topic deleted");
        self.emit(
            &TopicDeleted(Topic {
                topic_arn: arn.as_str().to_owned(),
                name: topic.name().to_owned(),
            }),
            vec![arn.as_str().to_owned()],
        )
        .await;
        Ok((Deletion::Deleted, arn.as_str().to_owned()))
    }

    #[tracing::instrument(skip_all, fields(topic = %topic.name(), protocol = endpoint.protocol()))]
    pub async fn delete_subscription(
        &self,
        topic: &TopicRef,
        endpoint: &Endpoint,
    ) -> Result<(Deletion, String), Error> {
        self.guard("Unsubscribe").await?;
        let (deletion, found) = topic::delete_subscription(&self.sns, topic, endpoint).await?;
        let Some(info) = found else {
            return Ok((deletion, String::new()));
        };
        let arn = info.subscription_arn.clone().unwrap_or_default();
        if deletion == Deletion::Deleted {
            let key = subscription_key(&info.topic_arn, &info.protocol, &info.endpoint);
            if let Err(e) = self.store.forget(&key).await {
                tracing::warn!(error = %e, "subscription watch state not cleared");
            }
            self.emit(
                &SubscriptionDeleted {
                    topic_arn: info.topic_arn.clone(),
                    protocol: info.protocol.clone(),
                },
                vec![info.topic_arn.clone()],
            )
            .await;
        }
        Ok((deletion, arn))
    }

    #[tracing::instrument(skip_all, fields(alarm = %name.as_str()))]
    pub async fn delete_alarm(&self, name: &AlarmName) -> Result<(Deletion, String), Error> {
        self.guard("DeleteAlarms").await?;
        let Some(arn) = alarm::delete(&self.cloudwatch, name.as_str()).await? else {
            return Ok((Deletion::Absent, String::new()));
        };
        if let Err(e) = self.store.forget(&alarm_key(name.as_str())).await {
            tracing::warn!(error = %e, "alarm watch state not cleared");
        }
        self.emit(
            &AlarmDeleted(Alarm {
                alarm_name: name.as_str().to_owned(),
                alarm_arn: arn.clone(),
            }),
            vec![arn.clone()],
        )
        .await;
        Ok((Deletion::Deleted, arn))
    }

    pub async fn describe_billing_alerts(&self) -> Result<BillingAlerts, Error> {
        Ok(BillingAlerts {
            arriving: alarm::billing_metrics_arriving(&self.cloudwatch).await?,
        })
    }

    /// A test notification: published to the SNS topic here (one attempt, with the SDK's
    /// own retries), and put on the bus as a `Test Notification` event, which alerting's
    /// test rule routes to every webhook target. The webhooks are reported as queued:
    /// the event bus delivers them with their retry policy, and what it cannot deliver is
    /// in its DLQ.
    #[tracing::instrument(skip_all)]
    pub async fn send_test_notification(&self, message: &str) -> Vec<Delivery> {
        let notification = Notification::test(message);
        let mut deliveries = Vec::new();
        if self.notifier.has_topic() {
            let result = self.notifier.publish(&notification).await;
            if let Err(e) = &result {
                tracing::warn!(error = %e.message, "test notification not published to SNS");
            }
            deliveries.push(Delivery {
                channel: "sns",
                destination: self.notifier.topic_destination(),
                attempts: 1,
                queued: false,
                error: result.err().map(|e| e.message),
            });
        }
        if self.notifier.webhooks().is_empty() {
            return deliveries;
        }
        let queued = if self.notifier.webhooks_on_bus() {
            self.emitter
                .emit_event(
                    &TestNotification {
                        message: notification.text.clone(),
                    },
                    Vec::new(),
                )
                .await
                .map(|_| ())
                .map_err(|e| format!("the test event was not put on the event bus: {e}"))
        } else {
            Err("webhooks are targets of alerting's rules on the event bus, and there are none: GROUNDWORK_EVENTBUS_URL is empty or notifications are off".to_owned())
        };
        for hook in self.notifier.webhooks() {
            deliveries.push(Delivery {
                channel: hook.channel(),
                destination: hook.redacted(),
                attempts: 0,
                queued: queued.is_ok(),
                error: queued.as_ref().err().cloned(),
            });
        }
        deliveries
    }
}
