//! Virtual MFA enrollment, a human step in two calls.
//!
//! StartMfaEnrollment creates the device and hands its seed (as text, an `otpauth://`
//! URI and a QR code) to the caller once; the service keeps none of it. The person scans
//! it into an authenticator app and CompleteMfaEnrollment enables the device with two
//! consecutive codes. The service never computes codes: one that could would hold the
//! second factor itself. A person who lost the seed before completing asks for a new one
//! (RestartMfaEnrollment): the same creation, recorded as their decision.

use groundwork_cloud::{AwsError, AwsErrorKind, RootPolicy};
use groundwork_events::catalog::{MfaDeviceEnabled, MfaEnrollmentRestarted, MfaEnrollmentStarted};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::domain::{AuthenticationCode, DeviceName, Outcome, SerialNumber, UserName};
use crate::error::{Error, ErrorKind};
use crate::qr;
use crate::service::{Service, partition_of};

/// The issuer authenticator apps show, as on the QR codes IAM itself draws.
const ISSUER: &str = "Amazon Web Services";

/// A started enrollment: everything here but the serial number is secret.
#[derive(Debug)]
pub struct Enrollment {
    pub serial_number: SerialNumber,
    pub base32_seed: SecretString,
    pub otpauth_uri: SecretString,
    pub qr_code_png: SecretSlice<u8>,
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Key URI Format authenticator apps read:
/// `otpauth://totp/<issuer>:<user>@<account>?secret=<base32>&issuer=<issuer>`.
pub fn otpauth_uri(user: &UserName, account: &str, base32_seed: &str) -> SecretString {
    let issuer = percent_encode(ISSUER);
    let label = format!("{issuer}:{}", percent_encode(&format!("{user}@{account}")));
    SecretString::from(format!(
        "otpauth://totp/{label}?secret={base32_seed}&issuer={issuer}"
    ))
}

async fn user_exists(service: &Service, user: &UserName) -> Result<(), Error> {
    match service.iam.get_user().user_name(user.as_str()).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from_sdk("GetUser", e);
            if e.kind == AwsErrorKind::NotFound {
                Err(Error::not_found(format!(
                    "there is no IAM user {user}; create it first with EnsureAdmin"
                )))
            } else {
                Err(e.into())
            }
        }
    }
}

/// The serial numbers of the user's enabled MFA devices.
async fn enabled_devices(service: &Service, user: &UserName) -> Result<Vec<String>, Error> {
    Ok(service
        .iam
        .list_mfa_devices()
        .user_name(user.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListMFADevices", e))?
        .mfa_devices
        .into_iter()
        .map(|d| d.serial_number)
        .collect())
}

/// Why an enrollment is created: the event says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The first enrollment (StartMfaEnrollment): `MFA Enrollment Started`.
    First,
    /// A person lost the seed (RestartMfaEnrollment): `MFA Enrollment Restarted`.
    Restart,
}

/// Creates the virtual MFA device and returns its seed once.
#[tracing::instrument(skip_all, fields(user = %user, device = %device, why = ?why))]
pub async fn start(
    service: &Service,
    user: UserName,
    device: DeviceName,
    why: Start,
) -> Result<Enrollment, Error> {
    let operation = match why {
        Start::First => "StartMfaEnrollment",
        Start::Restart => "RestartMfaEnrollment",
    };
    let caller = service.guard(operation, RootPolicy::Refuse).await?;
    user_exists(service, &user).await?;
    if let Some(serial) = enabled_devices(service, &user).await?.into_iter().next() {
        return Err(Error::failed_precondition(format!(
            "{user} already has the MFA device {serial} enabled; deactivate it first to enroll \
             another"
        )));
    }
    let serial = SerialNumber::for_device(partition_of(&caller.arn), &caller.account, &device);
    let mut replaced = false;
    let created = match create_device(service, &device).await {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            replaced = true;
            // An enrollment that was started and never completed: its seed was shown once
            // and is gone, so the device is useless. Replace it, unless someone uses it.
            let assigned = virtual_mfa_devices(
                &service.iam,
                aws_sdk_iam::types::AssignmentStatusType::Assigned,
            )
            .await?;
            if assigned.iter().any(|d| d.serial_number == serial.as_str()) {
                return Err(Error::failed_precondition(format!(
                    "the MFA device {serial} is assigned to another user; choose another \
                     device_name"
                )));
            }
            service
                .iam
                .delete_virtual_mfa_device()
                .serial_number(serial.as_str())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DeleteVirtualMFADevice", e))?;
            tracing::info!(serial = %serial, "replaced an abandoned MFA enrollment");
            create_device(service, &device).await?
        }
        other => other?,
    };
    let serial = SerialNumber::parse("serial_number", &created.serial_number).map_err(|_| {
        Error::internal(format!(
            "IAM returned an unexpected serial number {}",
            created.serial_number
        ))
    })?;
    let seed_bytes = created
        .base32_string_seed
        .map(|b| b.into_inner())
        .ok_or_else(|| Error::internal("IAM returned no seed for the new MFA device"))?;
    let base32_seed = SecretString::from(
        String::from_utf8(seed_bytes)
            .map_err(|_| Error::internal("IAM returned a seed that is not Base32 text"))?,
    );
    let otpauth_uri = otpauth_uri(&user, &caller.account, base32_seed.expose_secret());
    let qr_code_png = SecretSlice::from(qr::png(otpauth_uri.expose_secret())?);
    tracing::info!(serial = %serial, "MFA enrollment started");
    let resources = vec![serial.as_str().to_owned()];
    match why {
        Start::First => {
            service
                .events
                .emit(
                    &MfaEnrollmentStarted {
                        user_name: user.as_str().to_owned(),
                        serial_number: serial.as_str().to_owned(),
                    },
                    resources,
                )
                .await
        }
        Start::Restart => {
            service
                .events
                .emit(
                    &MfaEnrollmentRestarted {
                        user_name: user.as_str().to_owned(),
                        serial_number: serial.as_str().to_owned(),
                        replaced,
                    },
                    resources,
                )
                .await
        }
    }
    Ok(Enrollment {
        serial_number: serial,
        base32_seed,
        otpauth_uri,
        qr_code_png,
    })
}

async fn create_device(
    service: &Service,
    device: &DeviceName,
) -> Result<aws_sdk_iam::types::VirtualMfaDevice, Error> {
    service
        .iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(device.as_str())
        .send()
        .await
        .map_err(|e| Error::from(AwsError::from_sdk("CreateVirtualMFADevice", e)))?
        .virtual_mfa_device
        .ok_or_else(|| Error::internal("IAM returned no device"))
}

/// Enables the device with two consecutive codes.
#[tracing::instrument(skip_all, fields(user = %user, serial = ?serial.as_ref().map(SerialNumber::as_str)))]
pub async fn complete(
    service: &Service,
    user: UserName,
    serial: Option<SerialNumber>,
    code_1: AuthenticationCode,
    code_2: AuthenticationCode,
) -> Result<(SerialNumber, Outcome), Error> {
    let caller = service
        .guard("CompleteMfaEnrollment", RootPolicy::Refuse)
        .await?;
    let serial = match serial {
        Some(s) => s,
        None => {
            let device = DeviceName::parse("user_name", user.as_str())?;
            SerialNumber::for_device(partition_of(&caller.arn), &caller.account, &device)
        }
    };
    user_exists(service, &user).await?;
    if enabled_devices(service, &user)
        .await?
        .iter()
        .any(|s| s == serial.as_str())
    {
        return Ok((serial, Outcome::Unchanged));
    }
    let enabled = service
        .iam
        .enable_mfa_device()
        .user_name(user.as_str())
        .serial_number(serial.as_str())
        .authentication_code1(code_1.as_str())
        .authentication_code2(code_2.as_str())
        .send()
        .await;
    if let Err(e) = enabled {
        let e = AwsError::from_sdk("EnableMFADevice", e);
        return Err(match (e.kind, e.code.as_str()) {
            (_, "InvalidAuthenticationCode") => Error::invalid(
                "authentication_code_1",
                "AWS did not accept the two codes: enter two consecutive codes, waiting for the \
                 app to show a new one between them, and check the device's clock",
            ),
            (AwsErrorKind::NotFound, _) => Error::not_found(format!(
                "there is no MFA device {serial}; start the enrollment first ({e})"
            )),
            (AwsErrorKind::AlreadyExists, _) => Error::failed_precondition(format!(
                "the MFA device {serial} is already enabled for another user ({e})"
            )),
            _ => e.into(),
        });
    }
    tracing::info!("MFA device enabled");
    service
        .events
        .emit(
            &MfaDeviceEnabled {
                user_name: user.as_str().to_owned(),
                serial_number: serial.as_str().to_owned(),
            },
            vec![serial.as_str().to_owned()],
        )
        .await;
    Ok((serial, Outcome::Created))
}

/// The account's virtual MFA devices with this assignment status.
pub(crate) async fn virtual_mfa_devices(
    iam: &aws_sdk_iam::Client,
    status: aws_sdk_iam::types::AssignmentStatusType,
) -> Result<Vec<aws_sdk_iam::types::VirtualMfaDevice>, AwsError> {
    iam.list_virtual_mfa_devices()
        .assignment_status(status)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| AwsError::from_sdk("ListVirtualMFADevices", e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_uri_follows_the_key_uri_format() {
        let user = UserName::parse("user_name", "ops.admin@corp").unwrap();
        let uri = otpauth_uri(&user, "123456789012", "JBSWY3DPEHPK3PXP");
        assert_eq!(
            uri.expose_secret(),
            "otpauth://totp/Amazon%20Web%20Services:ops.admin%40corp%40123456789012\
             ?secret=JBSWY3DPEHPK3PXP&issuer=Amazon%20Web%20Services"
        );
        assert!(!format!("{uri:?}").contains("JBSWY3DPEHPK3PXP"));
    }
}
