//! Groundwork's "deny new spend" policy (identity), applied by budget actions.

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::resource::GuardrailPolicy;

use super::{Ctx, LiveCtx, Managed, Reads, failed, identity_outcome, outputs};
use crate::clients::Clients;
use crate::error::Error;
use crate::runner::StepResult;

impl Managed for GuardrailPolicy {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        match cx
            .clients
            .identity
            .clone()
            .ensure_guardrail_policy(pb::EnsureGuardrailPolicyRequest {})
            .await
        {
            Ok(resp) => {
                let resp = resp.into_inner();
                StepResult::done(
                    identity_outcome(resp.outcome()),
                    outputs([("policy_arn", resp.arn)]),
                )
            }
            Err(e) => failed("EnsureGuardrailPolicy", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match clients
            .identity
            .clone()
            .delete_guardrail_policy(pb::DeleteGuardrailPolicyRequest {})
            .await
        {
            Ok(resp) => {
                StepResult::done(identity_outcome(resp.get_ref().outcome()), BTreeMap::new())
            }
            Err(e) => failed("DeleteGuardrailPolicy", &e),
        }
    }

    /// In place when the policy exists; `current` says whether its document is ours.
    async fn read_live(&self, cx: LiveCtx<'_>, _reads: &mut Reads) -> Result<Option<Self>, Error> {
        let state = super::budgets_action_role::describe(cx.clients, Default::default()).await?;
        Ok(state.policy_exists.then(|| GuardrailPolicy {
            policy_name: self.policy_name.clone(),
            current: state.policy_current,
        }))
    }
}
