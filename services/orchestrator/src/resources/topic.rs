//! The billing topic (alerting, SNS in us-east-1).

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::resource::Topic;

use super::{Ctx, LiveCtx, Managed, Reads, alerting_outcome, deletion, failed, outputs};
use crate::clients::Clients;
use crate::error::Error;
use crate::runner::StepResult;

/// Makes sure AWS Budgets and CloudWatch alarms can publish to the topic (its access
/// policy is fixed, as budget fixes it) and notes what else keeps alerts from arriving
/// (a KMS key they may not use is the key owner's to change). Whether anything was
/// fixed, and the notes; a failed check is a note, not a failed step.
async fn delivery(clients: &Clients, topic_arn: &str) -> (bool, String) {
    let req = pb::CheckAlertDeliveryRequest {
        topic: topic_arn.to_owned(),
        fix: true,
        fix_key_policy: false,
        pending_confirmation_hours: 0,
    };
    match clients.alerting.clone().check_alert_delivery(req).await {
        Ok(resp) => {
            let findings = resp.into_inner().findings;
            let fixed = findings.iter().any(|f| f.fixed);
            let notes = findings
                .iter()
                .map(|f| {
                    if f.fixed {
                        format!("fixed: {}", f.message)
                    } else {
                        format!("{} Fix: {}", f.message, f.fix)
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            (fixed, notes)
        }
        Err(e) => (
            false,
            format!(
                "alert delivery not checked: {} ({:?})",
                e.message(),
                e.code()
            ),
        ),
    }
}

impl Managed for Topic {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        let req = pb::EnsureTopicRequest {
            name: self.name.clone(),
            tags: vec![],
        };
        match cx.clients.alerting.clone().ensure_topic(req).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                let (fixed, notes) = delivery(cx.clients, &resp.topic_arn).await;
                let outcome = match resp.change() {
                    pb::AlertingChange::Unchanged if fixed => "updated",
                    change => alerting_outcome(change),
                };
                StepResult::done(
                    outcome,
                    outputs([("topic_arn", resp.topic_arn), ("delivery_notes", notes)]),
                )
            }
            Err(e) => failed("EnsureTopic", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match clients
            .alerting
            .clone()
            .delete_topic(pb::DeleteTopicRequest {
                topic: self.name.clone(),
            })
            .await
        {
            Ok(resp) => StepResult::done(deletion(resp.get_ref().deletion()), BTreeMap::new()),
            Err(e) => failed("DeleteTopic", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, reads: &mut Reads) -> Result<Option<Self>, Error> {
        let exists = reads.subscriptions(cx.clients, &self.name).await?.is_some();
        Ok(exists.then(|| self.clone()))
    }
}
