//! A CloudWatch billing alarm notifying the topic (alerting). Its live state comes from
//! EnsureBillingAlarm's dry run: which fields differ, and the alarm in place.

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::AlarmKind;
use groundwork_spec::resource::BillingAlarm;

use super::{
    Ctx, LiveCtx, Managed, Reads, alerting_outcome, arn_name, deletion, failed, outputs, usd_text,
};
use crate::clients::{Clients, read_error};
use crate::error::Error;
use crate::runner::StepResult;

fn request(this: &BillingAlarm, dry_run: bool) -> pb::EnsureBillingAlarmRequest {
    let kind = match this.kind {
        AlarmKind::DailyCharges => pb::BillingAlarmKind::DailyCharges,
        AlarmKind::Total => pb::BillingAlarmKind::Total,
    };
    pb::EnsureBillingAlarmRequest {
        alarm_name: this.alarm_name.clone(),
        kind: kind as i32,
        threshold_usd: this.threshold_usd.parse().unwrap_or_default(),
        topic: this.topic.clone(),
        description: this.description.clone(),
        dry_run,
    }
}

/// The alarm in place, under this spec's fields: those the dry run found differing
/// take the values in place, the others are as asked.
fn in_place(
    this: &BillingAlarm,
    differing: &[String],
    found: &pb::BillingAlarmInPlace,
) -> BillingAlarm {
    let mut live = this.clone();
    for field in differing {
        match field.as_str() {
            "threshold" => {
                live.threshold_usd = found.threshold_usd.map(usd_text).unwrap_or_default();
            }
            "description" => live.description = found.description.clone(),
            "alarm_actions" | "ok_actions" | "insufficient_data_actions" | "actions_enabled" => {
                live.topic = found
                    .alarm_actions
                    .first()
                    .map(|arn| arn_name(arn).to_owned())
                    .unwrap_or_default();
            }
            // The name is what the alarm was found by.
            "alarm_name" => {}
            // The metric, its statistic, period or comparison: what the kind sets.
            _ => {
                live.kind = if found.metric_math {
                    AlarmKind::DailyCharges
                } else {
                    AlarmKind::Total
                };
            }
        }
    }
    live
}

impl Managed for BillingAlarm {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        match cx
            .clients
            .alerting
            .clone()
            .ensure_billing_alarm(request(self, false))
            .await
        {
            Ok(resp) => {
                let resp = resp.into_inner();
                StepResult::done(
                    alerting_outcome(resp.change()),
                    outputs([("alarm_arn", resp.alarm_arn), ("state", resp.state_value)]),
                )
            }
            Err(e) => failed("EnsureBillingAlarm", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match clients
            .alerting
            .clone()
            .delete_billing_alarm(pb::DeleteBillingAlarmRequest {
                alarm_name: self.alarm_name.clone(),
            })
            .await
        {
            Ok(resp) => StepResult::done(deletion(resp.get_ref().deletion()), BTreeMap::new()),
            Err(e) => failed("DeleteBillingAlarm", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, reads: &mut Reads) -> Result<Option<Self>, Error> {
        // No topic, no alarm that notifies it.
        if reads
            .subscriptions(cx.clients, &self.topic)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let planned = cx
            .clients
            .alerting
            .clone()
            .ensure_billing_alarm(request(self, true))
            .await
            .map_err(|e| read_error("alerting EnsureBillingAlarm (dry run)", &e))?
            .into_inner();
        Ok(match (planned.change(), &planned.in_place) {
            (pb::AlertingChange::Created, _) => None,
            (pb::AlertingChange::Updated, Some(found)) => {
                Some(in_place(self, &planned.differing, found))
            }
            _ => Some(self.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm() -> BillingAlarm {
        BillingAlarm {
            alarm_name: "billing-alarm".into(),
            kind: AlarmKind::Total,
            threshold_usd: "20".into(),
            topic: "billing-alarm".into(),
            description: "over 20".into(),
        }
    }

    #[test]
    fn differing_fields_take_the_values_in_place() {
        let found = pb::BillingAlarmInPlace {
            threshold_usd: Some(500.0),
            description: "by hand".into(),
            alarm_actions: vec!["arn:aws:sns:us-east-1:123456789012:other".into()],
            metric_math: true,
        };
        let live = in_place(&alarm(), &["threshold".into()], &found);
        assert_eq!(
            live,
            BillingAlarm {
                threshold_usd: "500".into(),
                ..alarm()
            }
        );
        let live = in_place(
            &alarm(),
            &[
                "alarm_actions".into(),
                "description".into(),
                "metric".into(),
            ],
            &found,
        );
        assert_eq!(live.topic, "other");
        assert_eq!(live.description, "by hand");
        assert_eq!(live.kind, AlarmKind::DailyCharges);
        assert_eq!(live.threshold_usd, "20");
    }
}
