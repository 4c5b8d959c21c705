//! EnsureMfaPolicy: a customer managed policy, in the manner of AWS's documented
//! `BlockMostAccessUnlessSignedInWithMFA` example, attached to the admin group.
//!
//! While a member has not signed in with MFA (`aws:MultiFactorAuthPresent` false or
//! absent) everything is denied except managing their own MFA device, and, because the
//! admin's first sign-in requires a new password, changing their own password.

use groundwork_cloud::{AwsError, AwsErrorKind, CallerIdentity, RootPolicy};
use serde_json::{Value, json};

use crate::domain::{GroupName, Outcome, PolicyName};
use crate::error::Error;
use crate::service::{Service, partition_of};

/// IAM keeps at most five versions of a managed policy.
const MAX_POLICY_VERSIONS: usize = 5;

/// The actions allowed without MFA: self-service MFA enrollment, and what the console
/// needs to change an expired password.
const WITHOUT_MFA: &[&str] = &[
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "iam:ChangePassword",
    "iam:GetAccountPasswordPolicy",
    "sts:GetSessionToken",
];

/// The policy document.
pub fn document() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowViewAccountInfo",
                "Effect": "Allow",
                "Action": ["iam:GetAccountPasswordPolicy", "iam:ListVirtualMFADevices"],
                "Resource": "*"
            },
            {
                "Sid": "AllowManageOwnPasswords",
                "Effect": "Allow",
                "Action": ["iam:ChangePassword", "iam:GetUser"],
                "Resource": "arn:aws:iam::*:user/${aws:username}"
            },
            {
                "Sid": "AllowManageOwnVirtualMFADevice",
                "Effect": "Allow",
                "Action": ["iam:CreateVirtualMFADevice"],
                "Resource": "arn:aws:iam::*:mfa/*"
            },
            {
                "Sid": "AllowManageOwnUserMFA",
                "Effect": "Allow",
                "Action": [
                    "iam:DeactivateMFADevice",
                    "iam:EnableMFADevice",
                    "iam:ListMFADevices",
                    "iam:ResyncMFADevice"
                ],
                "Resource": "arn:aws:iam::*:user/${aws:username}"
            },
            {
                "Sid": "BlockMostAccessUnlessSignedInWithMFA",
                "Effect": "Deny",
                "NotAction": WITHOUT_MFA,
                "Resource": "*",
                "Condition": {
                    "BoolIfExists": { "aws:MultiFactorAuthPresent": "false" }
                }
            }
        ]
    })
}

/// IAM returns policy documents URL-encoded (RFC 3986); the sandbox returns them as is.
fn parse_document(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Some(v);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    serde_json::from_slice(&out).ok()
}

/// Creates or updates the policy and attaches it to the group.
#[tracing::instrument(skip_all, fields(group = %group, policy = %policy))]
pub async fn ensure(
    service: &Service,
    group: GroupName,
    policy: PolicyName,
) -> Result<(String, Outcome, Vec<String>), Error> {
    let caller = service.guard("EnsureMfaPolicy", RootPolicy::Refuse).await?;
    let iam = &service.iam;
    if let Err(e) = iam.get_group().group_name(group.as_str()).send().await {
        let e = AwsError::from_sdk("GetGroup", e);
        if e.kind == AwsErrorKind::NotFound {
            return Err(Error::not_found(format!(
                "there is no IAM group {group}; create it first with EnsureAdmin"
            )));
        }
        return Err(e.into());
    }
    let arn = policy_arn(&caller, &policy);
    let wanted = document();
    let mut changes = Vec::new();
    let mut created = false;
    match iam.get_policy().policy_arn(&arn).send().await {
        Ok(out) => {
            let default_version = out
                .policy
                .and_then(|p| p.default_version_id)
                .unwrap_or_default();
            let current = iam
                .get_policy_version()
                .policy_arn(&arn)
                .version_id(&default_version)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetPolicyVersion", e))?
                .policy_version
                .and_then(|v| v.document)
                .and_then(|d| parse_document(&d));
            if current.as_ref() != Some(&wanted) {
                make_room_for_a_version(service, &arn).await?;
                iam.create_policy_version()
                    .policy_arn(&arn)
                    .policy_document(wanted.to_string())
                    .set_as_default(true)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("CreatePolicyVersion", e))?;
                changes.push(format!("updated the document of {arn}"));
            }
        }
        Err(e) => {
            let e = AwsError::from_sdk("GetPolicy", e);
            if e.kind != AwsErrorKind::NotFound {
                return Err(e.into());
            }
            iam.create_policy()
                .policy_name(policy.as_str())
                .policy_document(wanted.to_string())
                .description("Denies everything but self-service MFA and password changes until the user signs in with MFA (Groundwork)")
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreatePolicy", e))?;
            created = true;
            changes.push(format!("created {arn}"));
        }
    }
    let attached = crate::admin::attached_group_policies(iam, &group).await?;
    if !attached.contains(&arn) {
        iam.attach_group_policy()
            .group_name(group.as_str())
            .policy_arn(&arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("AttachGroupPolicy", e))?;
        changes.push(format!("attached {arn} to group {group}"));
    }
    let outcome = if created {
        Outcome::Created
    } else if changes.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    };
    tracing::info!(?outcome, "MFA policy ensured");
    Ok((arn, outcome, changes))
}

/// The ARN of the customer managed policy `policy` in the caller's account.
fn policy_arn(caller: &CallerIdentity, policy: &PolicyName) -> String {
    format!(
        "arn:{}:iam::{}:policy/{policy}",
        partition_of(&caller.arn),
        caller.account
    )
}

/// Removes the policy: detached from every group, user and role, its non-default versions
/// deleted, then the policy itself. Absent when there is no such policy.
#[tracing::instrument(skip_all, fields(policy = %policy))]
pub async fn delete(
    service: &Service,
    policy: PolicyName,
) -> Result<(Outcome, Vec<String>), Error> {
    let caller = service.guard("DeleteMfaPolicy", RootPolicy::Refuse).await?;
    let iam = &service.iam;
    let arn = policy_arn(&caller, &policy);
    if let Err(e) = iam.get_policy().policy_arn(&arn).send().await {
        let e = AwsError::from_sdk("GetPolicy", e);
        if e.kind == AwsErrorKind::NotFound {
            return Ok((Outcome::Absent, Vec::new()));
        }
        return Err(e.into());
    }
    let mut removed = delete_managed_policy(service, &arn).await?;
    removed.push(format!("policy {arn}"));
    tracing::info!(removed = removed.len(), "MFA policy deleted");
    Ok((Outcome::Deleted, removed))
}

/// Deletes a customer managed policy as IAM requires: detached from every group, user and
/// role, its non-default versions deleted, then the policy (already gone is fine). Returns
/// what was removed, one line each, without the policy itself.
pub(crate) async fn delete_managed_policy(
    service: &Service,
    arn: &str,
) -> Result<Vec<String>, Error> {
    let iam = &service.iam;
    let mut removed = Vec::new();
    let entities = iam
        .list_entities_for_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListEntitiesForPolicy", e))?;
    for g in entities.policy_groups() {
        let name = g.group_name().unwrap_or_default();
        iam.detach_group_policy()
            .group_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DetachGroupPolicy", e))?;
        removed.push(format!("attachment to group {name}"));
    }
    for u in entities.policy_users() {
        let name = u.user_name().unwrap_or_default();
        iam.detach_user_policy()
            .user_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DetachUserPolicy", e))?;
        removed.push(format!("attachment to user {name}"));
    }
    for r in entities.policy_roles() {
        let name = r.role_name().unwrap_or_default();
        iam.detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DetachRolePolicy", e))?;
        removed.push(format!("attachment to role {name}"));
    }
    let versions = iam
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListPolicyVersions", e))?
        .versions
        .unwrap_or_default();
    for v in versions.iter().filter(|v| !v.is_default_version) {
        if let Some(id) = &v.version_id {
            iam.delete_policy_version()
                .policy_arn(arn)
                .version_id(id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DeletePolicyVersion", e))?;
            removed.push(format!("version {id}"));
        }
    }
    if let Err(e) = iam.delete_policy().policy_arn(arn).send().await {
        let e = AwsError::from_sdk("DeletePolicy", e);
        if e.kind != AwsErrorKind::NotFound {
            return Err(e.into());
        }
    }
    Ok(removed)
}

/// Deletes the oldest non-default version when the policy has the maximum.
pub(crate) async fn make_room_for_a_version(service: &Service, arn: &str) -> Result<(), Error> {
    let mut versions = service
        .iam
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListPolicyVersions", e))?
        .versions
        .unwrap_or_default();
    if versions.len() < MAX_POLICY_VERSIONS {
        return Ok(());
    }
    versions.retain(|v| !v.is_default_version);
    versions.sort_by_key(|v| v.create_date.map(|d| d.secs()).unwrap_or(0));
    if let Some(oldest) = versions.first().and_then(|v| v.version_id.clone()) {
        service
            .iam
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(oldest)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeletePolicyVersion", e))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn without_mfa_everything_but_self_service_is_denied() {
        let doc = document();
        let deny = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "BlockMostAccessUnlessSignedInWithMFA")
            .unwrap();
        assert_eq!(deny["Effect"], "Deny");
        assert_eq!(deny["Resource"], "*");
        assert_eq!(
            deny["Condition"]["BoolIfExists"]["aws:MultiFactorAuthPresent"],
            "false"
        );
        let exempt: Vec<&str> = deny["NotAction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        // Enrolling MFA and the forced first password change must stay possible...
        for needed in [
            "iam:CreateVirtualMFADevice",
            "iam:EnableMFADevice",
            "iam:ChangePassword",
        ] {
            assert!(exempt.contains(&needed), "{needed}");
        }
        // ...and nothing that grants or uses power may slip through.
        for blocked in [
            "iam:*",
            "iam:CreateAccessKey",
            "iam:DeactivateMFADevice",
            "s3:*",
            "*",
        ] {
            assert!(!exempt.contains(&blocked), "{blocked}");
        }
    }

    #[test]
    fn documents_compare_whether_encoded_or_not() {
        let doc = document();
        let text = doc.to_string();
        assert_eq!(parse_document(&text).unwrap(), doc);
        let encoded: String = text
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(parse_document(&encoded).unwrap(), doc);
    }
}
