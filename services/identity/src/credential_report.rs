//! The IAM credential report (a CSV of every user's password, MFA and access keys):
//! generating it, waiting for it, and reading it into [`UserCredentials`].

use std::time::Duration;

use groundwork_cloud::AwsError;
use groundwork_kit::retry::{Backoff, Retryable, retry};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::Error;
use crate::service::Service;

/// How long to wait for IAM to generate the report.
const GENERATION_DEADLINE: Duration = Duration::from_secs(60);

/// One user's row of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCredentials {
    pub user: String,
    pub arn: String,
    pub password_enabled: bool,
    pub mfa_active: bool,
    /// When each active access key was last rotated (created).
    pub active_keys_rotated: Vec<OffsetDateTime>,
}

/// The row of the account's root user in real AWS reports.
const ROOT_ROW: &str = "<root_account>";

/// Parses the report; the root row is left out (GetAccountSummary covers root).
pub fn parse(csv: &str) -> Result<Vec<UserCredentials>, Error> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| Error::internal("the credential report is empty"))?
        .split(',')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| Error::internal(format!("the credential report has no `{name}` column")))
    };
    let (user, arn, password, mfa) = (
        column("user")?,
        column("arn")?,
        column("password_enabled")?,
        column("mfa_active")?,
    );
    let keys = [
        (
            column("access_key_1_active")?,
            column("access_key_1_last_rotated")?,
        ),
        (
            column("access_key_2_active")?,
            column("access_key_2_last_rotated")?,
        ),
    ];
    let mut out = Vec::new();
    for line in lines {
        let mut fields: Vec<String> = line.split(',').map(str::to_owned).collect();
        // IAM user names may contain ',' and the report does not quote them: a name with
        // k commas splits the first two columns (user, then the ARN ending in the name)
        // into k extra fields each.
        let extra = fields.len().saturating_sub(header.len());
        if extra > 0 && extra.is_multiple_of(2) && (user, arn) == (0, 1) {
            let k = extra / 2;
            let name = fields[..=k].join(",");
            let full_arn = fields[k + 1..=2 * k + 1].join(",");
            fields.splice(..=2 * k + 1, [name, full_arn]);
        }
        if fields.len() != header.len() {
            return Err(Error::internal(format!(
                "a credential report row has {} fields, the header {}",
                fields.len(),
                header.len()
            )));
        }
        if fields[user] == ROOT_ROW {
            continue;
        }
        let active_keys_rotated = keys
            .iter()
            .filter(|(active, _)| fields[*active] == "true")
            .filter_map(|(_, rotated)| OffsetDateTime::parse(&fields[*rotated], &Rfc3339).ok())
            .collect();
        out.push(UserCredentials {
            user: fields[user].clone(),
            arn: fields[arn].clone(),
            password_enabled: fields[password] == "true",
            mfa_active: fields[mfa] == "true",
            active_keys_rotated,
        });
    }
    Ok(out)
}

/// Asks IAM for a fresh report and reads it, polling while IAM generates it.
pub async fn fetch(service: &Service) -> Result<Vec<UserCredentials>, Error> {
    service
        .iam
        .generate_credential_report()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GenerateCredentialReport", e))?;
    // AWS generates the report asynchronously: ask again while it says it is not ready.
    let backoff = Backoff {
        first: Duration::from_millis(100),
        max: Duration::from_secs(2),
        attempts: None,
        within: Some(GENERATION_DEADLINE),
        jitter: false,
    };
    let out = retry(backoff, "credential report", || async {
        service
            .iam
            .get_credential_report()
            .send()
            .await
            .map_err(|e| NotReady(AwsError::from_sdk("GetCredentialReport", e)))
    })
    .await
    .map_err(|e| Error::from(e.0))?;
    let bytes = out.content.map(|b| b.into_inner()).unwrap_or_default();
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::internal(format!("the credential report is not UTF-8: {e}")))?;
    parse(&text)
}

/// A failed read of the report; retryable while AWS is still generating it.
struct NotReady(AwsError);

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Retryable for NotReady {
    fn is_retryable(&self) -> bool {
        matches!(
            self.0.code.as_str(),
            "ReportInProgress" | "ReportNotPresent" | "ReportExpired"
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    #[test]
    fn rows_become_users_and_root_is_skipped() {
        let csv = format!(
            "{HEADER}\n\
             <root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,N/A,not_supported,not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
             admin,arn:aws:iam::123456789012:user/admin,2020-01-01T00:00:00+00:00,true,N/A,N/A,N/A,false,true,2020-02-01T00:00:00+00:00,N/A,N/A,N/A,false,2020-03-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A\n\
             a,b,arn:aws:iam::123456789012:user/a,b,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let users = parse(&csv).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].user, "admin");
        assert!(users[0].password_enabled && !users[0].mfa_active);
        // Only the active key counts.
        assert_eq!(users[0].active_keys_rotated.len(), 1);
        assert_eq!(
            users[0].active_keys_rotated[0].month(),
            time::Month::February
        );
        assert_eq!(users[1].user, "a,b");
        assert_eq!(users[1].arn, "arn:aws:iam::123456789012:user/a,b");
        assert!(users[1].mfa_active);
    }

    #[test]
    fn a_report_without_the_expected_columns_is_an_error() {
        assert!(parse("").is_err());
        assert!(parse("user,arn\nx,y\n").is_err());
    }
}
