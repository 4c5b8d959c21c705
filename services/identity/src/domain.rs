//! Validated names, checked at the edge before any AWS call so that bad input creates
//! nothing. The rules are IAM's own (CreateUser, CreateGroup, CreatePolicy,
//! CreateVirtualMFADevice, EnableMFADevice).

use std::fmt;

use crate::error::Error;

/// The group EnsureAdmin and EnsureMfaPolicy use when none is named.
pub const DEFAULT_GROUP: &str = "Admins";
/// The managed policy an admin group gets when none is named.
pub const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
/// The MFA-enforcement policy's name when none is given.
pub const DEFAULT_MFA_POLICY: &str = "Groundwork-RequireMFA";

/// IAM's name characters: letters, digits and `+=,.@_-`.
fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

fn check_name(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("'{value}' is longer than {max} characters"),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !is_iam_name_char(*c)) {
        return Err(Error::invalid(
            field,
            format!("'{value}' contains '{bad}'; IAM names allow only letters, digits and +=,.@_-"),
        ));
    }
    Ok(())
}

macro_rules! iam_name {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `value`; `field` names the request field in the error.
            pub fn parse(field: &str, value: &str) -> Result<Self, Error> {
                check_name(field, value, $max)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

iam_name!(
    /// An IAM user name: 1 to 64 of `[A-Za-z0-9+=,.@_-]`.
    UserName,
    64
);
iam_name!(
    /// An IAM group name: 1 to 128 of `[A-Za-z0-9+=,.@_-]`.
    GroupName,
    128
);
iam_name!(
    /// A customer managed policy name: 1 to 128 of `[A-Za-z0-9+=,.@_-]`.
    PolicyName,
    128
);
iam_name!(
    /// A virtual MFA device name: 1 to 226 of `[A-Za-z0-9+=,.@_-]`.
    DeviceName,
    226
);

impl GroupName {
    /// The named group, or `Admins` when the field is empty.
    pub fn or_default(field: &str, value: &str) -> Result<Self, Error> {
        if value.is_empty() {
            Ok(Self(DEFAULT_GROUP.to_owned()))
        } else {
            Self::parse(field, value)
        }
    }
}

impl PolicyName {
    /// The named policy, or the MFA policy's default name when the field is empty.
    pub fn or_default_mfa(field: &str, value: &str) -> Result<Self, Error> {
        Self::parse(
            field,
            if value.is_empty() {
                DEFAULT_MFA_POLICY
            } else {
                value
            },
        )
    }
}

/// A managed policy ARN: `arn:<partition>:iam::<aws|account>:policy/<path/>name`.
/// Whether it exists is checked against IAM separately (GetPolicy).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyArn(String);

impl PolicyArn {
    pub fn parse(field: &str, value: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::invalid(
                field,
                format!(
                    "'{value}' is not a managed policy ARN ({why}); expected e.g. {ADMINISTRATOR_ACCESS}"
                ),
            )
        };
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let [arn, partition, service, region, owner, resource] = parts.as_slice() else {
            return Err(bad("it has fewer than six ':'-separated parts"));
        };
        if *arn != "arn" || partition.is_empty() || *service != "iam" || !region.is_empty() {
            return Err(bad("it must start with arn:<partition>:iam::"));
        }
        let owner_ok =
            *owner == "aws" || (owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()));
        if !owner_ok {
            return Err(bad("the owner must be `aws` or a 12-digit account id"));
        }
        let Some(path_and_name) = resource.strip_prefix("policy/") else {
            return Err(bad("the resource must be policy/<name>"));
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        if name.is_empty()
            || !path_and_name
                .chars()
                .all(|c| is_iam_name_char(c) || c == '/')
        {
            return Err(bad(
                "the policy name is empty or has characters IAM does not allow",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Validates a list of policy ARNs, naming the index in the error. Duplicates are
/// dropped; each ARN keeps the field it came from, for the existence check's error.
pub fn parse_policy_arns(
    field: &str,
    values: &[String],
) -> Result<Vec<(String, PolicyArn)>, Error> {
    let mut out: Vec<(String, PolicyArn)> = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let name = format!("{field}[{i}]");
        let arn = PolicyArn::parse(&name, v)?;
        if !out.iter().any(|(_, a)| *a == arn) {
            out.push((name, arn));
        }
    }
    Ok(out)
}

/// Whether a call changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Deleted,
    Absent,
}

/// One code from an authenticator app: exactly six digits.
///
/// Codes are short-lived second-factor values, so their `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthenticationCode(String);

impl AuthenticationCode {
    pub fn parse(field: &str, value: &str) -> Result<Self, Error> {
        if value.is_empty() {
            return Err(Error::invalid(
                field,
                "is required: a 6-digit code from the authenticator app",
            ));
        }
        if value.len() != 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(
                field,
                "must be the 6 digits the authenticator app shows",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthenticationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthenticationCode(******)")
    }
}

/// A virtual MFA device's serial number: its ARN, `arn:<partition>:iam::<account>:mfa/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialNumber(String);

impl SerialNumber {
    pub fn parse(field: &str, value: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let ok = matches!(parts.as_slice(),
            ["arn", partition, "iam", "", account, resource]
                if !partition.is_empty()
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && resource.strip_prefix("mfa/").is_some_and(|n| !n.is_empty()
                        && n.chars().all(|c| is_iam_name_char(c) || c == '/')));
        if !ok {
            return Err(Error::invalid(
                field,
                format!(
                    "'{value}' is not a virtual MFA device serial number (arn:aws:iam::<account>:mfa/<name>)"
                ),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The serial number IAM gives a device named `device` in `account`.
    pub fn for_device(partition: &str, account: &str, device: &DeviceName) -> Self {
        Self(format!("arn:{partition}:iam::{account}:mfa/{device}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn field_of(e: Error) -> String {
        match e.field() {
            Some(field) => field.to_owned(),
            None => panic!("not InvalidArgument: {e}"),
        }
    }

    #[test]
    fn user_names_follow_iam_rules() {
        assert!(UserName::parse("user_name", "admin").is_ok());
        assert!(UserName::parse("user_name", "a.b+c=d,e@f_g-h").is_ok());
        assert_eq!(
            field_of(UserName::parse("user_name", "").unwrap_err()),
            "user_name"
        );
        assert!(UserName::parse("user_name", "has space").is_err());
        assert!(UserName::parse("user_name", "slash/no").is_err());
        assert!(UserName::parse("user_name", &"x".repeat(64)).is_ok());
        assert!(UserName::parse("user_name", &"x".repeat(65)).is_err());
        assert!(UserName::parse("user_name", "émile").is_err());
    }

    #[test]
    fn policy_arns_are_checked_for_shape() {
        assert!(PolicyArn::parse("p", ADMINISTRATOR_ACCESS).is_ok());
        assert!(PolicyArn::parse("p", "arn:aws:iam::123456789012:policy/team/Mine").is_ok());
        assert!(PolicyArn::parse("p", "arn:aws:iam::aws:policy/job-function/Billing").is_ok());
        for bad in [
            "",
            "AdministratorAccess",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::aws:role/Admin",
            "arn:aws:iam::12345:policy/X",
            "arn:aws:iam::aws:policy/",
            "arn:aws:iam:us-east-1:aws:policy/X",
        ] {
            assert!(PolicyArn::parse("p", bad).is_err(), "{bad}");
        }
        let err = parse_policy_arns(
            "group_policy_arns",
            &[ADMINISTRATOR_ACCESS.into(), "x".into()],
        )
        .unwrap_err();
        assert_eq!(field_of(err), "group_policy_arns[1]");
        let dedup = parse_policy_arns(
            "p",
            &[ADMINISTRATOR_ACCESS.into(), ADMINISTRATOR_ACCESS.into()],
        )
        .unwrap();
        assert_eq!(dedup.len(), 1);
    }

    #[test]
    fn codes_are_six_digits_and_hidden_from_debug() {
        let code = AuthenticationCode::parse("authentication_code_1", "012345").unwrap();
        assert_eq!(code.as_str(), "012345");
        assert!(!format!("{code:?}").contains("012345"));
        for bad in ["", "12345", "1234567", "12345a", " 12345"] {
            assert_eq!(
                field_of(AuthenticationCode::parse("authentication_code_2", bad).unwrap_err()),
                "authentication_code_2"
            );
        }
    }

    #[test]
    fn serial_numbers_are_mfa_arns() {
        let device = DeviceName::parse("device_name", "admin").unwrap();
        let serial = SerialNumber::for_device("aws", "123456789012", &device);
        assert_eq!(serial.as_str(), "arn:aws:iam::123456789012:mfa/admin");
        assert!(SerialNumber::parse("serial_number", serial.as_str()).is_ok());
        assert!(SerialNumber::parse("serial_number", "arn:aws:iam::123456789012:user/x").is_err());
        assert!(SerialNumber::parse("serial_number", "GAHT12345678").is_err());
    }

    #[test]
    fn an_empty_group_means_admins() {
        assert_eq!(
            GroupName::or_default("group_name", "").unwrap().as_str(),
            "Admins"
        );
        assert!(GroupName::or_default("group_name", "bad group").is_err());
    }
}
