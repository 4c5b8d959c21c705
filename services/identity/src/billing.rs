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
    let access = match read {
        Ok(_) => BillingAccess {
            state: BillingState::AppearsDone,
            evidence: format!("budgets:DescribeBudgets succeeded as {}", caller.arn),
        },
        Err(e) => {
            let e = AwsError::from_sdk("DescribeBudgets", e);
            match e.kind {
                AwsErrorKind::AccessDenied => BillingAccess {
                    state: BillingState::NotDone,
                    evidence: format!("budgets:DescribeBudgets was denied as {}: {e}", caller.arn),
                },
                // No budgets yet is still a successful read.
                AwsErrorKind::NotFound => BillingAccess {
                    state: BillingState::AppearsDone,
                    evidence: format!(
                        "budgets:DescribeBudgets answered as {} (no budgets yet)",
                        caller.arn
                    ),
                },
                _ => return Err(e.into()),
            }
        }
    };
    tracing::info!(state = ?access.state, "billing access checked");
    Ok(access)
}
