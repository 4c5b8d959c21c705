//! DescribeBillingAccess: IAM access to billing is switched on only in the console, by
//! root; no API does it. This says where and how, and checks whether it appears done by
//! making a billing read (Budgets DescribeBudgets, in us-east-1) with the service's
//! credentials: allowed means done, denied means not yet.

use groundwork_cloud::{AwsError, AwsErrorKind, config};

use crate::error::Error;
use crate::service::Service;

/// The console page holding the setting.
pub const CONSOLE_URL: &str = "https://console.aws.amazon.com/billing/home#/account";

/// The manual steps, in order.
pub const INSTRUCTIONS: &[&str] = &[
    "Sign in to the AWS console as the root user (only root can change this setting).",
    "Open the Account page of Billing and Cost Management: https://console.aws.amazon.com/billing/home#/account",
    "Scroll to \"IAM user and role access to Billing information\" and choose Edit.",
    "Select \"Activate IAM Access\" and choose Update.",
    "Sign out of root. Users with billing permissions (e.g. AdministratorAccess) can now open billing pages; run `groundwork identity billing-access` again to check.",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingState {
    AppearsDone,
    NotDone,
    Unknown,
}

/// What the check found.
#[derive(Debug, Clone)]
pub struct BillingAccess {
    pub state: BillingState,
    pub evidence: String,
}

/// What a billing read's result says about the setting.
pub fn judge(read: Result<(), AwsError>, caller_arn: &str) -> Result<BillingAccess, Error> {
    match read {
        Ok(()) => Ok(BillingAccess {
            state: BillingState::AppearsDone,
            evidence: format!("budgets:DescribeBudgets succeeded as {caller_arn}"),
        }),
        Err(e) => match e.kind {
            AwsErrorKind::AccessDenied => Ok(BillingAccess {
                state: BillingState::NotDone,
                evidence: format!("budgets:DescribeBudgets was denied as {caller_arn}: {e}"),
            }),
            // No budgets yet is still a successful read.
            AwsErrorKind::NotFound => Ok(BillingAccess {
                state: BillingState::AppearsDone,
                evidence: format!(
                    "budgets:DescribeBudgets answered as {caller_arn} (no budgets yet)"
                ),
            }),
            _ => Err(e.into()),
        },
    }
}

#[tracing::instrument(skip_all)]
pub async fn describe(service: &Service) -> Result<BillingAccess, Error> {
    let caller = service.caller().await?;
    if caller.is_root() {
        return Ok(BillingAccess {
            state: BillingState::Unknown,
            evidence: format!(
                "the credentials are root's ({}), which can always read billing; run this \
                 with the admin user's credentials to check",
                caller.arn
            ),
        });
    }
    let budgets = aws_sdk_budgets::Client::new(&config::billing(&service.sdk));
    let read = budgets
        .describe_budgets()
        .account_id(&caller.account)
        .max_results(1)
        .send()
        .await;
    let access = judge(
        read.map(|_| ())
            .map_err(|e| AwsError::from_sdk("DescribeBudgets", e)),
        &caller.arn,
    )?;
    tracing::info!(state = ?access.state, "billing access checked");
    Ok(access)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn failure(code: &str) -> AwsError {
        AwsError {
            operation: "DescribeBudgets",
            code: code.into(),
            message: "m".into(),
            kind: groundwork_cloud::error::kind_of_code(code),
        }
    }

    #[test]
    fn a_denied_read_means_not_done_and_an_outage_is_an_error() {
        let arn = "arn:aws:iam::123456789012:user/admin";
        assert_eq!(judge(Ok(()), arn).unwrap().state, BillingState::AppearsDone);
        let denied = judge(Err(failure("AccessDeniedException")), arn).unwrap();
        assert_eq!(denied.state, BillingState::NotDone);
        assert!(denied.evidence.contains(arn));
        assert_eq!(
            judge(Err(failure("NotFoundException")), arn).unwrap().state,
            BillingState::AppearsDone
        );
        assert!(matches!(
            judge(Err(failure("ThrottlingException")), arn),
            Err(e) if e.kind() == crate::error::ErrorKind::Unavailable
        ));
    }
}
