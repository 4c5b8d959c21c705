//! AWS access shared by every Groundwork service.
//!
//! Layout:
//! - [`config`]: the one SDK configuration (standard credential chain, `AWS_REGION`,
//!   `AWS_ENDPOINT_URL`, retries, rustls with ring) and its us-east-1 twin for billing.
//! - [`caller`]: who the credentials belong to, and the root guard.
//! - [`delivery`]: whether AWS Budgets and CloudWatch alarms can deliver to an SNS topic
//!   (its access policy, its KMS key's policy), the statements that let them, and the
//!   calls that read and add them.
//! - [`error`]: AWS SDK errors classified for the caller's decision (retryable or
//!   terminal, "already exists" as "already done").

pub mod caller;
pub mod config;
pub mod delivery;
pub mod error;

pub use caller::{CallerIdentity, RootGuard, RootPolicy};
pub use config::{AwsSettings, BILLING_REGION};
pub use error::{AwsError, AwsErrorKind};
