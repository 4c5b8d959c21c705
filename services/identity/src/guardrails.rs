//! The guardrails' IAM documents: the "deny new spend" customer managed policy and the
//! execution role AWS Budgets assumes to run budget actions. Pure: names, ARNs and
//! documents only, so that every user of them (budget actions, the kill switch, the docs'
//! check) reads the one definition.
//!
//! `Groundwork-DenyNewSpend` holds Deny statements only. Attached to a group or user it
//! takes away exactly the actions in [`DENIED_ACTIONS`] and grants nothing: reading,
//! billing, IAM self-management, stopping and deleting resources stay as the identity's
//! other policies allow them, so whoever is fenced in can still clean up.

use serde_json::{Value, json};

/// The deny policy's name.
pub const DENY_NEW_SPEND_POLICY: &str = "Groundwork-DenyNewSpend";
/// The execution role AWS Budgets assumes.
pub const BUDGETS_ACTION_ROLE: &str = "Groundwork-BudgetsActionRole";
/// The role's one inline policy.
pub const BUDGETS_ACTION_ROLE_POLICY: &str = "Groundwork-BudgetsActions";
/// The IAM path of both, so that they are told apart from people's own policies and roles.
pub const GUARDRAILS_PATH: &str = "/groundwork/";
/// The service principal that assumes the execution role.
pub const BUDGETS_SERVICE: &str = "budgets.amazonaws.com";

/// What the deny policy denies: the calls that launch, start, create or buy something
/// that is billed while it exists or runs. Grouped by service, one statement each, so a
/// reader (and IAM's policy simulator) sees what stops where.
pub const DENIED_ACTIONS: &[(&str, &[&str])] = &[
    (
        "DenyNewCompute",
        &[
            "ec2:RunInstances",
            "ec2:StartInstances",
            "ec2:RequestSpotInstances",
            "ec2:RequestSpotFleet",
            "ec2:CreateFleet",
            "ec2:AllocateHosts",
            "ec2:CreateCapacityReservation",
            "ec2:PurchaseReservedInstancesOffering",
            "ec2:PurchaseScheduledInstances",
            "ec2:CreateVolume",
            "autoscaling:CreateAutoScalingGroup",
            "lightsail:CreateInstances",
            "batch:CreateComputeEnvironment",
            "elasticmapreduce:RunJobFlow",
            "elasticbeanstalk:CreateEnvironment",
            "apprunner:CreateService",
        ],
    ),
    (
        "DenyNewNetworkCharges",
        &[
            "ec2:CreateNatGateway",
            "ec2:AllocateAddress",
            "ec2:CreateVpcEndpoint",
            "ec2:CreateTransitGateway",
            "ec2:CreateVpnConnection",
            "ec2:CreateClientVpnEndpoint",
            "elasticloadbalancing:CreateLoadBalancer",
            "globalaccelerator:CreateAccelerator",
        ],
    ),
    (
        "DenyNewContainersAndFunctions",
        &[
            "lambda:CreateFunction",
            "ecs:CreateService",
            "ecs:RunTask",
            "ecs:StartTask",
            "eks:CreateCluster",
            "eks:CreateNodegroup",
            "eks:CreateFargateProfile",
        ],
    ),
    (
        "DenyNewDatabases",
        &[
            "rds:CreateDBInstance",
            "rds:CreateDBCluster",
            "rds:CreateDBInstanceReadReplica",
            "rds:RestoreDBInstanceFromDBSnapshot",
            "rds:RestoreDBInstanceToPointInTime",
            "rds:RestoreDBClusterFromSnapshot",
            "rds:RestoreDBClusterToPointInTime",
            "rds:StartDBInstance",
            "rds:StartDBCluster",
            "rds:PurchaseReservedDBInstancesOffering",
            "dynamodb:CreateTable",
            "elasticache:CreateCacheCluster",
            "elasticache:CreateReplicationGroup",
            "elasticache:CreateServerlessCache",
            "redshift:CreateCluster",
            "redshift-serverless:CreateWorkgroup",
            "es:CreateDomain",
            "es:CreateElasticsearchDomain",
            "aoss:CreateCollection",
        ],
    ),
    (
        "DenyNewStorageAndStreams",
        &[
            "s3:CreateBucket",
            "elasticfilesystem:CreateFileSystem",
            "fsx:CreateFileSystem",
            "kinesis:CreateStream",
            "kafka:CreateCluster",
            "kafka:CreateClusterV2",
        ],
    ),
    (
        "DenyNewMachineLearning",
        &[
            "sagemaker:CreateNotebookInstance",
            "sagemaker:StartNotebookInstance",
            "sagemaker:CreateEndpoint",
            "sagemaker:CreateTrainingJob",
            "sagemaker:CreateProcessingJob",
            "sagemaker:CreateTransformJob",
            "sagemaker:CreateHyperParameterTuningJob",
            "sagemaker:CreateDomain",
            "sagemaker:CreateApp",
            "bedrock:CreateProvisionedModelThroughput",
        ],
    ),
    (
        "DenyNewPurchases",
        &[
            "savingsplans:CreateSavingsPlan",
            "route53domains:RegisterDomain",
            "aws-marketplace:Subscribe",
            "workspaces:CreateWorkspaces",
        ],
    ),
];

/// Every denied action, in the document's order.
pub fn denied_actions() -> impl Iterator<Item = &'static str> {
    DENIED_ACTIONS
        .iter()
        .flat_map(|(_, actions)| actions.iter().copied())
}

/// The "deny new spend" policy document.
pub fn deny_new_spend_document() -> Value {
    let statements: Vec<Value> = DENIED_ACTIONS
        .iter()
        .map(|(sid, actions)| {
            json!({
                "Sid": sid,
                "Effect": "Deny",
                "Action": actions,
                "Resource": "*"
            })
        })
        .collect();
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The deny policy's ARN in `account` (partition `aws`, `aws-cn`, …).
pub fn deny_new_spend_arn(partition: &str, account: &str) -> String {
    format!("arn:{partition}:iam::{account}:policy{GUARDRAILS_PATH}{DENY_NEW_SPEND_POLICY}")
}

/// The execution role's ARN in `account`.
pub fn budgets_action_role_arn(partition: &str, account: &str) -> String {
    format!("arn:{partition}:iam::{account}:role{GUARDRAILS_PATH}{BUDGETS_ACTION_ROLE}")
}

/// Who may assume the execution role: AWS Budgets, and only on behalf of this account
/// (`aws:SourceAccount`), so that another account's budget cannot use it (the confused
/// deputy).
pub fn budgets_trust_document(account: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BudgetsActsForThisAccountOnly",
            "Effect": "Allow",
            "Principal": { "Service": BUDGETS_SERVICE },
            "Action": "sts:AssumeRole",
            "Condition": { "StringEquals": { "aws:SourceAccount": account } }
        }]
    })
}

/// Which instances an SSM action stops.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StopKind {
    Ec2,
    Rds,
}

impl StopKind {
    /// The AWS-owned Automation document that stops them, and the one that starts them
    /// again when a person reverses the action.
    pub fn documents(&self) -> [&'static str; 2] {
        match self {
            StopKind::Ec2 => ["AWS-StopEC2Instance", "AWS-StartEC2Instance"],
            StopKind::Rds => ["AWS-StopRdsInstance", "AWS-StartRdsInstance"],
        }
    }
}

/// Instances of one kind in one region that a budget action stops.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StopTarget {
    pub kind: StopKind,
    pub region: String,
    pub instance_ids: Vec<String>,
}

/// Everything the execution role may be asked to do: which policies it may attach to
/// which groups and users, and which instances it may stop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleGrants {
    /// Groundwork's own deny policy, whose ARN depends on the account.
    pub deny_new_spend: bool,
    /// Other managed policies.
    pub policy_arns: Vec<String>,
    pub groups: Vec<String>,
    pub users: Vec<String>,
    pub stop: Vec<StopTarget>,
}

impl RoleGrants {
    /// Sorted and without duplicates, so that the same grants give the same document
    /// whatever order the actions came in.
    pub fn normalized(mut self) -> Self {
        for list in [&mut self.policy_arns, &mut self.groups, &mut self.users] {
            list.sort();
            list.dedup();
        }
        for t in &mut self.stop {
            t.instance_ids.sort();
            t.instance_ids.dedup();
        }
        self.stop.sort();
        self.stop.dedup();
        self
    }
}

/// The execution role's permissions: attach and detach only the named policies
/// (`iam:PolicyARN`) and only on the named groups and users; start the stop (and, to
/// reverse, start) Automation documents in the named regions; stop and start only the
/// named instances, and only when SSM makes the call for the role (`aws:CalledVia`).
/// No `iam:PassRole`: the documents run with the role's own credentials (no
/// `AutomationAssumeRole`), and it is the caller of CreateBudgetAction, not the role,
/// that passes the role to Budgets.
pub fn budgets_action_role_document(partition: &str, account: &str, grants: &RoleGrants) -> Value {
    let mut grants = grants.clone();
    if grants.deny_new_spend {
        grants
            .policy_arns
            .push(deny_new_spend_arn(partition, account));
    }
    let grants = grants.normalized();
    let mut statements = Vec::new();
    if !grants.policy_arns.is_empty() {
        let on_policies = json!({ "ArnEquals": { "iam:PolicyARN": grants.policy_arns } });
        if !grants.groups.is_empty() {
            let groups: Vec<String> = grants
                .groups
                .iter()
                .map(|g| format!("arn:{partition}:iam::{account}:group/{g}"))
                .collect();
            statements.push(json!({
                "Sid": "ApplyGuardrailPoliciesToGroups",
                "Effect": "Allow",
                "Action": ["iam:AttachGroupPolicy", "iam:DetachGroupPolicy"],
                "Resource": groups,
                "Condition": on_policies
            }));
        }
        if !grants.users.is_empty() {
            let users: Vec<String> = grants
                .users
                .iter()
                .map(|u| format!("arn:{partition}:iam::{account}:user/{u}"))
                .collect();
            statements.push(json!({
                "Sid": "ApplyGuardrailPoliciesToUsers",
                "Effect": "Allow",
                "Action": ["iam:AttachUserPolicy", "iam:DetachUserPolicy"],
                "Resource": users,
                "Condition": on_policies
            }));
        }
    }
    if !grants.stop.is_empty() {
        let mut documents: Vec<String> = grants
            .stop
            .iter()
            .flat_map(|t| {
                t.kind.documents().map(|d| {
                    format!(
                        "arn:{partition}:ssm:{}::automation-definition/{d}:*",
                        t.region
                    )
                })
            })
            .collect();
        documents.sort();
        documents.dedup();
        statements.push(json!({
            "Sid": "RunTheStopDocuments",
            "Effect": "Allow",
            "Action": "ssm:StartAutomationExecution",
            "Resource": documents
        }));
        let via_ssm =
            json!({ "ForAnyValue:StringEquals": { "aws:CalledVia": ["ssm.amazonaws.com"] } });
        let ec2: Vec<String> = grants
            .stop
            .iter()
            .filter(|t| t.kind == StopKind::Ec2)
            .flat_map(|t| {
                t.instance_ids
                    .iter()
                    .map(|id| format!("arn:{partition}:ec2:{}:{account}:instance/{id}", t.region))
            })
            .collect();
        if !ec2.is_empty() {
            statements.push(json!({
                "Sid": "StopTheNamedEc2Instances",
                "Effect": "Allow",
                "Action": ["ec2:StopInstances", "ec2:StartInstances"],
                "Resource": ec2,
                "Condition": via_ssm
            }));
            // DescribeInstanceStatus takes no resource: the document waits on it.
            statements.push(json!({
                "Sid": "WatchEc2InstancesStop",
                "Effect": "Allow",
                "Action": "ec2:DescribeInstanceStatus",
                "Resource": "*",
                "Condition": via_ssm
            }));
        }
        let rds: Vec<String> = grants
            .stop
            .iter()
            .filter(|t| t.kind == StopKind::Rds)
            .flat_map(|t| {
                t.instance_ids
                    .iter()
                    .map(|id| format!("arn:{partition}:rds:{}:{account}:db:{id}", t.region))
            })
            .collect();
        if !rds.is_empty() {
            statements.push(json!({
                "Sid": "StopTheNamedRdsInstances",
                "Effect": "Allow",
                "Action": ["rds:StopDBInstance", "rds:StartDBInstance", "rds:DescribeDBInstances"],
                "Resource": rds,
                "Condition": via_ssm
            }));
        }
    }
    if statements.is_empty() {
        // IAM refuses an empty Statement list; a role with no action to run may do nothing.
        statements.push(json!({
            "Sid": "NothingToDo",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*"
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// An AWS region as AWS Budgets' SSM definition takes it (`^\w{2,4}-\w+(-\w+)?-\d$`).
pub fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (3..=4).contains(&parts.len())
        && (2..=4).contains(&parts[0].len())
        && parts.iter().all(|p| word(p))
        && parts
            .last()
            .is_some_and(|p| p.len() == 1 && p.chars().all(|c| c.is_ascii_digit()))
        && (9..=20).contains(&text.len())
}

/// An instance id as AWS Budgets' SSM definition takes it: an EC2 id (`i-` and 8 or 17
/// characters) or an RDS DB instance identifier (a letter, then up to 62 letters, digits,
/// `_` or `-`, not ending in `-`): `^i-(\w{8}|\w{17})$|^[a-zA-Z]([\w-]{0,61}\w)?$`.
pub fn is_instance_id(text: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if let Some(rest) = text.strip_prefix("i-")
        && (rest.len() == 8 || rest.len() == 17)
        && rest.chars().all(word)
    {
        return true;
    }
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && text.len() <= 63
        && text.chars().all(|c| word(c) || c == '-')
        && !text.ends_with('-')
}

/// IAM returns policy documents URL-encoded (RFC 3986); the sandbox returns them as is.
pub fn parse_document(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Some(v);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    serde_json::from_slice(&out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_deny_policy_only_denies_and_leaves_reading_billing_iam_and_deleting_alone() {
        let doc = deny_new_spend_document();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), DENIED_ACTIONS.len());
        for s in statements {
            assert_eq!(s["Effect"], "Deny", "{s}");
            assert_eq!(s["Resource"], "*");
            assert!(s.get("Condition").is_none());
        }
        let denied: Vec<&str> = denied_actions().collect();
        for needed in [
            "ec2:RunInstances",
            "ec2:StartInstances",
            "ec2:CreateNatGateway",
            "ec2:AllocateAddress",
            "rds:CreateDBInstance",
            "rds:CreateDBCluster",
            "rds:StartDBInstance",
            "rds:StartDBCluster",
            "lambda:CreateFunction",
            "ecs:CreateService",
            "ecs:RunTask",
            "eks:CreateCluster",
            "eks:CreateNodegroup",
            "sagemaker:CreateEndpoint",
            "elasticache:CreateCacheCluster",
            "redshift:CreateCluster",
            "es:CreateDomain",
            "dynamodb:CreateTable",
            "s3:CreateBucket",
        ] {
            assert!(denied.contains(&needed), "{needed} must be denied");
        }
        for action in &denied {
            let (service, name) = action.split_once(':').unwrap();
            assert!(!service.is_empty() && !name.contains('*'), "{action}");
            // Nothing that reads, stops, deletes, or touches IAM or billing.
            for kept in ["Describe", "Get", "List", "Stop", "Delete", "Terminate"] {
                assert!(!name.starts_with(kept), "{action} must stay allowed");
            }
            assert!(
                ![
                    "iam",
                    "sts",
                    "budgets",
                    "ce",
                    "billing",
                    "aws-portal",
                    "freetier"
                ]
                .contains(&service),
                "{action} must stay allowed"
            );
        }
        let mut unique = denied.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), denied.len(), "an action is listed twice");
        // A managed policy document is at most 6,144 characters without white space.
        assert!(doc.to_string().len() < 6144);
    }

    #[test]
    fn the_arns_are_under_the_guardrails_path() {
        assert_eq!(
            deny_new_spend_arn("aws", "123456789012"),
            "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend"
        );
        assert_eq!(
            budgets_action_role_arn("aws-cn", "123456789012"),
            "arn:aws-cn:iam::123456789012:role/groundwork/Groundwork-BudgetsActionRole"
        );
    }

    #[test]
    fn only_budgets_acting_for_this_account_may_assume_the_role() {
        let doc = budgets_trust_document("123456789012");
        let s = &doc["Statement"][0];
        assert_eq!(s["Principal"]["Service"], "budgets.amazonaws.com");
        assert_eq!(s["Action"], "sts:AssumeRole");
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
    }

    #[test]
    fn the_role_may_attach_only_the_named_policies_to_the_named_principals() {
        let arn = deny_new_spend_arn("aws", "123456789012");
        let grants = RoleGrants {
            deny_new_spend: true,
            policy_arns: vec![arn.clone()],
            groups: vec!["Admins".into()],
            users: vec![],
            stop: vec![],
        };
        let doc = budgets_action_role_document("aws", "123456789012", &grants);
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1, "{doc}");
        let s = &statements[0];
        assert_eq!(
            s["Action"],
            json!(["iam:AttachGroupPolicy", "iam:DetachGroupPolicy"])
        );
        assert_eq!(
            s["Resource"],
            json!(["arn:aws:iam::123456789012:group/Admins"])
        );
        assert_eq!(s["Condition"]["ArnEquals"]["iam:PolicyARN"], json!([arn]));
        assert!(!doc.to_string().contains("iam:PassRole"));
    }

    #[test]
    fn the_role_may_stop_only_the_named_instances_through_ssm() {
        let grants = RoleGrants {
            stop: vec![
                StopTarget {
                    kind: StopKind::Rds,
                    region: "eu-west-1".into(),
                    instance_ids: vec!["orders-db".into()],
                },
                StopTarget {
                    kind: StopKind::Ec2,
                    region: "eu-west-1".into(),
                    instance_ids: vec!["i-0123456789abcdef0".into()],
                },
            ],
            ..RoleGrants::default()
        };
        let doc = budgets_action_role_document("aws", "123456789012", &grants);
        let by_sid = |sid: &str| {
            doc["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .cloned()
                .unwrap()
        };
        assert_eq!(
            by_sid("RunTheStopDocuments")["Resource"],
            json!([
                "arn:aws:ssm:eu-west-1::automation-definition/AWS-StartEC2Instance:*",
                "arn:aws:ssm:eu-west-1::automation-definition/AWS-StartRdsInstance:*",
                "arn:aws:ssm:eu-west-1::automation-definition/AWS-StopEC2Instance:*",
                "arn:aws:ssm:eu-west-1::automation-definition/AWS-StopRdsInstance:*"
            ])
        );
        let ec2 = by_sid("StopTheNamedEc2Instances");
        assert_eq!(
            ec2["Resource"],
            json!(["arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0"])
        );
        assert_eq!(
            ec2["Condition"]["ForAnyValue:StringEquals"]["aws:CalledVia"],
            json!(["ssm.amazonaws.com"])
        );
        assert_eq!(
            by_sid("StopTheNamedRdsInstances")["Resource"],
            json!(["arn:aws:rds:eu-west-1:123456789012:db:orders-db"])
        );
    }

    #[test]
    fn a_role_with_nothing_to_do_may_do_nothing() {
        let doc = budgets_action_role_document("aws", "123456789012", &RoleGrants::default());
        assert_eq!(doc["Statement"][0]["Effect"], "Deny");
    }

    #[test]
    fn regions_and_instance_ids_follow_budgets_patterns() {
        for ok in ["eu-west-1", "us-east-1", "us-gov-west-1", "ap-southeast-2"] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in ["", "eu-west", "europe", "eu-west-1a", "eu west-1"] {
            assert!(!is_region(bad), "{bad}");
        }
        for ok in ["i-0123456789abcdef0", "i-01234567", "orders-db", "a"] {
            assert!(is_instance_id(ok), "{ok}");
        }
        for bad in [
            "",
            "1db",
            "db-",
            "has space",
            "arn:aws:ec2:x",
            "tag:env=dev",
        ] {
            assert!(!is_instance_id(bad), "{bad}");
        }
    }

    #[test]
    fn documents_compare_whether_encoded_or_not() {
        let doc = deny_new_spend_document();
        let text = doc.to_string();
        let encoded: String = text
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(parse_document(&encoded).unwrap(), doc);
    }
}
