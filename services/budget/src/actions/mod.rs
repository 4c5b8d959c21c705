//! Budget actions (AWS Budgets' own actions): what AWS does by itself when a budget crosses
//! a threshold — apply an IAM policy to groups and users, or run the SSM document that
//! stops EC2 or RDS instances — automatically or after a person approves it.
//!
//! Layout:
//! - this module: the declared action ([`ActionSpec`]), validated; pure.
//! - [`diff`]: which live action is the declared one, and what differs; pure.
//! - [`aws`]: CreateBudgetAction, DescribeBudgetActionsForBudget, UpdateBudgetAction,
//!   DeleteBudgetAction, ExecuteBudgetAction.
//! - [`wire`]: protobuf messages to domain types and back.
//! - [`service`]: ensure, list, delete, execute.
//!
//! An action has no name in AWS, only an id AWS makes up. Within a budget Groundwork knows
//! an action by what it acts on ([`ActionKey`]): the policy it applies, or the kind of
//! instances and the region it stops. Everything else (threshold, approval, targets,
//! role, subscribers) is corrected in place with UpdateBudgetAction.

pub mod aws;
pub mod diff;
pub mod service;
pub mod wire;

use std::collections::BTreeSet;
use std::fmt;

use crate::domain::{
    BudgetName, InvalidField, MAX_EMAILS, MAX_PERCENTAGE, MAX_SNS_TOPICS, NotificationType,
    Subscriber, Threshold, ThresholdType,
};

/// Groups, users or roles an IAM action definition may name (AWS: 1 to 100 of each).
pub const MAX_PRINCIPALS: usize = 100;
/// Instance ids an SSM action definition may name (AWS: 1 to 100).
pub const MAX_INSTANCES: usize = 100;

/// Who lets the action run: AWS at once, or a person (ExecuteBudgetAction with
/// `APPROVE_BUDGET_ACTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApprovalModel {
    Automatic,
    Manual,
}

impl ApprovalModel {
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        match text {
            "AUTOMATIC" => Ok(Self::Automatic),
            "MANUAL" => Ok(Self::Manual),
            other => Err(InvalidField::new(
                field,
                format!("'{other}' is not an approval model; use AUTOMATIC or MANUAL"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "AUTOMATIC",
            Self::Manual => "MANUAL",
        }
    }
}

/// Which SSM document an SSM action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StopSubType {
    Ec2,
    Rds,
}

impl StopSubType {
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        match text {
            "STOP_EC2_INSTANCES" => Ok(Self::Ec2),
            "STOP_RDS_INSTANCES" => Ok(Self::Rds),
            other => Err(InvalidField::new(
                field,
                format!(
                    "'{other}' is not an SSM action; use STOP_EC2_INSTANCES or STOP_RDS_INSTANCES"
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ec2 => "STOP_EC2_INSTANCES",
            Self::Rds => "STOP_RDS_INSTANCES",
        }
    }
}

/// What the action does (AWS's `Definition`, one of its kinds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Definition {
    /// `APPLY_IAM_POLICY`: attach `policy_arn` to the groups, users and roles.
    ApplyIamPolicy {
        policy_arn: String,
        groups: BTreeSet<String>,
        users: BTreeSet<String>,
        roles: BTreeSet<String>,
    },
    /// `RUN_SSM_DOCUMENTS`: stop the instances in `region`.
    StopInstances {
        sub_type: StopSubType,
        region: String,
        instance_ids: BTreeSet<String>,
    },
}

impl Definition {
    /// AWS's `ActionType`.
    pub fn action_type(&self) -> &'static str {
        match self {
            Self::ApplyIamPolicy { .. } => "APPLY_IAM_POLICY",
            Self::StopInstances { .. } => "RUN_SSM_DOCUMENTS",
        }
    }

    pub fn key(&self) -> ActionKey {
        match self {
            Self::ApplyIamPolicy { policy_arn, .. } => ActionKey::Policy(policy_arn.clone()),
            Self::StopInstances {
                sub_type, region, ..
            } => ActionKey::Stop(*sub_type, region.clone()),
        }
    }
}

impl fmt::Display for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
        match self {
            Self::ApplyIamPolicy {
                policy_arn,
                groups,
                users,
                roles,
            } => write!(
                f,
                "APPLY_IAM_POLICY {policy_arn} groups=[{}] users=[{}] roles=[{}]",
                list(groups),
                list(users),
                list(roles)
            ),
            Self::StopInstances {
                sub_type,
                region,
                instance_ids,
            } => write!(f, "{} {region} [{}]", sub_type.as_str(), list(instance_ids)),
        }
    }
}

/// What an action is known by within its budget.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKey {
    Policy(String),
    Stop(StopSubType, String),
}

impl fmt::Display for ActionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Policy(arn) => write!(f, "apply {arn}"),
            Self::Stop(kind, region) => write!(f, "{} in {region}", kind.as_str()),
        }
    }
}

/// A budget action as declared, or as read from AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    pub budget: BudgetName,
    pub notification_type: NotificationType,
    pub threshold_type: ThresholdType,
    pub threshold: Threshold,
    pub approval: ApprovalModel,
    pub definition: Definition,
    pub execution_role_arn: String,
    pub subscribers: BTreeSet<Subscriber>,
}

impl ActionSpec {
    pub fn key(&self) -> ActionKey {
        self.definition.key()
    }

    /// The threshold as people read it: `100 %` or `50` (in the budget's currency).
    pub fn threshold_text(&self) -> String {
        match self.threshold_type {
            ThresholdType::Percentage => format!("{} %", self.threshold),
            ThresholdType::AbsoluteValue => self.threshold.to_string(),
        }
    }
}

/// An action as AWS holds it: the spec plus its id and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAction {
    pub id: String,
    /// `STANDBY`, `PENDING` (waiting for approval), `EXECUTION_SUCCESS`, …
    pub status: String,
    pub spec: ActionSpec,
}

/// Checks a threshold of an action: greater than 0, a percentage at most 1000 (as for
/// notifications).
pub fn threshold(value: f64, kind: ThresholdType, field: &str) -> Result<Threshold, InvalidField> {
    if kind == ThresholdType::Percentage && value > MAX_PERCENTAGE {
        return Err(InvalidField::new(
            field,
            format!(
                "{value} % is out of range; a percentage threshold is at most {MAX_PERCENTAGE}"
            ),
        ));
    }
    Threshold::parse(value, kind, field)
}

/// Checks an IAM role ARN as AWS Budgets takes an execution role:
/// `arn:<partition>:iam::<12 digits>:role/<path/>name`.
pub fn role_arn(text: &str, field: &str) -> Result<String, InvalidField> {
    let bad = || {
        InvalidField::new(
            field,
            format!("'{text}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
        )
    };
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    if parts.len() != 6
        || parts[0] != "arn"
        || !matches!(parts[1], "aws" | "aws-cn" | "aws-us-gov")
        || parts[2] != "iam"
        || !parts[3].is_empty()
        || parts[4].len() != 12
        || !parts[4].bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let Some(path) = parts[5].strip_prefix("role/") else {
        return Err(bad());
    };
    let name = path.rsplit('/').next().unwrap_or_default();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        || text.len() < 32
        || text.len() > 618
    {
        return Err(bad());
    }
    Ok(text.to_owned())
}

/// Checks a managed policy ARN: `arn:<partition>:iam::<aws|account>:policy/<path/>name`.
pub fn policy_arn(text: &str, field: &str) -> Result<String, InvalidField> {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "iam"
        && parts[3].is_empty()
        && (parts[4] == "aws"
            || (parts[4].len() == 12 && parts[4].bytes().all(|b| b.is_ascii_digit())))
        && parts[5]
            .strip_prefix("policy/")
            .is_some_and(|p| !p.is_empty() && !p.ends_with('/'));
    if !ok {
        return Err(InvalidField::new(
            field,
            format!("'{text}' is not a managed policy ARN (arn:aws:iam::<account>:policy/<name>)"),
        ));
    }
    Ok(text.to_owned())
}

/// Checks IAM principal names (groups, users, roles): 1 to 100 of them, each IAM's name
/// characters, no duplicates.
pub fn principals(
    names: &[String],
    max_len: usize,
    field: &str,
) -> Result<BTreeSet<String>, InvalidField> {
    if names.len() > MAX_PRINCIPALS {
        return Err(InvalidField::new(
            field,
            format!("{} names; AWS allows at most {MAX_PRINCIPALS}", names.len()),
        ));
    }
    let mut out = BTreeSet::new();
    for (i, n) in names.iter().enumerate() {
        let ok = !n.is_empty()
            && n.chars().count() <= max_len
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !ok {
            return Err(InvalidField::new(
                format!("{field}[{i}]"),
                format!("'{n}' is not an IAM name (1 to {max_len} letters, digits or +=,.@_-)"),
            ));
        }
        out.insert(n.clone());
    }
    Ok(out)
}

/// Checks an SSM action's region (`^\w{2,4}-\w+(-\w+)?-\d$`, 9 to 20 characters).
pub fn region(text: &str, field: &str) -> Result<String, InvalidField> {
    let parts: Vec<&str> = text.split('-').collect();
    let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let ok = (3..=4).contains(&parts.len())
        && (2..=4).contains(&parts[0].len())
        && parts.iter().all(|p| word(p))
        && parts
            .last()
            .is_some_and(|p| p.len() == 1 && p.chars().all(|c| c.is_ascii_digit()))
        && (9..=20).contains(&text.len());
    if !ok {
        return Err(InvalidField::new(
            field,
            format!("'{text}' is not an AWS region such as eu-west-1"),
        ));
    }
    Ok(text.to_owned())
}

/// Checks instance ids: 1 to 100, each an EC2 id (`i-` and 8 or 17 characters) for EC2,
/// an RDS DB instance identifier for RDS (AWS's pattern
/// `^i-(\w{8}|\w{17})$|^[a-zA-Z]([\w-]{0,61}\w)?$`). AWS's SSM definition takes ids only,
/// not tags.
pub fn instance_ids(
    ids: &[String],
    kind: StopSubType,
    field: &str,
) -> Result<BTreeSet<String>, InvalidField> {
    if ids.is_empty() {
        return Err(InvalidField::new(
            field,
            "name at least one instance (AWS Budgets stops instances by id, not by tag)",
        ));
    }
    if ids.len() > MAX_INSTANCES {
        return Err(InvalidField::new(
            field,
            format!(
                "{} instances; AWS allows at most {MAX_INSTANCES}",
                ids.len()
            ),
        ));
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = BTreeSet::new();
    for (i, id) in ids.iter().enumerate() {
        let ok = match kind {
            StopSubType::Ec2 => id
                .strip_prefix("i-")
                .is_some_and(|r| (r.len() == 8 || r.len() == 17) && r.chars().all(word)),
            StopSubType::Rds => {
                id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && id.len() <= 63
                    && id.chars().all(|c| word(c) || c == '-')
                    && !id.ends_with('-')
            }
        };
        if !ok {
            let what = match kind {
                StopSubType::Ec2 => "an EC2 instance id such as i-0123456789abcdef0",
                StopSubType::Rds => "an RDS DB instance identifier such as orders-db",
            };
            return Err(InvalidField::new(
                format!("{field}[{i}]"),
                format!("'{id}' is not {what}"),
            ));
        }
        out.insert(id.clone());
    }
    Ok(out)
}

/// Checks an action's subscribers: at least one (AWS requires them), at most 10 emails
/// and 1 SNS topic (11 in all, AWS's limit).
pub fn subscribers(
    subs: BTreeSet<Subscriber>,
    field: &str,
) -> Result<BTreeSet<Subscriber>, InvalidField> {
    if subs.is_empty() {
        return Err(InvalidField::new(
            field,
            "AWS requires at least one subscriber for a budget action",
        ));
    }
    let emails = subs
        .iter()
        .filter(|s| matches!(s, Subscriber::Email(_)))
        .count();
    let topics = subs
        .iter()
        .filter(|s| matches!(s, Subscriber::Sns(_)))
        .count();
    if emails > MAX_EMAILS {
        return Err(InvalidField::new(
            field,
            format!("{emails} email subscribers; AWS allows at most {MAX_EMAILS}"),
        ));
    }
    if topics > MAX_SNS_TOPICS {
        return Err(InvalidField::new(
            field,
            format!("{topics} SNS topics; AWS allows at most {MAX_SNS_TOPICS}"),
        ));
    }
    Ok(subs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_follow_budgets_pattern() {
        assert!(
            role_arn(
                "arn:aws:iam::123456789012:role/groundwork/Groundwork-BudgetsActionRole",
                "f"
            )
            .is_ok()
        );
        assert!(role_arn("arn:aws:iam::123456789012:role/Budgets", "f").is_ok());
        for bad in [
            "",
            "Groundwork-BudgetsActionRole",
            "arn:aws:iam::123456789012:user/admin",
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:sts::123456789012:role/x",
        ] {
            let e = role_arn(bad, "action.execution_role_arn").unwrap_err();
            assert_eq!(e.field, "action.execution_role_arn");
        }
    }

    #[test]
    fn instance_ids_are_ids_not_tags() {
        assert!(instance_ids(&["i-0123456789abcdef0".into()], StopSubType::Ec2, "f").is_ok());
        assert!(instance_ids(&["orders-db".into()], StopSubType::Rds, "f").is_ok());
        let e = instance_ids(&["env=dev".into()], StopSubType::Ec2, "ids").unwrap_err();
        assert_eq!(e.field, "ids[0]");
        let e = instance_ids(&["1orders".into()], StopSubType::Rds, "ids").unwrap_err();
        assert!(e.reason.contains("RDS"), "{e}");
        let e = instance_ids(&[], StopSubType::Ec2, "ids").unwrap_err();
        assert!(e.reason.contains("not by tag"), "{e}");
        let many: Vec<String> = (0..101).map(|i| format!("i-{i:08}")).collect();
        assert!(instance_ids(&many, StopSubType::Ec2, "ids").is_err());
    }

    #[test]
    fn subscribers_are_required_and_limited() {
        assert!(subscribers(BTreeSet::new(), "s").is_err());
        let eleven: BTreeSet<Subscriber> = (0..11)
            .map(|i| Subscriber::parse("EMAIL", &format!("a{i}@example.com"), "s").unwrap())
            .collect();
        let e = subscribers(eleven, "s").unwrap_err();
        assert!(e.reason.contains("at most 10"), "{e}");
    }

    #[test]
    fn thresholds_and_regions_and_principals_are_checked() {
        assert!(threshold(0.0, ThresholdType::Percentage, "t").is_err());
        assert!(threshold(1001.0, ThresholdType::Percentage, "t").is_err());
        assert!(threshold(5000.0, ThresholdType::AbsoluteValue, "t").is_ok());
        assert!(region("eu-west-1", "r").is_ok());
        assert!(region("eu-west", "r").is_err());
        assert!(principals(&["Admins".into()], 128, "g").is_ok());
        assert_eq!(
            principals(&["Ad mins".into()], 128, "g").unwrap_err().field,
            "g[0]"
        );
        assert!(policy_arn("arn:aws:iam::aws:policy/AWSDenyAll", "p").is_ok());
        assert!(
            policy_arn(
                "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend",
                "p"
            )
            .is_ok()
        );
        assert!(policy_arn("Groundwork-DenyNewSpend", "p").is_err());
    }
}
