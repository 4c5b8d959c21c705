//! [`AlarmSpec`]: a CloudWatch metric alarm as Groundwork wants it, in one normalised form
//! shared by the billing alarm, the imported `alarm_config.json` and what DescribeAlarms
//! reports, so that "is the alarm already as requested?" is a plain comparison.
//!
//! Normalisation: dimensions sorted by name, action lists sorted, an empty description
//! is none, a query's unset `ReturnData` is `true` (CloudWatch's default), an unset
//! `TreatMissingData` is `missing` (CloudWatch's default).

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, StandardUnit,
    Statistic,
};

use crate::model::{AlarmName, ThresholdUsd, TopicArn};

/// The namespace, metric and dimension of the billing metric.
pub const BILLING_NAMESPACE: &str = "AWS/Billing";
pub const BILLING_METRIC: &str = "EstimatedCharges";
/// The knowledge-center expression: the day's increase of the month-to-date charges.
pub const DAILY_CHARGES_EXPRESSION: &str = "IF(RATE(m1)>0,RATE(m1)*86400,0)";

/// A metric with its dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricId {
    pub namespace: String,
    pub metric_name: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
}

/// One query of a metric-math alarm (`Metrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub id: String,
    pub metric_stat: Option<QueryStat>,
    pub expression: Option<String>,
    pub label: Option<String>,
    pub return_data: bool,
    pub period: Option<i32>,
    pub account_id: Option<String>,
}

/// `MetricStat` of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryStat {
    pub metric: MetricId,
    pub period: i32,
    pub stat: String,
    pub unit: Option<String>,
}

/// What the alarm evaluates: one metric, or metric math.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmMetric {
    Single {
        metric: MetricId,
        /// `Statistic` (SampleCount, Average, Sum, Minimum, Maximum) or, with
        /// `extended`, an `ExtendedStatistic` such as p99.
        statistic: String,
        extended: bool,
        period: i32,
        unit: Option<String>,
    },
    Math(Vec<Query>),
}

/// A metric alarm, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    pub name: AlarmName,
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub metric: AlarmMetric,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: Option<i32>,
    pub threshold: Option<f64>,
    pub threshold_metric_id: Option<String>,
    pub comparison_operator: String,
    pub treat_missing_data: String,
    pub evaluate_low_sample_count_percentile: Option<String>,
}

/// Which billing alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingAlarmKind {
    /// Daily charges by metric math over 86,400 s, missing data breaching.
    DailyCharges,
    /// The month-to-date total, Maximum over 21,600 s.
    Total,
}

fn billing_metric() -> MetricId {
    MetricId {
        namespace: BILLING_NAMESPACE.into(),
        metric_name: BILLING_METRIC.into(),
        dimensions: vec![("Currency".into(), "USD".into())],
    }
}

impl AlarmSpec {
    /// The billing alarm of the given kind, notifying `topic` when in ALARM.
    pub fn billing(
        name: AlarmName,
        kind: BillingAlarmKind,
        threshold: ThresholdUsd,
        topic: &TopicArn,
        description: Option<String>,
    ) -> Self {
        let amount = threshold.value();
        let (metric, treat_missing_data, default_description) = match kind {
            BillingAlarmKind::DailyCharges => (
                AlarmMetric::Math(vec![
                    Query {
                        id: "m1".into(),
                        metric_stat: Some(QueryStat {
                            metric: billing_metric(),
                            period: 86_400,
                            stat: "Maximum".into(),
                            unit: None,
                        }),
                        expression: None,
                        label: None,
                        return_data: false,
                        period: None,
                        account_id: None,
                    },
                    Query {
                        id: "e1".into(),
                        metric_stat: None,
                        expression: Some(DAILY_CHARGES_EXPRESSION.into()),
                        label: Some("DailyEstimatedCharges".into()),
                        return_data: true,
                        period: None,
                        account_id: None,
                    },
                ]),
                "breaching",
                format!("Daily estimated charges reached {amount} USD"),
            ),
            BillingAlarmKind::Total => (
                AlarmMetric::Single {
                    metric: billing_metric(),
                    statistic: "Maximum".into(),
                    extended: false,
                    period: 21_600,
                    unit: None,
                },
                "missing",
                format!("Estimated charges this month reached {amount} USD"),
            ),
        };
        Self {
            name,
            description: Some(
                description
                    .filter(|d| !d.is_empty())
                    .unwrap_or(default_description),
            ),
            actions_enabled: true,
            alarm_actions: vec![topic.as_str().to_owned()],
            ok_actions: Vec::new(),
            insufficient_data_actions: Vec::new(),
            metric,
            evaluation_periods: 1,
            datapoints_to_alarm: Some(1),
            threshold: Some(amount),
            threshold_metric_id: None,
            comparison_operator: "GreaterThanOrEqualToThreshold".into(),
            treat_missing_data: treat_missing_data.into(),
            evaluate_low_sample_count_percentile: None,
        }
        .normalised()
    }

    /// Sorts what has no order, so that equal alarms compare equal.
    pub fn normalised(mut self) -> Self {
        let sort_dims = |m: &mut MetricId| m.dimensions.sort();
        match &mut self.metric {
            AlarmMetric::Single { metric, .. } => sort_dims(metric),
            AlarmMetric::Math(queries) => {
                for q in queries {
                    if let Some(s) = &mut q.metric_stat {
                        sort_dims(&mut s.metric);
                    }
                }
            }
        }
        self.alarm_actions.sort();
        self.ok_actions.sort();
        self.insufficient_data_actions.sort();
        if self.description.as_deref() == Some("") {
            self.description = None;
        }
        self
    }

    /// Every action ARN, for the region check.
    pub fn all_actions(&self) -> impl Iterator<Item = (&'static str, &String)> {
        self.alarm_actions
            .iter()
            .map(|a| ("AlarmActions", a))
            .chain(self.ok_actions.iter().map(|a| ("OKActions", a)))
            .chain(
                self.insufficient_data_actions
                    .iter()
                    .map(|a| ("InsufficientDataActions", a)),
            )
    }

    /// The names of the fields in which `current` (the alarm in place) differs from this
    /// spec, in declaration order; empty when they are equal.
    pub fn differing(&self, current: &AlarmSpec) -> Vec<&'static str> {
        // Destructured, so that a field added to the spec cannot be left out here.
        let AlarmSpec {
            name,
            description,
            actions_enabled,
            alarm_actions,
            ok_actions,
            insufficient_data_actions,
            metric,
            evaluation_periods,
            datapoints_to_alarm,
            threshold,
            threshold_metric_id,
            comparison_operator,
            treat_missing_data,
            evaluate_low_sample_count_percentile,
        } = self;
        [
            ("alarm_name", *name == current.name),
            ("description", *description == current.description),
            (
                "actions_enabled",
                *actions_enabled == current.actions_enabled,
            ),
            ("alarm_actions", *alarm_actions == current.alarm_actions),
            ("ok_actions", *ok_actions == current.ok_actions),
            (
                "insufficient_data_actions",
                *insufficient_data_actions == current.insufficient_data_actions,
            ),
            ("metric", *metric == current.metric),
            (
                "evaluation_periods",
                *evaluation_periods == current.evaluation_periods,
            ),
            (
                "datapoints_to_alarm",
                *datapoints_to_alarm == current.datapoints_to_alarm,
            ),
            ("threshold", *threshold == current.threshold),
            (
                "threshold_metric_id",
                *threshold_metric_id == current.threshold_metric_id,
            ),
            (
                "comparison_operator",
                *comparison_operator == current.comparison_operator,
            ),
            (
                "treat_missing_data",
                *treat_missing_data == current.treat_missing_data,
            ),
            (
                "evaluate_low_sample_count_percentile",
                *evaluate_low_sample_count_percentile
                    == current.evaluate_low_sample_count_percentile,
            ),
        ]
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(field, _)| field)
        .collect()
    }

    /// The alarm as DescribeAlarms reports it, normalised; `None` for a reported alarm
    /// without a name.
    pub fn from_described(alarm: &MetricAlarm) -> Option<Self> {
        let name = AlarmName::parse("AlarmName", alarm.alarm_name()?).ok()?;
        let metric = if alarm.metrics().is_empty() {
            let (statistic, extended) = match (alarm.statistic(), alarm.extended_statistic()) {
                (Some(s), _) => (s.as_str().to_owned(), false),
                (None, Some(e)) => (e.to_owned(), true),
                (None, None) => (String::new(), false),
            };
            AlarmMetric::Single {
                metric: MetricId {
                    namespace: alarm.namespace().unwrap_or_default().to_owned(),
                    metric_name: alarm.metric_name().unwrap_or_default().to_owned(),
                    dimensions: dims_from(alarm.dimensions()),
                },
                statistic,
                extended,
                period: alarm.period().unwrap_or_default(),
                unit: alarm.unit().map(|u| u.as_str().to_owned()),
            }
        } else {
            AlarmMetric::Math(alarm.metrics().iter().map(query_from).collect())
        };
        Some(
            Self {
                name,
                description: alarm.alarm_description().map(str::to_owned),
                actions_enabled: alarm.actions_enabled().unwrap_or(true),
                alarm_actions: alarm.alarm_actions().to_vec(),
                ok_actions: alarm.ok_actions().to_vec(),
                insufficient_data_actions: alarm.insufficient_data_actions().to_vec(),
                metric,
                evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
                datapoints_to_alarm: alarm.datapoints_to_alarm(),
                threshold: alarm.threshold(),
                threshold_metric_id: alarm.threshold_metric_id().map(str::to_owned),
                comparison_operator: alarm
                    .comparison_operator()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").to_owned(),
                evaluate_low_sample_count_percentile: alarm
                    .evaluate_low_sample_count_percentile()
                    .map(str::to_owned),
            }
            .normalised(),
        )
    }

    /// The PutMetricAlarm call for this alarm (tags are added by the caller).
    pub fn put_request(
        &self,
        client: &aws_sdk_cloudwatch::Client,
    ) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder
    {
        let mut put = client
            .put_metric_alarm()
            .alarm_name(self.name.as_str())
            .set_alarm_description(self.description.clone())
            .actions_enabled(self.actions_enabled)
            .set_alarm_actions(Some(self.alarm_actions.clone()))
            .set_ok_actions(Some(self.ok_actions.clone()))
            .set_insufficient_data_actions(Some(self.insufficient_data_actions.clone()))
            .evaluation_periods(self.evaluation_periods)
            .set_datapoints_to_alarm(self.datapoints_to_alarm)
            .set_threshold(self.threshold)
            .set_threshold_metric_id(self.threshold_metric_id.clone())
            .comparison_operator(ComparisonOperator::from(self.comparison_operator.as_str()))
            .treat_missing_data(&self.treat_missing_data)
            .set_evaluate_low_sample_count_percentile(
                self.evaluate_low_sample_count_percentile.clone(),
            );
        match &self.metric {
            AlarmMetric::Single {
                metric,
                statistic,
                extended,
                period,
                unit,
            } => {
                put = put
                    .namespace(&metric.namespace)
                    .metric_name(&metric.metric_name)
                    .set_dimensions(Some(dims_to(&metric.dimensions)))
                    .period(*period)
                    .set_unit(unit.as_deref().map(StandardUnit::from));
                put = if *extended {
                    put.extended_statistic(statistic)
                } else {
                    put.statistic(Statistic::from(statistic.as_str()))
                };
            }
            AlarmMetric::Math(queries) => {
                put = put.set_metrics(Some(queries.iter().map(query_to).collect()));
            }
        }
        put
    }
}

fn dims_from(dims: &[Dimension]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = dims
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_owned(),
                d.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn dims_to(dims: &[(String, String)]) -> Vec<Dimension> {
    dims.iter()
        .map(|(n, v)| Dimension::builder().name(n).value(v).build())
        .collect()
}

fn query_from(q: &MetricDataQuery) -> Query {
    Query {
        id: q.id().unwrap_or_default().to_owned(),
        metric_stat: q.metric_stat().map(|s| QueryStat {
            metric: MetricId {
                namespace: s
                    .metric()
                    .and_then(|m| m.namespace())
                    .unwrap_or_default()
                    .to_owned(),
                metric_name: s
                    .metric()
                    .and_then(|m| m.metric_name())
                    .unwrap_or_default()
                    .to_owned(),
                dimensions: dims_from(s.metric().map(|m| m.dimensions()).unwrap_or_default()),
            },
            period: s.period().unwrap_or_default(),
            stat: s.stat().unwrap_or_default().to_owned(),
            unit: s.unit().map(|u| u.as_str().to_owned()),
        }),
        expression: q.expression().map(str::to_owned),
        label: q.label().map(str::to_owned),
        return_data: q.return_data().unwrap_or(true),
        period: q.period(),
        account_id: q.account_id().map(str::to_owned),
    }
}

fn query_to(q: &Query) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(&q.id)
        .set_metric_stat(q.metric_stat.as_ref().map(|s| {
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(&s.metric.namespace)
                        .metric_name(&s.metric.metric_name)
                        .set_dimensions(Some(dims_to(&s.metric.dimensions)))
                        .build(),
                )
                .period(s.period)
                .stat(&s.stat)
                .set_unit(s.unit.as_deref().map(StandardUnit::from))
                .build()
        }))
        .set_expression(q.expression.clone())
        .set_label(q.label.clone())
        .return_data(q.return_data)
        .set_period(q.period)
        .set_account_id(q.account_id.clone())
        .build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn differing_names_exactly_the_fields_that_differ() {
        let topic =
            TopicArn::parse("t", "arn:aws:sns:us-east-1:123456789012:billing-alarm").unwrap();
        let other = TopicArn::parse("t", "arn:aws:sns:us-east-1:123456789012:elsewhere").unwrap();
        let spec = |kind, usd, topic: &TopicArn, description: Option<&str>| {
            AlarmSpec::billing(
                AlarmName::parse("n", "billing-alarm").unwrap(),
                kind,
                ThresholdUsd::parse("t", usd).unwrap(),
                topic,
                description.map(str::to_owned),
            )
        };
        let wanted = spec(BillingAlarmKind::Total, 20.0, &topic, Some("over 20"));
        let cases: [(AlarmSpec, &[&str]); 4] = [
            (wanted.clone(), &[]),
            (
                spec(BillingAlarmKind::Total, 25.0, &topic, Some("over 20")),
                &["threshold"],
            ),
            (
                spec(BillingAlarmKind::Total, 20.0, &other, Some("over 20")),
                &["alarm_actions"],
            ),
            (
                spec(BillingAlarmKind::Total, 20.0, &topic, Some("changed")),
                &["description"],
            ),
        ];
        for (current, expected) in cases {
            let found = wanted.differing(&current);
            // Every field counts: no difference exactly when the specs are equal.
            assert_eq!(found.is_empty(), wanted == current, "{found:?}");
            assert_eq!(found, expected);
        }
        // The other kind is another metric shape (and what follows from it).
        let daily = spec(
            BillingAlarmKind::DailyCharges,
            20.0,
            &topic,
            Some("over 20"),
        );
        assert!(wanted.differing(&daily).contains(&"metric"));
    }

    #[test]
    fn the_daily_charges_alarm_is_the_knowledge_center_one() {
        let topic =
            TopicArn::parse("t", "arn:aws:sns:us-east-1:123456789012:billing-alarm").unwrap();
        let spec = AlarmSpec::billing(
            AlarmName::parse("n", "billing-alarm").unwrap(),
            BillingAlarmKind::DailyCharges,
            ThresholdUsd::parse("t", 10.0).unwrap(),
            &topic,
            None,
        );
        let AlarmMetric::Math(queries) = &spec.metric else {
            panic!("metric math expected")
        };
        assert_eq!(queries[0].metric_stat.as_ref().unwrap().period, 86_400);
        assert_eq!(queries[0].metric_stat.as_ref().unwrap().stat, "Maximum");
        assert!(!queries[0].return_data);
        assert_eq!(
            queries[1].expression.as_deref(),
            Some(DAILY_CHARGES_EXPRESSION)
        );
        assert!(queries[1].return_data);
        assert_eq!(spec.treat_missing_data, "breaching");
        assert_eq!(spec.threshold, Some(10.0));
        assert_eq!(spec.alarm_actions, vec![topic.as_str().to_owned()]);
    }
}
