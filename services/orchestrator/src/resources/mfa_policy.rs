//! The policy that requires MFA, attached to the admin's group (identity).

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::resource::MfaPolicy;

use super::{Ctx, LiveCtx, Managed, Reads, failed, identity_outcome, outputs};
use crate::clients::Clients;
use crate::error::Error;
use crate::runner::StepResult;

impl Managed for MfaPolicy {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        let req = pb::EnsureMfaPolicyRequest {
            group_name: self.group.clone(),
            policy_name: self.policy_name.clone(),
        };
        match cx.clients.identity.clone().ensure_mfa_policy(req).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                StepResult::done(
                    identity_outcome(resp.outcome()),
                    outputs([("policy_arn", resp.policy_arn)]),
                )
            }
            Err(e) => failed("EnsureMfaPolicy", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match clients
            .identity
            .clone()
            .delete_mfa_policy(pb::DeleteMfaPolicyRequest {
                policy_name: self.policy_name.clone(),
            })
            .await
        {
            Ok(resp) => {
                StepResult::done(identity_outcome(resp.get_ref().outcome()), BTreeMap::new())
            }
            Err(e) => failed("DeleteMfaPolicy", &e),
        }
    }

    /// In place when a policy of that name is attached to the group.
    async fn read_live(&self, cx: LiveCtx<'_>, reads: &mut Reads) -> Result<Option<Self>, Error> {
        let suffix = format!("/{}", self.policy_name);
        let attached = reads
            .group_policies(cx.clients, &self.group)
            .await?
            .iter()
            .any(|arn| arn.contains(":policy/") && arn.ends_with(&suffix));
        Ok(attached.then(|| self.clone()))
    }
}
