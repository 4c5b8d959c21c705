//! Steps only a person can do in the console (billing access for IAM, billing alerts, root
//! MFA, no root access keys). The run checks them where AWS allows it, and waits or
//! reports them as the spec says; Destroy leaves them alone.

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::resource::{ConsoleCheck, ConsoleStep};

use super::{Ctx, LiveCtx, Managed, Reads, audit, failed};
use crate::error::Error;
use crate::runner::{StepOutcome, StepResult};

const ROOT_CREDENTIALS_URL: &str = "https://console.aws.amazon.com/iam/home#/security_credentials";

async fn check(this: &ConsoleStep, cx: Ctx<'_>) -> StepResult {
    let Some(check) = ConsoleCheck::from_name(cx.id().name()) else {
        return StepResult::failed(format!("unknown console step {}", cx.id()), false);
    };
    let clients = cx.clients;
    let (done, mut instructions) = match check {
        ConsoleCheck::BillingAccess => match clients
            .identity
            .clone()
            .describe_billing_access(pb::DescribeBillingAccessRequest {})
            .await
        {
            Ok(resp) => {
                let resp = resp.into_inner();
                let done = resp.state() == pb::BillingAccessState::AppearsDone;
                let mut lines = resp.instructions;
                lines.push(resp.console_url);
                (done, lines)
            }
            Err(e) => return failed("DescribeBillingAccess", &e),
        },
        ConsoleCheck::BillingAlerts => match clients
            .alerting
            .clone()
            .describe_billing_alerts(pb::DescribeBillingAlertsRequest {})
            .await
        {
            Ok(resp) => {
                let resp = resp.into_inner();
                (
                    resp.billing_metrics_arriving,
                    vec![resp.manual_step, resp.console_url],
                )
            }
            Err(e) => return failed("DescribeBillingAlerts", &e),
        },
        ConsoleCheck::RootMfa | ConsoleCheck::RootAccessKeys => match audit(clients).await {
            Ok(a) if check == ConsoleCheck::RootMfa => (
                a.root_mfa_enabled,
                vec![
                    "Sign in as root, open Security credentials, and assign an MFA device to the root user.".into(),
                    ROOT_CREDENTIALS_URL.into(),
                ],
            ),
            Ok(a) => (
                !a.root_access_keys_present,
                vec![
                    "Sign in as root, open Security credentials, and delete every root access key.".into(),
                    ROOT_CREDENTIALS_URL.into(),
                ],
            ),
            Err(e) => return failed("AuditAccount", &e),
        },
    };
    instructions.retain(|l| !l.is_empty());
    let outcome = if done {
        StepOutcome::Done {
            outcome: "unchanged".into(),
            outputs: BTreeMap::new(),
        }
    } else if this.wait {
        StepOutcome::NeedPerson {
            instructions,
            outputs: BTreeMap::new(),
        }
    } else {
        StepOutcome::NeedAttention { instructions }
    };
    StepResult {
        outcome,
        secrets: Vec::new(),
    }
}

impl Managed for ConsoleStep {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        check(self, cx).await
    }

    /// Not read for a plan: the step checks it when it runs.
    async fn read_live(&self, _cx: LiveCtx<'_>, _reads: &mut Reads) -> Result<Option<Self>, Error> {
        Ok(None)
    }

    async fn is_done(&self, cx: Ctx<'_>) -> Result<bool, Error> {
        Ok(matches!(
            check(self, cx).await.outcome,
            StepOutcome::Done { .. }
        ))
    }
}
