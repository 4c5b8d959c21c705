//! A rule on the event bus that belongs to the spec, with exactly the targets the spec gives
//! it, through the bus's gRPC API: read, made to match, deleted. The notification rules
//! (`rule.rs`) and the kill switch's rule (`kill_switch.rs`) are both this, with their own
//! targets. Applying reads the rule and its targets first and writes only what differs, so a
//! second apply makes no call that changes anything; targets the spec does not give are
//! removed.

use groundwork_proto::v1 as pb;
use pb::event_bus_client::EventBusClient;
use serde_json::Value;
use tonic::Status;

use crate::clients::Conn;

pub type Client = EventBusClient<Conn>;

/// The rule a resource wants: where, its pattern, its description, its targets.
pub struct WantedRule<'a> {
    pub bus: &'a str,
    pub name: &'a str,
    pub pattern: &'a Value,
    pub description: &'a str,
    pub targets: Vec<pb::Target>,
}

/// What the bus holds for a rule.
#[derive(Debug)]
pub struct LiveRule {
    pub arn: String,
    pub pattern: Value,
    pub enabled: bool,
    pub targets: Vec<pb::Target>,
}

/// Every target of the rule, page after page.
async fn all_targets(
    client: &mut Client,
    bus: &str,
    name: &str,
) -> Result<Vec<pb::Target>, Status> {
    let mut out = Vec::new();
    let mut next_token = String::new();
    loop {
        let page = client
            .list_targets_by_rule(pb::ListTargetsByRuleRequest {
                rule: name.into(),
                event_bus_name: bus.into(),
                next_token: next_token.clone(),
                limit: 100,
            })
            .await?
            .into_inner();
        out.extend(page.targets);
        if page.next_token.is_empty() {
            return Ok(out);
        }
        next_token = page.next_token;
    }
}

/// The rule `name` on `bus` as the bus holds it; `None` when absent.
pub async fn read(client: &mut Client, bus: &str, name: &str) -> Result<Option<LiveRule>, Status> {
    let rule = match client
        .describe_rule(pb::DescribeRuleRequest {
            name: name.into(),
            event_bus_name: bus.into(),
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(e) if e.code() == tonic::Code::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let targets = all_targets(client, bus, name).await?;
    // A pattern the bus stored is JSON; one that is not reads as its text, which differs.
    let pattern = serde_json::from_str(&rule.event_pattern)
        .unwrap_or_else(|_| Value::String(rule.event_pattern.clone()));
    Ok(Some(LiveRule {
        arn: rule.arn,
        pattern,
        enabled: rule.state.is_empty() || rule.state == "ENABLED",
        targets,
    }))
}

/// A call on a rule that exists (read or just put): NotFound means that the event bus
/// replica that answered has not applied it yet, so it is retried as an event bus that is
/// briefly unavailable. Event bus replicas catch up with their rules bucket before answering
/// (docs/ARCHITECTURE.md, "Reads after writes, across replicas"); a replica of an earlier
/// release, during a rolling upgrade, does not.
fn not_yet_known(status: Status, rule: &str) -> Status {
    if status.code() == tonic::Code::NotFound {
        Status::unavailable(format!(
            "rule '{rule}' is not known yet to the event bus replica that answered: {}",
            status.message()
        ))
    } else {
        status
    }
}

/// Makes the rule and its targets what `wanted` says; `same(live, wanted)` says whether a
/// live target with a wanted target's id needs no PutTargets. Returns the outcome
/// (`created`, `updated`, `unchanged`) and the rule's ARN.
pub async fn ensure(
    client: &mut Client,
    wanted: WantedRule<'_>,
    same: impl Fn(&pb::Target, &pb::Target) -> bool,
) -> Result<(&'static str, String), Status> {
    let current = read(client, wanted.bus, wanted.name).await?;
    let mut arn = current.as_ref().map(|c| c.arn.clone()).unwrap_or_default();
    let rule_ok = current
        .as_ref()
        .is_some_and(|c| c.enabled && &c.pattern == wanted.pattern);
    if !rule_ok {
        arn = client
            .put_rule(pb::PutRuleRequest {
                name: wanted.name.into(),
                event_bus_name: wanted.bus.into(),
                event_pattern: wanted.pattern.to_string(),
                state: "ENABLED".into(),
                description: wanted.description.into(),
                tags: Vec::new(),
            })
            .await?
            .into_inner()
            .rule_arn;
    }
    let have: &[pb::Target] = current.as_ref().map_or(&[], |c| &c.targets);
    let to_put: Vec<pb::Target> = wanted
        .targets
        .iter()
        .filter(|w| !have.iter().any(|h| h.id == w.id && same(h, w)))
        .cloned()
        .collect();
    let targets_changed = !to_put.is_empty();
    if targets_changed {
        let resp = client
            .put_targets(pb::PutTargetsRequest {
                rule: wanted.name.into(),
                event_bus_name: wanted.bus.into(),
                targets: to_put,
            })
            .await
            .map_err(|s| not_yet_known(s, wanted.name))?
            .into_inner();
        if let Some(f) = resp.failed_entries.first() {
            return Err(Status::failed_precondition(format!(
                "PutTargets refused {} of the targets of rule '{}'; '{}': {} ({})",
                resp.failed_entry_count, wanted.name, f.target_id, f.error_message, f.error_code
            )));
        }
    }
    let extra: Vec<String> = have
        .iter()
        .filter(|h| !wanted.targets.iter().any(|w| w.id == h.id))
        .map(|h| h.id.clone())
        .collect();
    let nothing_extra = extra.is_empty();
    if !nothing_extra {
        client
            .remove_targets(pb::RemoveTargetsRequest {
                rule: wanted.name.into(),
                event_bus_name: wanted.bus.into(),
                ids: extra,
            })
            .await
            .map_err(|s| not_yet_known(s, wanted.name))?;
    }
    let outcome = match (&current, rule_ok && !targets_changed && nothing_extra) {
        (None, _) => "created",
        (Some(_), true) => "unchanged",
        (Some(_), false) => "updated",
    };
    Ok((outcome, arn))
}

/// Removes the rule's targets, then the rule. Returns `deleted` or `absent`.
pub async fn delete(client: &mut Client, bus: &str, name: &str) -> Result<&'static str, Status> {
    let ids: Vec<String> = match all_targets(client, bus, name).await {
        Ok(t) => t.into_iter().map(|t| t.id).collect(),
        Err(e) if e.code() == tonic::Code::NotFound => return Ok("absent"),
        Err(e) => return Err(e),
    };
    if !ids.is_empty() {
        client
            .remove_targets(pb::RemoveTargetsRequest {
                rule: name.into(),
                event_bus_name: bus.into(),
                ids,
            })
            .await?;
    }
    match client
        .delete_rule(pb::DeleteRuleRequest {
            name: name.into(),
            event_bus_name: bus.into(),
            force: false,
        })
        .await
    {
        Ok(_) => Ok("deleted"),
        Err(e) if e.code() == tonic::Code::NotFound => Ok("absent"),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::not_yet_known;

    /// Another event bus replica may not have applied a rule that was just put: its
    /// NotFound becomes retryable; every other refusal is kept as the event bus said it.
    #[test]
    fn a_rule_not_known_yet_is_retried_and_other_refusals_are_kept() {
        let lagging = not_yet_known(tonic::Status::not_found("Rule r does not exist."), "r");
        assert_eq!(lagging.code(), tonic::Code::Unavailable);
        assert!(crate::clients::retryable(&lagging), "{lagging:?}");
        let refused = not_yet_known(tonic::Status::invalid_argument("bad target"), "r");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(!crate::clients::retryable(&refused), "{refused:?}");
    }
}
