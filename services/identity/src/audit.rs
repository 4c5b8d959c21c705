//! AuditAccount: the facts (caller, account summary, password policy, credential report)
//! gathered from AWS, then judged by a pure function against the CIS AWS Foundations
//! Benchmark v1.4.0 controls that concern identity.

use aws_sdk_iam::types::SummaryKeyType;
use groundwork_cloud::{AwsError, CallerIdentity};
use groundwork_events::catalog::{AccountAudited, AuditFinding};
use time::OffsetDateTime;

use crate::credential_report::{self, UserCredentials};
use crate::error::Error;
use crate::password_policy::{self, PasswordPolicy};
use crate::service::Service;

/// The benchmark the control numbers refer to.
pub const BENCHMARK: &str = "CIS AWS Foundations Benchmark v1.4.0";

/// Access keys older than this are findings unless the request says otherwise (CIS 1.14).
pub const DEFAULT_KEY_MAX_AGE_DAYS: u32 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Pass,
    Fail,
}

/// One judged control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub cis_control: &'static str,
    pub title: &'static str,
    pub status: CheckStatus,
    pub severity: Severity,
    pub resource: String,
    pub detail: String,
    pub recommendation: String,
}

/// Everything the audit looks at.
#[derive(Debug, Clone)]
pub struct Facts {
    pub caller: CallerIdentity,
    pub root_mfa_enabled: bool,
    pub root_access_keys_present: bool,
    pub password_policy: Option<PasswordPolicy>,
    pub users: Vec<UserCredentials>,
}

/// The audit's answer.
#[derive(Debug, Clone)]
pub struct Report {
    pub facts: Facts,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.status == CheckStatus::Fail)
            .count()
    }
}

struct Control {
    id: &'static str,
    title: &'static str,
    severity: Severity,
}

const ROOT_USE: Control = Control {
    id: "1.7",
    title: "Eliminate use of the 'root' user for administrative and daily tasks",
    severity: Severity::High,
};
const ROOT_KEYS: Control = Control {
    id: "1.4",
    title: "Ensure no 'root' user account access key exists",
    severity: Severity::Critical,
};
const ROOT_MFA: Control = Control {
    id: "1.5",
    title: "Ensure MFA is enabled for the 'root' user account",
    severity: Severity::Critical,
};
const PASSWORD_LENGTH: Control = Control {
    id: "1.8",
    title: "Ensure IAM password policy requires minimum length of 14 or greater",
    severity: Severity::Medium,
};
const PASSWORD_REUSE: Control = Control {
    id: "1.9",
    title: "Ensure IAM password policy prevents password reuse",
    severity: Severity::Medium,
};
const CONSOLE_MFA: Control = Control {
    id: "1.10",
    title: "Ensure multi-factor authentication (MFA) is enabled for all IAM users that have a console password",
    severity: Severity::High,
};
const KEY_ROTATION: Control = Control {
    id: "1.14",
    title: "Ensure access keys are rotated every 90 days or less",
    severity: Severity::Medium,
};

fn finding(
    control: &Control,
    pass: bool,
    resource: impl Into<String>,
    detail: impl Into<String>,
    recommendation: &str,
) -> Finding {
    Finding {
        cis_control: control.id,
        title: control.title,
        status: if pass {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        },
        severity: control.severity,
        resource: resource.into(),
        detail: detail.into(),
        recommendation: if pass {
            String::new()
        } else {
            recommendation.to_owned()
        },
    }
}

/// Judges the facts. `now` makes key ages reproducible in tests.
pub fn evaluate(facts: &Facts, now: OffsetDateTime, key_max_age_days: u32) -> Vec<Finding> {
    let mut out = Vec::new();
    out.push(finding(
        &ROOT_USE,
        !facts.caller.is_root(),
        facts.caller.arn.clone(),
        if facts.caller.is_root() {
            "these credentials are the root user's"
        } else {
            "these credentials are not the root user's"
        },
        "Create an admin user (groundwork identity ensure-admin --allow-root-bootstrap), \
         switch to its credentials, and delete the root access keys",
    ));
    out.push(finding(
        &ROOT_KEYS,
        !facts.root_access_keys_present,
        "root",
        if facts.root_access_keys_present {
            "the root user has access keys"
        } else {
            "the root user has no access keys"
        },
        "Sign in as root, open Security credentials, and delete every access key",
    ));
    out.push(finding(
        &ROOT_MFA,
        facts.root_mfa_enabled,
        "root",
        if facts.root_mfa_enabled {
            "the root user has MFA"
        } else {
            "the root user has no MFA device"
        },
        "Sign in as root, open Security credentials, and assign an MFA device",
    ));
    let policy_text =
        |p: &Option<PasswordPolicy>, f: fn(&PasswordPolicy) -> u32, what: &str| match p {
            Some(p) => format!("{what} is {}", f(p)),
            None => "the account has no password policy (AWS defaults apply)".to_owned(),
        };
    let length = facts
        .password_policy
        .map_or(0, |p| p.minimum_password_length);
    out.push(finding(
        &PASSWORD_LENGTH,
        length >= 14,
        "account",
        policy_text(
            &facts.password_policy,
            |p| p.minimum_password_length,
            "the minimum password length",
        ),
        "Run groundwork identity password-policy (CIS defaults: length 14, reuse prevention 24)",
    ));
    let reuse = facts
        .password_policy
        .map_or(0, |p| p.password_reuse_prevention);
    out.push(finding(
        &PASSWORD_REUSE,
        reuse >= 24,
        "account",
        policy_text(
            &facts.password_policy,
            |p| p.password_reuse_prevention,
            "password reuse prevention",
        ),
        "Run groundwork identity password-policy (remembers the last 24 passwords)",
    ));
    let without_mfa: Vec<&UserCredentials> = facts
        .users
        .iter()
        .filter(|u| u.password_enabled && !u.mfa_active)
        .collect();
    if without_mfa.is_empty() {
        let console = facts.users.iter().filter(|u| u.password_enabled).count();
        out.push(finding(
            &CONSOLE_MFA,
            true,
            "users",
            format!("all {console} users with a console password have MFA"),
            "",
        ));
    }
    for user in without_mfa {
        out.push(finding(
            &CONSOLE_MFA,
            false,
            user.user.clone(),
            "has a console password but no MFA device",
            &format!(
                "Enroll a virtual MFA device: groundwork identity mfa start --user {}",
                user.user
            ),
        ));
    }
    let mut old_keys = 0;
    for user in &facts.users {
        for (i, rotated) in user.active_keys_rotated.iter().enumerate() {
            let age = (now - *rotated).whole_days();
            if age > i64::from(key_max_age_days) {
                old_keys += 1;
                out.push(finding(
                    &KEY_ROTATION,
                    false,
                    format!("{} (access key {})", user.user, i + 1),
                    format!("active access key is {age} days old (limit {key_max_age_days})"),
                    "Create a new access key, move its users to it, then deactivate and delete the old one",
                ));
            }
        }
    }
    if old_keys == 0 {
        out.push(finding(
            &KEY_ROTATION,
            true,
            "users",
            format!("no active access key is older than {key_max_age_days} days"),
            "",
        ));
    }
    out
}

/// Gathers the facts from AWS, judges them and emits `Account Audited`.
#[tracing::instrument(skip_all)]
pub async fn audit(service: &Service, key_max_age_days: u32) -> Result<Report, Error> {
    let caller = service.caller().await?;
    let summary = service
        .iam
        .get_account_summary()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetAccountSummary", e))?
        .summary_map
        .unwrap_or_default();
    let flag = |key: SummaryKeyType| summary.get(&key).copied().unwrap_or(0) > 0;
    let facts = Facts {
        root_mfa_enabled: flag(SummaryKeyType::AccountMfaEnabled),
        root_access_keys_present: flag(SummaryKeyType::AccountAccessKeysPresent),
        password_policy: password_policy::current(service).await?,
        users: credential_report::fetch(service).await?,
        caller,
    };
    let findings = evaluate(&facts, OffsetDateTime::now_utc(), key_max_age_days);
    let report = Report { facts, findings };
    tracing::info!(
        failed = report.failed(),
        checks = report.findings.len(),
        caller_is_root = report.facts.caller.is_root(),
        "account audited"
    );
    service
        .events
        .emit(
            &AccountAudited {
                account: report.facts.caller.account.clone(),
                caller_arn: report.facts.caller.arn.clone(),
                caller_is_root: report.facts.caller.is_root(),
                benchmark: BENCHMARK.to_owned(),
                failed: report.failed() as u64,
                findings: report
                    .findings
                    .iter()
                    .map(|f| AuditFinding {
                        cis_control: f.cis_control.to_owned(),
                        status: if f.status == CheckStatus::Pass {
                            "PASS"
                        } else {
                            "FAIL"
                        }
                        .to_owned(),
                        severity: format!("{:?}", f.severity).to_uppercase(),
                        resource: f.resource.clone(),
                    })
                    .collect(),
            },
            vec![],
        )
        .await;
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn caller(arn: &str) -> CallerIdentity {
        CallerIdentity {
            account: "123456789012".into(),
            arn: arn.into(),
            user_id: "AIDA".into(),
        }
    }

    fn user(name: &str, password: bool, mfa: bool, keys: Vec<OffsetDateTime>) -> UserCredentials {
        UserCredentials {
            user: name.into(),
            arn: format!("arn:aws:iam::123456789012:user/{name}"),
            password_enabled: password,
            mfa_active: mfa,
            active_keys_rotated: keys,
        }
    }

    fn failed(findings: &[Finding]) -> Vec<(&'static str, String)> {
        findings
            .iter()
            .filter(|f| f.status == CheckStatus::Fail)
            .map(|f| (f.cis_control, f.resource.clone()))
            .collect()
    }

    const NOW: OffsetDateTime = datetime!(2025-06-01 00:00 UTC);

    #[test]
    fn a_fresh_account_used_as_root_fails_every_root_and_policy_control() {
        let facts = Facts {
            caller: caller("arn:aws:iam::123456789012:root"),
            root_mfa_enabled: false,
            root_access_keys_present: true,
            password_policy: None,
            users: vec![],
        };
        let findings = evaluate(&facts, NOW, 90);
        assert_eq!(
            failed(&findings),
            vec![
                ("1.7", "arn:aws:iam::123456789012:root".to_owned()),
                ("1.4", "root".to_owned()),
                ("1.5", "root".to_owned()),
                ("1.8", "account".to_owned()),
                ("1.9", "account".to_owned()),
            ]
        );
        let root_mfa = findings.iter().find(|f| f.cis_control == "1.5").unwrap();
        assert_eq!(root_mfa.severity, Severity::Critical);
        assert!(!root_mfa.recommendation.is_empty());
    }

    #[test]
    fn console_users_without_mfa_and_old_keys_are_named() {
        let facts = Facts {
            caller: caller("arn:aws:iam::123456789012:user/admin"),
            root_mfa_enabled: true,
            root_access_keys_present: false,
            password_policy: Some(PasswordPolicy::CIS),
            users: vec![
                user("admin", true, true, vec![datetime!(2025-05-01 00:00 UTC)]),
                user("bob", true, false, vec![]),
                user(
                    "ci",
                    false,
                    false,
                    vec![
                        datetime!(2025-01-01 00:00 UTC),
                        datetime!(2025-05-30 00:00 UTC),
                    ],
                ),
            ],
        };
        let findings = evaluate(&facts, NOW, 90);
        assert_eq!(
            failed(&findings),
            vec![
                ("1.10", "bob".to_owned()),
                ("1.14", "ci (access key 1)".to_owned()),
            ]
        );
        // A stricter limit flags the admin's 31-day-old key too.
        let strict = evaluate(&facts, NOW, 30);
        assert!(failed(&strict).contains(&("1.14", "admin (access key 1)".to_owned())));
    }

    #[test]
    fn a_clean_account_passes_every_control() {
        let facts = Facts {
            caller: caller("arn:aws:iam::123456789012:user/admin"),
            root_mfa_enabled: true,
            root_access_keys_present: false,
            password_policy: Some(PasswordPolicy::CIS),
            users: vec![user("admin", true, true, vec![])],
        };
        let findings = evaluate(&facts, NOW, 90);
        assert!(failed(&findings).is_empty());
        let controls: Vec<&str> = findings.iter().map(|f| f.cis_control).collect();
        assert_eq!(
            controls,
            ["1.7", "1.4", "1.5", "1.8", "1.9", "1.10", "1.14"]
        );
        assert!(findings.iter().all(|f| f.recommendation.is_empty()));
    }
}
