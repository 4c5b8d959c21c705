//! `alarm_config.json`: the file people pass to
//! `aws cloudwatch put-metric-alarm --cli-input-json file://alarm_config.json`, read and
//! validated into an [`AlarmSpec`]. Both forms are accepted: one metric
//! (`Namespace`/`MetricName`/`Statistic`/`Period`) or metric math (`Metrics`). Every
//! error names its JSON path (`$.Metrics[1].Expression`), and unknown fields are errors,
//! as they are for the AWS CLI.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::alarm_spec::{AlarmMetric, AlarmSpec, MetricId, Query, QueryStat};
use crate::error::Error;
use crate::model::{AlarmName, Arn, TopicArn};

/// An imported alarm: the alarm and the tags to put on it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedAlarm {
    pub spec: AlarmSpec,
    pub tags: Vec<(String, String)>,
}

const TOP_FIELDS: &[&str] = &[
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "Tags",
    "ThresholdMetricId",
];

const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

const COMPARISONS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];

const MISSING_DATA: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];

const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A JSON object being read, with its path for errors.
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn new(path: impl Into<String>, value: &'a Value) -> Result<Self, Error> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Self { path, map }),
            other => Err(Error::invalid(
                path,
                format!("expected an object, found {}", kind(other)),
            )),
        }
    }

    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn only(&self, allowed: &[&str]) -> Result<(), Error> {
        for key in self.map.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(Error::invalid(
                    self.at(key),
                    format!("unknown field; expected one of {}", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn str(&self, key: &str) -> Result<Option<&'a str>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Error::invalid(
                self.at(key),
                format!("expected a string, found {}", kind(other)),
            )),
        }
    }

    fn required_str(&self, key: &str) -> Result<&'a str, Error> {
        match self.str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(Error::invalid(self.at(key), "is required")),
        }
    }

    fn one_of(&self, key: &str, allowed: &[&str]) -> Result<Option<&'a str>, Error> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) if allowed.contains(&s) => Ok(Some(s)),
            Some(s) => Err(Error::invalid(
                self.at(key),
                format!("'{s}' is not one of {}", allowed.join(", ")),
            )),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Error::invalid(
                self.at(key),
                format!("expected true or false, found {}", kind(other)),
            )),
        }
    }

    fn int(&self, key: &str) -> Result<Option<i32>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .map(Some)
                .ok_or_else(|| Error::invalid(self.at(key), format!("{n} is not a whole number"))),
            Some(other) => Err(Error::invalid(
                self.at(key),
                format!("expected a number, found {}", kind(other)),
            )),
        }
    }

    fn number(&self, key: &str) -> Result<Option<f64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| Error::invalid(self.at(key), format!("{n} is not a number"))),
            Some(other) => Err(Error::invalid(
                self.at(key),
                format!("expected a number, found {}", kind(other)),
            )),
        }
    }

    fn array(&self, key: &str) -> Result<&'a [Value], Error> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(Error::invalid(
                self.at(key),
                format!("expected an array, found {}", kind(other)),
            )),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, Error> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(Error::invalid(
                    format!("{}[{i}]", self.at(key)),
                    format!("expected a string, found {}", kind(other)),
                )),
            })
            .collect()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses and validates `alarm_config.json`.
pub fn parse_alarm_config(text: &str) -> Result<ImportedAlarm, Error> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Error::invalid(
            "$",
            format!(
                "not valid JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let top = Obj::new("$", &value)?;
    top.only(TOP_FIELDS)?;

    let name = AlarmName::parse(&top.at("AlarmName"), top.required_str("AlarmName")?)?;
    let description = top.str("AlarmDescription")?.map(str::to_owned);
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1024)
    {
        return Err(Error::invalid(
            top.at("AlarmDescription"),
            "at most 1024 characters",
        ));
    }

    let mut actions = Vec::new();
    for key in ["AlarmActions", "OKActions", "InsufficientDataActions"] {
        let list = top.strings(key)?;
        if list.len() > 5 {
            return Err(Error::invalid(top.at(key), "at most 5 actions"));
        }
        for (i, action) in list.iter().enumerate() {
            check_action(&format!("{}[{i}]", top.at(key)), action)?;
        }
        actions.push(list);
    }
    let [alarm_actions, ok_actions, insufficient_data_actions]: [Vec<String>; 3] =
        actions.try_into().unwrap_or_default();

    let evaluation_periods = top
        .int("EvaluationPeriods")?
        .ok_or_else(|| Error::invalid(top.at("EvaluationPeriods"), "is required"))?;
    if evaluation_periods < 1 {
        return Err(Error::invalid(
            top.at("EvaluationPeriods"),
            "must be at least 1",
        ));
    }
    let datapoints_to_alarm = top.int("DatapointsToAlarm")?;
    if let Some(d) = datapoints_to_alarm
        && !(1..=evaluation_periods).contains(&d)
    {
        return Err(Error::invalid(
            top.at("DatapointsToAlarm"),
            format!("must be between 1 and EvaluationPeriods ({evaluation_periods})"),
        ));
    }
    let comparison_operator = top
        .one_of("ComparisonOperator", COMPARISONS)?
        .ok_or_else(|| Error::invalid(top.at("ComparisonOperator"), "is required"))?;
    let treat_missing_data = top
        .one_of("TreatMissingData", MISSING_DATA)?
        .unwrap_or("missing");
    let evaluate_low = top.one_of("EvaluateLowSampleCountPercentile", &["evaluate", "ignore"])?;
    let threshold_metric_id = top.str("ThresholdMetricId")?.map(str::to_owned);
    let threshold = top.number("Threshold")?;
    match (threshold, &threshold_metric_id) {
        (None, None) => {
            return Err(Error::invalid(
                top.at("Threshold"),
                "is required (or ThresholdMetricId for an anomaly detection band)",
            ));
        }
        (Some(t), _) if t < 0.0 => {
            return Err(Error::invalid(
                top.at("Threshold"),
                format!("{t} is negative: a billing threshold is an amount in USD, 0 or more"),
            ));
        }
        _ => {}
    }

    let single_fields = [
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Dimensions",
        "Period",
        "Unit",
    ];
    let metrics = top.array("Metrics")?;
    let metric = if top.get("Metrics").is_some() {
        if let Some(field) = single_fields.iter().find(|f| top.get(f).is_some()) {
            return Err(Error::invalid(
                top.at(field),
                "cannot be combined with Metrics: use either the single-metric fields or Metrics",
            ));
        }
        AlarmMetric::Math(parse_queries(&top.at("Metrics"), metrics)?)
    } else {
        let namespace = top.required_str("Namespace")?;
        let metric_name = top.required_str("MetricName")?;
        let dimensions = parse_dimensions(&top.at("Dimensions"), top.array("Dimensions")?)?;
        let (statistic, extended) = match (
            top.one_of("Statistic", STATISTICS)?,
            top.str("ExtendedStatistic")?,
        ) {
            (Some(s), None) => (s.to_owned(), false),
            (None, Some(e)) if !e.is_empty() => (e.to_owned(), true),
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    top.at("ExtendedStatistic"),
                    "give Statistic or ExtendedStatistic, not both",
                ));
            }
            _ => {
                return Err(Error::invalid(
                    top.at("Statistic"),
                    format!(
                        "is required (one of {}) unless ExtendedStatistic is given",
                        STATISTICS.join(", ")
                    ),
                ));
            }
        };
        let period = top
            .int("Period")?
            .ok_or_else(|| Error::invalid(top.at("Period"), "is required"))?;
        check_period(&top.at("Period"), period)?;
        AlarmMetric::Single {
            metric: MetricId {
                namespace: namespace.to_owned(),
                metric_name: metric_name.to_owned(),
                dimensions,
            },
            statistic,
            extended,
            period,
            unit: top.one_of("Unit", UNITS)?.map(str::to_owned),
        }
    };
    if let (Some(id), AlarmMetric::Math(queries)) = (&threshold_metric_id, &metric)
        && !queries.iter().any(|q| &q.id == id)
    {
        return Err(Error::invalid(
            top.at("ThresholdMetricId"),
            format!("'{id}' is not the Id of one of Metrics"),
        ));
    }

    let mut tags = Vec::new();
    for (i, tag) in top.array("Tags")?.iter().enumerate() {
        let tag = Obj::new(format!("{}[{i}]", top.at("Tags")), tag)?;
        tag.only(&["Key", "Value"])?;
        tags.push((
            tag.required_str("Key")?.to_owned(),
            tag.str("Value")?.unwrap_or_default().to_owned(),
        ));
    }

    let spec = AlarmSpec {
        name,
        description,
        actions_enabled: top.bool("ActionsEnabled")?.unwrap_or(true),
        alarm_actions,
        ok_actions,
        insufficient_data_actions,
        metric,
        evaluation_periods,
        datapoints_to_alarm,
        threshold,
        threshold_metric_id,
        comparison_operator: comparison_operator.to_owned(),
        treat_missing_data: treat_missing_data.to_owned(),
        evaluate_low_sample_count_percentile: evaluate_low.map(str::to_owned),
    }
    .normalised();
    Ok(ImportedAlarm { spec, tags })
}

/// Actions are ARNs; SNS topics must be in us-east-1, with the alarm.
fn check_action(path: &str, action: &str) -> Result<(), Error> {
    let arn = Arn::parse(path, action)?;
    if arn.service == "sns" {
        TopicArn::parse(path, action)?;
    }
    Ok(())
}

/// CloudWatch accepts 10, 20, 30 (high resolution) or a multiple of 60 seconds.
fn check_period(path: &str, period: i32) -> Result<(), Error> {
    if [10, 20, 30].contains(&period) || (period >= 60 && period % 60 == 0) {
        Ok(())
    } else {
        Err(Error::invalid(
            path,
            format!("{period} is not a period: 10, 20, 30 or a multiple of 60 seconds"),
        ))
    }
}

fn parse_dimensions(path: &str, items: &[Value]) -> Result<Vec<(String, String)>, Error> {
    if items.len() > 30 {
        return Err(Error::invalid(path, "at most 30 dimensions"));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let dim = Obj::new(format!("{path}[{i}]"), item)?;
        dim.only(&["Name", "Value"])?;
        out.push((
            dim.required_str("Name")?.to_owned(),
            dim.required_str("Value")?.to_owned(),
        ));
    }
    Ok(out)
}

fn is_query_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_queries(path: &str, items: &[Value]) -> Result<Vec<Query>, Error> {
    if items.is_empty() || items.len() > 10 {
        return Err(Error::invalid(path, "must hold 1 to 10 queries"));
    }
    let mut ids = BTreeSet::new();
    let mut queries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let q = Obj::new(format!("{path}[{i}]"), item)?;
        q.only(&[
            "Id",
            "MetricStat",
            "Expression",
            "Label",
            "ReturnData",
            "Period",
            "AccountId",
        ])?;
        let id = q.required_str("Id")?;
        if !is_query_id(id) || id.len() > 255 {
            return Err(Error::invalid(
                q.at("Id"),
                format!(
                    "'{id}' is not a query id: a lowercase letter, then letters, digits or '_'"
                ),
            ));
        }
        if !ids.insert(id.to_owned()) {
            return Err(Error::invalid(q.at("Id"), format!("'{id}' is used twice")));
        }
        let expression = q.str("Expression")?.filter(|e| !e.is_empty());
        let metric_stat = match q.get("MetricStat") {
            None => None,
            Some(v) => Some(parse_stat(&q.at("MetricStat"), v)?),
        };
        match (&metric_stat, expression) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    q.at("Expression"),
                    "a query has either MetricStat or Expression, not both",
                ));
            }
            (None, None) => {
                return Err(Error::invalid(
                    q.path.clone(),
                    "a query needs MetricStat or Expression",
                ));
            }
            _ => {}
        }
        if let Some(e) = expression {
            check_expression(&q.at("Expression"), e)?;
        }
        let period = q.int("Period")?;
        if let Some(p) = period {
            check_period(&q.at("Period"), p)?;
        }
        queries.push(Query {
            id: id.to_owned(),
            metric_stat,
            expression: expression.map(str::to_owned),
            label: q.str("Label")?.map(str::to_owned),
            return_data: q.bool("ReturnData")?.unwrap_or(true),
            period,
            account_id: q.str("AccountId")?.map(str::to_owned),
        });
    }
    let returning = queries.iter().filter(|q| q.return_data).count();
    if returning != 1 {
        return Err(Error::invalid(
            path,
            format!(
                "exactly one query must have ReturnData true (the one the alarm watches); {returning} do. \
                 Set \"ReturnData\": false on the others"
            ),
        ));
    }
    for (i, q) in queries.iter().enumerate() {
        if let Some(e) = &q.expression {
            // Function names are upper case, so a lower-case word must be a query id.
            for word in identifiers(e) {
                if is_query_id(&word) && !ids.contains(&word) {
                    return Err(Error::invalid(
                        format!("{path}[{i}].Expression"),
                        format!("'{word}' is not the Id of a query"),
                    ));
                }
            }
        }
    }
    Ok(queries)
}

/// The lowercase identifiers of an expression (query ids; function names are upper case).
fn identifiers(expression: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    for c in expression.chars() {
        if c == '"' || c == '\'' {
            in_string = !in_string;
        }
        if !in_string && (c.is_ascii_alphanumeric() || c == '_') {
            current.push(c);
        } else {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.retain(|w| w.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    out
}

/// Balanced parentheses and quotes; CloudWatch checks the rest when the alarm is put.
fn check_expression(path: &str, expression: &str) -> Result<(), Error> {
    if expression.len() > 2048 {
        return Err(Error::invalid(path, "at most 2048 characters"));
    }
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for c in expression.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth < 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    if depth != 0 || quote.is_some() {
        return Err(Error::invalid(
            path,
            format!("'{expression}' has unbalanced parentheses or quotes"),
        ));
    }
    Ok(())
}

fn parse_stat(path: &str, value: &Value) -> Result<QueryStat, Error> {
    let stat = Obj::new(path, value)?;
    stat.only(&["Metric", "Period", "Stat", "Unit"])?;
    let metric_value = stat
        .get("Metric")
        .ok_or_else(|| Error::invalid(stat.at("Metric"), "is required"))?;
    let metric = Obj::new(stat.at("Metric"), metric_value)?;
    metric.only(&["Namespace", "MetricName", "Dimensions"])?;
    let period = stat
        .int("Period")?
        .ok_or_else(|| Error::invalid(stat.at("Period"), "is required"))?;
    check_period(&stat.at("Period"), period)?;
    let stat_name = stat.required_str("Stat")?;
    let is_percentile = stat_name
        .strip_prefix('p')
        .is_some_and(|p| p.parse::<f64>().is_ok_and(|v| (0.0..=100.0).contains(&v)));
    if !STATISTICS.contains(&stat_name) && !is_percentile {
        return Err(Error::invalid(
            stat.at("Stat"),
            format!(
                "'{stat_name}' is not a statistic ({} or a percentile such as p99)",
                STATISTICS.join(", ")
            ),
        ));
    }
    Ok(QueryStat {
        metric: MetricId {
            namespace: metric.required_str("Namespace")?.to_owned(),
            metric_name: metric.required_str("MetricName")?.to_owned(),
            dimensions: parse_dimensions(&metric.at("Dimensions"), metric.array("Dimensions")?)?,
        },
        period,
        stat: stat_name.to_owned(),
        unit: stat.one_of("Unit", UNITS)?.map(str::to_owned),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::alarm_spec::{BillingAlarmKind, DAILY_CHARGES_EXPRESSION};
    use crate::model::ThresholdUsd;

    const EXAMPLE: &str = include_str!("../../../examples/alarm_config.json");

    fn field_of(text: &str) -> String {
        let e = parse_alarm_config(text).unwrap_err();
        match e.field() {
            Some(field) => field.to_owned(),
            None => format!("not an invalid argument: {e}"),
        }
    }

    #[test]
    fn the_example_file_is_the_daily_charges_billing_alarm() {
        let imported = parse_alarm_config(EXAMPLE).unwrap();
        let topic =
            TopicArn::parse("t", "arn:aws:sns:us-east-1:123456789012:billing-alarm").unwrap();
        let native = AlarmSpec::billing(
            imported.spec.name.clone(),
            BillingAlarmKind::DailyCharges,
            ThresholdUsd::parse("t", 10.0).unwrap(),
            &topic,
            imported.spec.description.clone(),
        );
        assert_eq!(imported.spec, native);
        let AlarmMetric::Math(q) = &imported.spec.metric else {
            unreachable!()
        };
        assert_eq!(q[1].expression.as_deref(), Some(DAILY_CHARGES_EXPRESSION));
    }

    #[test]
    fn errors_name_the_json_path() {
        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["Metrics"][1]["Expression"] = Value::String("IF(RATE(m1)>0,RATE(m2)*86400,0)".into());
        assert_eq!(field_of(&v.to_string()), "$.Metrics[1].Expression");

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["Metrics"][0]["MetricStat"]["Period"] = Value::from(100);
        assert_eq!(field_of(&v.to_string()), "$.Metrics[0].MetricStat.Period");

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["Threshold"] = Value::from(-5);
        assert_eq!(field_of(&v.to_string()), "$.Threshold");

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["AlarmActions"][0] =
            Value::String("arn:aws:sns:eu-west-1:123456789012:billing-alarm".into());
        let err = parse_alarm_config(&v.to_string()).unwrap_err().to_string();
        assert!(err.starts_with("$.AlarmActions[0]: "), "{err}");
        assert!(err.contains("Only us-east-1 is supported"), "{err}");

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["Metrics"][0]["ReturnData"] = Value::Bool(true);
        assert_eq!(field_of(&v.to_string()), "$.Metrics");

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["Metrics"][0]["MetricStat"]["Metric"]["Dimension"] = Value::Array(vec![]);
        assert_eq!(
            field_of(&v.to_string()),
            "$.Metrics[0].MetricStat.Metric.Dimension"
        );

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["EvaluationPeriods"] = Value::String("1".into());
        assert_eq!(field_of(&v.to_string()), "$.EvaluationPeriods");

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["Namespace"] = Value::String("AWS/Billing".into());
        assert_eq!(field_of(&v.to_string()), "$.Namespace");

        assert_eq!(field_of("{\"AlarmName\": "), "$");
        assert_eq!(field_of("[]"), "$");
    }

    #[test]
    fn the_single_metric_form_is_read_too() {
        let text = r#"{
            "AlarmName": "total", "Namespace": "AWS/Billing", "MetricName": "EstimatedCharges",
            "Dimensions": [{"Name": "Currency", "Value": "USD"}], "Statistic": "Maximum",
            "Period": 21600, "EvaluationPeriods": 1, "Threshold": 25,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:billing-alarm"],
            "Tags": [{"Key": "team", "Value": "ops"}]
        }"#;
        let imported = parse_alarm_config(text).unwrap();
        assert!(matches!(
            imported.spec.metric,
            AlarmMetric::Single { period: 21600, .. }
        ));
        assert_eq!(imported.tags, vec![("team".to_owned(), "ops".to_owned())]);
        assert_eq!(imported.spec.treat_missing_data, "missing");
    }
}
