//! Validated domain types. The gRPC layer turns wire values into these at once, so that
//! bad input is refused before any AWS call and nothing half-made is left behind.

use std::fmt;

use groundwork_cloud::BILLING_REGION;

use crate::error::Error;

/// Why every topic and alarm is in us-east-1, for error messages.
pub const ONLY_US_EAST_1: &str = "Only us-east-1 is supported: billing metrics and billing alarms \
     live in us-east-1, and an alarm can only notify a topic in its own region. Create the topic \
     in us-east-1 (EnsureTopic does) and use its ARN";

/// An SNS topic name: 1 to 256 of `[A-Za-z0-9_-]` (standard topics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicName(String);

impl TopicName {
    pub fn parse(field: &str, name: &str) -> Result<Self, Error> {
        let ok = !name.is_empty()
            && name.len() <= 256
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::invalid(
                field,
                format!(
                    "'{name}' is not a topic name: 1 to 256 letters, digits, '-' or '_' (e.g. billing-alarm)"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The parts of an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    pub resource: String,
}

impl Arn {
    pub fn parse(field: &str, text: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", partition, service, region, account, resource]
                if !partition.is_empty() && !service.is_empty() && !resource.is_empty() =>
            {
                Ok(Self {
                    partition: (*partition).to_owned(),
                    service: (*service).to_owned(),
                    region: (*region).to_owned(),
                    account: (*account).to_owned(),
                    resource: (*resource).to_owned(),
                })
            }
            _ => Err(Error::invalid(
                field,
                format!("'{text}' is not an ARN (arn:aws:<service>:<region>:<account>:<resource>)"),
            )),
        }
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

/// An SNS topic ARN in us-east-1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicArn(String);

impl TopicArn {
    /// Checks an SNS topic ARN and that it is in us-east-1.
    pub fn parse(field: &str, text: &str) -> Result<Self, Error> {
        let arn = Arn::parse(field, text)?;
        if arn.service != "sns" {
            return Err(Error::invalid(
                field,
                format!(
                    "'{text}' is not an SNS topic ARN (arn:aws:sns:us-east-1:<account>:<topic>)"
                ),
            ));
        }
        TopicName::parse(field, &arn.resource)?;
        if arn.region != BILLING_REGION {
            return Err(Error::invalid(
                field,
                format!("topic {text} is in {}. {ONLY_US_EAST_1}", arn.region),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The topic's name (the ARN's last part).
    pub fn name(&self) -> &str {
        self.0.rsplit(':').next().unwrap_or_default()
    }
}

impl fmt::Display for TopicArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A topic named by the caller: a name (looked up in us-east-1) or an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRef {
    Name(TopicName),
    Arn(TopicArn),
}

impl TopicRef {
    pub fn parse(field: &str, text: &str) -> Result<Self, Error> {
        if text.is_empty() {
            return Err(Error::invalid(field, "a topic name or ARN is required"));
        }
        if text.starts_with("arn:") {
            TopicArn::parse(field, text).map(Self::Arn)
        } else {
            TopicName::parse(field, text).map(Self::Name)
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Name(n) => n.as_str(),
            Self::Arn(a) => a.name(),
        }
    }
}

/// Tags of a topic: keys 1 to 128 characters, values up to 256, at most 50.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(pub Vec<(String, String)>);

impl Tags {
    pub fn parse(field: &str, tags: Vec<(String, String)>) -> Result<Self, Error> {
        if tags.len() > 50 {
            return Err(Error::invalid(field, "at most 50 tags"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, (key, value)) in tags.iter().enumerate() {
            if key.is_empty() || key.chars().count() > 128 || key.starts_with("aws:") {
                return Err(Error::invalid(
                    format!("{field}[{i}].key"),
                    "a tag key has 1 to 128 characters and does not start with 'aws:'",
                ));
            }
            if value.chars().count() > 256 {
                return Err(Error::invalid(
                    format!("{field}[{i}].value"),
                    "a tag value has at most 256 characters",
                ));
            }
            if !seen.insert(key.clone()) {
                return Err(Error::invalid(
                    format!("{field}[{i}].key"),
                    format!("tag '{key}' is given twice"),
                ));
            }
        }
        Ok(Self(tags))
    }
}

/// An SNS subscription endpoint, validated for its protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Email(String),
    /// E.164: `+` and 8 to 15 digits.
    Sms(String),
    Https(String),
    /// An SQS queue ARN (any region: SNS delivers across regions).
    Sqs(String),
}

impl Endpoint {
    /// SNS's protocol name.
    pub fn protocol(&self) -> &'static str {
        match self {
            Self::Email(_) => "email",
            Self::Sms(_) => "sms",
            Self::Https(_) => "https",
            Self::Sqs(_) => "sqs",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Self::Email(v) | Self::Sms(v) | Self::Https(v) | Self::Sqs(v) => v,
        }
    }

    pub fn email(field: &str, text: &str) -> Result<Self, Error> {
        if is_email(text) {
            Ok(Self::Email(text.to_owned()))
        } else {
            Err(Error::invalid(
                field,
                format!("'{text}' is not an email address (name@example.com)"),
            ))
        }
    }

    pub fn sms(field: &str, text: &str) -> Result<Self, Error> {
        let digits = text.strip_prefix('+').unwrap_or_default();
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self::Sms(text.to_owned()))
        } else {
            Err(Error::invalid(
                field,
                format!(
                    "'{text}' is not a phone number in E.164 form ('+' then country code and number, e.g. +14155550100)"
                ),
            ))
        }
    }

    pub fn https(field: &str, text: &str) -> Result<Self, Error> {
        let uri: Result<http::Uri, _> = text.parse();
        match uri {
            Ok(uri)
                if uri.scheme_str() == Some("https")
                    && uri.host().is_some_and(|h| !h.is_empty()) =>
            {
                Ok(Self::Https(text.to_owned()))
            }
            // Shown redacted: the path or query of an endpoint may be a credential.
            _ => Err(Error::invalid(
                field,
                format!(
                    "{} is not an https URL (https://host/path)",
                    groundwork_events::redact::redact_url(text)
                ),
            )),
        }
    }

    pub fn sqs(field: &str, text: &str) -> Result<Self, Error> {
        let arn = Arn::parse(field, text)?;
        if arn.service != "sqs" || arn.resource.contains(':') || arn.region.is_empty() {
            return Err(Error::invalid(
                field,
                format!(
                    "'{text}' is not an SQS queue ARN (arn:aws:sqs:<region>:<account>:<queue>)"
                ),
            ));
        }
        Ok(Self::Sqs(text.to_owned()))
    }
}

/// A pragmatic check: one `@`, a non-empty local part without spaces, and a domain with a
/// dot whose labels are letters, digits and `-`.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '@' && c != '"' && c != ',');
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// A CloudWatch alarm name: 1 to 255 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmName(String);

impl AlarmName {
    pub fn parse(field: &str, text: &str) -> Result<Self, Error> {
        if text.is_empty() || text.chars().count() > 255 || text.chars().any(char::is_control) {
            return Err(Error::invalid(
                field,
                format!(
                    "'{text}' is not an alarm name: 1 to 255 characters, no control characters"
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlarmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount in USD that a billing alarm compares against: finite and positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdUsd(f64);

impl ThresholdUsd {
    pub fn parse(field: &str, value: f64) -> Result<Self, Error> {
        if value.is_finite() && value > 0.0 {
            Ok(Self(value))
        } else {
            Err(Error::invalid(
                field,
                format!("{value} is not a threshold: an amount in USD greater than 0"),
            ))
        }
    }

    pub fn value(self) -> f64 {
        self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_for_their_protocol() {
        assert!(Endpoint::email("e", "ops@example.com").is_ok());
        for bad in [
            "",
            "ops",
            "ops@",
            "@example.com",
            "ops@example",
            "o ps@example.com",
            "ops@-x.com",
        ] {
            assert!(Endpoint::email("e", bad).is_err(), "{bad}");
        }
        assert!(Endpoint::sms("e", "+14155550100").is_ok());
        for bad in ["14155550100", "+1", "+1415555010a", "+0123456789"] {
            assert!(Endpoint::sms("e", bad).is_err(), "{bad}");
        }
        assert!(Endpoint::https("e", "https://hooks.example.com/x").is_ok());
        for bad in ["http://example.com", "https://", "not a url", "ftp://x"] {
            assert!(Endpoint::https("e", bad).is_err(), "{bad}");
        }
        assert!(Endpoint::sqs("e", "arn:aws:sqs:eu-west-1:123456789012:q").is_ok());
        assert!(Endpoint::sqs("e", "arn:aws:sns:us-east-1:123456789012:q").is_err());
    }

    #[test]
    fn a_topic_outside_us_east_1_is_the_classic_trap_and_says_so() {
        let err = TopicArn::parse("topic", "arn:aws:sns:eu-west-1:123456789012:billing-alarm")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("topic: "), "{text}");
        assert!(text.contains("Only us-east-1 is supported"), "{text}");
        let ok =
            TopicArn::parse("topic", "arn:aws:sns:us-east-1:123456789012:billing-alarm").unwrap();
        assert_eq!(ok.name(), "billing-alarm");
    }

    #[test]
    fn thresholds_are_positive_amounts() {
        assert!(ThresholdUsd::parse("t", 10.0).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(ThresholdUsd::parse("t", bad).is_err());
        }
    }
}
