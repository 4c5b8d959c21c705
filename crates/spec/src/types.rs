//! Validated scalars of the spec. Each deserialises only from valid text, so a bad value
//! is reported by serde with its TOML path and never reaches a step.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps `text`.
            pub fn parse(text: &str) -> Result<Self, String> {
                $check(text)?;
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// For constants known to be valid.
            #[allow(dead_code)]
            pub(crate) fn new_unchecked(text: &str) -> Self {
                Self(text.to_owned())
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                $check(&text)?;
                Ok(Self(text))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_newtype!(
    /// An email address: one `@`, a non-empty local part, a dotted domain, no spaces.
    EmailAddress,
    check_email
);
text_newtype!(
    /// A managed policy ARN: `arn:<partition>:iam::(aws|<12 digits>):policy/<path><name>`.
    PolicyArn,
    check_policy_arn
);
text_newtype!(
    /// An IAM user, group or policy name: 1 to 128 of `[A-Za-z0-9+=,.@_-]`.
    IamName,
    check_iam_name
);
text_newtype!(
    /// A budget name: 1 to 100 characters, without `:` or `\`.
    BudgetName,
    check_budget_name
);
text_newtype!(
    /// An SNS topic name: 1 to 256 of letters, digits, `-` and `_`.
    TopicName,
    check_topic_name
);
text_newtype!(
    /// A CloudWatch alarm name: 1 to 255 printable characters.
    AlarmName,
    check_alarm_name
);
text_newtype!(
    /// An `https://` URL with a host.
    HttpsUrl,
    check_https_url
);
text_newtype!(
    /// Where a webhook target posts: an `https://` URL, or `http://` to this machine
    /// (a receiver running beside the stack).
    WebhookUrl,
    check_webhook_url
);

pub fn check_email(text: &str) -> Result<(), String> {
    let bad = || format!("'{text}' is not an email address (like ops@example.com)");
    if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = text.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.contains('@') || local.len() > 64 {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(bad());
    }
    Ok(())
}

pub fn check_policy_arn(text: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!(
            "'{text}' is not a managed policy ARN ({why}); expected arn:aws:iam::aws:policy/NAME or arn:aws:iam::123456789012:policy/NAME"
        )
    };
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(bad("it needs six ':'-separated parts"));
    };
    if *arn != "arn" || !matches!(*partition, "aws" | "aws-cn" | "aws-us-gov") {
        return Err(bad("it must start with arn:aws:"));
    }
    if *service != "iam" || !region.is_empty() {
        return Err(bad("the service must be iam, with no region"));
    }
    if *account != "aws" && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad("the account must be `aws` or 12 digits"));
    }
    let Some(path_name) = resource.strip_prefix("policy/") else {
        return Err(bad("the resource must start with policy/"));
    };
    let name = path_name.rsplit('/').next().unwrap_or_default();
    if name.is_empty()
        || name.len() > 128
        || !path_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
    {
        return Err(bad(
            "the policy name is empty or has characters IAM does not allow",
        ));
    }
    Ok(())
}

pub fn check_iam_name(text: &str) -> Result<(), String> {
    if text.is_empty()
        || text.len() > 128
        || !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err(format!(
            "'{text}' is not a valid IAM name (1 to 128 of letters, digits and +=,.@_-)"
        ));
    }
    Ok(())
}

pub fn check_budget_name(text: &str) -> Result<(), String> {
    if text.is_empty() || text.chars().count() > 100 || text.contains([':', '\\']) {
        return Err(format!(
            "'{text}' is not a valid budget name (1 to 100 characters, no ':' or '\\')"
        ));
    }
    Ok(())
}

pub fn check_topic_name(text: &str) -> Result<(), String> {
    if text.is_empty()
        || text.len() > 256
        || !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "'{text}' is not a valid SNS topic name (1 to 256 of letters, digits, - and _)"
        ));
    }
    Ok(())
}

pub fn check_alarm_name(text: &str) -> Result<(), String> {
    if text.trim().is_empty() || text.len() > 255 || text.chars().any(char::is_control) {
        return Err(format!(
            "'{text}' is not a valid alarm name (1 to 255 printable characters)"
        ));
    }
    Ok(())
}

pub fn check_https_url(text: &str) -> Result<(), String> {
    let host = text
        .strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(h) if !h.is_empty() && !h.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!(
            "'{text}' is not an https URL (like https://hooks.example.com/groundwork)"
        )),
    }
}

pub fn check_webhook_url(text: &str) -> Result<(), String> {
    let loopback = text.strip_prefix("http://").is_some_and(|rest| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if loopback {
        return Ok(());
    }
    check_https_url(text).map_err(|_| {
        format!(
            "'{text}' is not an https URL (like https://hooks.example.com/groundwork); plain http only to localhost"
        )
    })
}

/// An amount of US dollars, greater than zero, kept in cents so that comparisons with
/// AWS's decimal strings are exact. TOML may write it as an integer, a float or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd {
    cents: u64,
}

impl Usd {
    pub fn from_cents(cents: u64) -> Result<Self, String> {
        if cents == 0 {
            return Err("the amount must be greater than 0".into());
        }
        Ok(Self { cents })
    }

    /// Parses `20`, `20.5`, `20.50`; at most two decimals.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("'{text}' is not an amount in USD (like 20 or 12.50)");
        if text.starts_with('-') {
            return Err(format!("{text}: the amount must be greater than 0"));
        }
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let frac: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<2}").parse().map_err(|_| bad())?
        };
        let cents = whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(frac))
            .ok_or_else(bad)?;
        Self::from_cents(cents).map_err(|e| format!("{text}: {e}"))
    }

    /// A whole number of dollars (greater than 0).
    pub const fn whole(dollars: u64) -> Self {
        Self {
            cents: if dollars == 0 { 100 } else { dollars * 100 },
        }
    }

    pub fn cents(self) -> u64 {
        self.cents
    }

    pub fn as_f64(self) -> f64 {
        self.cents as f64 / 100.0
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.cents.is_multiple_of(100) {
            write!(f, "{}", self.cents / 100)
        } else {
            write!(f, "{}.{:02}", self.cents / 100, self.cents % 100)
        }
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Usd;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount in USD greater than 0, like 20 or 12.50")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Usd, E> {
                if v <= 0 {
                    return Err(E::custom(format!("{v}: the amount must be greater than 0")));
                }
                self.visit_u64(v.unsigned_abs())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Usd, E> {
                v.checked_mul(100)
                    .ok_or_else(|| E::custom("the amount is too large"))
                    .and_then(|c| Usd::from_cents(c).map_err(E::custom))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Usd, E> {
                if !v.is_finite() || v <= 0.0 {
                    return Err(E::custom(format!("{v}: the amount must be greater than 0")));
                }
                // Through text, so that 12.3 is 1230 cents and 0.001 is refused.
                Usd::parse(&format!("{v}")).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Usd, E> {
                Usd::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A budget's limit: an amount, or the Free plan's remaining credits
/// (`"remaining-credits"`), which are read when the budget is planned and applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetLimit {
    Usd(Usd),
    RemainingCredits,
}

impl BudgetLimit {
    /// The spec's word for the Free plan's remaining credits.
    pub const REMAINING_CREDITS: &'static str = "remaining-credits";

    /// The amount, when the spec gives one.
    pub fn usd(self) -> Option<Usd> {
        match self {
            Self::Usd(u) => Some(u),
            Self::RemainingCredits => None,
        }
    }
}

impl fmt::Display for BudgetLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usd(u) => u.fmt(f),
            Self::RemainingCredits => f.write_str(Self::REMAINING_CREDITS),
        }
    }
}

impl Serialize for BudgetLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for BudgetLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        if value.as_str() == Some(Self::REMAINING_CREDITS) {
            return Ok(Self::RemainingCredits);
        }
        Usd::deserialize(value).map(Self::Usd).map_err(|e| {
            serde::de::Error::custom(format!(
                "{e}; or \"{}\" for the Free plan's remaining credits",
                Self::REMAINING_CREDITS
            ))
        })
    }
}

/// A number of days: 1 to 366.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Days(u32);

impl Days {
    pub fn get(self) -> u32 {
        self.0
    }

    pub(crate) const fn new_unchecked(days: u32) -> Self {
        Self(days)
    }
}

impl TryFrom<i64> for Days {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        match u32::try_from(v) {
            Ok(d) if (1..=366).contains(&d) => Ok(Self(d)),
            _ => Err(format!("{v} days: a number of days from 1 to 366")),
        }
    }
}

impl From<Days> for u32 {
    fn from(d: Days) -> u32 {
        d.0
    }
}

/// A budget alert threshold in percent: greater than 0, at most 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Percent(u32);

impl Percent {
    /// 100 %: the whole limit.
    pub const HUNDRED: Self = Self(100);

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Percent {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if v <= 0 || v > 1000 {
            return Err(format!(
                "{v}: a threshold is a percentage greater than 0 and at most 1000"
            ));
        }
        Ok(Self(v.unsigned_abs() as u32))
    }
}

impl From<Percent> for u32 {
    fn from(p: Percent) -> u32 {
        p.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for good in ["ops@example.com", "a.b+billing@sub.example.co.uk"] {
            assert!(check_email(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ops",
            "ops@",
            "@example.com",
            "ops@example",
            "ops@@example.com",
            "o ps@example.com",
            "ops@-x.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_arns_are_checked_part_by_part() {
        for good in [
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "arn:aws:iam::aws:policy/job-function/Billing",
            "arn:aws:iam::123456789012:policy/Groundwork-RequireMFA",
        ] {
            assert!(check_policy_arn(good).is_ok(), "{good}");
        }
        for bad in [
            "AdministratorAccess",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::12345:policy/X",
            "arn:aws:iam::aws:role/X",
            "arn:aws:iam::aws:policy/",
            "arn:aws:iam:us-east-1:aws:policy/X",
        ] {
            assert!(check_policy_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_are_positive_with_at_most_cents() {
        assert_eq!(Usd::parse("20").unwrap().cents(), 2000);
        assert_eq!(Usd::parse("12.5").unwrap().cents(), 1250);
        assert_eq!(Usd::parse("0.01").unwrap().to_string(), "0.01");
        assert_eq!(Usd::parse("20.00").unwrap().to_string(), "20");
        for bad in ["0", "-5", "1.234", "abc", "", "1e3"] {
            assert!(Usd::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentages_are_bounded() {
        assert_eq!(Percent::try_from(50).unwrap().get(), 50);
        assert!(Percent::try_from(0).is_err());
        assert!(Percent::try_from(-10).is_err());
        assert!(Percent::try_from(1001).is_err());
    }

    #[test]
    fn names_and_urls() {
        assert!(check_iam_name("admin").is_ok());
        assert!(check_iam_name("ad min").is_err());
        assert!(check_topic_name("billing-alarm").is_ok());
        assert!(check_topic_name("billing.alarm").is_err());
        assert!(check_budget_name("a:b").is_err());
        assert!(check_https_url("https://hooks.example.com/x").is_ok());
        assert!(check_https_url("http://hooks.example.com").is_err());
        assert!(check_https_url("https://").is_err());
        assert!(check_webhook_url("https://hooks.example.com/x").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_webhook_url("http://localhost/hook").is_ok());
        assert!(check_webhook_url("http://[::1]:9000").is_ok());
        assert!(check_webhook_url("http://hooks.example.com").is_err());
        assert!(check_webhook_url("http://127.0.0.1.example.com/x").is_err());
        assert!(check_webhook_url("ftp://localhost").is_err());
    }
}
