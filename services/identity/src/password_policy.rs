//! The account password policy: the domain type, the CIS defaults, reading it (no policy
//! means AWS's defaults) and EnsurePasswordPolicy.

use aws_sdk_iam::operation::get_account_password_policy::GetAccountPasswordPolicyError;
use groundwork_cloud::{AwsError, AwsErrorKind, RootPolicy};

use crate::domain::Outcome;
use crate::error::Error;
use crate::service::Service;

/// What the account password policy says, with "never" and "no limit" as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub minimum_password_length: u32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub allow_users_to_change_password: bool,
    /// Days; 0 = passwords never expire.
    pub max_password_age: u32,
    /// 0 = no reuse prevention.
    pub password_reuse_prevention: u32,
    pub hard_expiry: bool,
}

impl PasswordPolicy {
    /// The CIS AWS Foundations recommendations: length ≥ 14 (1.8), the last 24 passwords
    /// not reusable (1.9), every character class, expiry after 90 days, users may change
    /// their own password (the first sign-in requires it).
    pub const CIS: Self = Self {
        minimum_password_length: 14,
        require_symbols: true,
        require_numbers: true,
        require_uppercase_characters: true,
        require_lowercase_characters: true,
        allow_users_to_change_password: true,
        max_password_age: 90,
        password_reuse_prevention: 24,
        hard_expiry: false,
    };

    /// What AWS applies when the account has no policy: at least 8 characters, three of
    /// the four character classes (a generator that uses all four satisfies it).
    pub const AWS_DEFAULT: Self = Self {
        minimum_password_length: 8,
        require_symbols: false,
        require_numbers: false,
        require_uppercase_characters: false,
        require_lowercase_characters: false,
        allow_users_to_change_password: true,
        max_password_age: 0,
        password_reuse_prevention: 0,
        hard_expiry: false,
    };

    /// Checks the ranges IAM accepts (UpdateAccountPasswordPolicy).
    pub fn validate(&self) -> Result<(), Error> {
        if !(6..=128).contains(&self.minimum_password_length) {
            return Err(Error::invalid(
                "minimum_password_length",
                format!("{} is outside 6..=128", self.minimum_password_length),
            ));
        }
        if self.max_password_age > 1095 {
            return Err(Error::invalid(
                "max_password_age",
                format!(
                    "{} is over 1095 days; 0 means passwords never expire",
                    self.max_password_age
                ),
            ));
        }
        if self.password_reuse_prevention > 24 {
            return Err(Error::invalid(
                "password_reuse_prevention",
                format!(
                    "{} is over 24; 0 means no reuse prevention",
                    self.password_reuse_prevention
                ),
            ));
        }
        Ok(())
    }

    fn from_aws(p: &aws_sdk_iam::types::PasswordPolicy) -> Self {
        let count = |v: Option<i32>| v.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
        Self {
            minimum_password_length: count(p.minimum_password_length),
            require_symbols: p.require_symbols,
            require_numbers: p.require_numbers,
            require_uppercase_characters: p.require_uppercase_characters,
            require_lowercase_characters: p.require_lowercase_characters,
            allow_users_to_change_password: p.allow_users_to_change_password,
            max_password_age: count(p.max_password_age),
            password_reuse_prevention: count(p.password_reuse_prevention),
            hard_expiry: p.hard_expiry.unwrap_or(false),
        }
    }
}

/// The account's password policy; `None` when it has none (NoSuchEntity).
pub async fn current(service: &Service) -> Result<Option<PasswordPolicy>, Error> {
    match service.iam.get_account_password_policy().send().await {
        Ok(out) => Ok(out.password_policy.as_ref().map(PasswordPolicy::from_aws)),
        Err(e) => {
            let e: AwsError = AwsError::from_sdk::<GetAccountPasswordPolicyError, _>(
                "GetAccountPasswordPolicy",
                e,
            );
            if e.kind == AwsErrorKind::NotFound {
                Ok(None)
            } else {
                Err(e.into())
            }
        }
    }
}

/// The policy new passwords must satisfy: the account's, or AWS's defaults.
pub async fn effective(service: &Service) -> Result<PasswordPolicy, Error> {
    Ok(current(service)
        .await?
        .unwrap_or(PasswordPolicy::AWS_DEFAULT))
}

/// Sets the account password policy to `wanted` unless it is already exactly that.
#[tracing::instrument(skip_all, fields(min_length = wanted.minimum_password_length))]
pub async fn ensure(
    service: &Service,
    wanted: PasswordPolicy,
) -> Result<(PasswordPolicy, Outcome), Error> {
    wanted.validate()?;
    service
        .guard("EnsurePasswordPolicy", RootPolicy::Refuse)
        .await?;
    let before = current(service).await?;
    if before == Some(wanted) {
        return Ok((wanted, Outcome::Unchanged));
    }
    let positive = |n: u32| (n > 0).then(|| i32::try_from(n).unwrap_or(i32::MAX));
    service
        .iam
        .update_account_password_policy()
        .minimum_password_length(i32::try_from(wanted.minimum_password_length).unwrap_or(128))
        .require_symbols(wanted.require_symbols)
        .require_numbers(wanted.require_numbers)
        .require_uppercase_characters(wanted.require_uppercase_characters)
        .require_lowercase_characters(wanted.require_lowercase_characters)
        .allow_users_to_change_password(wanted.allow_users_to_change_password)
        .set_max_password_age(positive(wanted.max_password_age))
        .set_password_reuse_prevention(positive(wanted.password_reuse_prevention))
        .hard_expiry(wanted.hard_expiry)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateAccountPasswordPolicy", e))?;
    let outcome = if before.is_some() {
        Outcome::Updated
    } else {
        Outcome::Created
    };
    tracing::info!(?outcome, "account password policy set");
    Ok((wanted, outcome))
}

/// Removes the account password policy; absent when the account has none.
#[tracing::instrument(skip_all)]
pub async fn delete(service: &Service) -> Result<Outcome, Error> {
    service
        .guard("DeletePasswordPolicy", RootPolicy::Refuse)
        .await?;
    match service.iam.delete_account_password_policy().send().await {
        Ok(_) => {
            tracing::info!("account password policy removed");
            Ok(Outcome::Deleted)
        }
        Err(e) => {
            let e = AwsError::from_sdk("DeleteAccountPasswordPolicy", e);
            if e.kind == AwsErrorKind::NotFound {
                Ok(Outcome::Absent)
            } else {
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cis_defaults_are_valid_and_match_the_benchmark() {
        assert!(PasswordPolicy::CIS.validate().is_ok());
        assert_eq!(PasswordPolicy::CIS.minimum_password_length, 14);
        assert_eq!(PasswordPolicy::CIS.password_reuse_prevention, 24);
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let bad = |p: PasswordPolicy| match p.validate() {
            Err(e) if e.field().is_some() => e.field().unwrap_or_default().to_owned(),
            other => format!("{other:?}"),
        };
        let mut p = PasswordPolicy::CIS;
        p.minimum_password_length = 5;
        assert_eq!(bad(p), "minimum_password_length");
        let mut p = PasswordPolicy::CIS;
        p.max_password_age = 2000;
        assert_eq!(bad(p), "max_password_age");
        let mut p = PasswordPolicy::CIS;
        p.password_reuse_prevention = 25;
        assert_eq!(bad(p), "password_reuse_prevention");
    }
}
