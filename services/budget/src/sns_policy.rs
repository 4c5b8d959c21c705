//! An SNS topic that budget alerts go to must let `budgets.amazonaws.com` publish to it;
//! otherwise AWS accepts the notification and its alerts are silently lost. The topic's
//! access policy (GetTopicAttributes → `Policy`) is checked before anything is created:
//! a topic tagged `managed-by=groundwork` is fixed (SetTopicAttributes), any other is
//! refused with the statement to add.

use groundwork_cloud::AwsError;
use serde_json::{Value, json};

use crate::aws::AwsClients;
use crate::domain::TopicArn;
use crate::error::Error;

/// The service principal AWS Budgets publishes as.
pub const BUDGETS_PRINCIPAL: &str = "budgets.amazonaws.com";
/// The tag that says Groundwork may change the topic.
pub const MANAGED_TAG: (&str, &str) = ("managed-by", "groundwork");
/// Sid of the statement Groundwork adds.
pub const STATEMENT_SID: &str = "AllowAWSBudgetsPublish";

fn as_list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

fn principal_matches(statement: &Value) -> bool {
    match statement.get("Principal") {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(p)) => as_list(p.get("Service"))
            .iter()
            .any(|s| s.as_str() == Some(BUDGETS_PRINCIPAL)),
        _ => false,
    }
}

fn action_matches(statement: &Value) -> bool {
    as_list(statement.get("Action")).iter().any(|a| {
        a.as_str().is_some_and(|a| {
            let a = a.to_ascii_lowercase();
            a == "sns:publish" || a == "sns:*" || a == "*"
        })
    })
}

fn resource_matches(statement: &Value, topic: &str) -> bool {
    let resources = as_list(statement.get("Resource"));
    resources.is_empty()
        || resources
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r == "*" || r == topic))
}

/// Whether the policy lets AWS Budgets publish to `topic`: an Allow statement for the
/// `budgets.amazonaws.com` service principal (or an unconditional `*`), with
/// `SNS:Publish`, on the topic; and no Deny of it.
pub fn allows_budgets(policy: &str, topic: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return false;
    };
    let statements = as_list(doc.get("Statement"));
    let applies =
        |s: &&&Value| principal_matches(s) && action_matches(s) && resource_matches(s, topic);
    let effect = |s: &Value, e: &str| s.get("Effect").and_then(Value::as_str) == Some(e);
    let denied = statements
        .iter()
        .filter(|s| effect(s, "Deny"))
        .any(|s| applies(&s));
    let allowed = statements.iter().filter(|s| effect(s, "Allow")).any(|s| {
        applies(&s)
            && (s.get("Principal").is_some_and(Value::is_object) || s.get("Condition").is_none())
    });
    allowed && !denied
}

/// The statement AWS's documentation asks for, limited to budgets of `account`.
pub fn budgets_statement(topic: &str, account: &str) -> Value {
    json!({
        "Sid": STATEMENT_SID,
        "Effect": "Allow",
        "Principal": {"Service": BUDGETS_PRINCIPAL},
        "Action": "SNS:Publish",
        "Resource": topic,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": format!("arn:aws:budgets::{account}:*")}
        }
    })
}

/// The policy with the budgets statement added (replacing an older one of the same Sid).
pub fn with_budgets_statement(policy: &str, topic: &str, account: &str) -> String {
    let mut doc = serde_json::from_str::<Value>(policy)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"Version": "2012-10-17"}));
    let mut statements: Vec<Value> = as_list(doc.get("Statement")).into_iter().cloned().collect();
    statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(STATEMENT_SID));
    statements.push(budgets_statement(topic, account));
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("Statement".into(), Value::Array(statements));
    }
    doc.to_string()
}

/// Checks one topic; fixes it when Groundwork manages it and `fix` is set. Returns a note
/// for the response when something was (or would be) fixed.
pub async fn ensure_topic_allows_budgets(
    clients: &AwsClients,
    topic: &TopicArn,
    account: &str,
    fix: bool,
) -> Result<Option<String>, Error> {
    let sns = clients.sns(topic.region());
    let attributes = sns
        .get_topic_attributes()
        .topic_arn(topic.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetTopicAttributes", e));
    let attributes = match attributes {
        Ok(a) => a,
        Err(e) if e.kind == groundwork_cloud::AwsErrorKind::NotFound => {
            return Err(Error::failed_precondition(format!(
                "SNS topic {} does not exist; create it first (or use an email subscriber)",
                topic.as_str()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let policy = attributes
        .attributes()
        .and_then(|a| a.get("Policy"))
        .cloned()
        .unwrap_or_default();
    if allows_budgets(&policy, topic.as_str()) {
        return Ok(None);
    }
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(topic.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
    let managed = tags
        .tags()
        .iter()
        .any(|t| t.key() == MANAGED_TAG.0 && t.value() == MANAGED_TAG.1);
    if !managed {
        return Err(Error::failed_precondition(format!(
            "the access policy of SNS topic {topic} does not let AWS Budgets publish to it, so its \
             alerts would be lost. Add this statement to the topic's policy: {statement} \
             (e.g. `aws sns set-topic-attributes --topic-arn {topic} --attribute-name Policy \
             --attribute-value file://policy.json` with the statement appended), or tag the topic \
             {k}={v} to let Groundwork add it",
            topic = topic.as_str(),
            statement = budgets_statement(topic.as_str(), account),
            k = MANAGED_TAG.0,
            v = MANAGED_TAG.1,
        )));
    }
    if fix {
        sns.set_topic_attributes()
            .topic_arn(topic.as_str())
            .attribute_name("Policy")
            .attribute_value(with_budgets_statement(&policy, topic.as_str(), account))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("SetTopicAttributes", e))?;
        tracing::info!(
            topic = topic.as_str(),
            "added the AWS Budgets publish statement to the topic policy"
        );
        Ok(Some(format!(
            "added statement {STATEMENT_SID} to the policy of SNS topic {} so that AWS Budgets can publish to it",
            topic.as_str()
        )))
    } else {
        Ok(Some(format!(
            "would add statement {STATEMENT_SID} to the policy of SNS topic {} (managed by Groundwork)",
            topic.as_str()
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:billing-alarm";

    fn default_policy() -> String {
        json!({
            "Version": "2008-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Sid": "__default_statement_ID",
                "Principal": {"AWS": "*"},
                "Action": ["SNS:GetTopicAttributes", "SNS:Publish"],
                "Resource": TOPIC,
                "Condition": {"StringEquals": {"AWS:SourceOwner": "123456789012"}}
            }]
        })
        .to_string()
    }

    #[test]
    fn the_default_topic_policy_does_not_let_budgets_publish() {
        assert!(!allows_budgets(&default_policy(), TOPIC));
        assert!(!allows_budgets("", TOPIC));
    }

    #[test]
    fn the_fixed_policy_does_and_keeps_the_other_statements() {
        let fixed = with_budgets_statement(&default_policy(), TOPIC, "123456789012");
        assert!(allows_budgets(&fixed, TOPIC));
        let doc: Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 2);
        // Fixing twice does not add a second statement.
        let again = with_budgets_statement(&fixed, TOPIC, "123456789012");
        let doc: Value = serde_json::from_str(&again).unwrap();
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_deny_or_another_topic_does_not_count() {
        let other = with_budgets_statement("", "arn:aws:sns:us-east-1:123456789012:other", "1");
        assert!(!allows_budgets(&other, TOPIC));
        let mut doc: Value = serde_json::from_str(&with_budgets_statement("", TOPIC, "1")).unwrap();
        doc["Statement"].as_array_mut().unwrap().push(json!({
            "Effect": "Deny", "Principal": {"Service": ["budgets.amazonaws.com"]},
            "Action": "sns:*", "Resource": "*"
        }));
        assert!(!allows_budgets(&doc.to_string(), TOPIC));
    }
}
