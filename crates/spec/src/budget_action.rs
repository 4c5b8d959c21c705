//! `[[budgets.actions]]`: what AWS Budgets itself does when a budget crosses a threshold
//! — apply Groundwork's "deny new spend" policy (or another managed policy) to the admin
//! group and users, or stop EC2 or RDS instances — automatically or once a person
//! approves it.
//!
//! ```toml
//! [[budgets.actions]]
//! threshold_percent = 100          # or threshold_usd = 50
//! notify_on = "actual"             # or "forecasted"
//! approval = "automatic"           # or "manual"
//! apply_policy = "deny-new-spend"  # or a managed policy ARN
//! to_groups = ["Admins"]           # default: identity.group
//!
//! [[budgets.actions]]
//! threshold_percent = 120
//! approval = "manual"
//! stop_instances = { kind = "ec2", region = "eu-west-1", instance_ids = ["i-0123456789abcdef0"] }
//! ```
//!
//! AWS Budgets' SSM action takes instance ids, not tags: the instances to stop are named
//! one by one (at most 100 per action).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::types::{self, EmailAddress, Percent, Usd};
use super::{BudgetSpec, NotifyOn, Spec};

/// The name that stands for Groundwork's own "deny new spend" policy.
pub const DENY_NEW_SPEND: &str = "deny-new-spend";
/// Instance ids AWS Budgets' SSM action takes.
pub const MAX_INSTANCES: usize = 100;
/// Email subscribers AWS Budgets allows per action.
pub const MAX_ACTION_EMAILS: usize = 10;

/// One budget action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetActionSpec {
    /// The threshold in percent of the budget's limit…
    pub threshold_percent: Option<Percent>,
    /// …or in US dollars. Exactly one of the two.
    pub threshold_usd: Option<Usd>,
    /// Which spend crosses the threshold: actual (the default) or forecasted.
    #[serde(default = "actual")]
    pub notify_on: NotifyOn,
    /// Whether AWS runs the action at once, or waits for a person to approve it.
    pub approval: Approval,
    /// `deny-new-spend` (Groundwork's policy) or a managed policy ARN…
    pub apply_policy: Option<String>,
    /// …applied to these groups (default: the identity's admin group)…
    #[serde(default)]
    pub to_groups: Vec<types::IamName>,
    /// …and these users.
    #[serde(default)]
    pub to_users: Vec<types::IamName>,
    /// Or: stop these instances. Exactly one of `apply_policy` and `stop_instances`.
    pub stop_instances: Option<StopInstancesSpec>,
    /// Who is told when the action runs or waits for approval; the budget's `emails`
    /// when empty (AWS requires at least one).
    #[serde(default)]
    pub emails: Vec<EmailAddress>,
}

fn actual() -> NotifyOn {
    NotifyOn::Actual
}

/// Who lets an action run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// AWS runs it as soon as the threshold is crossed.
    Automatic,
    /// AWS waits until a person approves it (the budget service's ExecuteBudgetAction,
    /// or the AWS console).
    Manual,
}

impl Approval {
    /// AWS Budgets' `ApprovalModel`.
    pub fn as_aws(self) -> &'static str {
        match self {
            Self::Automatic => "AUTOMATIC",
            Self::Manual => "MANUAL",
        }
    }
}

/// Instances an action stops, through AWS's SSM documents `AWS-StopEC2Instance` and
/// `AWS-StopRdsInstance`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopInstancesSpec {
    pub kind: InstanceKind,
    /// Where they are, e.g. `eu-west-1`.
    pub region: String,
    /// EC2 instance ids (`i-…`) or RDS DB instance identifiers; 1 to 100.
    pub instance_ids: Vec<String>,
}

/// Which instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceKind {
    Ec2,
    Rds,
}

impl InstanceKind {
    /// AWS Budgets' `ActionSubType`.
    pub fn sub_type(self) -> &'static str {
        match self {
            Self::Ec2 => "STOP_EC2_INSTANCES",
            Self::Rds => "STOP_RDS_INSTANCES",
        }
    }

    /// The identity service's grant kind.
    pub fn as_aws(self) -> &'static str {
        match self {
            Self::Ec2 => "EC2",
            Self::Rds => "RDS",
        }
    }
}

/// What an action is known by within its budget: the policy it applies, or the kind of
/// instances and the region it stops. Two actions of a budget may not share one.
pub fn action_key(a: &BudgetActionSpec) -> String {
    match (&a.apply_policy, &a.stop_instances) {
        (Some(p), _) => format!("apply-{}", policy_key(p)),
        (None, Some(s)) => format!("stop-{}-{}", s.kind.as_aws().to_lowercase(), s.region),
        (None, None) => "invalid".into(),
    }
}

fn policy_key(p: &str) -> String {
    if p == DENY_NEW_SPEND {
        return DENY_NEW_SPEND.into();
    }
    p.rsplit('/').next().unwrap_or(p).to_owned()
}

/// The groups an action applies its policy to: the named ones, else the admin group.
pub fn target_groups(spec: &Spec, a: &BudgetActionSpec) -> Vec<String> {
    if a.apply_policy.is_none() {
        return Vec::new();
    }
    if a.to_groups.is_empty() && a.to_users.is_empty() {
        return spec
            .identity
            .as_ref()
            .map(|i| vec![i.group.as_str().to_owned()])
            .unwrap_or_default();
    }
    a.to_groups.iter().map(|g| g.as_str().to_owned()).collect()
}

/// The action's email subscribers: its own, else the budget's.
pub fn subscribers(budget: &BudgetSpec, a: &BudgetActionSpec) -> Vec<String> {
    let list = if a.emails.is_empty() {
        &budget.emails
    } else {
        &a.emails
    };
    let set: BTreeSet<String> = list.iter().map(|e| e.as_str().to_owned()).collect();
    set.into_iter().collect()
}

/// Checks the actions of budget `i`; problems go to `problem` with their TOML path.
pub(crate) fn check(
    spec: &Spec,
    i: usize,
    budget: &BudgetSpec,
    problem: &mut impl FnMut(String, String),
) {
    let mut keys = BTreeSet::new();
    for (j, a) in budget.actions.iter().enumerate() {
        let at = |f: &str| format!("budgets[{i}].actions[{j}].{f}");
        match (&a.threshold_percent, &a.threshold_usd) {
            (Some(_), Some(_)) | (None, None) => problem(
                at("threshold_percent"),
                "give exactly one of threshold_percent and threshold_usd".into(),
            ),
            _ => {}
        }
        match (&a.apply_policy, &a.stop_instances) {
            (Some(policy), None) => {
                if policy != DENY_NEW_SPEND
                    && let Err(reason) = types::check_policy_arn(policy)
                {
                    problem(
                        at("apply_policy"),
                        format!("{reason}; or \"{DENY_NEW_SPEND}\" for Groundwork's own policy"),
                    );
                }
                if a.to_groups.is_empty() && a.to_users.is_empty() && spec.identity.is_none() {
                    problem(
                        at("to_groups"),
                        "name the groups or users to apply the policy to (there is no [identity] admin group to default to)".into(),
                    );
                }
                for (field, list) in [("to_groups", &a.to_groups), ("to_users", &a.to_users)] {
                    let unique: BTreeSet<_> = list.iter().collect();
                    if unique.len() != list.len() {
                        problem(at(field), "a name is listed twice".into());
                    }
                }
            }
            (None, Some(stop)) => {
                if !a.to_groups.is_empty() || !a.to_users.is_empty() {
                    problem(
                        at("to_groups"),
                        "only with apply_policy; stop_instances names instances".into(),
                    );
                }
                check_stop(stop, &|f| at(&format!("stop_instances.{f}")), problem);
            }
            _ => problem(
                at("apply_policy"),
                "give exactly one of apply_policy and stop_instances".into(),
            ),
        }
        let subs = subscribers(budget, a);
        if subs.is_empty() {
            problem(
                at("emails"),
                "AWS Budgets requires a subscriber for an action: give emails here or on the budget".into(),
            );
        }
        if subs.len() > MAX_ACTION_EMAILS {
            problem(
                at("emails"),
                format!("AWS Budgets allows {MAX_ACTION_EMAILS} email subscribers per action"),
            );
        }
        if !keys.insert(action_key(a)) {
            problem(
                at("apply_policy"),
                "another action of this budget applies the same policy (or stops the same kind of instances in the same region); make it one action".into(),
            );
        }
    }
}

fn check_stop(
    stop: &StopInstancesSpec,
    at: &dyn Fn(&str) -> String,
    problem: &mut impl FnMut(String, String),
) {
    if !super::validate::is_region(&stop.region) {
        problem(
            at("region"),
            format!("'{}' is not an AWS region (like eu-west-1)", stop.region),
        );
    }
    if stop.instance_ids.is_empty() {
        problem(
            at("instance_ids"),
            "name at least one instance: AWS Budgets stops instances by id (tags are not supported)".into(),
        );
    }
    if stop.instance_ids.len() > MAX_INSTANCES {
        problem(
            at("instance_ids"),
            format!("AWS Budgets stops at most {MAX_INSTANCES} instances per action"),
        );
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut seen = BTreeSet::new();
    for (k, id) in stop.instance_ids.iter().enumerate() {
        let ok = match stop.kind {
            InstanceKind::Ec2 => id
                .strip_prefix("i-")
                .is_some_and(|r| (r.len() == 8 || r.len() == 17) && r.chars().all(word)),
            InstanceKind::Rds => {
                id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && id.len() <= 63
                    && id.chars().all(|c| word(c) || c == '-')
                    && !id.ends_with('-')
            }
        };
        if !ok {
            let what = match stop.kind {
                InstanceKind::Ec2 => "an EC2 instance id (like i-0123456789abcdef0)",
                InstanceKind::Rds => "an RDS DB instance identifier (like orders-db)",
            };
            problem(
                at(&format!("instance_ids[{k}]")),
                format!("'{id}' is not {what}; AWS Budgets stops instances by id, not by tag"),
            );
        }
        if !seen.insert(id) {
            problem(
                at(&format!("instance_ids[{k}]")),
                format!("{id} is listed twice"),
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use crate::resource::{Desired, resources};

    const BASE: &str = r#"
[identity]
admin_user = "admin"

[[budgets]]
name = "monthly-spend"
kind = "spend"
limit_usd = 20
thresholds_percent = [50, 100]
emails = ["ops@example.com"]
"#;

    fn problems(actions: &str) -> Vec<(String, String)> {
        match crate::parse(&format!("{BASE}{actions}")) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems.into_iter().map(|p| (p.path, p.reason)).collect(),
        }
    }

    #[test]
    fn a_deny_action_and_a_stop_action_become_the_policy_the_role_and_two_actions() {
        let spec = crate::parse(&format!(
            "{BASE}{}",
            r#"
[[budgets.actions]]
threshold_percent = 100
approval = "automatic"
apply_policy = "deny-new-spend"

[[budgets.actions]]
threshold_usd = 50
notify_on = "forecasted"
approval = "manual"
stop_instances = { kind = "rds", region = "eu-west-1", instance_ids = ["orders-db"] }
emails = ["cfo@example.com"]
"#
        ))
        .unwrap();
        let all = resources(&spec);
        let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
        for id in [
            "guardrail-policy/Groundwork-DenyNewSpend",
            "budgets-action-role/Groundwork-BudgetsActionRole",
            "budget-action/monthly-spend:apply-deny-new-spend",
            "budget-action/monthly-spend:stop-rds-eu-west-1",
        ] {
            assert!(ids.contains(&id), "{id} in {ids:?}");
        }
        let deny = all
            .iter()
            .find(|r| r.id.as_str() == "budget-action/monthly-spend:apply-deny-new-spend")
            .unwrap();
        let deps: Vec<&str> = deny.depends_on.iter().map(|d| d.as_str()).collect();
        for dep in [
            "budget/monthly-spend",
            "budgets-action-role/Groundwork-BudgetsActionRole",
            "guardrail-policy/Groundwork-DenyNewSpend",
            "admin-user/admin",
        ] {
            assert!(deps.contains(&dep), "{dep} in {deps:?}");
        }
        let Desired::BudgetAction(a) = &deny.desired else {
            panic!("a budget action");
        };
        // The admin group by default, the budget's emails by default.
        assert_eq!(a.to_groups, ["Admins"]);
        assert_eq!(a.emails, ["ops@example.com"]);
        assert_eq!(
            (a.threshold.as_str(), a.threshold_type.as_str()),
            ("100", "percent")
        );
        let role = all
            .iter()
            .find(|r| r.id.as_str() == "budgets-action-role/Groundwork-BudgetsActionRole")
            .unwrap();
        let Desired::BudgetsActionRole(role) = &role.desired else {
            panic!("the role");
        };
        assert_eq!(role.policies, ["deny-new-spend"]);
        assert_eq!(role.groups, ["Admins"]);
        assert_eq!(role.stop_instances.len(), 1);
        assert_eq!(role.stop_instances[0].instance_ids, ["orders-db"]);
    }

    #[test]
    fn a_spec_without_actions_has_no_guardrails() {
        let spec = crate::parse(BASE).unwrap();
        assert!(resources(&spec).iter().all(|r| !matches!(
            r.desired,
            Desired::GuardrailPolicy(_) | Desired::BudgetsActionRole(_) | Desired::BudgetAction(_)
        )));
    }

    #[test]
    fn bad_actions_are_refused_with_their_path() {
        let cases = [
            (
                "[[budgets.actions]]\napproval = \"automatic\"\napply_policy = \"deny-new-spend\"\n",
                "budgets[0].actions[0].threshold_percent",
            ),
            (
                "[[budgets.actions]]\nthreshold_percent = 100\nthreshold_usd = 5\napproval = \"automatic\"\napply_policy = \"deny-new-spend\"\n",
                "budgets[0].actions[0].threshold_percent",
            ),
            (
                "[[budgets.actions]]\nthreshold_percent = 100\napproval = \"automatic\"\n",
                "budgets[0].actions[0].apply_policy",
            ),
            (
                "[[budgets.actions]]\nthreshold_percent = 100\napproval = \"automatic\"\napply_policy = \"DenyAll\"\n",
                "budgets[0].actions[0].apply_policy",
            ),
            (
                "[[budgets.actions]]\nthreshold_percent = 100\napproval = \"automatic\"\nstop_instances = { kind = \"ec2\", region = \"eu-west-1\", instance_ids = [\"env=dev\"] }\n",
                "budgets[0].actions[0].stop_instances.instance_ids[0]",
            ),
            (
                "[[budgets.actions]]\nthreshold_percent = 100\napproval = \"automatic\"\nstop_instances = { kind = \"ec2\", region = \"europe\", instance_ids = [\"i-0123456789abcdef0\"] }\n",
                "budgets[0].actions[0].stop_instances.region",
            ),
            (
                "[[budgets.actions]]\nthreshold_percent = 100\napproval = \"automatic\"\nstop_instances = { kind = \"ec2\", region = \"eu-west-1\", instance_ids = [] }\n",
                "budgets[0].actions[0].stop_instances.instance_ids",
            ),
            (
                "[[budgets.actions]]\nthreshold_percent = 100\napproval = \"automatic\"\napply_policy = \"deny-new-spend\"\n[[budgets.actions]]\nthreshold_percent = 120\napproval = \"manual\"\napply_policy = \"deny-new-spend\"\n",
                "budgets[0].actions[1].apply_policy",
            ),
            (
                "[[budgets.actions]]\nthreshold_percent = 100\napproval = \"automatic\"\napply_policy = \"deny-new-spend\"\nemails = [\"a0@example.com\", \"a1@example.com\", \"a2@example.com\", \"a3@example.com\", \"a4@example.com\", \"a5@example.com\", \"a6@example.com\", \"a7@example.com\", \"a8@example.com\", \"a9@example.com\", \"a10@example.com\"]\n",
                "budgets[0].actions[0].emails",
            ),
        ];
        for (toml, path) in cases {
            let found = problems(toml);
            assert!(
                found.iter().any(|(p, _)| p == path),
                "{path} not in {found:?} for\n{toml}"
            );
        }
        // Tags are refused with the reason.
        let found = problems(cases[4].0);
        assert!(found[0].1.contains("not by tag"), "{found:?}");
        // An unknown approval is a parse error at its path.
        let found = problems(
            "[[budgets.actions]]\nthreshold_percent = 100\napproval = \"later\"\napply_policy = \"deny-new-spend\"\n",
        );
        assert_eq!(found[0].0, "budgets[0].actions[0].approval", "{found:?}");
    }

    #[test]
    fn without_an_identity_the_groups_must_be_named() {
        let spec = "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = 20\nemails = [\"ops@example.com\"]\n[[budgets.actions]]\nthreshold_percent = 100\napproval = \"automatic\"\napply_policy = \"deny-new-spend\"\n";
        let e = crate::parse(spec).unwrap_err();
        assert_eq!(e.problems[0].path, "budgets[0].actions[0].to_groups");
        let named = format!("{spec}to_groups = [\"Developers\"]\n");
        assert!(crate::parse(&named).is_ok());
    }
}
