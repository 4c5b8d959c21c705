//! The billing topic (alerting, SNS in us-east-1).

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::resource::Topic;

use super::{Ctx, LiveCtx, Managed, Reads, alerting_outcome, deletion, failed, outputs};
use crate::clients::Clients;
use crate::error::Error;
use crate::runner::StepResult;

impl Managed for Topic {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        let req = pb::EnsureTopicRequest {
            name: self.name.clone(),
            tags: vec![],
        };
        match cx.clients.alerting.clone().ensure_topic(req).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                StepResult::done(
                    alerting_outcome(resp.change()),
                    outputs([("topic_arn", resp.topic_arn)]),
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
