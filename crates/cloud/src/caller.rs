//! Who the credentials belong to, and the root guard.
//!
//! Groundwork refuses to change anything with the account's root credentials (caller ARN
//! `arn:aws:iam::<account>:root`), except the one bootstrap step that creates the admin
//! user, and only when the request asks for it explicitly.

use aws_config::SdkConfig;

use crate::error::AwsError;

/// The identity behind the configured credentials (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

impl CallerIdentity {
    /// Asks STS.
    pub async fn fetch(config: &SdkConfig) -> Result<Self, AwsError> {
        let sts = aws_sdk_sts::Client::new(config);
        let out = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetCallerIdentity", e))?;
        Ok(Self {
            account: out.account.unwrap_or_default(),
            arn: out.arn.unwrap_or_default(),
            user_id: out.user_id.unwrap_or_default(),
        })
    }

    /// Whether these are the account's root credentials.
    pub fn is_root(&self) -> bool {
        is_root_arn(&self.arn)
    }
}

/// `arn:<partition>:iam::<account>:root`.
pub fn is_root_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[5] == "root"
}

/// Whether a call may run with root credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootPolicy {
    /// Refuse root (every mutating call).
    Refuse,
    /// Allow root: only the explicit admin bootstrap.
    AllowBootstrap,
}

/// Refusal with the reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to run {operation} with the account's root credentials ({arn}): root should only \
     be used to create the first admin user. Use an IAM user's credentials, or, for that one \
     bootstrap step, call EnsureAdmin with allow_root_bootstrap set"
)]
pub struct RootRefused {
    pub operation: String,
    pub arn: String,
}

impl From<RootRefused> for groundwork_kit::Error {
    fn from(e: RootRefused) -> Self {
        groundwork_kit::Error::failed_precondition(e.to_string()).with_reason("ROOT_CREDENTIALS")
    }
}

/// The one root guard of every service: asks STS who the credentials belong to on every
/// mutating call (credentials can change under a running service: a refreshed profile, an
/// SSO session) and refuses the account's root credentials unless `policy` allows the
/// bootstrap. Runs before anything is changed.
#[derive(Debug, Clone)]
pub struct RootGuard {
    sts: SdkConfig,
}

impl RootGuard {
    pub fn new(sts: SdkConfig) -> Self {
        Self { sts }
    }

    /// Who the credentials belong to.
    pub async fn caller(&self) -> Result<CallerIdentity, groundwork_kit::Error> {
        Ok(CallerIdentity::fetch(&self.sts).await?)
    }

    /// The caller, if it may run `operation`.
    pub async fn check(
        &self,
        operation: &str,
        policy: RootPolicy,
    ) -> Result<CallerIdentity, groundwork_kit::Error> {
        let caller = self.caller().await?;
        caller.require(operation, policy)?;
        Ok(caller)
    }
}

impl CallerIdentity {
    /// The root guard for credentials already known: logs and refuses root unless `policy`
    /// allows the bootstrap.
    pub fn require(
        &self,
        operation: &str,
        policy: RootPolicy,
    ) -> Result<(), groundwork_kit::Error> {
        self.check(operation, policy).map_err(|refused| {
            tracing::warn!(operation, caller = %self.arn, "refused root credentials");
            groundwork_kit::Error::from(refused)
        })
    }

    /// Applies the root guard to `operation`.
    pub fn check(&self, operation: &str, policy: RootPolicy) -> Result<(), RootRefused> {
        if self.is_root() && policy == RootPolicy::Refuse {
            return Err(RootRefused {
                operation: operation.to_owned(),
                arn: self.arn.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn identity(arn: &str) -> CallerIdentity {
        CallerIdentity {
            account: "123456789012".into(),
            arn: arn.into(),
            user_id: "x".into(),
        }
    }

    #[test]
    fn root_is_recognised_by_its_arn() {
        assert!(is_root_arn("arn:aws:iam::123456789012:root"));
        assert!(is_root_arn("arn:aws-us-gov:iam::123456789012:root"));
        assert!(!is_root_arn("arn:aws:iam::123456789012:user/root"));
        assert!(!is_root_arn("arn:aws:sts::123456789012:assumed-role/r/s"));
    }

    #[test]
    fn the_guard_refuses_root_unless_bootstrapping() {
        let root = identity("arn:aws:iam::123456789012:root");
        let err = root.check("CreateUser", RootPolicy::Refuse).unwrap_err();
        assert!(err.to_string().contains("allow_root_bootstrap"));
        assert!(
            root.check("EnsureAdmin", RootPolicy::AllowBootstrap)
                .is_ok()
        );
        let user = identity("arn:aws:iam::123456789012:user/admin");
        assert!(user.check("CreateUser", RootPolicy::Refuse).is_ok());
    }
}
