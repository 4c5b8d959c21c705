//! What every operation works with: the IAM client, the shared SDK configuration (for
//! STS and the billing region), and the event emitter; plus the root guard.

use aws_config::SdkConfig;
use groundwork_cloud::{CallerIdentity, RootGuard, RootPolicy};

use crate::error::Error;
use crate::events::Events;

/// The identity service's dependencies, cheap to clone.
#[derive(Debug, Clone)]
pub struct Service {
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) sdk: SdkConfig,
    pub(crate) events: Events,
}

impl Service {
    pub fn new(sdk: SdkConfig, events: Events) -> Self {
        Self {
            iam: aws_sdk_iam::Client::new(&sdk),
            sdk,
            events,
        }
    }

    /// Who the credentials belong to, asked of STS on every call: credentials can change
    /// under a running service (a refreshed profile, an SSO session), and the answer
    /// decides whether a call may change the account.
    pub async fn caller(&self) -> Result<CallerIdentity, Error> {
        RootGuard::new(self.sdk.clone()).caller().await
    }

    /// The root guard of a mutating call: refuses the account's root credentials unless
    /// `policy` allows the bootstrap. Runs before anything is changed.
    pub async fn guard(
        &self,
        operation: &str,
        policy: RootPolicy,
    ) -> Result<CallerIdentity, Error> {
        RootGuard::new(self.sdk.clone())
            .check(operation, policy)
            .await
    }
}

/// The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`); `aws` when unreadable.
pub fn partition_of(arn: &str) -> &str {
    arn.split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_comes_from_the_caller_arn() {
        assert_eq!(
            partition_of("arn:aws-cn:iam::123456789012:user/a"),
            "aws-cn"
        );
        assert_eq!(partition_of("arn:aws:iam::123456789012:root"), "aws");
        assert_eq!(partition_of(""), "aws");
    }
}
