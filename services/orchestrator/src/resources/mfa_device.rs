//! The admin's virtual MFA device (identity). Enrolment starts here and shows the seed
//! once; a person types two codes (`groundwork mfa complete`), which publishes
//! `MFA Device Enabled` and finishes the waiting step. It goes with its user on Destroy.

use groundwork_events::catalog::{CatalogEvent, MfaDeviceEnabled};
use groundwork_proto::v1 as pb;
use groundwork_spec::resource::MfaDevice;
use secrecy::SecretSlice;
use serde_json::Value;

use super::{Ctx, LiveCtx, Managed, Reads, audit, failed, outputs, secret};
use crate::clients::{Clients, read_error};
use crate::error::Error;
use crate::runner::{StepOutcome, StepResult};

async fn mfa_active(clients: &Clients, user: &str) -> Result<bool, tonic::Status> {
    Ok(audit(clients)
        .await?
        .users
        .iter()
        .any(|u| u.user_name == user && u.mfa_active))
}

impl Managed for MfaDevice {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        let user = &self.user_name;
        let step = cx.step;
        match mfa_active(cx.clients, user).await {
            Ok(true) => return StepResult::done("unchanged", step.outputs.clone()),
            Ok(false) => {}
            Err(e) => return failed("AuditAccount", &e),
        }
        let started_and_shown = step.outputs.contains_key("serial_number")
            && step.outputs.get("secrets_delivered").map(String::as_str) == Some("yes");
        let instructions = |serial: &str| {
            vec![format!(
                "Scan the QR code (or type the seed) into an authenticator app, then run: groundwork mfa complete --user {user} --serial {serial} CODE1 CODE2 (two consecutive codes). The run resumes on `MFA Device Enabled`."
            )]
        };
        if started_and_shown {
            let serial = step
                .outputs
                .get("serial_number")
                .cloned()
                .unwrap_or_default();
            return StepResult {
                outcome: StepOutcome::NeedPerson {
                    instructions: instructions(&serial),
                    outputs: step.outputs.clone(),
                },
                secrets: Vec::new(),
            };
        }
        let req = pb::StartMfaEnrollmentRequest {
            user_name: user.clone(),
            device_name: String::new(),
        };
        match cx.clients.identity.clone().start_mfa_enrollment(req).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                let mut uri = secret(cx.id(), "mfa_otpauth_uri", resp.otpauth_uri);
                uri.png = Some(SecretSlice::from(resp.qr_code_png));
                StepResult {
                    outcome: StepOutcome::NeedPerson {
                        instructions: instructions(&resp.serial_number),
                        outputs: outputs([("serial_number", resp.serial_number)]),
                    },
                    secrets: vec![
                        uri,
                        secret(cx.id(), "mfa_base32_seed", resp.base32_string_seed),
                    ],
                }
            }
            Err(e) => failed("StartMfaEnrollment", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, reads: &mut Reads) -> Result<Option<Self>, Error> {
        let audit = reads.audit(cx.clients).await?;
        Ok(audit
            .users
            .iter()
            .find(|u| u.user_name == self.user_name)
            .map(|u| Self {
                user_name: self.user_name.clone(),
                enabled: u.mfa_active,
            }))
    }

    async fn is_done(&self, cx: Ctx<'_>) -> Result<bool, Error> {
        mfa_active(cx.clients, &self.user_name)
            .await
            .map_err(|e| read_error("AuditAccount", &e))
    }

    /// `MFA Device Enabled` (groundwork.identity) for this user.
    fn finished_by(&self, event: &Value) -> bool {
        matches!(MfaDeviceEnabled::decode(event), Some(Ok(e)) if e.user_name == self.user_name)
    }
}
