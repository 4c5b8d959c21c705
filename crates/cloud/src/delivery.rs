//! Whether AWS Budgets and CloudWatch alarms can deliver to an SNS topic. Both publish as
//! AWS service principals, so a topic whose access policy does not allow them, or whose
//! KMS key they may not use, accepts the alert and silently drops it.
//!
//! The statements here are the one copy Groundwork adds: budget's EnsureBudget uses them
//! for the topics its alerts go to, alerting's CheckAlertDelivery for every topic it
//! checks. The pure part (statements, whether a policy document allows a publisher,
//! a document with the statements added) is separate from the calls (GetTopicAttributes,
//! DescribeKey, GetKeyPolicy and the two writes).
//!
//! Policies are judged the way SNS and KMS would let a service principal in: an Allow
//! statement naming the service (or `*`) with the actions, no Deny of them. Conditions
//! on an Allow are not evaluated: a statement someone wrote with their own conditions is
//! theirs to keep.

use aws_config::SdkConfig;
use serde_json::{Value, json};

use crate::config::BILLING_REGION;
use crate::error::{AwsError, AwsErrorKind};

/// The AWS managed key for SNS. Its policy lets only SNS's own callers in the account use
/// it, and AWS managed key policies cannot be changed: Budgets and CloudWatch can never
/// publish to a topic encrypted with it.
pub const AWS_MANAGED_SNS_KEY: &str = "alias/aws/sns";

/// The policy name KMS keys have (the only one).
pub const KEY_POLICY_NAME: &str = "default";

/// An AWS service that publishes alerts to SNS topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Publisher {
    /// AWS Budgets' notifications.
    Budgets,
    /// CloudWatch alarm actions.
    CloudWatch,
}

impl Publisher {
    /// Both, in the order findings list them.
    pub const ALL: [Self; 2] = [Self::Budgets, Self::CloudWatch];

    /// The service principal it publishes (and uses KMS keys) as.
    pub fn service(self) -> &'static str {
        match self {
            Self::Budgets => "budgets.amazonaws.com",
            Self::CloudWatch => "cloudwatch.amazonaws.com",
        }
    }

    /// A name for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Budgets => "AWS Budgets",
            Self::CloudWatch => "CloudWatch alarms",
        }
    }

    /// Sid of the topic policy statement Groundwork adds.
    pub fn topic_sid(self) -> &'static str {
        match self {
            Self::Budgets => "AllowAWSBudgetsPublish",
            Self::CloudWatch => "AllowCloudWatchAlarmsPublish",
        }
    }

    /// Sid of the key policy statement Groundwork adds.
    pub fn key_sid(self) -> &'static str {
        match self {
            Self::Budgets => "AllowAWSBudgetsUseOfTheKey",
            Self::CloudWatch => "AllowCloudWatchAlarmsUseOfTheKey",
        }
    }

    /// What `aws:SourceArn` is when it publishes for `account`: any budget of the account
    /// (budgets have no region), any alarm of the account in us-east-1 (where billing
    /// alarms and their topics live).
    pub fn source_arn(self, account: &str) -> String {
        match self {
            Self::Budgets => format!("arn:aws:budgets::{account}:*"),
            Self::CloudWatch => format!("arn:aws:cloudwatch:{BILLING_REGION}:{account}:alarm:*"),
        }
    }

    /// The conditions that keep another account's budgets or alarms out (the confused
    /// deputy).
    fn conditions(self, account: &str) -> Value {
        json!({
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": self.source_arn(account)}
        })
    }
}

impl std::fmt::Display for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The topic policy statement that lets `publisher` publish to `topic` for `account`.
pub fn topic_statement(publisher: Publisher, topic: &str, account: &str) -> Value {
    json!({
        "Sid": publisher.topic_sid(),
        "Effect": "Allow",
        "Principal": {"Service": publisher.service()},
        "Action": "SNS:Publish",
        "Resource": topic,
        "Condition": publisher.conditions(account)
    })
}

/// The key policy statement that lets `publisher` use the key of a topic it publishes to
/// for `account`: SNS asks KMS for a data key on the publisher's behalf. Each is the form
/// AWS documents for its service: Budgets' with the source conditions, CloudWatch's
/// without (AWS documents none for alarms publishing to an encrypted topic, and a
/// condition the request does not carry would drop the alerts again).
pub fn key_statement(publisher: Publisher, account: &str) -> Value {
    let mut statement = json!({
        "Sid": publisher.key_sid(),
        "Effect": "Allow",
        "Principal": {"Service": publisher.service()},
        "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
        "Resource": "*"
    });
    if publisher == Publisher::Budgets
        && let Some(obj) = statement.as_object_mut()
    {
        obj.insert("Condition".into(), publisher.conditions(account));
    }
    statement
}

fn as_list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

fn statements(policy: &str) -> Vec<Value> {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return Vec::new();
    };
    as_list(doc.get("Statement")).into_iter().cloned().collect()
}

fn effect(statement: &Value, effect: &str) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some(effect)
}

fn names_service(statement: &Value, service: &str) -> bool {
    match statement.get("Principal") {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(p)) => as_list(p.get("Service"))
            .iter()
            .any(|s| s.as_str() == Some(service)),
        _ => false,
    }
}

/// Whether an IAM action pattern (`sns:Publish`, `kms:GenerateDataKey*`, `kms:*`, `*`)
/// covers `action`; case does not matter.
fn action_covers(pattern: &str, action: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let action = action.to_ascii_lowercase();
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

fn covers_action(statement: &Value, action: &str) -> bool {
    as_list(statement.get("Action"))
        .iter()
        .any(|a| a.as_str().is_some_and(|a| action_covers(a, action)))
}

fn on_resource(statement: &Value, resource: &str) -> bool {
    let resources = as_list(statement.get("Resource"));
    resources.is_empty()
        || resources
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r == "*" || r == resource))
}

/// Whether the statements let `service` do every one of `actions` on `resource`: each
/// action allowed by some statement naming the service (an unconditional `*` principal
/// counts too), none denied.
fn allows(statements: &[Value], service: &str, actions: &[&str], resource: &str) -> bool {
    let applies = |s: &Value, action: &str| {
        names_service(s, service) && covers_action(s, action) && on_resource(s, resource)
    };
    actions.iter().all(|action| {
        let denied = statements
            .iter()
            .any(|s| effect(s, "Deny") && applies(s, action));
        let allowed = statements.iter().any(|s| {
            effect(s, "Allow")
                && applies(s, action)
                // `"Principal": "*"` with conditions is the usual "only my account" form,
                // which a service principal does not pass.
                && (s.get("Principal").is_some_and(Value::is_object) || s.get("Condition").is_none())
        });
        allowed && !denied
    })
}

/// The actions a publisher needs on the key of an encrypted topic.
pub const KEY_ACTIONS: [&str; 3] = [
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:Decrypt",
];

/// Whether the topic policy lets `publisher` publish to `topic`.
pub fn topic_allows(policy: &str, topic: &str, publisher: Publisher) -> bool {
    allows(
        &statements(policy),
        publisher.service(),
        &["sns:Publish"],
        topic,
    )
}

/// Whether the key policy lets `publisher` use the key (GenerateDataKey and Decrypt).
pub fn key_allows(policy: &str, publisher: Publisher) -> bool {
    // SNS itself asks only for GenerateDataKey and Decrypt; a grant of both is enough.
    allows(
        &statements(policy),
        publisher.service(),
        &[KEY_ACTIONS[0], KEY_ACTIONS[2]],
        "*",
    )
}

/// `policy` with `added` put in, replacing statements of the same Sid; other statements
/// are kept as they are. An empty or unreadable policy starts a new document.
fn with_statements(policy: &str, added: Vec<Value>) -> String {
    let mut doc = serde_json::from_str::<Value>(policy)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"Version": "2012-10-17"}));
    let sids: Vec<Value> = added.iter().filter_map(|s| s.get("Sid").cloned()).collect();
    let mut kept: Vec<Value> = as_list(doc.get("Statement"))
        .into_iter()
        .filter(|s| s.get("Sid").is_none_or(|sid| !sids.contains(sid)))
        .cloned()
        .collect();
    kept.extend(added);
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("Statement".into(), Value::Array(kept));
    }
    doc.to_string()
}

/// The topic policy with the statements of `publishers` added.
pub fn with_topic_statements(
    policy: &str,
    topic: &str,
    account: &str,
    publishers: &[Publisher],
) -> String {
    with_statements(
        policy,
        publishers
            .iter()
            .map(|p| topic_statement(*p, topic, account))
            .collect(),
    )
}

/// The key policy with the statements of `publishers` added.
pub fn with_key_statements(policy: &str, account: &str, publishers: &[Publisher]) -> String {
    with_statements(
        policy,
        publishers
            .iter()
            .map(|p| key_statement(*p, account))
            .collect(),
    )
}

/// An SNS client for `region` on the shared configuration.
pub fn sns_client(config: &SdkConfig, region: &str) -> aws_sdk_sns::Client {
    let conf = aws_sdk_sns::config::Builder::from(config)
        .region(aws_config::Region::new(region.to_owned()))
        .build();
    aws_sdk_sns::Client::from_conf(conf)
}

/// A KMS client for `region` (a topic's key is in the topic's region).
pub fn kms_client(config: &SdkConfig, region: &str) -> aws_sdk_kms::Client {
    let conf = aws_sdk_kms::config::Builder::from(config)
        .region(aws_config::Region::new(region.to_owned()))
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

/// A topic's access as read from SNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicAccess {
    pub topic_arn: String,
    /// The access policy (`Policy`), empty when SNS shows none.
    pub policy: String,
    /// `KmsMasterKeyId`: the key id, key ARN, alias or alias ARN; `None` unencrypted.
    pub kms_key: Option<String>,
    /// The publishers asked about that the policy does not let publish.
    pub missing: Vec<Publisher>,
}

/// Reads the topic (GetTopicAttributes); `None` when it does not exist.
pub async fn read_topic(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    publishers: &[Publisher],
) -> Result<Option<TopicAccess>, AwsError> {
    let out = match sns.get_topic_attributes().topic_arn(topic_arn).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = AwsError::from_sdk("GetTopicAttributes", e);
            return if e.kind == AwsErrorKind::NotFound {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    let attribute = |name: &str| {
        out.attributes()
            .and_then(|a| a.get(name))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let policy = attribute("Policy").unwrap_or_default();
    let missing = publishers
        .iter()
        .copied()
        .filter(|p| !topic_allows(&policy, topic_arn, *p))
        .collect();
    Ok(Some(TopicAccess {
        topic_arn: topic_arn.to_owned(),
        policy,
        kms_key: attribute("KmsMasterKeyId"),
        missing,
    }))
}

/// Adds the missing publishers' statements to the topic policy (SetTopicAttributes).
pub async fn grant_topic(
    sns: &aws_sdk_sns::Client,
    topic: &TopicAccess,
    account: &str,
) -> Result<(), AwsError> {
    if topic.missing.is_empty() {
        return Ok(());
    }
    sns.set_topic_attributes()
        .topic_arn(&topic.topic_arn)
        .attribute_name("Policy")
        .attribute_value(with_topic_statements(
            &topic.policy,
            &topic.topic_arn,
            account,
            &topic.missing,
        ))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("SetTopicAttributes", e))?;
    Ok(())
}

/// A topic's KMS key as read from KMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAccess {
    /// An AWS managed key (`alias/aws/sns`): no publisher but SNS's own callers can use
    /// it, and its policy cannot be changed.
    AwsManaged { key_ref: String, key_arn: String },
    /// A customer managed key and the publishers its policy does not let in.
    Customer {
        key_ref: String,
        key_arn: String,
        key_id: String,
        policy: String,
        missing: Vec<Publisher>,
    },
}

impl KeyAccess {
    /// The key as the topic names it.
    pub fn key_ref(&self) -> &str {
        match self {
            Self::AwsManaged { key_ref, .. } | Self::Customer { key_ref, .. } => key_ref,
        }
    }

    /// The key's ARN; its reference when KMS did not say.
    pub fn key_arn(&self) -> &str {
        match self {
            Self::AwsManaged { key_arn, key_ref }
            | Self::Customer {
                key_arn, key_ref, ..
            } => {
                if key_arn.is_empty() {
                    key_ref
                } else {
                    key_arn
                }
            }
        }
    }

    /// What is wrong with the key for `publishers`, and how to fix it; `None` when they
    /// can all use it.
    pub fn problem(
        &self,
        topic_arn: &str,
        account: &str,
        publishers: &[Publisher],
    ) -> Option<KeyProblem> {
        let names = |ps: &[Publisher]| {
            ps.iter()
                .map(|p| p.label())
                .collect::<Vec<_>>()
                .join(" and ")
        };
        match self {
            Self::AwsManaged { key_ref, .. } => Some(KeyProblem {
                message: format!(
                    "SNS topic {topic_arn} is encrypted with the AWS managed key {key_ref}, which \
                     {} cannot use: their alerts to it are lost. AWS managed key policies cannot \
                     be changed",
                    names(publishers)
                ),
                fix: aws_managed_key_fix(topic_arn, account, publishers),
                policy_fix: false,
            }),
            Self::Customer {
                key_ref,
                key_arn,
                missing,
                ..
            } => {
                let missing: Vec<Publisher> = publishers
                    .iter()
                    .copied()
                    .filter(|p| missing.contains(p))
                    .collect();
                if missing.is_empty() {
                    return None;
                }
                Some(KeyProblem {
                    message: format!(
                        "the policy of KMS key {key_ref} ({key_arn}), which encrypts SNS topic \
                         {topic_arn}, does not let {} use the key (kms:GenerateDataKey*, \
                         kms:Decrypt): their alerts to the topic are lost",
                        names(&missing)
                    ),
                    fix: format!(
                        "add to the key policy (aws kms get-key-policy --key-id {key_arn} \
                         --policy-name default, append, aws kms put-key-policy) the statements \
                         {}",
                        statements_text(missing.iter().map(|p| key_statement(*p, account)))
                    ),
                    policy_fix: true,
                })
            }
        }
    }
}

/// A problem with a topic's key: what it is, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    pub message: String,
    pub fix: String,
    /// Whether adding statements to the key policy fixes it (not for an AWS managed key).
    pub policy_fix: bool,
}

/// The fix text for a topic whose policy lacks publishers' statements.
pub fn topic_fix(topic_arn: &str, account: &str, missing: &[Publisher]) -> String {
    format!(
        "add to the topic's access policy (aws sns get-topic-attributes --topic-arn {topic_arn}, \
         append to Policy, aws sns set-topic-attributes --attribute-name Policy) the statements {}",
        statements_text(
            missing
                .iter()
                .map(|p| topic_statement(*p, topic_arn, account))
        )
    )
}

fn aws_managed_key_fix(topic_arn: &str, account: &str, publishers: &[Publisher]) -> String {
    format!(
        "use a customer managed key instead: (1) aws kms create-key --description \
         \"{topic_arn} alerts\" (2) add the statements {} to its policy (aws kms put-key-policy \
         --policy-name default; keep the account's own statement) (3) aws sns \
         set-topic-attributes --topic-arn {topic_arn} --attribute-name KmsMasterKeyId \
         --attribute-value <the new key's ARN>. Or switch encryption off: the same call with an \
         empty --attribute-value",
        statements_text(publishers.iter().map(|p| key_statement(*p, account)))
    )
}

fn statements_text(statements: impl Iterator<Item = Value>) -> String {
    statements
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Whether `key_ref` is an `alias/aws/…` alias (or its ARN): AWS reserves that prefix for
/// its managed keys, so such a key is AWS managed whatever else is said about it.
pub fn names_aws_alias(key_ref: &str) -> bool {
    let name = key_ref
        .rsplit_once(':')
        .map_or(key_ref, |(_, resource)| resource);
    name.starts_with("alias/aws/")
}

/// Reads the key a topic names (DescribeKey resolves aliases and says who manages it;
/// GetKeyPolicy for a customer managed one).
pub async fn read_key(
    kms: &aws_sdk_kms::Client,
    key_ref: &str,
    publishers: &[Publisher],
) -> Result<KeyAccess, AwsError> {
    let described = kms
        .describe_key()
        .key_id(key_ref)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeKey", e));
    // An `alias/aws/…` key is AWS managed whatever DescribeKey answers; the call only adds
    // its ARN (AWS creates the key on its first use, and a sandbox may not know it).
    let described = match described {
        Err(e) if names_aws_alias(key_ref) => {
            tracing::debug!(error = %e, key = key_ref, "AWS managed key not described");
            return Ok(KeyAccess::AwsManaged {
                key_ref: key_ref.to_owned(),
                key_arn: String::new(),
            });
        }
        other => other?,
    };
    let Some(meta) = described.key_metadata() else {
        return Err(AwsError {
            operation: "DescribeKey",
            code: "ResponseError".into(),
            message: format!("no key metadata for {key_ref}"),
            kind: AwsErrorKind::Unavailable,
        });
    };
    let key_arn = meta.arn().unwrap_or_default().to_owned();
    if meta.key_manager() == Some(&aws_sdk_kms::types::KeyManagerType::Aws)
        || names_aws_alias(key_ref)
    {
        return Ok(KeyAccess::AwsManaged {
            key_ref: key_ref.to_owned(),
            key_arn,
        });
    }
    let key_id = meta.key_id().to_owned();
    let policy = kms
        .get_key_policy()
        .key_id(&key_id)
        .policy_name(KEY_POLICY_NAME)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetKeyPolicy", e))?
        .policy()
        .unwrap_or_default()
        .to_owned();
    let missing = publishers
        .iter()
        .copied()
        .filter(|p| !key_allows(&policy, *p))
        .collect();
    Ok(KeyAccess::Customer {
        key_ref: key_ref.to_owned(),
        key_arn,
        key_id,
        policy,
        missing,
    })
}

/// Adds the missing publishers' statements to a customer managed key's policy
/// (PutKeyPolicy). Does nothing for an AWS managed key, which cannot be changed.
pub async fn grant_key(
    kms: &aws_sdk_kms::Client,
    key: &KeyAccess,
    account: &str,
) -> Result<bool, AwsError> {
    let KeyAccess::Customer {
        key_id,
        policy,
        missing,
        ..
    } = key
    else {
        return Ok(false);
    };
    if missing.is_empty() {
        return Ok(false);
    }
    kms.put_key_policy()
        .key_id(key_id)
        .policy_name(KEY_POLICY_NAME)
        .policy(with_key_statements(policy, account, missing))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutKeyPolicy", e))?;
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:billing-alarm";
    const ACCOUNT: &str = "123456789012";

    fn default_topic_policy() -> String {
        json!({
            "Version": "2008-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Sid": "__default_statement_ID",
                "Principal": {"AWS": "*"},
                "Action": ["SNS:GetTopicAttributes", "SNS:Publish"],
                "Resource": TOPIC,
                "Condition": {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}
            }]
        })
        .to_string()
    }

    fn default_key_policy() -> String {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                "Action": "kms:*",
                "Resource": "*"
            }]
        })
        .to_string()
    }

    #[test]
    fn the_statements_are_the_documented_ones_with_their_conditions() {
        assert_eq!(
            topic_statement(Publisher::CloudWatch, TOPIC, ACCOUNT),
            json!({
                "Sid": "AllowCloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "SNS:Publish",
                "Resource": TOPIC,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                    "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"}
                }
            })
        );
        assert_eq!(
            key_statement(Publisher::Budgets, ACCOUNT),
            json!({
                "Sid": "AllowAWSBudgetsUseOfTheKey",
                "Effect": "Allow",
                "Principal": {"Service": "budgets.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                    "ArnLike": {"aws:SourceArn": "arn:aws:budgets::123456789012:*"}
                }
            })
        );
    }

    #[test]
    fn the_default_topic_policy_lets_no_service_publish_and_the_fixed_one_does() {
        for p in Publisher::ALL {
            assert!(!topic_allows(&default_topic_policy(), TOPIC, p));
            assert!(!topic_allows("", TOPIC, p));
        }
        let fixed = with_topic_statements(&default_topic_policy(), TOPIC, ACCOUNT, &Publisher::ALL);
        for p in Publisher::ALL {
            assert!(topic_allows(&fixed, TOPIC, p), "{p}");
        }
        // The default statement is kept; fixing twice adds nothing.
        let again = with_topic_statements(&fixed, TOPIC, ACCOUNT, &Publisher::ALL);
        assert_eq!(statements(&again).len(), 3);
        // Budgets only: CloudWatch is still missing.
        let budgets = with_topic_statements("", TOPIC, ACCOUNT, &[Publisher::Budgets]);
        assert!(topic_allows(&budgets, TOPIC, Publisher::Budgets));
        assert!(!topic_allows(&budgets, TOPIC, Publisher::CloudWatch));
    }

    #[test]
    fn a_deny_or_another_topic_does_not_count() {
        let other = with_topic_statements(
            "",
            "arn:aws:sns:us-east-1:123456789012:other",
            ACCOUNT,
            &Publisher::ALL,
        );
        assert!(!topic_allows(&other, TOPIC, Publisher::Budgets));
        let mut doc: Value =
            serde_json::from_str(&with_topic_statements("", TOPIC, ACCOUNT, &Publisher::ALL))
                .unwrap();
        doc["Statement"].as_array_mut().unwrap().push(json!({
            "Effect": "Deny", "Principal": {"Service": ["budgets.amazonaws.com"]},
            "Action": "sns:*", "Resource": "*"
        }));
        assert!(!topic_allows(&doc.to_string(), TOPIC, Publisher::Budgets));
        assert!(topic_allows(&doc.to_string(), TOPIC, Publisher::CloudWatch));
    }

    #[test]
    fn a_key_policy_needs_both_actions_for_the_service() {
        for p in Publisher::ALL {
            assert!(!key_allows(&default_key_policy(), p));
        }
        let fixed = with_key_statements(&default_key_policy(), ACCOUNT, &[Publisher::CloudWatch]);
        assert!(key_allows(&fixed, Publisher::CloudWatch));
        assert!(!key_allows(&fixed, Publisher::Budgets));
        assert_eq!(statements(&fixed).len(), 2);
        // Decrypt alone is not enough; kms:* is.
        let decrypt_only = json!({"Statement": [{
            "Effect": "Allow", "Principal": {"Service": "budgets.amazonaws.com"},
            "Action": "kms:Decrypt", "Resource": "*"
        }]});
        assert!(!key_allows(&decrypt_only.to_string(), Publisher::Budgets));
        let all = json!({"Statement": [{
            "Effect": "Allow", "Principal": {"Service": ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]},
            "Action": "kms:*", "Resource": "*"
        }]});
        assert!(key_allows(&all.to_string(), Publisher::Budgets));
        assert!(key_allows(&all.to_string(), Publisher::CloudWatch));
    }

    #[test]
    fn aws_aliases_are_known_by_their_prefix() {
        assert!(names_aws_alias("alias/aws/sns"));
        assert!(names_aws_alias(
            "arn:aws:kms:us-east-1:123456789012:alias/aws/sns"
        ));
        assert!(!names_aws_alias("alias/awsome"));
        assert!(!names_aws_alias(
            "arn:aws:kms:us-east-1:123456789012:key/1234"
        ));
        assert!(!names_aws_alias("1234abcd-12ab-34cd-56ef-1234567890ab"));
    }

    #[test]
    fn an_aws_managed_key_is_a_problem_no_policy_fixes() {
        let key = KeyAccess::AwsManaged {
            key_ref: AWS_MANAGED_SNS_KEY.into(),
            key_arn: "arn:aws:kms:us-east-1:123456789012:key/k".into(),
        };
        let problem = key.problem(TOPIC, ACCOUNT, &Publisher::ALL).unwrap();
        assert!(!problem.policy_fix);
        assert!(
            problem.message.contains("alias/aws/sns"),
            "{}",
            problem.message
        );
        assert!(
            problem.fix.contains("customer managed key"),
            "{}",
            problem.fix
        );
        assert!(problem.fix.contains("KmsMasterKeyId"), "{}", problem.fix);
    }

    #[test]
    fn a_customer_key_problem_names_only_the_publishers_asked_about() {
        let key = KeyAccess::Customer {
            key_ref: "alias/alerts".into(),
            key_arn: "arn:aws:kms:us-east-1:123456789012:key/k".into(),
            key_id: "k".into(),
            policy: default_key_policy(),
            missing: vec![Publisher::CloudWatch],
        };
        assert_eq!(key.problem(TOPIC, ACCOUNT, &[Publisher::Budgets]), None);
        let problem = key.problem(TOPIC, ACCOUNT, &Publisher::ALL).unwrap();
        assert!(problem.policy_fix);
        assert!(
            problem
                .fix
                .contains(&key_statement(Publisher::CloudWatch, ACCOUNT).to_string()),
            "{}",
            problem.fix
        );
        assert!(
            !problem.fix.contains("budgets.amazonaws.com"),
            "{}",
            problem.fix
        );
    }
}
