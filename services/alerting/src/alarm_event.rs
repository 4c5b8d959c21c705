//! The `CloudWatch Alarm State Change` event, shaped exactly as CloudWatch sends it to
//! EventBridge: source `aws.cloudwatch`, the alarm ARN in `resources`, and a `detail`
//! with `alarmName`, `state` and `previousState` (`value`, `reason`, `reasonData`,
//! `timestamp`) and `configuration` (`description`, `metrics`); the type is
//! [`CloudWatchAlarmStateChange`] of the event catalog. Pure: built from what
//! DescribeAlarms reports and from the last observation.

use aws_sdk_cloudwatch::types::{MetricAlarm, MetricDataQuery, MetricStat};
use groundwork_events::catalog::{
    AlarmConfiguration, AlarmMetric, AlarmMetricQuery, AlarmMetricStat, AlarmStateDetail,
    CatalogEvent, CloudWatchAlarmStateChange,
};
use groundwork_events::envelope::{Event, Origin, Producer, validate_entry};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::Arn;

/// An alarm's state as the watcher records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmState {
    pub value: String,
    pub reason: String,
    #[serde(
        rename = "reasonData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reason_data: Option<String>,
    /// As CloudWatch writes it in events: `2019-10-02T17:04:40.985+0000`.
    pub timestamp: String,
}

impl AlarmState {
    /// The state DescribeAlarms reports.
    pub fn of(alarm: &MetricAlarm) -> Self {
        Self {
            value: alarm
                .state_value()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default(),
            reason: alarm.state_reason().unwrap_or_default().to_owned(),
            reason_data: alarm
                .state_reason_data()
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            timestamp: alarm
                .state_updated_timestamp()
                .map(format_timestamp)
                .unwrap_or_default(),
        }
    }

    fn to_detail(&self) -> AlarmStateDetail {
        AlarmStateDetail {
            value: self.value.clone(),
            reason: self.reason.clone(),
            reason_data: self.reason_data.clone(),
            timestamp: self.timestamp.clone(),
        }
    }

    fn time(&self) -> Option<OffsetDateTime> {
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
        );
        time::PrimitiveDateTime::parse(&self.timestamp, format)
            .ok()
            .map(|t| t.assume_utc())
    }
}

/// CloudWatch's event timestamp format, in UTC with milliseconds.
pub fn format_timestamp(t: &aws_smithy_types::DateTime) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t.secs()) * 1_000_000_000 + i128::from(t.subsec_nanos()),
    ) else {
        return String::new();
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn metric_stat_detail(stat: &MetricStat) -> AlarmMetricStat {
    let metric = stat.metric();
    AlarmMetricStat {
        metric: AlarmMetric {
            dimensions: metric
                .map(|m| m.dimensions())
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    (
                        d.name().unwrap_or_default().to_owned(),
                        d.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            name: metric
                .and_then(|m| m.metric_name())
                .unwrap_or_default()
                .to_owned(),
            namespace: metric
                .and_then(|m| m.namespace())
                .unwrap_or_default()
                .to_owned(),
        },
        period: stat.period().unwrap_or_default(),
        stat: stat.stat().unwrap_or_default().to_owned(),
        unit: stat.unit().map(|u| u.as_str().to_owned()),
    }
}

fn query_detail(q: &MetricDataQuery) -> AlarmMetricQuery {
    AlarmMetricQuery {
        expression: q.expression().map(str::to_owned),
        id: q.id().unwrap_or_default().to_owned(),
        label: q.label().map(str::to_owned),
        metric_stat: q.metric_stat().map(metric_stat_detail),
        period: q.period(),
        return_data: q.return_data().unwrap_or(true),
    }
}

/// `configuration`: the description and the metrics, a single-metric alarm shown as one
/// query (CloudWatch gives it a generated id, as here).
pub fn configuration(alarm: &MetricAlarm) -> AlarmConfiguration {
    let metrics: Vec<AlarmMetricQuery> = if alarm.metrics().is_empty() {
        let stat = alarm
            .statistic()
            .map(|s| s.as_str().to_owned())
            .or_else(|| alarm.extended_statistic().map(str::to_owned))
            .unwrap_or_default();
        let metric = aws_sdk_cloudwatch::types::Metric::builder()
            .set_namespace(alarm.namespace().map(str::to_owned))
            .set_metric_name(alarm.metric_name().map(str::to_owned))
            .set_dimensions(Some(alarm.dimensions().to_vec()))
            .build();
        let stat = MetricStat::builder()
            .metric(metric)
            .set_period(alarm.period())
            .stat(stat)
            .set_unit(alarm.unit().cloned())
            .build();
        vec![AlarmMetricQuery {
            expression: None,
            id: uuid::Uuid::new_v4().to_string(),
            label: None,
            metric_stat: Some(metric_stat_detail(&stat)),
            period: None,
            return_data: true,
        }]
    } else {
        alarm.metrics().iter().map(query_detail).collect()
    };
    AlarmConfiguration {
        description: alarm
            .alarm_description()
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        metrics,
    }
}

/// The event's `detail`.
pub fn detail(
    alarm: &MetricAlarm,
    previous: &AlarmState,
    state: &AlarmState,
) -> CloudWatchAlarmStateChange {
    CloudWatchAlarmStateChange {
        alarm_name: alarm.alarm_name().unwrap_or_default().to_owned(),
        state: state.to_detail(),
        previous_state: previous.to_detail(),
        configuration: configuration(alarm),
    }
}

/// The whole event, in the alarm's account and region, timed at the state change.
pub fn event(alarm: &MetricAlarm, previous: &AlarmState, state: &AlarmState) -> Option<Event> {
    let alarm_arn = alarm.alarm_arn()?;
    let arn = Arn::parse("AlarmArn", alarm_arn).ok()?;
    let mut entry = detail(alarm, previous, state)
        .entry(vec![alarm_arn.to_owned()])
        .ok()?;
    entry.time = state.time();
    let valid = validate_entry(&entry, Producer::TrustedInternal).ok()?;
    Some(valid.into_event(
        &Origin {
            account: arn.account,
            region: arn.region,
        },
        OffsetDateTime::now_utc(),
    ))
}

/// Whether an observation is a transition worth an event: only a change of the state
/// value (a repeated `SetAlarmState` to the same value is not), and only once a previous
/// state is known.
pub fn is_transition(previous: Option<&AlarmState>, now: &AlarmState) -> bool {
    previous.is_some_and(|p| p.value != now.value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::types::{Dimension, Metric, StateValue};
    use serde_json::json;

    fn math_alarm() -> MetricAlarm {
        MetricAlarm::builder()
            .alarm_name("billing-alarm")
            .alarm_arn("arn:aws:cloudwatch:us-east-1:123456789012:alarm:billing-alarm")
            .alarm_description("Daily estimated charges reached 10 USD")
            .state_value(StateValue::Alarm)
            .metrics(
                MetricDataQuery::builder()
                    .id("m1")
                    .metric_stat(
                        MetricStat::builder()
                            .metric(
                                Metric::builder()
                                    .namespace("AWS/Billing")
                                    .metric_name("EstimatedCharges")
                                    .dimensions(
                                        Dimension::builder().name("Currency").value("USD").build(),
                                    )
                                    .build(),
                            )
                            .period(86400)
                            .stat("Maximum")
                            .build(),
                    )
                    .return_data(false)
                    .build(),
            )
            .metrics(
                MetricDataQuery::builder()
                    .id("e1")
                    .expression("IF(RATE(m1)>0,RATE(m1)*86400,0)")
                    .label("DailyEstimatedCharges")
                    .return_data(true)
                    .build(),
            )
            .build()
    }

    #[test]
    fn the_event_has_aws_shape() {
        let previous = AlarmState {
            value: "OK".into(),
            reason: "Unchecked: Initial alarm creation".into(),
            reason_data: None,
            timestamp: "2024-05-01T10:00:00.000+0000".into(),
        };
        let state = AlarmState {
            value: "ALARM".into(),
            reason: "Threshold Crossed".into(),
            reason_data: Some("{\"version\":\"1.0\"}".into()),
            timestamp: "2024-05-01T12:34:56.789+0000".into(),
        };
        let event = event(&math_alarm(), &previous, &state).unwrap();
        let v = event.to_value();
        assert_eq!(v["source"], "aws.cloudwatch");
        assert_eq!(v["detail-type"], "CloudWatch Alarm State Change");
        assert_eq!(v["account"], "123456789012");
        assert_eq!(v["region"], "us-east-1");
        assert_eq!(v["time"], "2024-05-01T12:34:56Z");
        assert_eq!(
            v["resources"],
            json!(["arn:aws:cloudwatch:us-east-1:123456789012:alarm:billing-alarm"])
        );
        assert_eq!(
            v["detail"],
            json!({
                "alarmName": "billing-alarm",
                "state": {
                    "value": "ALARM",
                    "reason": "Threshold Crossed",
                    "reasonData": "{\"version\":\"1.0\"}",
                    "timestamp": "2024-05-01T12:34:56.789+0000"
                },
                "previousState": {
                    "value": "OK",
                    "reason": "Unchecked: Initial alarm creation",
                    "timestamp": "2024-05-01T10:00:00.000+0000"
                },
                "configuration": {
                    "description": "Daily estimated charges reached 10 USD",
                    "metrics": [
                        {
                            "id": "m1",
                            "metricStat": {
                                "metric": {
                                    "dimensions": {"Currency": "USD"},
                                    "name": "EstimatedCharges",
                                    "namespace": "AWS/Billing"
                                },
                                "period": 86400,
                                "stat": "Maximum"
                            },
                            "returnData": false
                        },
                        {
                            "expression": "IF(RATE(m1)>0,RATE(m1)*86400,0)",
                            "id": "e1",
                            "label": "DailyEstimatedCharges",
                            "returnData": true
                        }
                    ]
                }
            })
        );
    }

    #[test]
    fn only_a_change_of_value_is_a_transition() {
        let s = |v: &str, t: &str| AlarmState {
            value: v.into(),
            reason: String::new(),
            reason_data: None,
            timestamp: t.into(),
        };
        assert!(!is_transition(None, &s("ALARM", "1")));
        assert!(!is_transition(Some(&s("ALARM", "1")), &s("ALARM", "2")));
        assert!(is_transition(Some(&s("OK", "1")), &s("ALARM", "2")));
    }

    #[test]
    fn timestamps_are_written_as_cloudwatch_writes_them() {
        let t = aws_smithy_types::DateTime::from_millis(1_570_035_880_985);
        assert_eq!(format_timestamp(&t), "2019-10-02T17:04:40.985+0000");
    }
}
