//! `groundwork identity audit|ensure-admin|delete-admin|mfa start|mfa complete|mfa policy|
//! password-policy|billing-access`: the identity service's API for people and scripts.
//!
//! Secrets the service returns once (the initial password, a secret access key, the MFA
//! seed) are printed once, to stdout, with a reminder that they cannot be shown again.

use clap::{Args, Subcommand};
use groundwork_proto::v1 as pb;
use serde_json::json;

use crate::cmd::one_time::{self, Delivery};
use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::{OutputFormat, print_json, print_table};

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Audit root hygiene, the password policy, MFA and access keys (CIS controls).
    Audit {
        /// Access keys older than this many days are findings.
        #[arg(long, default_value_t = 90)]
        key_max_age_days: u32,
    },
    /// Create or converge the admin group and user (prints a new password once).
    EnsureAdmin(EnsureAdminArgs),
    /// Remove an admin user with its keys, MFA devices, login profile and policies.
    DeleteAdmin {
        /// The IAM user name.
        #[arg(long)]
        user: String,
        /// Also delete this group (its policies detached) once nobody else is in it.
        #[arg(long)]
        group: Option<String>,
    },
    /// Virtual MFA for a user: start, complete, and the MFA-enforcement policy.
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// Set the account password policy; unset options take the CIS defaults.
    PasswordPolicy(PasswordPolicyArgs),
    /// How to switch on IAM access to billing (a console step), and whether it is done.
    BillingAccess,
    /// The console password was lost: set a new generated one (to be changed at the next
    /// sign-in) and show it once, on a terminal or with --secrets-dir (a person's decision,
    /// recorded as `Login Password Reset`).
    ResetPassword {
        /// The IAM user name.
        #[arg(long)]
        user: String,
        /// Write the new password to a file of mode 0600 in `DIR/<user>-password/` instead
        /// of the terminal.
        #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = one_time::DEFAULT_DIR)]
        secrets_dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct EnsureAdminArgs {
    /// The IAM user name.
    #[arg(long)]
    user: String,
    /// The admin group.
    #[arg(long, default_value = "Admins")]
    group: String,
    /// A managed policy ARN for the group (repeatable); AdministratorAccess when none.
    #[arg(long = "group-policy")]
    group_policies: Vec<String>,
    /// An extra managed policy ARN for the user (repeatable).
    #[arg(long = "user-policy")]
    user_policies: Vec<String>,
    /// Do not create a console login profile (password).
    #[arg(long)]
    no_console: bool,
    /// Create an access key if the user has none (the secret is printed once).
    #[arg(long)]
    programmatic: bool,
    /// Allow this one bootstrap step with the account's root credentials.
    #[arg(long)]
    allow_root_bootstrap: bool,
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Create a virtual MFA device; prints its otpauth URI and seed once and writes the QR code.
    Start {
        /// The IAM user name.
        #[arg(long)]
        user: String,
        /// The device name; the user name when omitted.
        #[arg(long)]
        device: Option<String>,
        /// Write the QR code PNG here (scan it with an authenticator app).
        #[arg(long)]
        qr_png: Option<std::path::PathBuf>,
    },
    /// Enable the device with two consecutive codes from the authenticator app.
    Complete {
        /// The IAM user name.
        #[arg(long)]
        user: String,
        /// The device's serial number from `mfa start`; the user's default device when omitted.
        #[arg(long)]
        serial_number: Option<String>,
        /// The first code.
        code_1: String,
        /// The next code the app shows.
        code_2: String,
    },
    /// Attach the policy that denies almost everything until the user signs in with MFA.
    Policy {
        /// The group to attach it to.
        #[arg(long, default_value = "Admins")]
        group: String,
        /// The customer managed policy's name.
        #[arg(long, default_value = "Groundwork-RequireMFA")]
        policy_name: String,
    },
}

#[derive(Debug, Args)]
pub struct PasswordPolicyArgs {
    /// Minimum length (CIS: 14).
    #[arg(long)]
    minimum_password_length: Option<u32>,
    #[arg(long)]
    require_symbols: Option<bool>,
    #[arg(long)]
    require_numbers: Option<bool>,
    #[arg(long)]
    require_uppercase_characters: Option<bool>,
    #[arg(long)]
    require_lowercase_characters: Option<bool>,
    #[arg(long)]
    allow_users_to_change_password: Option<bool>,
    /// Days until a password expires; 0 for never.
    #[arg(long)]
    max_password_age: Option<u32>,
    /// How many previous passwords cannot be reused (CIS: 24); 0 for no limit.
    #[arg(long)]
    password_reuse_prevention: Option<u32>,
    #[arg(long)]
    hard_expiry: Option<bool>,
}

fn outcome(value: i32) -> &'static str {
    match pb::Outcome::try_from(value) {
        Ok(pb::Outcome::Created) => "created",
        Ok(pb::Outcome::Updated) => "updated",
        Ok(pb::Outcome::Unchanged) => "unchanged",
        Ok(pb::Outcome::Deleted) => "deleted",
        Ok(pb::Outcome::Absent) => "absent",
        _ => "unknown",
    }
}

fn severity(value: i32) -> &'static str {
    match pb::Severity::try_from(value) {
        Ok(pb::Severity::Info) => "INFO",
        Ok(pb::Severity::Low) => "LOW",
        Ok(pb::Severity::Medium) => "MEDIUM",
        Ok(pb::Severity::High) => "HIGH",
        Ok(pb::Severity::Critical) => "CRITICAL",
        _ => "-",
    }
}

fn status(value: i32) -> &'static str {
    match pb::CheckStatus::try_from(value) {
        Ok(pb::CheckStatus::Pass) => "PASS",
        Ok(pb::CheckStatus::Fail) => "FAIL",
        _ => "UNKNOWN",
    }
}

fn policy_json(p: &pb::PasswordPolicy) -> serde_json::Value {
    json!({
        "MinimumPasswordLength": p.minimum_password_length,
        "RequireSymbols": p.require_symbols,
        "RequireNumbers": p.require_numbers,
        "RequireUppercaseCharacters": p.require_uppercase_characters,
        "RequireLowercaseCharacters": p.require_lowercase_characters,
        "AllowUsersToChangePassword": p.allow_users_to_change_password,
        "MaxPasswordAge": p.max_password_age,
        "PasswordReusePrevention": p.password_reuse_prevention,
        "HardExpiry": p.hard_expiry,
    })
}

pub async fn run(
    command: IdentityCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        IdentityCommand::Audit { key_max_age_days } => {
            audit(endpoints, key_max_age_days, output).await
        }
        IdentityCommand::EnsureAdmin(args) => ensure_admin(endpoints, args, output).await,
        IdentityCommand::DeleteAdmin { user, group } => {
            delete_admin(endpoints, user, group.unwrap_or_default(), output).await
        }
        IdentityCommand::Mfa(MfaCommand::Start {
            user,
            device,
            qr_png,
        }) => mfa_start(endpoints, user, device, qr_png, output).await,
        IdentityCommand::Mfa(MfaCommand::Complete {
            user,
            serial_number,
            code_1,
            code_2,
        }) => mfa_complete(endpoints, user, serial_number, code_1, code_2, output).await,
        IdentityCommand::Mfa(MfaCommand::Policy { group, policy_name }) => {
            mfa_policy(endpoints, group, policy_name, output).await
        }
        IdentityCommand::PasswordPolicy(args) => password_policy(endpoints, args, output).await,
        IdentityCommand::BillingAccess => billing_access(endpoints, output).await,
        IdentityCommand::ResetPassword { user, secrets_dir } => {
            reset_password(endpoints, user, secrets_dir, output).await
        }
    }
}

/// `groundwork identity reset-password`.
async fn reset_password(
    endpoints: &Endpoints,
    user: String,
    secrets_dir: Option<std::path::PathBuf>,
    output: OutputFormat,
) -> Result<(), CliError> {
    // Refused before the call: a new password that nobody can see would be lost as well.
    let delivery = Delivery::required(secrets_dir, "groundwork identity reset-password")?;
    let r = endpoints
        .identity()
        .await?
        .reset_login_password(pb::ResetLoginPasswordRequest {
            user_name: user.clone(),
        })
        .await?
        .into_inner();
    let secret = one_time::Secret {
        resource: format!("admin-user/{}", r.user_name),
        name: "new_password".into(),
        value: r.new_password,
        png: Vec::new(),
        expires_at: String::new(),
    };
    one_time::hand_over(&[secret], &format!("{user}-password"), &delivery, output)?;
    if output == OutputFormat::Table {
        println!(
            "sign in as {} at {}; AWS asks for a new password at once",
            r.user_name, r.console_sign_in_url
        );
    }
    Ok(())
}

async fn audit(
    endpoints: &Endpoints,
    key_max_age_days: u32,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.identity().await?;
    let r = client
        .audit_account(pb::AuditAccountRequest {
            access_key_max_age_days: Some(key_max_age_days),
        })
        .await?
        .into_inner();
    let caller = r.caller.clone().unwrap_or_default();
    match output {
        OutputFormat::Json => print_json(&json!({
            "Caller": {"Account": caller.account, "Arn": caller.arn, "UserId": caller.user_id, "IsRoot": caller.is_root},
            "RootMfaEnabled": r.root_mfa_enabled,
            "RootAccessKeysPresent": r.root_access_keys_present,
            "PasswordPolicy": r.password_policy.as_ref().map(policy_json),
            "Users": r.users.iter().map(|u| json!({
                "UserName": u.user_name, "Arn": u.arn, "PasswordEnabled": u.password_enabled,
                "MfaActive": u.mfa_active, "ActiveAccessKeyAgeDays": u.active_access_key_age_days,
            })).collect::<Vec<_>>(),
            "Findings": r.findings.iter().map(|f| json!({
                "CisControl": f.cis_control, "Title": f.title, "Status": status(f.status),
                "Severity": severity(f.severity), "Resource": f.resource, "Detail": f.detail,
                "Recommendation": f.recommendation,
            })).collect::<Vec<_>>(),
            "FailedCount": r.failed_count,
        })),
        OutputFormat::Table => {
            println!(
                "caller: {}{}",
                caller.arn,
                if caller.is_root { " (ROOT)" } else { "" }
            );
            let rows: Vec<Vec<String>> = r
                .findings
                .iter()
                .map(|f| {
                    vec![
                        f.cis_control.clone(),
                        status(f.status).to_owned(),
                        severity(f.severity).to_owned(),
                        f.resource.clone(),
                        f.detail.clone(),
                    ]
                })
                .collect();
            print_table(&["CIS", "STATUS", "SEVERITY", "RESOURCE", "DETAIL"], &rows);
            for f in r.findings.iter().filter(|f| !f.recommendation.is_empty()) {
                println!("- {} {}: {}", f.cis_control, f.resource, f.recommendation);
            }
            println!("{} of {} checks failed", r.failed_count, r.findings.len());
        }
    }
    Ok(())
}

async fn ensure_admin(
    endpoints: &Endpoints,
    args: EnsureAdminArgs,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.identity().await?;
    let r = client
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: args.user,
            group_name: args.group,
            group_policy_arns: args.group_policies,
            user_policy_arns: args.user_policies,
            console_access: Some(!args.no_console),
            programmatic_access: args.programmatic,
            allow_root_bootstrap: args.allow_root_bootstrap,
        })
        .await?
        .into_inner();
    match output {
        OutputFormat::Json => print_json(&json!({
            "UserName": r.user_name,
            "UserArn": r.user_arn,
            "GroupName": r.group_name,
            "Outcome": outcome(r.outcome),
            "Changes": r.changes,
            "InitialPassword": (!r.initial_password.is_empty()).then_some(&r.initial_password),
            "PasswordResetRequired": r.password_reset_required,
            "AccessKey": r.access_key.as_ref().map(|k| json!({
                "AccessKeyId": k.access_key_id, "SecretAccessKey": k.secret_access_key,
            })),
            "ConsoleSignInUrl": r.console_sign_in_url,
            "Recommendations": r.recommendations,
        })),
        OutputFormat::Table => {
            println!(
                "{} {} ({}) in group {}",
                outcome(r.outcome),
                r.user_name,
                r.user_arn,
                r.group_name
            );
            for change in &r.changes {
                println!("  - {change}");
            }
            if !r.initial_password.is_empty() {
                println!(
                    "initial console password (shown once, cannot be fetched again): {}",
                    r.initial_password
                );
                println!("sign in at: {}", r.console_sign_in_url);
            }
            if let Some(key) = &r.access_key {
                println!(
                    "access key (the secret is shown once): {} {}",
                    key.access_key_id, key.secret_access_key
                );
            }
            for rec in &r.recommendations {
                println!("next: {rec}");
            }
        }
    }
    Ok(())
}

async fn delete_admin(
    endpoints: &Endpoints,
    user: String,
    group: String,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.identity().await?;
    let r = client
        .delete_admin(pb::DeleteAdminRequest {
            user_name: user.clone(),
            group_name: group,
        })
        .await?
        .into_inner();
    match output {
        OutputFormat::Json => {
            print_json(&json!({"Outcome": outcome(r.outcome), "Removed": r.removed}))
        }
        OutputFormat::Table => {
            println!("{} {user}", outcome(r.outcome));
            for item in &r.removed {
                println!("  - removed {item}");
            }
        }
    }
    Ok(())
}

async fn mfa_start(
    endpoints: &Endpoints,
    user: String,
    device: Option<String>,
    qr_png: Option<std::path::PathBuf>,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.identity().await?;
    let r = client
        .start_mfa_enrollment(pb::StartMfaEnrollmentRequest {
            user_name: user.clone(),
            device_name: device.unwrap_or_default(),
        })
        .await?
        .into_inner();
    if let Some(path) = &qr_png {
        std::fs::write(path, &r.qr_code_png).map_err(|e| {
            CliError::failed(format!(
                "the device was created, but the QR code could not be written to {}: {e}; \
                 enter the seed by hand instead",
                path.display()
            ))
        })?;
    }
    match output {
        OutputFormat::Json => print_json(&json!({
            "SerialNumber": r.serial_number,
            "OtpauthUri": r.otpauth_uri,
            "Base32StringSeed": r.base32_string_seed,
            "QrCodePng": qr_png.as_ref().map(|p| p.display().to_string()),
        })),
        OutputFormat::Table => {
            println!("serial number: {}", r.serial_number);
            if let Some(path) = &qr_png {
                println!(
                    "QR code written to {} (scan it, then delete the file)",
                    path.display()
                );
            }
            println!("otpauth URI (shown once): {}", r.otpauth_uri);
            println!(
                "seed for manual entry (shown once): {}",
                r.base32_string_seed
            );
            println!(
                "then: groundwork identity mfa complete --user {user} --serial-number {} CODE1 CODE2",
                r.serial_number
            );
        }
    }
    Ok(())
}

async fn mfa_complete(
    endpoints: &Endpoints,
    user: String,
    serial_number: Option<String>,
    code_1: String,
    code_2: String,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.identity().await?;
    let r = client
        .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest {
            user_name: user,
            serial_number: serial_number.unwrap_or_default(),
            authentication_code_1: code_1,
            authentication_code_2: code_2,
        })
        .await?
        .into_inner();
    match output {
        OutputFormat::Json => {
            print_json(&json!({"SerialNumber": r.serial_number, "Outcome": outcome(r.outcome)}))
        }
        OutputFormat::Table => {
            let what = if r.outcome == pb::Outcome::Unchanged as i32 {
                "already enabled"
            } else {
                "enabled"
            };
            println!("MFA device {} {what}", r.serial_number);
        }
    }
    Ok(())
}

async fn mfa_policy(
    endpoints: &Endpoints,
    group: String,
    policy_name: String,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.identity().await?;
    let r = client
        .ensure_mfa_policy(pb::EnsureMfaPolicyRequest {
            group_name: group,
            policy_name,
        })
        .await?
        .into_inner();
    match output {
        OutputFormat::Json => print_json(
            &json!({"PolicyArn": r.policy_arn, "Outcome": outcome(r.outcome), "Changes": r.changes}),
        ),
        OutputFormat::Table => {
            println!("{} {}", outcome(r.outcome), r.policy_arn);
            for change in &r.changes {
                println!("  - {change}");
            }
        }
    }
    Ok(())
}

async fn password_policy(
    endpoints: &Endpoints,
    args: PasswordPolicyArgs,
    output: OutputFormat,
) -> Result<(), CliError> {
    let mut client = endpoints.identity().await?;
    let r = client
        .ensure_password_policy(pb::EnsurePasswordPolicyRequest {
            minimum_password_length: args.minimum_password_length,
            require_symbols: args.require_symbols,
            require_numbers: args.require_numbers,
            require_uppercase_characters: args.require_uppercase_characters,
            require_lowercase_characters: args.require_lowercase_characters,
            allow_users_to_change_password: args.allow_users_to_change_password,
            max_password_age: args.max_password_age,
            password_reuse_prevention: args.password_reuse_prevention,
            hard_expiry: args.hard_expiry,
        })
        .await?
        .into_inner();
    let policy = r.policy.unwrap_or_default();
    match output {
        OutputFormat::Json => print_json(
            &json!({"Outcome": outcome(r.outcome), "PasswordPolicy": policy_json(&policy)}),
        ),
        OutputFormat::Table => {
            println!("password policy {}", outcome(r.outcome));
            let rows: Vec<Vec<String>> = policy_json(&policy)
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| vec![k.clone(), v.to_string()])
                        .collect()
                })
                .unwrap_or_default();
            print_table(&["SETTING", "VALUE"], &rows);
        }
    }
    Ok(())
}

async fn billing_access(endpoints: &Endpoints, output: OutputFormat) -> Result<(), CliError> {
    let mut client = endpoints.identity().await?;
    let r = client
        .describe_billing_access(pb::DescribeBillingAccessRequest {})
        .await?
        .into_inner();
    let state = match pb::BillingAccessState::try_from(r.state) {
        Ok(pb::BillingAccessState::AppearsDone) => "appears done",
        Ok(pb::BillingAccessState::NotDone) => "not done",
        _ => "unknown",
    };
    match output {
        OutputFormat::Json => print_json(&json!({
            "State": state, "ConsoleUrl": r.console_url, "Instructions": r.instructions, "Evidence": r.evidence,
        })),
        OutputFormat::Table => {
            println!("IAM access to billing: {state} ({})", r.evidence);
            println!("console: {}", r.console_url);
            for (i, step) in r.instructions.iter().enumerate() {
                println!("{}. {step}", i + 1);
            }
        }
    }
    Ok(())
}
