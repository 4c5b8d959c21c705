//! EnsureAdmin and DeleteAdmin: the admin group and user, converged step by step.
//!
//! Every step first looks, then changes only what differs, so a call that failed halfway
//! is completed by the next one, and a repeated call changes nothing. Everything that
//! can be checked without changing the account (names, the root guard, that every
//! policy exists, the password policy) is checked before the first change.

use groundwork_cloud::{AwsError, AwsErrorKind, CallerIdentity, RootPolicy};
use groundwork_events::catalog::{AdminUser, AdminUserCreated, AdminUserDeleted, AdminUserUpdated};
use secrecy::SecretString;

use crate::domain::{GroupName, Outcome, PolicyArn, UserName};
use crate::error::Error;
use crate::password;
use crate::password_policy;
use crate::service::Service;

/// What EnsureAdmin is asked to make true.
#[derive(Debug, Clone)]
pub struct AdminSpec {
    pub user: UserName,
    pub group: GroupName,
    /// (request field, ARN) pairs: the field names the error if the policy is missing.
    pub group_policies: Vec<(String, PolicyArn)>,
    pub user_policies: Vec<(String, PolicyArn)>,
    pub console_access: bool,
    pub programmatic_access: bool,
    pub allow_root_bootstrap: bool,
}

/// A new access key. The secret exists only here, on its way into one response.
#[derive(Debug)]
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
}

/// What EnsureAdmin did.
#[derive(Debug)]
pub struct AdminResult {
    pub user: UserName,
    pub user_arn: String,
    pub group: GroupName,
    pub outcome: Outcome,
    pub changes: Vec<String>,
    /// Only when this call created the login profile.
    pub initial_password: Option<SecretString>,
    pub password_reset_required: bool,
    /// Only when this call created the access key.
    pub access_key: Option<NewAccessKey>,
    pub console_sign_in_url: String,
    pub recommendations: Vec<String>,
}

fn is(e: &AwsError, kind: AwsErrorKind) -> bool {
    e.kind == kind
}

/// The policies of `policies` that do not exist (GetPolicy), with their request field.
pub async fn missing_policies<'a>(
    service: &Service,
    policies: &'a [(String, PolicyArn)],
) -> Result<Vec<&'a (String, PolicyArn)>, Error> {
    let mut missing = Vec::new();
    for entry in policies {
        if let Err(e) = service
            .iam
            .get_policy()
            .policy_arn(entry.1.as_str())
            .send()
            .await
        {
            let e = AwsError::from_sdk("GetPolicy", e);
            if is(&e, AwsErrorKind::NotFound) || is(&e, AwsErrorKind::Invalid) {
                missing.push(entry);
            } else {
                return Err(e.into());
            }
        }
    }
    Ok(missing)
}

/// Checks that every policy exists; a missing one is INVALID_ARGUMENT naming its request
/// field.
async fn check_policies_exist(
    service: &Service,
    policies: &[(String, PolicyArn)],
) -> Result<(), Error> {
    match missing_policies(service, policies).await?.first() {
        Some((field, arn)) => Err(Error::invalid(
            field.clone(),
            format!("the policy {arn} does not exist"),
        )),
        None => Ok(()),
    }
}

/// Creates or converges the admin.
#[tracing::instrument(skip_all, fields(user = %spec.user, group = %spec.group))]
pub async fn ensure_admin(service: &Service, spec: AdminSpec) -> Result<AdminResult, Error> {
    let policy = if spec.allow_root_bootstrap {
        RootPolicy::AllowBootstrap
    } else {
        RootPolicy::Refuse
    };
    let caller = service.guard("EnsureAdmin", policy).await?;
    check_policies_exist(service, &spec.group_policies).await?;
    check_policies_exist(service, &spec.user_policies).await?;
    let password_policy = if spec.console_access {
        Some(password_policy::effective(service).await?)
    } else {
        None
    };

    let iam = &service.iam;
    let mut changes = Vec::new();

    // The group and its policies.
    match iam.get_group().group_name(spec.group.as_str()).send().await {
        Ok(_) => {}
        Err(e) => {
            let e = AwsError::from_sdk("GetGroup", e);
            if !is(&e, AwsErrorKind::NotFound) {
                return Err(e.into());
            }
            match iam
                .create_group()
                .group_name(spec.group.as_str())
                .send()
                .await
            {
                Ok(_) => changes.push(format!("created group {}", spec.group)),
                Err(e) => {
                    let e = AwsError::from_sdk("CreateGroup", e);
                    if !is(&e, AwsErrorKind::AlreadyExists) {
                        return Err(e.into());
                    }
                }
            }
        }
    }
    let attached = attached_group_policies(iam, &spec.group).await?;
    for (_, arn) in &spec.group_policies {
        if !attached.iter().any(|a| a == arn.as_str()) {
            iam.attach_group_policy()
                .group_name(spec.group.as_str())
                .policy_arn(arn.as_str())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("AttachGroupPolicy", e))?;
            changes.push(format!("attached {arn} to group {}", spec.group));
        }
    }

    // The user, in the group, with its own policies.
    let mut created = false;
    let user_arn = match iam.get_user().user_name(spec.user.as_str()).send().await {
        Ok(out) => out.user.map(|u| u.arn).unwrap_or_default(),
        Err(e) => {
            let e = AwsError::from_sdk("GetUser", e);
            if !is(&e, AwsErrorKind::NotFound) {
                return Err(e.into());
            }
            let out = iam
                .create_user()
                .user_name(spec.user.as_str())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreateUser", e))?;
            created = true;
            changes.push(format!("created user {}", spec.user));
            out.user.map(|u| u.arn).unwrap_or_default()
        }
    };
    let groups = groups_of_user(iam, &spec.user).await?;
    if !groups.iter().any(|g| g == spec.group.as_str()) {
        iam.add_user_to_group()
            .group_name(spec.group.as_str())
            .user_name(spec.user.as_str())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("AddUserToGroup", e))?;
        changes.push(format!("added {} to group {}", spec.user, spec.group));
    }
    if !spec.user_policies.is_empty() {
        let attached = attached_user_policies(iam, &spec.user).await?;
        for (_, arn) in &spec.user_policies {
            if !attached.iter().any(|a| a == arn.as_str()) {
                iam.attach_user_policy()
                    .user_name(spec.user.as_str())
                    .policy_arn(arn.as_str())
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("AttachUserPolicy", e))?;
                changes.push(format!("attached {arn} to user {}", spec.user));
            }
        }
    }

    // The console password: created once, returned once.
    let mut initial_password = None;
    let mut password_reset_required = false;
    if let Some(policy) = password_policy {
        match iam
            .get_login_profile()
            .user_name(spec.user.as_str())
            .send()
            .await
        {
            Ok(out) => {
                password_reset_required =
                    out.login_profile.is_some_and(|p| p.password_reset_required);
            }
            Err(e) => {
                let e = AwsError::from_sdk("GetLoginProfile", e);
                if !is(&e, AwsErrorKind::NotFound) {
                    return Err(e.into());
                }
                let password = password::generate(&policy)?;
                let created_profile = iam
                    .create_login_profile()
                    .user_name(spec.user.as_str())
                    .password(secrecy::ExposeSecret::expose_secret(&password))
                    .password_reset_required(true)
                    .send()
                    .await;
                match created_profile {
                    Ok(out) => {
                        password_reset_required =
                            out.login_profile.is_some_and(|p| p.password_reset_required);
                        initial_password = Some(password);
                        changes.push(format!("created a console login profile for {}", spec.user));
                    }
                    Err(e) => {
                        let e = AwsError::from_sdk("CreateLoginProfile", e);
                        // Created concurrently: the other call returned the password.
                        if !is(&e, AwsErrorKind::AlreadyExists) {
                            return Err(e.into());
                        }
                    }
                }
            }
        }
    }

    // Programmatic access: a key only when the user has none (a secret cannot be
    // shown twice, so an existing key is left alone).
    let mut access_key = None;
    if spec.programmatic_access {
        let keys = iam
            .list_access_keys()
            .user_name(spec.user.as_str())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListAccessKeys", e))?
            .access_key_metadata;
        if keys.is_empty() {
            let out = iam
                .create_access_key()
                .user_name(spec.user.as_str())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreateAccessKey", e))?;
            if let Some(key) = out.access_key {
                changes.push(format!(
                    "created access key {} for {}",
                    key.access_key_id, spec.user
                ));
                access_key = Some(NewAccessKey {
                    access_key_id: key.access_key_id,
                    secret_access_key: SecretString::from(key.secret_access_key),
                });
            }
        }
    }

    let outcome = if created {
        Outcome::Created
    } else if changes.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    };
    let recommendations = recommendations(&caller, &spec, initial_password.is_some());
    tracing::info!(
        ?outcome,
        changes = changes.len(),
        root_bootstrap = caller.is_root(),
        "admin ensured"
    );
    let detail = || AdminUser {
        user_name: spec.user.as_str().to_owned(),
        user_arn: user_arn.clone(),
        group_name: spec.group.as_str().to_owned(),
        group_policy_arns: policy_arns(&spec.group_policies),
        user_policy_arns: policy_arns(&spec.user_policies),
        changes: changes.clone(),
        login_profile_created: initial_password.is_some(),
        access_key_created: access_key.is_some(),
        root_bootstrap: caller.is_root(),
    };
    let resources = vec![user_arn.clone()];
    match outcome {
        Outcome::Created => {
            (service.events)
                .emit(&AdminUserCreated(detail()), resources)
                .await;
        }
        Outcome::Updated => {
            (service.events)
                .emit(&AdminUserUpdated(detail()), resources)
                .await;
        }
        _ => {}
    }
    Ok(AdminResult {
        user: spec.user,
        user_arn,
        group: spec.group,
        outcome,
        changes,
        initial_password,
        password_reset_required,
        access_key,
        console_sign_in_url: format!("https://{}.signin.aws.amazon.com/console", caller.account),
        recommendations,
    })
}

/// The ARNs of named policies, for events.
fn policy_arns(policies: &[(String, PolicyArn)]) -> Vec<String> {
    policies
        .iter()
        .map(|(_, a)| a.as_str().to_owned())
        .collect()
}

fn recommendations(caller: &CallerIdentity, spec: &AdminSpec, new_password: bool) -> Vec<String> {
    let mut out = Vec::new();
    if caller.is_root() {
        out.push(format!(
            "You ran this with the root user's credentials. Switch to {}'s credentials now, then \
             sign in as root once more to delete the root access keys (Security credentials → \
             Access keys → Delete) and to assign root an MFA device; `groundwork identity audit` \
             checks both.",
            spec.user
        ));
    }
    if new_password {
        out.push(format!(
            "Give {} the one-time password through a safe channel; they must choose a new one at \
             first sign-in.",
            spec.user
        ));
    }
    out.push(format!(
        "Enroll MFA for {0}: `groundwork identity mfa start --user {0}`.",
        spec.user
    ));
    out
}

/// Removes an admin user and everything attached to it.
#[tracing::instrument(skip_all, fields(user = %user))]
pub async fn delete_admin(
    service: &Service,
    user: UserName,
    group: Option<GroupName>,
) -> Result<(Outcome, Vec<String>), Error> {
    let caller = service.guard("DeleteAdmin", RootPolicy::Refuse).await?;
    let iam = &service.iam;
    let user_arn = match iam.get_user().user_name(user.as_str()).send().await {
        Ok(out) => out.user.map(|u| u.arn).unwrap_or_default(),
        Err(e) => {
            let e = AwsError::from_sdk("GetUser", e);
            if is(&e, AwsErrorKind::NotFound) {
                // The user went earlier (a retried call): its group may still be there.
                let mut removed = abandoned_mfa_devices(service, &user).await?;
                if let Some(group) = &group {
                    removed.extend(delete_group_if_empty(service, group).await?);
                }
                let outcome = if removed.is_empty() {
                    Outcome::Absent
                } else {
                    Outcome::Deleted
                };
                return Ok((outcome, removed));
            }
            return Err(e.into());
        }
    };
    if user_arn == caller.arn {
        return Err(Error::failed_precondition(format!(
            "refusing to delete {user}: the service is running with this user's credentials, and \
             deleting it would lock the service out. Run DeleteAdmin with another admin's credentials"
        )));
    }
    let mut removed = Vec::new();
    let keys = iam
        .list_access_keys()
        .user_name(user.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListAccessKeys", e))?
        .access_key_metadata;
    for key in keys {
        if let Some(id) = key.access_key_id {
            iam.delete_access_key()
                .user_name(user.as_str())
                .access_key_id(&id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DeleteAccessKey", e))?;
            removed.push(format!("access key {id}"));
        }
    }
    let devices = iam
        .list_mfa_devices()
        .user_name(user.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListMFADevices", e))?
        .mfa_devices;
    for device in devices {
        iam.deactivate_mfa_device()
            .user_name(user.as_str())
            .serial_number(&device.serial_number)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeactivateMFADevice", e))?;
        // Virtual devices are deleted too; hardware devices have no such call.
        if let Err(e) = iam
            .delete_virtual_mfa_device()
            .serial_number(&device.serial_number)
            .send()
            .await
        {
            let e = AwsError::from_sdk("DeleteVirtualMFADevice", e);
            if !is(&e, AwsErrorKind::NotFound) {
                return Err(e.into());
            }
        }
        removed.push(format!("MFA device {}", device.serial_number));
    }
    match iam
        .delete_login_profile()
        .user_name(user.as_str())
        .send()
        .await
    {
        Ok(_) => removed.push("console login profile".to_owned()),
        Err(e) => {
            let e = AwsError::from_sdk("DeleteLoginProfile", e);
            if !is(&e, AwsErrorKind::NotFound) {
                return Err(e.into());
            }
        }
    }
    for arn in attached_user_policies(iam, &user).await? {
        iam.detach_user_policy()
            .user_name(user.as_str())
            .policy_arn(&arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DetachUserPolicy", e))?;
        removed.push(format!("policy {arn}"));
    }
    let inline = iam
        .list_user_policies()
        .user_name(user.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListUserPolicies", e))?
        .policy_names;
    for name in inline {
        iam.delete_user_policy()
            .user_name(user.as_str())
            .policy_name(&name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteUserPolicy", e))?;
        removed.push(format!("inline policy {name}"));
    }
    for group in groups_of_user(iam, &user).await? {
        iam.remove_user_from_group()
            .user_name(user.as_str())
            .group_name(&group)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("RemoveUserFromGroup", e))?;
        removed.push(format!("membership of group {group}"));
    }
    if let Err(e) = iam.delete_user().user_name(user.as_str()).send().await {
        let e = AwsError::from_sdk("DeleteUser", e);
        if e.code == "DeleteConflict" {
            return Err(Error::failed_precondition(format!(
                "{e}; the user still has credentials Groundwork does not manage (signing \
                 certificates, SSH keys, service-specific credentials): remove them and retry"
            )));
        }
        if !is(&e, AwsErrorKind::NotFound) {
            return Err(e.into());
        }
    }
    removed.push(format!("user {user}"));
    removed.extend(abandoned_mfa_devices(service, &user).await?);
    if let Some(group) = &group {
        removed.extend(delete_group_if_empty(service, group).await?);
    }
    tracing::info!(removed = removed.len(), "admin deleted");
    service
        .events
        .emit(
            &AdminUserDeleted {
                user_name: user.as_str().to_owned(),
                user_arn: user_arn.clone(),
                removed: removed.clone(),
            },
            vec![user_arn.clone()],
        )
        .await;
    Ok((Outcome::Deleted, removed))
}

/// Deletes the unassigned virtual MFA devices named after `user` (an enrollment that was
/// started and never completed leaves one behind).
async fn abandoned_mfa_devices(service: &Service, user: &UserName) -> Result<Vec<String>, Error> {
    let iam = &service.iam;
    let suffix = format!(":mfa/{user}");
    let devices =
        crate::mfa::virtual_mfa_devices(iam, aws_sdk_iam::types::AssignmentStatusType::Unassigned)
            .await?;
    let mut removed = Vec::new();
    for d in devices
        .iter()
        .filter(|d| d.serial_number.ends_with(&suffix))
    {
        if let Err(e) = iam
            .delete_virtual_mfa_device()
            .serial_number(&d.serial_number)
            .send()
            .await
        {
            let e = AwsError::from_sdk("DeleteVirtualMFADevice", e);
            if !is(&e, AwsErrorKind::NotFound) {
                return Err(e.into());
            }
        }
        removed.push(format!("unassigned MFA device {}", d.serial_number));
    }
    Ok(removed)
}

/// The admin user and its group as IAM has them (see [`describe_admin`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminState {
    pub user_exists: bool,
    pub group_exists: bool,
    pub in_group: bool,
    pub group_policy_arns: Vec<String>,
    pub user_policy_arns: Vec<String>,
    pub console_access: bool,
    pub access_keys: usize,
}

/// Reads the user (when given) and the group (when given); changes nothing.
pub async fn describe_admin(
    service: &Service,
    user: Option<&UserName>,
    group: Option<&GroupName>,
) -> Result<AdminState, Error> {
    let iam = &service.iam;
    let mut state = AdminState::default();
    let absent = |e: AwsError| -> Result<(), Error> {
        if is(&e, AwsErrorKind::NotFound) {
            Ok(())
        } else {
            Err(e.into())
        }
    };
    if let Some(group) = group {
        match attached_group_policies(iam, group).await {
            Ok(arns) => {
                state.group_exists = true;
                state.group_policy_arns = arns;
            }
            Err(e) => absent(e)?,
        }
    }
    let Some(user) = user else {
        return Ok(state);
    };
    match iam.get_user().user_name(user.as_str()).send().await {
        Ok(_) => state.user_exists = true,
        Err(e) => {
            absent(AwsError::from_sdk("GetUser", e))?;
            return Ok(state);
        }
    }
    if let Some(group) = group {
        state.in_group = groups_of_user(iam, user)
            .await?
            .iter()
            .any(|g| g == group.as_str());
    }
    state.user_policy_arns = attached_user_policies(iam, user).await?;
    match iam
        .get_login_profile()
        .user_name(user.as_str())
        .send()
        .await
    {
        Ok(_) => state.console_access = true,
        Err(e) => absent(AwsError::from_sdk("GetLoginProfile", e))?,
    }
    state.access_keys = iam
        .list_access_keys()
        .user_name(user.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListAccessKeys", e))?
        .access_key_metadata
        .len();
    Ok(state)
}

/// The names of the groups `user` is in.
async fn groups_of_user(
    iam: &aws_sdk_iam::Client,
    user: &UserName,
) -> Result<Vec<String>, AwsError> {
    Ok(iam
        .list_groups_for_user()
        .user_name(user.as_str())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| AwsError::from_sdk("ListGroupsForUser", e))?
        .into_iter()
        .map(|g| g.group_name)
        .collect())
}

/// The ARNs of the managed policies attached to `user`.
async fn attached_user_policies(
    iam: &aws_sdk_iam::Client,
    user: &UserName,
) -> Result<Vec<String>, AwsError> {
    Ok(iam
        .list_attached_user_policies()
        .user_name(user.as_str())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| AwsError::from_sdk("ListAttachedUserPolicies", e))?
        .into_iter()
        .filter_map(|p| p.policy_arn)
        .collect())
}

/// The ARNs of the managed policies attached to `group`.
pub(crate) async fn attached_group_policies(
    iam: &aws_sdk_iam::Client,
    group: &GroupName,
) -> Result<Vec<String>, AwsError> {
    Ok(iam
        .list_attached_group_policies()
        .group_name(group.as_str())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| AwsError::from_sdk("ListAttachedGroupPolicies", e))?
        .into_iter()
        .filter_map(|p| p.policy_arn)
        .collect())
}

/// Deletes `group` (its managed policies detached, its inline policies deleted) unless
/// someone is still in it; says what it did either way.
async fn delete_group_if_empty(service: &Service, group: &GroupName) -> Result<Vec<String>, Error> {
    let iam = &service.iam;
    let members = match iam.get_group().group_name(group.as_str()).send().await {
        Ok(out) => out.users,
        Err(e) => {
            let e = AwsError::from_sdk("GetGroup", e);
            if is(&e, AwsErrorKind::NotFound) {
                return Ok(Vec::new());
            }
            return Err(e.into());
        }
    };
    if !members.is_empty() {
        let names: Vec<&str> = members.iter().map(|u| u.user_name.as_str()).collect();
        tracing::info!(%group, members = names.len(), "group kept: it has other members");
        return Ok(vec![format!(
            "nothing of group {group}: it still has members ({})",
            names.join(", ")
        )]);
    }
    let mut removed = Vec::new();
    for arn in attached_group_policies(iam, group).await? {
        iam.detach_group_policy()
            .group_name(group.as_str())
            .policy_arn(&arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DetachGroupPolicy", e))?;
        removed.push(format!("policy {arn} of group {group}"));
    }
    let inline = iam
        .list_group_policies()
        .group_name(group.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListGroupPolicies", e))?
        .policy_names;
    for name in inline {
        iam.delete_group_policy()
            .group_name(group.as_str())
            .policy_name(&name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteGroupPolicy", e))?;
        removed.push(format!("inline policy {name} of group {group}"));
    }
    if let Err(e) = iam.delete_group().group_name(group.as_str()).send().await {
        let e = AwsError::from_sdk("DeleteGroup", e);
        if !is(&e, AwsErrorKind::NotFound) {
            return Err(e.into());
        }
    }
    removed.push(format!("group {group}"));
    Ok(removed)
}
