//! CloudWatch: putting an alarm only when it differs from the request, and whether
//! billing metrics arrive. Always in us-east-1.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{AlarmType, MetricAlarm};
use groundwork_cloud::AwsError;

use crate::alarm_spec::{AlarmSpec, BILLING_METRIC, BILLING_NAMESPACE};
use crate::error::Error;
use crate::topic::Change;

/// The manual step that switches billing metrics on; no API does it.
pub const MANUAL_STEP: &str = "Billing metrics are only published once \"Receive CloudWatch billing alerts\" \
     is switched on, and only the console can do that: sign in as the root user (or an IAM user \
     allowed to see billing), open Billing and Cost Management > Billing preferences > Alert \
     preferences, tick \"Receive CloudWatch billing alerts\" and save. It cannot be switched off \
     again. The AWS/Billing EstimatedCharges metric then appears in us-east-1 within a few hours.";

pub const BILLING_PREFERENCES_URL: &str =
    "https://us-east-1.console.aws.amazon.com/billing/home#/preferences";

/// One metric alarm by name.
pub async fn describe(cw: &Client, name: &str) -> Result<Option<MetricAlarm>, Error> {
    let out = cw
        .describe_alarms()
        .alarm_names(name)
        .alarm_types(AlarmType::MetricAlarm)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeAlarms", e))?;
    Ok(out
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(name))
        .cloned())
}

/// What putting `spec` would do to the alarm in place (`existing`, from [`describe`]),
/// and the fields that differ.
pub fn compare(existing: Option<&MetricAlarm>, spec: &AlarmSpec) -> (Change, Vec<&'static str>) {
    let Some(found) = existing else {
        return (Change::Created, Vec::new());
    };
    // An alarm DescribeAlarms reports without a usable name is put again.
    let differing = AlarmSpec::from_described(found)
        .map_or_else(|| vec!["alarm_name"], |current| spec.differing(&current));
    if differing.is_empty() {
        (Change::Unchanged, differing)
    } else {
        (Change::Updated, differing)
    }
}

/// Deletes a metric alarm; its ARN, or `None` when there was no such alarm.
pub async fn delete(cw: &Client, name: &str) -> Result<Option<String>, Error> {
    let Some(found) = describe(cw, name).await? else {
        return Ok(None);
    };
    cw.delete_alarms()
        .alarm_names(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteAlarms", e))?;
    Ok(Some(found.alarm_arn().unwrap_or_default().to_owned()))
}

/// Every metric alarm of the account in us-east-1.
pub async fn describe_all(cw: &Client) -> Result<Vec<MetricAlarm>, Error> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = cw
            .describe_alarms()
            .alarm_types(AlarmType::MetricAlarm)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeAlarms", e))?;
        out.extend(page.metric_alarms().iter().cloned());
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Puts the alarm unless it is already as specified; adds the tags that are missing.
pub async fn ensure(
    cw: &Client,
    spec: &AlarmSpec,
    tags: &[(String, String)],
) -> Result<(MetricAlarm, Change), Error> {
    let existing = describe(cw, spec.name.as_str()).await?;
    let (change, _) = compare(existing.as_ref(), spec);
    if change != Change::Unchanged {
        spec.put_request(cw)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutMetricAlarm", e))?;
    }
    let alarm = describe(cw, spec.name.as_str()).await?.ok_or_else(|| {
        Error::unavailable(format!(
            "alarm {} was put but DescribeAlarms does not show it yet; try again",
            spec.name
        ))
    })?;
    let mut change = change;
    if !tags.is_empty()
        && let Some(arn) = alarm.alarm_arn()
    {
        let current = cw
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
        let missing: Vec<aws_sdk_cloudwatch::types::Tag> = tags
            .iter()
            .filter(|(k, v)| {
                !current
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(k.as_str()) && t.value() == Some(v.as_str()))
            })
            .map(|(k, v)| {
                aws_sdk_cloudwatch::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
            })
            .collect();
        if !missing.is_empty() {
            cw.tag_resource()
                .resource_arn(arn)
                .set_tags(Some(missing))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("TagResource", e))?;
            if change == Change::Unchanged {
                change = Change::Updated;
            }
        }
    }
    Ok((alarm, change))
}

/// Whether `AWS/Billing EstimatedCharges` exists (billing alerts are on and arriving).
pub async fn billing_metrics_arriving(cw: &Client) -> Result<bool, Error> {
    let out = cw
        .list_metrics()
        .namespace(BILLING_NAMESPACE)
        .metric_name(BILLING_METRIC)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListMetrics", e))?;
    Ok(!out.metrics().is_empty())
}
