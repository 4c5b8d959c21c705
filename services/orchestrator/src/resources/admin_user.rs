//! The admin user, its group and their managed policies (identity): the one step allowed
//! with root credentials, and the one whose secrets (initial password, access key) are
//! shown once.

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::resource::AdminUser;

use super::{
    Ctx, LiveCtx, Managed, Reads, describe_admin, failed, identity_outcome, outputs, secret,
};
use crate::clients::{Clients, read_error};
use crate::error::Error;
use crate::runner::StepResult;

impl Managed for AdminUser {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        let req = pb::EnsureAdminRequest {
            user_name: self.user_name.clone(),
            group_name: self.group.clone(),
            group_policy_arns: self.group_policies.clone(),
            user_policy_arns: self.user_policies.clone(),
            console_access: Some(self.console_access),
            programmatic_access: self.programmatic_access,
            allow_root_bootstrap: self.allow_root_bootstrap,
        };
        match cx.clients.identity.clone().ensure_admin(req).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                let mut result = StepResult::done(
                    identity_outcome(resp.outcome()),
                    outputs([
                        ("user_arn", resp.user_arn.clone()),
                        ("console_sign_in_url", resp.console_sign_in_url.clone()),
                        ("recommendations", resp.recommendations.join(" ")),
                    ]),
                );
                if !resp.initial_password.is_empty() {
                    result
                        .secrets
                        .push(secret(cx.id(), "initial_password", resp.initial_password));
                }
                if let Some(key) = resp.access_key {
                    result.secrets.push(secret(
                        cx.id(),
                        "secret_access_key",
                        format!("{} {}", key.access_key_id, key.secret_access_key),
                    ));
                }
                result
            }
            Err(e) => failed("EnsureAdmin", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match clients
            .identity
            .clone()
            .delete_admin(pb::DeleteAdminRequest {
                user_name: self.user_name.clone(),
                group_name: self.group.clone(),
            })
            .await
        {
            Ok(resp) => {
                StepResult::done(identity_outcome(resp.get_ref().outcome()), BTreeMap::new())
            }
            Err(e) => failed("DeleteAdmin", &e),
        }
    }

    /// Policy lists hold the spec's policies that are attached (others on the group, such
    /// as the MFA policy, are not this resource's); fields that only ever add (an access
    /// key) or that are a choice of the run (`allow_root_bootstrap`) are as asked when
    /// satisfied.
    async fn read_live(&self, cx: LiveCtx<'_>, reads: &mut Reads) -> Result<Option<Self>, Error> {
        let state = describe_admin(cx.clients, &self.user_name, &self.group)
            .await
            .map_err(|e| read_error("identity DescribeAdmin", &e))?;
        reads.saw_group(&self.group, state.group_policy_arns.clone());
        if !state.user_exists {
            return Ok(None);
        }
        let attached = |wanted: &[String], arns: &[String]| -> Vec<String> {
            wanted
                .iter()
                .filter(|p| arns.contains(p))
                .cloned()
                .collect()
        };
        Ok(Some(Self {
            user_name: self.user_name.clone(),
            group: if state.in_group {
                self.group.clone()
            } else {
                String::new()
            },
            group_policies: attached(&self.group_policies, &state.group_policy_arns),
            user_policies: attached(&self.user_policies, &state.user_policy_arns),
            console_access: state.console_access,
            programmatic_access: if self.programmatic_access {
                state.access_keys > 0
            } else {
                self.programmatic_access
            },
            allow_root_bootstrap: self.allow_root_bootstrap,
        }))
    }
}
