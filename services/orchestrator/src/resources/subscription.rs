//! A subscription of the billing topic (alerting). Email and https subscriptions wait for
//! a person to confirm them; `Subscription Confirmed` finishes the waiting step.

use std::collections::BTreeMap;

use groundwork_events::catalog::{CatalogEvent, SubscriptionConfirmed};
use groundwork_proto::v1 as pb;
use groundwork_spec::resource::Subscription;
use serde_json::Value;

use super::{Ctx, LiveCtx, Managed, Reads, alerting_outcome, deletion, failed, outputs, protocol};
use crate::clients::{Clients, read_error};
use crate::error::Error;
use crate::runner::{StepOutcome, StepResult};

fn same_endpoint(this: &Subscription, s: &pb::AlertingSubscription) -> bool {
    s.protocol == protocol(this.protocol) as i32 && s.endpoint == this.endpoint
}

impl Managed for Subscription {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        let req = pb::EnsureSubscriptionRequest {
            topic: self.topic.clone(),
            protocol: protocol(self.protocol) as i32,
            endpoint: self.endpoint.clone(),
        };
        match cx.clients.alerting.clone().ensure_subscription(req).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                let outcome = alerting_outcome(resp.change());
                let sub = resp.subscription.unwrap_or_default();
                let confirmed = sub.status() == pb::SubscriptionStatus::Confirmed;
                let out = outputs([
                    ("subscription_arn", sub.subscription_arn),
                    ("topic_arn", sub.topic_arn),
                ]);
                if confirmed || !self.confirmed {
                    StepResult::done(outcome, out)
                } else {
                    StepResult {
                        outcome: StepOutcome::NeedPerson {
                            instructions: vec![format!(
                                "Confirm the subscription: open the message AWS Notifications sent to {} and follow its \"Confirm subscription\" link. The run resumes on `Subscription Confirmed`.",
                                self.endpoint
                            )],
                            outputs: out,
                        },
                        secrets: Vec::new(),
                    }
                }
            }
            Err(e) => failed("EnsureSubscription", &e),
        }
    }

    /// A pending subscription cannot be unsubscribed; the topic's deletion, which comes
    /// next, removes it.
    async fn destroy(&self, clients: &Clients) -> StepResult {
        match clients
            .alerting
            .clone()
            .delete_subscription(pb::DeleteSubscriptionRequest {
                topic: self.topic.clone(),
                protocol: protocol(self.protocol) as i32,
                endpoint: self.endpoint.clone(),
            })
            .await
        {
            Ok(resp) => StepResult::done(deletion(resp.get_ref().deletion()), BTreeMap::new()),
            Err(e) => failed("DeleteSubscription", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, reads: &mut Reads) -> Result<Option<Self>, Error> {
        let Some(subs) = reads.subscriptions(cx.clients, &self.topic).await? else {
            return Ok(None);
        };
        Ok(subs.iter().find(|s| same_endpoint(self, s)).map(|s| Self {
            confirmed: s.status() == pb::SubscriptionStatus::Confirmed,
            ..self.clone()
        }))
    }

    async fn is_done(&self, cx: Ctx<'_>) -> Result<bool, Error> {
        let resp = cx
            .clients
            .alerting
            .clone()
            .list_subscriptions(pb::ListAlertingSubscriptionsRequest {
                topic: self.topic.clone(),
            })
            .await
            .map_err(|e| read_error("ListSubscriptions", &e))?;
        Ok(resp
            .get_ref()
            .subscriptions
            .iter()
            .any(|s| same_endpoint(self, s) && s.status() == pb::SubscriptionStatus::Confirmed))
    }

    /// `Subscription Confirmed` (groundwork.alerting) for this endpoint, protocol and topic.
    fn finished_by(&self, event: &Value) -> bool {
        let Some(Ok(confirmed)) = SubscriptionConfirmed::decode(event) else {
            return false;
        };
        confirmed.endpoint == self.endpoint
            && confirmed.protocol.to_ascii_lowercase() == self.protocol.as_str()
            && confirmed.topic_arn.rsplit(':').next() == Some(self.topic.as_str())
    }
}
