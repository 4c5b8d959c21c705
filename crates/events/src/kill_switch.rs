//! The kill switch's delivery: what the rule `groundwork-kill-switch` sends to its target
//! (`nats:identity.kill-switch`), shaped by the target's input transformer. The
//! orchestrator writes the transformer ([`input_paths`], [`input_template`]); the identity
//! service reads what the event bus renders from it ([`Delivery`]). The group to act on
//! travels in the template, so the identity service needs no spec of its own.

use serde::Deserialize;

use crate::catalog::BudgetThresholdCrossed;

/// The target's id on the rule.
pub const TARGET_ID: &str = "identity";

/// The input transformer's variables: the variable `detail` is the event's detail.
pub fn input_paths() -> [(&'static str, &'static str); 1] {
    [("detail", "$.detail")]
}

/// The input transformer's template for `group`:
/// `{"group": "<group>", "event": <aws.events.event>, "detail": <detail>}`.
pub fn input_template(group: &str) -> String {
    format!(
        "{{\"group\": {}, \"event\": <aws.events.event>, \"detail\": <detail>}}",
        serde_json::Value::String(group.to_owned())
    )
}

/// The group a template written by [`input_template`] names; `None` for any other text.
pub fn group_of_template(template: &str) -> Option<String> {
    let rest = template.strip_prefix("{\"group\": ")?;
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<String>();
    let group = values.next()?.ok()?;
    (input_template(&group) == template).then_some(group)
}

/// What the identity service receives: the group, the event's envelope (as
/// `<aws.events.event>` renders it) and its detail.
#[derive(Debug, Clone, Deserialize)]
pub struct Delivery {
    pub group: String,
    pub event: DeliveredEvent,
    pub detail: BudgetThresholdCrossed,
}

/// The envelope of the delivered event, as `<aws.events.event>` renders it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveredEvent {
    pub id: String,
    pub source: String,
    pub detail_type: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::catalog::CatalogEvent;
    use crate::transform::{InputTransformer, RenderContext, TargetInput};

    #[test]
    fn the_bus_renders_the_template_into_a_delivery() {
        let transformer = InputTransformer {
            input_paths_map: input_paths()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            input_template: input_template("Admins"),
        };
        let event = serde_json::json!({
            "version": "0", "id": "e1", "detail-type": "Budget Threshold Crossed",
            "source": "groundwork.budget", "account": "123456789012",
            "time": "2024-05-01T00:00:00Z", "region": "us-east-1", "resources": [],
            "detail": BudgetThresholdCrossed::example().to_detail().unwrap(),
        });
        let compiled = TargetInput::validate(TARGET_ID, None, None, Some(transformer)).unwrap();
        let rendered = compiled
            .render(
                &event,
                &RenderContext {
                    rule_name: "groundwork-kill-switch",
                    rule_arn: "arn:aws:events:us-east-1:123456789012:rule/groundwork-kill-switch",
                    ingestion_time: "2024-05-01T00:00:00Z",
                },
            )
            .unwrap();
        let d: Delivery = serde_json::from_str(&rendered).unwrap();
        assert_eq!(d.group, "Admins");
        assert_eq!(d.event.id, "e1");
        assert_eq!(d.event.source, "groundwork.budget");
        assert_eq!(d.detail, BudgetThresholdCrossed::example());
    }

    #[test]
    fn the_group_reads_back_from_the_template() {
        assert_eq!(
            group_of_template(&input_template("Admins")).as_deref(),
            Some("Admins")
        );
        assert_eq!(group_of_template("{\"group\": \"x\"}"), None);
        assert_eq!(group_of_template("anything"), None);
    }
}
