//! The account password policy (identity). Destroy removes it only when an apply of
//! Groundwork's created it; DestroySpec decides that from the apply runs.

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::PasswordPolicySpec;

use super::{Ctx, LiveCtx, Managed, Reads, failed, identity_outcome};
use crate::clients::Clients;
use crate::error::Error;
use crate::runner::StepResult;

impl Managed for PasswordPolicySpec {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        let req = pb::EnsurePasswordPolicyRequest {
            minimum_password_length: self.minimum_password_length,
            require_symbols: self.require_symbols,
            require_numbers: self.require_numbers,
            require_uppercase_characters: self.require_uppercase_characters,
            require_lowercase_characters: self.require_lowercase_characters,
            allow_users_to_change_password: self.allow_users_to_change_password,
            max_password_age: self.max_password_age,
            password_reuse_prevention: self.password_reuse_prevention,
            hard_expiry: self.hard_expiry,
        };
        match cx
            .clients
            .identity
            .clone()
            .ensure_password_policy(req)
            .await
        {
            Ok(resp) => {
                StepResult::done(identity_outcome(resp.get_ref().outcome()), BTreeMap::new())
            }
            Err(e) => failed("EnsurePasswordPolicy", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match clients
            .identity
            .clone()
            .delete_password_policy(pb::DeletePasswordPolicyRequest {})
            .await
        {
            Ok(resp) => {
                StepResult::done(identity_outcome(resp.get_ref().outcome()), BTreeMap::new())
            }
            Err(e) => failed("DeletePasswordPolicy", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, reads: &mut Reads) -> Result<Option<Self>, Error> {
        let audit = reads.audit(cx.clients).await?;
        Ok(audit.password_policy.as_ref().map(|p| Self {
            minimum_password_length: Some(p.minimum_password_length),
            require_symbols: Some(p.require_symbols),
            require_numbers: Some(p.require_numbers),
            require_uppercase_characters: Some(p.require_uppercase_characters),
            require_lowercase_characters: Some(p.require_lowercase_characters),
            allow_users_to_change_password: Some(p.allow_users_to_change_password),
            max_password_age: Some(p.max_password_age),
            password_reuse_prevention: Some(p.password_reuse_prevention),
            hard_expiry: Some(p.hard_expiry),
        }))
    }
}
