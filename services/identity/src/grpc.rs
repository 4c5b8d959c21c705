//! The `groundwork.v1.Identity` gRPC service: converts wire types to validated domain
//! types at once, calls the operation, and converts the answer back. Secrets are exposed
//! here only, into the one response that carries them.

use groundwork_proto::v1 as pb;
use pb::identity_server::Identity;
use secrecy::ExposeSecret;
use tonic::{Request, Response, Status};

use crate::admin::{self, AdminSpec};
use crate::audit::{self, CheckStatus, Severity};
use crate::billing::{self, BillingState};
use crate::domain::{
    self, ADMINISTRATOR_ACCESS, AuthenticationCode, DeviceName, GroupName, Outcome, PolicyName,
    SerialNumber, UserName,
};
use crate::error::Error;
use crate::guardrail_iam;
use crate::guardrails::{self, RoleGrants, StopKind, StopTarget};
use crate::kill_switch::KillSwitch;
use crate::mfa;
use crate::mfa_policy;
use crate::password_policy::{self, PasswordPolicy};
use crate::reset_password;
use crate::service::Service;

/// A started enrollment on the wire: the one response that carries its seed.
fn enrollment_to_pb(enrollment: &mfa::Enrollment) -> pb::StartMfaEnrollmentResponse {
    pb::StartMfaEnrollmentResponse {
        serial_number: enrollment.serial_number.as_str().to_owned(),
        otpauth_uri: enrollment.otpauth_uri.expose_secret().to_owned(),
        qr_code_png: enrollment.qr_code_png.expose_secret().to_vec(),
        base32_string_seed: enrollment.base32_seed.expose_secret().to_owned(),
    }
}

/// The gRPC face of the identity service.
#[derive(Debug, Clone)]
pub struct IdentityApi {
    service: Service,
    kill_switch: KillSwitch,
}

impl IdentityApi {
    pub fn new(service: Service, kill_switch: KillSwitch) -> Self {
        Self {
            service,
            kill_switch,
        }
    }
}

fn outcome_to_pb(o: Outcome) -> i32 {
    (match o {
        Outcome::Created => pb::Outcome::Created,
        Outcome::Updated => pb::Outcome::Updated,
        Outcome::Unchanged => pb::Outcome::Unchanged,
        Outcome::Deleted => pb::Outcome::Deleted,
        Outcome::Absent => pb::Outcome::Absent,
    }) as i32
}

fn policy_to_pb(p: &PasswordPolicy) -> pb::PasswordPolicy {
    pb::PasswordPolicy {
        minimum_password_length: p.minimum_password_length,
        require_symbols: p.require_symbols,
        require_numbers: p.require_numbers,
        require_uppercase_characters: p.require_uppercase_characters,
        require_lowercase_characters: p.require_lowercase_characters,
        allow_users_to_change_password: p.allow_users_to_change_password,
        max_password_age: p.max_password_age,
        password_reuse_prevention: p.password_reuse_prevention,
        hard_expiry: p.hard_expiry,
    }
}

/// Unset fields take the CIS defaults.
fn policy_from_pb(r: &pb::EnsurePasswordPolicyRequest) -> PasswordPolicy {
    let cis = PasswordPolicy::CIS;
    PasswordPolicy {
        minimum_password_length: r
            .minimum_password_length
            .unwrap_or(cis.minimum_password_length),
        require_symbols: r.require_symbols.unwrap_or(cis.require_symbols),
        require_numbers: r.require_numbers.unwrap_or(cis.require_numbers),
        require_uppercase_characters: r
            .require_uppercase_characters
            .unwrap_or(cis.require_uppercase_characters),
        require_lowercase_characters: r
            .require_lowercase_characters
            .unwrap_or(cis.require_lowercase_characters),
        allow_users_to_change_password: r
            .allow_users_to_change_password
            .unwrap_or(cis.allow_users_to_change_password),
        max_password_age: r.max_password_age.unwrap_or(cis.max_password_age),
        password_reuse_prevention: r
            .password_reuse_prevention
            .unwrap_or(cis.password_reuse_prevention),
        hard_expiry: r.hard_expiry.unwrap_or(cis.hard_expiry),
    }
}

fn admin_spec_from_pb(r: pb::EnsureAdminRequest) -> Result<AdminSpec, Error> {
    let user = UserName::parse("user_name", &r.user_name)?;
    let group = GroupName::or_default("group_name", &r.group_name)?;
    let group_policies = if r.group_policy_arns.is_empty() {
        domain::parse_policy_arns("group_policy_arns", &[ADMINISTRATOR_ACCESS.to_owned()])?
    } else {
        domain::parse_policy_arns("group_policy_arns", &r.group_policy_arns)?
    };
    let user_policies = domain::parse_policy_arns("user_policy_arns", &r.user_policy_arns)?;
    Ok(AdminSpec {
        user,
        group,
        group_policies,
        user_policies,
        console_access: r.console_access.unwrap_or(true),
        programmatic_access: r.programmatic_access,
        allow_root_bootstrap: r.allow_root_bootstrap,
    })
}

fn severity_to_pb(s: Severity) -> i32 {
    (match s {
        Severity::Info => pb::Severity::Info,
        Severity::Low => pb::Severity::Low,
        Severity::Medium => pb::Severity::Medium,
        Severity::High => pb::Severity::High,
        Severity::Critical => pb::Severity::Critical,
    }) as i32
}

#[tonic::async_trait]
impl Identity for IdentityApi {
    #[tracing::instrument(skip_all)]
    async fn audit_account(
        &self,
        request: Request<pb::AuditAccountRequest>,
    ) -> Result<Response<pb::AuditAccountResponse>, Status> {
        let max_age = request
            .into_inner()
            .access_key_max_age_days
            .unwrap_or(audit::DEFAULT_KEY_MAX_AGE_DAYS);
        if max_age == 0 {
            return Err(Error::invalid("access_key_max_age_days", "must be at least 1 day").into());
        }
        let report = audit::audit(&self.service, max_age).await?;
        let now = time::OffsetDateTime::now_utc();
        let facts = &report.facts;
        Ok(Response::new(pb::AuditAccountResponse {
            caller: Some(pb::CallerIdentity {
                account: facts.caller.account.clone(),
                arn: facts.caller.arn.clone(),
                user_id: facts.caller.user_id.clone(),
                is_root: facts.caller.is_root(),
            }),
            root_mfa_enabled: facts.root_mfa_enabled,
            root_access_keys_present: facts.root_access_keys_present,
            password_policy: facts.password_policy.as_ref().map(policy_to_pb),
            users: facts
                .users
                .iter()
                .map(|u| pb::UserCredentials {
                    user_name: u.user.clone(),
                    arn: u.arn.clone(),
                    password_enabled: u.password_enabled,
                    mfa_active: u.mfa_active,
                    active_access_key_age_days: u
                        .active_keys_rotated
                        .iter()
                        .map(|t| u32::try_from((now - *t).whole_days().max(0)).unwrap_or(u32::MAX))
                        .collect(),
                })
                .collect(),
            failed_count: u32::try_from(report.failed()).unwrap_or(u32::MAX),
            findings: report
                .findings
                .into_iter()
                .map(|f| pb::Finding {
                    cis_control: f.cis_control.to_owned(),
                    title: f.title.to_owned(),
                    status: (match f.status {
                        CheckStatus::Pass => pb::CheckStatus::Pass,
                        CheckStatus::Fail => pb::CheckStatus::Fail,
                    }) as i32,
                    severity: severity_to_pb(f.severity),
                    resource: f.resource,
                    detail: f.detail,
                    recommendation: f.recommendation,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().user_name, root_bootstrap = request.get_ref().allow_root_bootstrap))]
    async fn ensure_admin(
        &self,
        request: Request<pb::EnsureAdminRequest>,
    ) -> Result<Response<pb::EnsureAdminResponse>, Status> {
        let spec = admin_spec_from_pb(request.into_inner())?;
        let result = admin::ensure_admin(&self.service, spec).await?;
        Ok(Response::new(pb::EnsureAdminResponse {
            user_name: result.user.as_str().to_owned(),
            user_arn: result.user_arn,
            group_name: result.group.as_str().to_owned(),
            outcome: outcome_to_pb(result.outcome),
            changes: result.changes,
            initial_password: result
                .initial_password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default(),
            password_reset_required: result.password_reset_required,
            access_key: result.access_key.map(|k| pb::AccessKey {
                access_key_id: k.access_key_id,
                secret_access_key: k.secret_access_key.expose_secret().to_owned(),
            }),
            console_sign_in_url: result.console_sign_in_url,
            recommendations: result.recommendations,
        }))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().user_name))]
    async fn delete_admin(
        &self,
        request: Request<pb::DeleteAdminRequest>,
    ) -> Result<Response<pb::DeleteAdminResponse>, Status> {
        let r = request.into_inner();
        let user = UserName::parse("user_name", &r.user_name)?;
        let group = if r.group_name.is_empty() {
            None
        } else {
            Some(GroupName::parse("group_name", &r.group_name)?)
        };
        let (outcome, removed) = admin::delete_admin(&self.service, user, group).await?;
        Ok(Response::new(pb::DeleteAdminResponse {
            outcome: outcome_to_pb(outcome),
            removed,
        }))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().user_name, group = %request.get_ref().group_name))]
    async fn describe_admin(
        &self,
        request: Request<pb::DescribeAdminRequest>,
    ) -> Result<Response<pb::DescribeAdminResponse>, Status> {
        let r = request.into_inner();
        if r.user_name.is_empty() && r.group_name.is_empty() {
            return Err(Status::invalid_argument(
                "user_name, group_name: give the user, the group, or both",
            ));
        }
        let user = (!r.user_name.is_empty())
            .then(|| UserName::parse("user_name", &r.user_name))
            .transpose()?;
        let group = (!r.group_name.is_empty())
            .then(|| GroupName::parse("group_name", &r.group_name))
            .transpose()?;
        let state = admin::describe_admin(&self.service, user.as_ref(), group.as_ref()).await?;
        Ok(Response::new(pb::DescribeAdminResponse {
            user_exists: state.user_exists,
            group_exists: state.group_exists,
            in_group: state.in_group,
            group_policy_arns: state.group_policy_arns,
            user_policy_arns: state.user_policy_arns,
            console_access: state.console_access,
            access_keys: u32::try_from(state.access_keys).unwrap_or(u32::MAX),
        }))
    }

    #[tracing::instrument(skip_all, fields(policies = request.get_ref().policy_arns.len()))]
    async fn check_policies(
        &self,
        request: Request<pb::CheckPoliciesRequest>,
    ) -> Result<Response<pb::CheckPoliciesResponse>, Status> {
        let r = request.into_inner();
        let policies = domain::parse_policy_arns("policy_arns", &r.policy_arns)?;
        let missing = admin::missing_policies(&self.service, &policies).await?;
        Ok(Response::new(pb::CheckPoliciesResponse {
            missing: missing
                .iter()
                .map(|(_, arn)| arn.as_str().to_owned())
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().user_name))]
    async fn start_mfa_enrollment(
        &self,
        request: Request<pb::StartMfaEnrollmentRequest>,
    ) -> Result<Response<pb::StartMfaEnrollmentResponse>, Status> {
        let r = request.into_inner();
        let (user, device) = user_and_device(&r.user_name, &r.device_name)?;
        let enrollment = mfa::start(&self.service, user, device, mfa::Start::First).await?;
        Ok(Response::new(enrollment_to_pb(&enrollment)))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().user_name))]
    async fn restart_mfa_enrollment(
        &self,
        request: Request<pb::RestartMfaEnrollmentRequest>,
    ) -> Result<Response<pb::StartMfaEnrollmentResponse>, Status> {
        let r = request.into_inner();
        let (user, device) = user_and_device(&r.user_name, &r.device_name)?;
        let enrollment = mfa::start(&self.service, user, device, mfa::Start::Restart).await?;
        Ok(Response::new(enrollment_to_pb(&enrollment)))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().user_name))]
    async fn reset_login_password(
        &self,
        request: Request<pb::ResetLoginPasswordRequest>,
    ) -> Result<Response<pb::ResetLoginPasswordResponse>, Status> {
        let user = UserName::parse("user_name", &request.get_ref().user_name)?;
        let new = reset_password::reset(&self.service, user).await?;
        Ok(Response::new(pb::ResetLoginPasswordResponse {
            user_name: new.user.as_str().to_owned(),
            new_password: new.password.expose_secret().to_owned(),
            password_reset_required: new.password_reset_required,
            console_sign_in_url: new.console_sign_in_url,
        }))
    }

    #[tracing::instrument(skip_all, fields(user = %request.get_ref().user_name))]
    async fn complete_mfa_enrollment(
        &self,
        request: Request<pb::CompleteMfaEnrollmentRequest>,
    ) -> Result<Response<pb::CompleteMfaEnrollmentResponse>, Status> {
        let r = request.into_inner();
        let user = UserName::parse("user_name", &r.user_name)?;
        let serial = if r.serial_number.is_empty() {
            None
        } else {
            Some(SerialNumber::parse("serial_number", &r.serial_number)?)
        };
        let code_1 = AuthenticationCode::parse("authentication_code_1", &r.authentication_code_1)?;
        let code_2 = AuthenticationCode::parse("authentication_code_2", &r.authentication_code_2)?;
        if code_1 == code_2 {
            return Err(Error::invalid(
                "authentication_code_2",
                "is the same as authentication_code_1: wait for the app to show the next code",
            )
            .into());
        }
        let (serial, outcome) = mfa::complete(&self.service, user, serial, code_1, code_2).await?;
        Ok(Response::new(pb::CompleteMfaEnrollmentResponse {
            serial_number: serial.as_str().to_owned(),
            outcome: outcome_to_pb(outcome),
        }))
    }

    #[tracing::instrument(skip_all, fields(group = %request.get_ref().group_name))]
    async fn ensure_mfa_policy(
        &self,
        request: Request<pb::EnsureMfaPolicyRequest>,
    ) -> Result<Response<pb::EnsureMfaPolicyResponse>, Status> {
        let r = request.into_inner();
        let group = GroupName::or_default("group_name", &r.group_name)?;
        let policy = PolicyName::or_default_mfa("policy_name", &r.policy_name)?;
        let (policy_arn, outcome, changes) =
            mfa_policy::ensure(&self.service, group, policy).await?;
        Ok(Response::new(pb::EnsureMfaPolicyResponse {
            policy_arn,
            outcome: outcome_to_pb(outcome),
            changes,
        }))
    }

    #[tracing::instrument(skip_all, fields(policy = %request.get_ref().policy_name))]
    async fn delete_mfa_policy(
        &self,
        request: Request<pb::DeleteMfaPolicyRequest>,
    ) -> Result<Response<pb::DeleteMfaPolicyResponse>, Status> {
        let r = request.into_inner();
        let policy = PolicyName::or_default_mfa("policy_name", &r.policy_name)?;
        let (outcome, removed) = mfa_policy::delete(&self.service, policy).await?;
        Ok(Response::new(pb::DeleteMfaPolicyResponse {
            outcome: outcome_to_pb(outcome),
            removed,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_password_policy(
        &self,
        _request: Request<pb::DeletePasswordPolicyRequest>,
    ) -> Result<Response<pb::DeletePasswordPolicyResponse>, Status> {
        let outcome = password_policy::delete(&self.service).await?;
        Ok(Response::new(pb::DeletePasswordPolicyResponse {
            outcome: outcome_to_pb(outcome),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn ensure_password_policy(
        &self,
        request: Request<pb::EnsurePasswordPolicyRequest>,
    ) -> Result<Response<pb::EnsurePasswordPolicyResponse>, Status> {
        let wanted = policy_from_pb(request.get_ref());
        let (policy, outcome) = password_policy::ensure(&self.service, wanted).await?;
        Ok(Response::new(pb::EnsurePasswordPolicyResponse {
            policy: Some(policy_to_pb(&policy)),
            outcome: outcome_to_pb(outcome),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn describe_billing_access(
        &self,
        _request: Request<pb::DescribeBillingAccessRequest>,
    ) -> Result<Response<pb::DescribeBillingAccessResponse>, Status> {
        let access = billing::describe(&self.service).await?;
        Ok(Response::new(pb::DescribeBillingAccessResponse {
            state: (match access.state {
                BillingState::AppearsDone => pb::BillingAccessState::AppearsDone,
                BillingState::NotDone => pb::BillingAccessState::NotDone,
                BillingState::Unknown => pb::BillingAccessState::Unknown,
            }) as i32,
            console_url: billing::CONSOLE_URL.to_owned(),
            instructions: billing::INSTRUCTIONS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            evidence: access.evidence,
        }))
    }

    #[tracing::instrument(skip_all, fields(group = %request.get_ref().group_name))]
    async fn release_guardrail(
        &self,
        request: Request<pb::ReleaseGuardrailRequest>,
    ) -> Result<Response<pb::ReleaseGuardrailResponse>, Status> {
        let caller = request
            .extensions()
            .get::<groundwork_kit::auth::Caller>()
            .cloned()
            .unwrap_or(groundwork_kit::auth::Caller {
                role: groundwork_kit::auth::Role::Anonymous,
                subject: None,
            });
        let r = request.into_inner();
        let group = GroupName::or_default("group_name", &r.group_name)?;
        let released = self.kill_switch.release(group, &r.reason, &caller).await?;
        Ok(Response::new(pb::ReleaseGuardrailResponse {
            group_name: released.group_name,
            policy_arn: released.policy_arn,
            trigger_event_id: released.trigger_event_id.unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(group = %request.get_ref().group_name))]
    async fn describe_guardrails(
        &self,
        request: Request<pb::DescribeGuardrailsRequest>,
    ) -> Result<Response<pb::DescribeGuardrailsResponse>, Status> {
        let r = request.into_inner();
        let group = (!r.group_name.is_empty())
            .then(|| GroupName::parse("group_name", &r.group_name))
            .transpose()?;
        let states = self.kill_switch.describe(group).await?;
        Ok(Response::new(pb::DescribeGuardrailsResponse {
            guardrails: states.iter().map(|s| s.to_pb()).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn ensure_guardrail_policy(
        &self,
        _request: Request<pb::EnsureGuardrailPolicyRequest>,
    ) -> Result<Response<pb::GuardrailResponse>, Status> {
        let done = guardrail_iam::ensure_policy(&self.service).await?;
        Ok(Response::new(done_to_pb(done)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_guardrail_policy(
        &self,
        _request: Request<pb::DeleteGuardrailPolicyRequest>,
    ) -> Result<Response<pb::GuardrailResponse>, Status> {
        let done = guardrail_iam::delete_policy(&self.service).await?;
        Ok(Response::new(done_to_pb(done)))
    }

    #[tracing::instrument(skip_all)]
    async fn ensure_budgets_action_role(
        &self,
        request: Request<pb::EnsureBudgetsActionRoleRequest>,
    ) -> Result<Response<pb::GuardrailResponse>, Status> {
        let grants = grants_from_pb(request.into_inner().grants.unwrap_or_default())?;
        let done = guardrail_iam::ensure_role(&self.service, grants).await?;
        Ok(Response::new(done_to_pb(done)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_budgets_action_role(
        &self,
        _request: Request<pb::DeleteBudgetsActionRoleRequest>,
    ) -> Result<Response<pb::GuardrailResponse>, Status> {
        let done = guardrail_iam::delete_role(&self.service).await?;
        Ok(Response::new(done_to_pb(done)))
    }

    #[tracing::instrument(skip_all)]
    async fn describe_guardrail_resources(
        &self,
        request: Request<pb::DescribeGuardrailResourcesRequest>,
    ) -> Result<Response<pb::DescribeGuardrailResourcesResponse>, Status> {
        let grants = grants_from_pb(request.into_inner().grants.unwrap_or_default())?;
        let state = guardrail_iam::describe(&self.service, &grants).await?;
        Ok(Response::new(pb::DescribeGuardrailResourcesResponse {
            policy_arn: state.policy_arn,
            policy_exists: state.policy_exists,
            policy_current: state.policy_current,
            role_arn: state.role_arn,
            role_exists: state.role_exists,
            role_current: state.role_current,
        }))
    }
}

fn done_to_pb(done: guardrail_iam::Done) -> pb::GuardrailResponse {
    pb::GuardrailResponse {
        arn: done.arn,
        outcome: outcome_to_pb(done.outcome),
        changes: done.changes,
    }
}

/// The grants, validated: IAM names for groups and users, managed policy ARNs, and
/// instance ids in AWS Budgets' format.
fn grants_from_pb(g: pb::BudgetsActionGrants) -> Result<RoleGrants, Error> {
    let policy_arns = domain::parse_policy_arns("grants.policy_arns", &g.policy_arns)?
        .into_iter()
        .map(|(_, a)| a.as_str().to_owned())
        .collect();
    let groups = g
        .group_names
        .iter()
        .map(|n| GroupName::parse("grants.group_names", n).map(|n| n.as_str().to_owned()))
        .collect::<Result<_, _>>()?;
    let users = g
        .user_names
        .iter()
        .map(|n| UserName::parse("grants.user_names", n).map(|n| n.as_str().to_owned()))
        .collect::<Result<_, _>>()?;
    let mut stop = Vec::new();
    for (i, t) in g.stop_instances.into_iter().enumerate() {
        let field = format!("grants.stop_instances[{i}]");
        let kind = match t.kind.as_str() {
            "EC2" => StopKind::Ec2,
            "RDS" => StopKind::Rds,
            other => {
                return Err(Error::invalid(
                    format!("{field}.kind"),
                    format!("'{other}' is not EC2 or RDS"),
                ));
            }
        };
        if !guardrails::is_region(&t.region) {
            return Err(Error::invalid(
                format!("{field}.region"),
                format!("'{}' is not an AWS region such as eu-west-1", t.region),
            ));
        }
        if t.instance_ids.is_empty() {
            return Err(Error::invalid(
                format!("{field}.instance_ids"),
                "name at least one instance",
            ));
        }
        if let Some(bad) = t
            .instance_ids
            .iter()
            .find(|id| !guardrails::is_instance_id(id))
        {
            return Err(Error::invalid(
                format!("{field}.instance_ids"),
                format!(
                    "'{bad}' is neither an EC2 instance id (i-…) nor an RDS DB instance identifier"
                ),
            ));
        }
        stop.push(StopTarget {
            kind,
            region: t.region,
            instance_ids: t.instance_ids,
        });
    }
    Ok(RoleGrants {
        deny_new_spend: g.deny_new_spend,
        policy_arns,
        groups,
        users,
        stop,
    })
}

/// The user of an MFA call and its device: the one named, else the user's own name.
fn user_and_device(user_name: &str, device_name: &str) -> Result<(UserName, DeviceName), Error> {
    let user = UserName::parse("user_name", user_name)?;
    let device = if device_name.is_empty() {
        DeviceName::parse("user_name", user_name)?
    } else {
        DeviceName::parse("device_name", device_name)?
    };
    Ok((user, device))
}
