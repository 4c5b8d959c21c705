//! `groundwork alerting topic|subscribe|subscriptions|alarm|import-alarm|billing-alerts|
//! notify-test|check-delivery`: the alerting service's API for people and scripts. Topic and alarm are
//! always in us-east-1, where billing metrics are.

use clap::{Subcommand, ValueEnum};
use groundwork_proto::v1 as pb;
use serde_json::json;

use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::{OutputFormat, print_json, print_table};

#[derive(Debug, Subcommand)]
pub enum AlertingCommand {
    /// Create the SNS topic unless it exists, and add or correct its tags.
    Topic {
        /// The topic name.
        #[arg(default_value = "billing-alarm")]
        name: String,
        /// A tag KEY=VALUE (repeatable).
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
    },
    /// Subscribe an email address, phone number, https URL or SQS queue to the topic.
    Subscribe {
        /// email, sms, https or sqs.
        #[arg(value_enum)]
        protocol: Protocol,
        /// The address, E.164 number (+14155550100), URL or queue ARN.
        endpoint: String,
        /// The topic's name or ARN.
        #[arg(long, default_value = "billing-alarm")]
        topic: String,
    },
    /// The topic's subscriptions and whether each is confirmed.
    Subscriptions {
        /// The topic's name or ARN.
        #[arg(long, default_value = "billing-alarm")]
        topic: String,
    },
    /// Create or update the billing alarm on AWS/Billing EstimatedCharges (USD).
    Alarm {
        /// The amount in USD: per day for `daily`, month to date for `total`.
        #[arg(long, allow_negative_numbers = true)]
        threshold: f64,
        /// `daily`: the knowledge-center daily-charges metric math; `total`: the
        /// month-to-date maximum.
        #[arg(long, value_enum, default_value_t = Kind::Daily)]
        kind: Kind,
        /// The alarm name.
        #[arg(long, default_value = "billing-alarm")]
        name: String,
        /// The topic to notify (name or ARN, in us-east-1).
        #[arg(long, default_value = "billing-alarm")]
        topic: String,
        /// The alarm description.
        #[arg(long, default_value = "")]
        description: String,
        /// Change nothing: show what would change, and which fields differ.
        #[arg(long)]
        dry_run: bool,
    },
    /// Apply the file used with `aws cloudwatch put-metric-alarm --cli-input-json`.
    ImportAlarm {
        /// The alarm_config.json file (`file://` prefix accepted).
        file: String,
    },
    /// Whether billing metrics arrive, and the console step that switches them on.
    BillingAlerts,
    /// Send a test notification to the SNS topic and every webhook.
    NotifyTest {
        /// The text to send.
        #[arg(long, default_value = "")]
        message: String,
    },
    /// Whether alerts to the topic arrive: its policy lets AWS Budgets and CloudWatch
    /// publish, its KMS key lets them use it, no subscription waits for confirmation.
    CheckDelivery {
        /// The topic's name or ARN.
        #[arg(long, default_value = "billing-alarm")]
        topic: String,
        /// Add the missing statements to the topic's access policy.
        #[arg(long)]
        fix: bool,
        /// Also add the missing statements to the policy of the topic's customer
        /// managed KMS key.
        #[arg(long)]
        fix_key_policy: bool,
        /// Subscriptions pending this many hours or more are findings (default: the
        /// service's setting, 24).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=8760))]
        pending_hours: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    Email,
    Sms,
    Https,
    Sqs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Daily,
    Total,
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("'{text}' is not KEY=VALUE"))
}

fn change_name(change: i32) -> &'static str {
    match pb::AlertingChange::try_from(change) {
        Ok(pb::AlertingChange::Created) => "created",
        Ok(pb::AlertingChange::Updated) => "updated",
        Ok(pb::AlertingChange::Unchanged) => "unchanged",
        _ => "unknown",
    }
}

fn protocol_name(protocol: i32) -> &'static str {
    match pb::AlertingProtocol::try_from(protocol) {
        Ok(pb::AlertingProtocol::Email) => "email",
        Ok(pb::AlertingProtocol::Sms) => "sms",
        Ok(pb::AlertingProtocol::Https) => "https",
        Ok(pb::AlertingProtocol::Sqs) => "sqs",
        _ => "unknown",
    }
}

fn status_name(status: i32) -> &'static str {
    match pb::SubscriptionStatus::try_from(status) {
        Ok(pb::SubscriptionStatus::PendingConfirmation) => "pending confirmation",
        Ok(pb::SubscriptionStatus::Confirmed) => "confirmed",
        _ => "unknown",
    }
}

fn severity_name(severity: i32) -> &'static str {
    match pb::AlertDeliverySeverity::try_from(severity) {
        Ok(pb::AlertDeliverySeverity::High) => "high",
        Ok(pb::AlertDeliverySeverity::Medium) => "medium",
        _ => "unknown",
    }
}

fn subscription_json(s: &pb::AlertingSubscription) -> serde_json::Value {
    json!({
        "topic_arn": s.topic_arn,
        "protocol": protocol_name(s.protocol),
        "endpoint": s.endpoint,
        "subscription_arn": s.subscription_arn,
        "status": status_name(s.status),
    })
}

pub async fn run(
    command: AlertingCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.alerting().await?;
    match command {
        AlertingCommand::Topic { name, tags } => {
            let r = client
                .ensure_topic(pb::EnsureTopicRequest {
                    name,
                    tags: tags
                        .into_iter()
                        .map(|(key, value)| pb::AlertingTag { key, value })
                        .collect(),
                })
                .await?
                .into_inner();
            let change = change_name(r.change);
            match output {
                OutputFormat::Json => {
                    print_json(&json!({"topic_arn": r.topic_arn, "change": change}))
                }
                OutputFormat::Table => {
                    print_table(&["TOPIC", "CHANGE"], &[vec![r.topic_arn, change.into()]])
                }
            }
        }
        AlertingCommand::Subscribe {
            protocol,
            endpoint,
            topic,
        } => {
            let protocol = match protocol {
                Protocol::Email => pb::AlertingProtocol::Email,
                Protocol::Sms => pb::AlertingProtocol::Sms,
                Protocol::Https => pb::AlertingProtocol::Https,
                Protocol::Sqs => pb::AlertingProtocol::Sqs,
            };
            let r = client
                .ensure_subscription(pb::EnsureSubscriptionRequest {
                    topic,
                    protocol: protocol as i32,
                    endpoint,
                })
                .await?
                .into_inner();
            let s = r.subscription.unwrap_or_default();
            let change = change_name(r.change);
            match output {
                OutputFormat::Json => {
                    let mut value = subscription_json(&s);
                    value["change"] = json!(change);
                    print_json(&value);
                }
                OutputFormat::Table => {
                    print_table(
                        &["PROTOCOL", "ENDPOINT", "STATUS", "CHANGE"],
                        &[vec![
                            protocol_name(s.protocol).into(),
                            s.endpoint.clone(),
                            status_name(s.status).into(),
                            change.into(),
                        ]],
                    );
                    if s.status == pb::SubscriptionStatus::PendingConfirmation as i32 {
                        println!(
                            "The subscription is pending: its owner must confirm it (the link in the email AWS sent)."
                        );
                    }
                }
            }
        }
        AlertingCommand::Subscriptions { topic } => {
            let r = client
                .list_subscriptions(pb::ListAlertingSubscriptionsRequest { topic })
                .await?
                .into_inner();
            match output {
                OutputFormat::Json => print_json(&json!(
                    r.subscriptions
                        .iter()
                        .map(subscription_json)
                        .collect::<Vec<_>>()
                )),
                OutputFormat::Table => print_table(
                    &["PROTOCOL", "ENDPOINT", "STATUS", "SUBSCRIPTION"],
                    &r.subscriptions
                        .iter()
                        .map(|s| {
                            vec![
                                protocol_name(s.protocol).into(),
                                s.endpoint.clone(),
                                status_name(s.status).into(),
                                s.subscription_arn.clone(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        AlertingCommand::Alarm {
            threshold,
            kind,
            name,
            topic,
            description,
            dry_run,
        } => {
            let kind = match kind {
                Kind::Daily => pb::BillingAlarmKind::DailyCharges,
                Kind::Total => pb::BillingAlarmKind::Total,
            };
            let r = client
                .ensure_billing_alarm(pb::EnsureBillingAlarmRequest {
                    alarm_name: name,
                    kind: kind as i32,
                    threshold_usd: threshold,
                    topic,
                    description,
                    dry_run,
                })
                .await?
                .into_inner();
            print_alarm(&r, output);
        }
        AlertingCommand::ImportAlarm { file } => {
            let path = file.strip_prefix("file://").unwrap_or(&file);
            let json = std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("cannot read {path}: {e}")))?;
            let r = client
                .import_alarm_config_json(pb::ImportAlarmConfigJsonRequest { json })
                .await?
                .into_inner();
            print_alarm(&r, output);
        }
        AlertingCommand::BillingAlerts => {
            let r = client
                .describe_billing_alerts(pb::DescribeBillingAlertsRequest {})
                .await?
                .into_inner();
            match output {
                OutputFormat::Json => print_json(&json!({
                    "billing_metrics_arriving": r.billing_metrics_arriving,
                    "manual_step": r.manual_step,
                    "console_url": r.console_url,
                })),
                OutputFormat::Table => {
                    let state = if r.billing_metrics_arriving {
                        "Billing metrics are arriving in us-east-1."
                    } else {
                        "Billing metrics are not arriving yet."
                    };
                    println!("{state}\n\n{}\n{}", r.manual_step, r.console_url);
                }
            }
        }
        AlertingCommand::NotifyTest { message } => {
            let r = client
                .send_test_notification(pb::SendTestNotificationRequest { message })
                .await?
                .into_inner();
            match output {
                OutputFormat::Json => print_json(&json!(
                    r.deliveries
                        .iter()
                        .map(
                            |d| json!({"channel": d.channel, "destination": d.destination,
                                        "delivered": d.delivered, "queued": d.queued,
                                        "attempts": d.attempts, "error": d.error})
                        )
                        .collect::<Vec<_>>()
                )),
                OutputFormat::Table => print_table(
                    &["CHANNEL", "DESTINATION", "DELIVERED", "ATTEMPTS", "ERROR"],
                    &r.deliveries
                        .iter()
                        .map(|d| {
                            vec![
                                d.channel.clone(),
                                d.destination.clone(),
                                if d.queued {
                                    "queued".to_owned()
                                } else {
                                    d.delivered.to_string()
                                },
                                d.attempts.to_string(),
                                d.error.clone(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
            if r.deliveries.is_empty() {
                return Err(CliError::failed(
                    "no notification channel is configured (GROUNDWORK_ALERTING__NOTIFY_TOPIC, GROUNDWORK_ALERTING__WEBHOOKS)",
                ));
            }
            let failed = r.deliveries.iter().filter(|d| !d.delivered).count();
            if failed > 0 {
                return Err(CliError::failed(format!(
                    "{failed} of {} channels failed",
                    r.deliveries.len()
                )));
            }
        }
        AlertingCommand::CheckDelivery {
            topic,
            fix,
            fix_key_policy,
            pending_hours,
        } => {
            let r = client
                .check_alert_delivery(pb::CheckAlertDeliveryRequest {
                    topic,
                    fix,
                    fix_key_policy,
                    pending_confirmation_hours: pending_hours.unwrap_or(0),
                })
                .await?
                .into_inner();
            print_delivery(&r, output);
        }
    }
    Ok(())
}

fn print_delivery(r: &pb::CheckAlertDeliveryResponse, output: OutputFormat) {
    match output {
        OutputFormat::Json => print_json(&json!({
            "topic_arn": r.topic_arn,
            "findings": r.findings.iter().map(|f| json!({
                "id": f.id, "severity": severity_name(f.severity), "resource": f.resource,
                "message": f.message, "fix": f.fix, "fixed": f.fixed,
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Table => {
            if r.findings.is_empty() {
                println!("Alerts to {} can arrive: nothing found.", r.topic_arn);
                return;
            }
            print_table(
                &["FINDING", "SEVERITY", "RESOURCE", "FIXED"],
                &r.findings
                    .iter()
                    .map(|f| {
                        vec![
                            f.id.clone(),
                            severity_name(f.severity).into(),
                            f.resource.clone(),
                            if f.fixed { "yes" } else { "no" }.into(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
            for f in &r.findings {
                println!("\n{}: {}", f.id, f.message);
                if !f.fixed {
                    println!("  fix: {}", f.fix);
                }
            }
        }
    }
}

fn print_alarm(r: &pb::EnsureAlarmResponse, output: OutputFormat) {
    let change = change_name(r.change);
    match output {
        OutputFormat::Json => print_json(&json!({
            "alarm_name": r.alarm_name,
            "alarm_arn": r.alarm_arn,
            "change": change,
            "state_value": r.state_value,
            "differing": r.differing,
        })),
        OutputFormat::Table => print_table(
            &["ALARM", "STATE", "CHANGE", "DIFFERING"],
            &[vec![
                r.alarm_name.clone(),
                r.state_value.clone(),
                change.into(),
                r.differing.join(", "),
            ]],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_key_equals_value() {
        assert_eq!(parse_tag("team=ops"), Ok(("team".into(), "ops".into())));
        assert_eq!(parse_tag("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_tag("team").is_err());
    }
}
