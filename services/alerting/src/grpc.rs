//! The `groundwork.v1.Alerting` gRPC service: converts wire types to validated domain
//! types at once, then calls [`Alerting`].

use groundwork_proto::v1 as pb;
use pb::alerting_server::Alerting as AlertingRpc;
use tonic::{Request, Response, Status};

use crate::alarm_spec::{AlarmSpec, BillingAlarmKind};
use crate::delivery::{Finding, Fixes, Severity};
use crate::error::Error;
use crate::import::parse_alarm_config;
use crate::model::{AlarmName, Endpoint, Tags, ThresholdUsd, TopicArn, TopicName, TopicRef};
use crate::service::{AlarmOutcome, Alerting};
use crate::topic::{Change, Deletion, SubscriptionInfo, SubscriptionStatus};

/// The alarm name used when a request gives none.
pub const DEFAULT_ALARM_NAME: &str = "billing-alarm";

/// The request's alarm name, [`DEFAULT_ALARM_NAME`] when empty.
fn alarm_name(raw: &str) -> Result<AlarmName, Error> {
    let name = if raw.is_empty() {
        DEFAULT_ALARM_NAME
    } else {
        raw
    };
    AlarmName::parse("alarm_name", name)
}

/// The gRPC face of the alerting service.
#[derive(Debug, Clone)]
pub struct AlertingApi {
    alerting: Alerting,
    /// CheckAlertDelivery's pending-confirmation hours when a request gives none.
    pending_confirmation_hours: u32,
}

impl AlertingApi {
    pub fn new(alerting: Alerting, pending_confirmation_hours: u32) -> Self {
        Self {
            alerting,
            pending_confirmation_hours,
        }
    }
}

fn finding_to_pb(f: Finding) -> pb::AlertDeliveryFinding {
    pb::AlertDeliveryFinding {
        id: f.kind.id().into(),
        severity: (match f.severity {
            Severity::High => pb::AlertDeliverySeverity::High,
            Severity::Medium => pb::AlertDeliverySeverity::Medium,
        }) as i32,
        resource: f.resource,
        message: f.message,
        fix: f.fix,
        fixed: f.fixed,
    }
}

fn change_to_pb(change: Change) -> i32 {
    (match change {
        Change::Created => pb::AlertingChange::Created,
        Change::Updated => pb::AlertingChange::Updated,
        Change::Unchanged => pb::AlertingChange::Unchanged,
    }) as i32
}

fn protocol_to_pb(protocol: &str) -> i32 {
    (match protocol {
        "email" => pb::AlertingProtocol::Email,
        "sms" => pb::AlertingProtocol::Sms,
        "https" => pb::AlertingProtocol::Https,
        "sqs" => pb::AlertingProtocol::Sqs,
        _ => pb::AlertingProtocol::Unspecified,
    }) as i32
}

fn subscription_to_pb(s: SubscriptionInfo) -> pb::AlertingSubscription {
    pb::AlertingSubscription {
        protocol: protocol_to_pb(&s.protocol),
        topic_arn: s.topic_arn,
        endpoint: s.endpoint,
        subscription_arn: s.subscription_arn.unwrap_or_default(),
        status: (match s.status {
            SubscriptionStatus::PendingConfirmation => pb::SubscriptionStatus::PendingConfirmation,
            SubscriptionStatus::Confirmed => pb::SubscriptionStatus::Confirmed,
        }) as i32,
    }
}

fn deletion_to_pb((deletion, arn): (Deletion, String)) -> pb::AlertingDeleteResponse {
    pb::AlertingDeleteResponse {
        deletion: (match deletion {
            Deletion::Deleted => pb::AlertingDeletion::Deleted,
            Deletion::Absent => pb::AlertingDeletion::Absent,
            Deletion::PendingConfirmation => pb::AlertingDeletion::PendingConfirmation,
        }) as i32,
        arn,
    }
}

fn alarm_to_pb(a: AlarmOutcome) -> pb::EnsureAlarmResponse {
    pb::EnsureAlarmResponse {
        alarm_name: a.name,
        alarm_arn: a.arn,
        change: change_to_pb(a.change),
        state_value: a.state_value,
        differing: a.differing.into_iter().map(str::to_owned).collect(),
        in_place: a.in_place.map(|p| pb::BillingAlarmInPlace {
            threshold_usd: p.threshold,
            description: p.description,
            alarm_actions: p.alarm_actions,
            metric_math: p.metric_math,
        }),
    }
}

fn endpoint_from_pb(protocol: i32, endpoint: &str) -> Result<Endpoint, Error> {
    match pb::AlertingProtocol::try_from(protocol) {
        Ok(pb::AlertingProtocol::Email) => Endpoint::email("endpoint", endpoint),
        Ok(pb::AlertingProtocol::Sms) => Endpoint::sms("endpoint", endpoint),
        Ok(pb::AlertingProtocol::Https) => Endpoint::https("endpoint", endpoint),
        Ok(pb::AlertingProtocol::Sqs) => Endpoint::sqs("endpoint", endpoint),
        _ => Err(Error::invalid(
            "protocol",
            "choose email, sms, https or sqs",
        )),
    }
}

#[tonic::async_trait]
impl AlertingRpc for AlertingApi {
    #[tracing::instrument(skip_all, fields(topic = %request.get_ref().name))]
    async fn ensure_topic(
        &self,
        request: Request<pb::EnsureTopicRequest>,
    ) -> Result<Response<pb::EnsureTopicResponse>, Status> {
        let request = request.into_inner();
        let name = TopicName::parse("name", &request.name)?;
        let tags = Tags::parse(
            "tags",
            request.tags.into_iter().map(|t| (t.key, t.value)).collect(),
        )?;
        let (topic_arn, change) = self.alerting.ensure_topic(&name, &tags).await?;
        Ok(Response::new(pb::EnsureTopicResponse {
            topic_arn,
            change: change_to_pb(change),
        }))
    }

    #[tracing::instrument(skip_all, fields(topic = %request.get_ref().topic, protocol = request.get_ref().protocol))]
    async fn ensure_subscription(
        &self,
        request: Request<pb::EnsureSubscriptionRequest>,
    ) -> Result<Response<pb::EnsureSubscriptionResponse>, Status> {
        let request = request.into_inner();
        let topic = TopicRef::parse("topic", &request.topic)?;
        let endpoint = endpoint_from_pb(request.protocol, &request.endpoint)?;
        let (info, change) = self.alerting.ensure_subscription(&topic, &endpoint).await?;
        Ok(Response::new(pb::EnsureSubscriptionResponse {
            subscription: Some(subscription_to_pb(info)),
            change: change_to_pb(change),
        }))
    }

    #[tracing::instrument(skip_all, fields(topic = %request.get_ref().topic))]
    async fn list_subscriptions(
        &self,
        request: Request<pb::ListAlertingSubscriptionsRequest>,
    ) -> Result<Response<pb::ListAlertingSubscriptionsResponse>, Status> {
        let topic = TopicRef::parse("topic", &request.into_inner().topic)?;
        let subscriptions = self.alerting.list_subscriptions(&topic).await?;
        Ok(Response::new(pb::ListAlertingSubscriptionsResponse {
            subscriptions: subscriptions.into_iter().map(subscription_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(alarm = %request.get_ref().alarm_name, kind = request.get_ref().kind))]
    async fn ensure_billing_alarm(
        &self,
        request: Request<pb::EnsureBillingAlarmRequest>,
    ) -> Result<Response<pb::EnsureAlarmResponse>, Status> {
        let request = request.into_inner();
        let name = alarm_name(&request.alarm_name)?;
        let kind = match pb::BillingAlarmKind::try_from(request.kind) {
            Ok(pb::BillingAlarmKind::Unspecified | pb::BillingAlarmKind::DailyCharges) => {
                BillingAlarmKind::DailyCharges
            }
            Ok(pb::BillingAlarmKind::Total) => BillingAlarmKind::Total,
            Err(_) => {
                return Err(Error::invalid("kind", "choose DAILY_CHARGES or TOTAL").into());
            }
        };
        let threshold = ThresholdUsd::parse("threshold_usd", request.threshold_usd)?;
        let topic = TopicRef::parse("topic", &request.topic)?;
        let description = (!request.description.is_empty()).then_some(request.description);
        let topic_arn = TopicArn::parse("topic", &self.alerting.resolve_topic(&topic).await?)?;
        let spec = AlarmSpec::billing(name, kind, threshold, &topic_arn, description);
        let outcome = if request.dry_run {
            self.alerting.plan_alarm(&spec).await?
        } else {
            self.alerting.ensure_alarm(&spec, &[]).await?
        };
        Ok(Response::new(alarm_to_pb(outcome)))
    }

    #[tracing::instrument(skip_all, fields(bytes = request.get_ref().json.len()))]
    async fn import_alarm_config_json(
        &self,
        request: Request<pb::ImportAlarmConfigJsonRequest>,
    ) -> Result<Response<pb::EnsureAlarmResponse>, Status> {
        let imported = parse_alarm_config(&request.into_inner().json)?;
        let outcome = self
            .alerting
            .ensure_alarm(&imported.spec, &imported.tags)
            .await?;
        Ok(Response::new(alarm_to_pb(outcome)))
    }

    #[tracing::instrument(skip_all)]
    async fn describe_billing_alerts(
        &self,
        _request: Request<pb::DescribeBillingAlertsRequest>,
    ) -> Result<Response<pb::DescribeBillingAlertsResponse>, Status> {
        let alerts = self.alerting.describe_billing_alerts().await?;
        Ok(Response::new(pb::DescribeBillingAlertsResponse {
            billing_metrics_arriving: alerts.arriving,
            manual_step: crate::alarm::MANUAL_STEP.into(),
            console_url: crate::alarm::BILLING_PREFERENCES_URL.into(),
        }))
    }

    #[tracing::instrument(skip_all, fields(topic = %request.get_ref().topic, fix = request.get_ref().fix))]
    async fn check_alert_delivery(
        &self,
        request: Request<pb::CheckAlertDeliveryRequest>,
    ) -> Result<Response<pb::CheckAlertDeliveryResponse>, Status> {
        let request = request.into_inner();
        let topic = if request.topic.is_empty() {
            DEFAULT_ALARM_NAME
        } else {
            &request.topic
        };
        let topic = TopicRef::parse("topic", topic)?;
        let hours = match request.pending_confirmation_hours {
            0 => self.pending_confirmation_hours,
            // SNS forgets an unconfirmed subscription after three days; a year is a typo.
            h if h > 24 * 365 => {
                return Err(Error::invalid(
                    "pending_confirmation_hours",
                    format!("{h} hours is more than a year; give 1 to 8760 (0 for the service's setting)"),
                )
                .into());
            }
            h => h,
        };
        let fixes = Fixes {
            topic_policy: request.fix,
            key_policy: request.fix_key_policy,
        };
        let report = self.alerting.check_delivery(&topic, fixes, hours).await?;
        Ok(Response::new(pb::CheckAlertDeliveryResponse {
            topic_arn: report.topic_arn,
            findings: report.findings.into_iter().map(finding_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(topic = %request.get_ref().topic))]
    async fn delete_topic(
        &self,
        request: Request<pb::DeleteTopicRequest>,
    ) -> Result<Response<pb::AlertingDeleteResponse>, Status> {
        let topic = TopicRef::parse("topic", &request.into_inner().topic)?;
        let deleted = self.alerting.delete_topic(&topic).await?;
        Ok(Response::new(deletion_to_pb(deleted)))
    }

    #[tracing::instrument(skip_all, fields(topic = %request.get_ref().topic, protocol = request.get_ref().protocol))]
    async fn delete_subscription(
        &self,
        request: Request<pb::DeleteSubscriptionRequest>,
    ) -> Result<Response<pb::AlertingDeleteResponse>, Status> {
        let request = request.into_inner();
        let topic = TopicRef::parse("topic", &request.topic)?;
        let endpoint = endpoint_from_pb(request.protocol, &request.endpoint)?;
        let deleted = self.alerting.delete_subscription(&topic, &endpoint).await?;
        Ok(Response::new(deletion_to_pb(deleted)))
    }

    #[tracing::instrument(skip_all, fields(alarm = %request.get_ref().alarm_name))]
    async fn delete_billing_alarm(
        &self,
        request: Request<pb::DeleteBillingAlarmRequest>,
    ) -> Result<Response<pb::AlertingDeleteResponse>, Status> {
        let request = request.into_inner();
        let name = alarm_name(&request.alarm_name)?;
        let deleted = self.alerting.delete_alarm(&name).await?;
        Ok(Response::new(deletion_to_pb(deleted)))
    }

    #[tracing::instrument(skip_all)]
    async fn send_test_notification(
        &self,
        request: Request<pb::SendTestNotificationRequest>,
    ) -> Result<Response<pb::SendTestNotificationResponse>, Status> {
        let message = request.into_inner().message;
        if message.chars().count() > 10_000 {
            return Err(Error::invalid("message", "at most 10,000 characters").into());
        }
        let deliveries = self.alerting.send_test_notification(&message).await;
        Ok(Response::new(pb::SendTestNotificationResponse {
            deliveries: deliveries
                .into_iter()
                .map(|d| pb::NotificationDelivery {
                    channel: d.channel.into(),
                    destination: d.destination,
                    delivered: d.error.is_none() && !d.queued,
                    queued: d.queued,
                    attempts: d.attempts,
                    error: d.error.unwrap_or_default(),
                })
                .collect(),
        }))
    }
}
