//! EventBridge ARNs of buses, rules, archives and replays, built from the configured
//! region and account, and read back from what clients send.

use groundwork_events::envelope::{DEFAULT_BUS, bus_name_from};

/// The region and account ARNs are written with.
#[derive(Debug, Clone)]
pub struct Arns {
    pub region: String,
    pub account: String,
}

impl Arns {
    fn prefix(&self) -> String {
        format!("arn:aws:events:{}:{}", self.region, self.account)
    }

    pub fn bus(&self, bus: &str) -> String {
        format!("{}:event-bus/{bus}", self.prefix())
    }

    /// `rule/<name>` on the default bus, `rule/<bus>/<name>` on others.
    pub fn rule(&self, bus: &str, rule: &str) -> String {
        if bus == DEFAULT_BUS {
            format!("{}:rule/{rule}", self.prefix())
        } else {
            format!("{}:rule/{bus}/{rule}", self.prefix())
        }
    }

    pub fn archive(&self, name: &str) -> String {
        format!("{}:archive/{name}", self.prefix())
    }

    pub fn replay(&self, name: &str) -> String {
        format!("{}:replay/{name}", self.prefix())
    }
}

/// The archive name in a name or an archive ARN.
pub fn archive_name_from(name_or_arn: &str) -> Option<&str> {
    if name_or_arn.starts_with("arn:") {
        name_or_arn.splitn(6, ':').nth(5)?.strip_prefix("archive/")
    } else {
        Some(name_or_arn)
    }
}

/// The (bus, rule) a rule ARN names.
pub fn rule_from_arn(arn: &str) -> Option<(String, String)> {
    let resource = arn.splitn(6, ':').nth(5)?.strip_prefix("rule/")?;
    match resource.rsplit_once('/') {
        Some((bus, rule)) => Some((bus.to_owned(), rule.to_owned())),
        None => Some((DEFAULT_BUS.to_owned(), resource.to_owned())),
    }
}

/// The bus named by a request field: `default` when empty, else a name or bus ARN.
pub fn bus_from_request(field: &str, value: &str) -> Result<String, crate::Error> {
    if value.is_empty() {
        return Ok(DEFAULT_BUS.to_owned());
    }
    bus_name_from(value).ok_or_else(|| {
        crate::Error::invalid(
            field.to_owned(),
            format!("'{value}' is not a bus name or event bus ARN"),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rule_arns_follow_eventbridge() {
        let arns = Arns {
            region: "us-east-1".into(),
            account: "111111111111".into(),
        };
        assert_eq!(
            arns.rule("default", "r"),
            "arn:aws:events:us-east-1:111111111111:rule/r"
        );
        assert_eq!(
            arns.rule("b", "r"),
            "arn:aws:events:us-east-1:111111111111:rule/b/r"
        );
        assert_eq!(
            rule_from_arn(&arns.rule("b", "r")).unwrap(),
            ("b".into(), "r".into())
        );
        assert_eq!(
            rule_from_arn(&arns.rule("default", "r")).unwrap(),
            ("default".into(), "r".into())
        );
        assert_eq!(archive_name_from(&arns.archive("a")), Some("a"));
    }
}
