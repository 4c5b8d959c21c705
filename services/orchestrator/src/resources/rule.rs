//! The spec's notification rules on the event bus, through its gRPC API: a rule with the
//! spec's pattern, and one webhook target per webhook it names (target id = webhook name).
//! Applying reads the rule and its targets first and writes only what differs, so a second
//! apply makes no call that changes anything; targets that are not in the spec are removed,
//! since the rule belongs to the spec.

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::resource::Rule;
use pb::event_bus_client::EventBusClient;
use serde_json::Value;
use tonic::Status;

use super::{Ctx, LiveCtx, Managed, Reads, failed, outputs};
use crate::clients::{Clients, Conn, read_error};
use crate::error::Error;
use crate::runner::StepResult;

type Client = EventBusClient<Conn>;

impl Managed for Rule {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        match ensure(&mut cx.clients.eventbus.clone(), self).await {
            Ok((outcome, arn)) => StepResult::done(outcome, outputs([("rule_arn", arn)])),
            Err(e) => failed("event bus PutRule/PutTargets", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match delete(&mut clients.eventbus.clone(), self).await {
            Ok(outcome) => StepResult::done(outcome, BTreeMap::new()),
            Err(e) => failed("event bus RemoveTargets/DeleteRule", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, _reads: &mut Reads) -> Result<Option<Self>, Error> {
        Ok(read(&mut cx.clients.eventbus.clone(), self)
            .await
            .map_err(|e| read_error("event bus DescribeRule", &e))?
            .map(|live| live.state(self)))
    }
}

const DESCRIPTION: &str = "Managed by groundwork (notifications.rules of the spec)";

/// What the bus holds for a rule.
#[derive(Debug)]
struct LiveRule {
    arn: String,
    targets: BTreeMap<String, String>,
    pattern: Value,
    enabled: bool,
}

impl LiveRule {
    /// The rule under the spec's fields (`wanted` names it).
    fn state(self, wanted: &Rule) -> Rule {
        Rule {
            bus: wanted.bus.clone(),
            name: wanted.name.clone(),
            event_pattern: self.pattern,
            targets: self.targets,
            state: if self.enabled { "ENABLED" } else { "DISABLED" }.into(),
        }
    }
}

async fn all_targets(
    client: &mut Client,
    bus: &str,
    name: &str,
) -> Result<BTreeMap<String, String>, Status> {
    let mut out = BTreeMap::new();
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
        out.extend(page.targets.into_iter().map(|t| (t.id, t.arn)));
        if page.next_token.is_empty() {
            return Ok(out);
        }
        next_token = page.next_token;
    }
}

/// The rule named by `rule` (`bus`, `name`) as the bus holds it; `None` when absent.
async fn read(client: &mut Client, rule: &Rule) -> Result<Option<LiveRule>, Status> {
    let (bus, name) = (rule.bus.clone(), rule.name.clone());
    let rule = match client
        .describe_rule(pb::DescribeRuleRequest {
            name: name.clone(),
            event_bus_name: bus.clone(),
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(e) if e.code() == tonic::Code::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let targets = all_targets(client, &bus, &name).await?;
    // A pattern the bus stored is JSON; one that is not reads as its text, which differs.
    let pattern = serde_json::from_str(&rule.event_pattern)
        .unwrap_or_else(|_| Value::String(rule.event_pattern.clone()));
    Ok(Some(LiveRule {
        arn: rule.arn,
        targets,
        pattern,
        enabled: rule.state.is_empty() || rule.state == "ENABLED",
    }))
}

/// Creates the bus if it is a named one that does not exist yet.
async fn ensure_bus(client: &mut Client, bus: &str) -> Result<(), Status> {
    if bus.is_empty() || bus == groundwork_events::envelope::DEFAULT_BUS {
        return Ok(());
    }
    let found = client
        .list_event_buses(pb::ListEventBusesRequest {
            name_prefix: bus.into(),
            next_token: String::new(),
            limit: 100,
        })
        .await?
        .into_inner()
        .event_buses
        .iter()
        .any(|b| b.name == bus);
    if !found {
        match client
            .create_event_bus(pb::CreateEventBusRequest {
                name: bus.into(),
                description: DESCRIPTION.into(),
                tags: Vec::new(),
            })
            .await
        {
            Ok(_) => {}
            // Made in the meantime: what we wanted.
            Err(e) if e.code() == tonic::Code::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Makes the rule and its targets what `wanted` says. Returns the outcome (`created`,
/// `updated`, `unchanged`) and the rule's ARN.
async fn ensure(client: &mut Client, rule: &Rule) -> Result<(&'static str, String), Status> {
    let (bus, name) = (rule.bus.clone(), rule.name.clone());
    let pattern = &rule.event_pattern;
    let wanted = &rule.targets;
    let current = read(client, rule).await?;
    let mut arn = current.as_ref().map(|c| c.arn.clone()).unwrap_or_default();
    let rule_ok = current
        .as_ref()
        .is_some_and(|c| c.enabled && &c.pattern == pattern);
    if !rule_ok {
        ensure_bus(client, &bus).await?;
        arn = client
            .put_rule(pb::PutRuleRequest {
                name: name.clone(),
                event_bus_name: bus.clone(),
                event_pattern: pattern.to_string(),
                state: "ENABLED".into(),
                description: DESCRIPTION.into(),
                tags: Vec::new(),
            })
            .await?
            .into_inner()
            .rule_arn;
    }
    let have = current
        .as_ref()
        .map(|c| c.targets.clone())
        .unwrap_or_default();
    let to_put: Vec<pb::Target> = wanted
        .iter()
        .filter(|(id, url)| have.get(*id) != Some(*url))
        .map(|(id, url)| pb::Target {
            id: id.clone(),
            arn: url.clone(),
            ..Default::default()
        })
        .collect();
    let targets_changed = !to_put.is_empty();
    if targets_changed {
        let resp = client
            .put_targets(pb::PutTargetsRequest {
                rule: name.clone(),
                event_bus_name: bus.clone(),
                targets: to_put,
            })
            .await?
            .into_inner();
        if let Some(f) = resp.failed_entries.first() {
            return Err(Status::failed_precondition(format!(
                "PutTargets refused {} of the rule's targets; '{}': {} ({})",
                resp.failed_entry_count, f.target_id, f.error_message, f.error_code
            )));
        }
    }
    let extra: Vec<String> = have
        .keys()
        .filter(|id| !wanted.contains_key(*id))
        .cloned()
        .collect();
    if !extra.is_empty() {
        client
            .remove_targets(pb::RemoveTargetsRequest {
                rule: name.clone(),
                event_bus_name: bus.clone(),
                ids: extra.clone(),
            })
            .await?;
    }
    let outcome = match (&current, rule_ok && !targets_changed && extra.is_empty()) {
        (None, _) => "created",
        (Some(_), true) => "unchanged",
        (Some(_), false) => "updated",
    };
    Ok((outcome, arn))
}

/// Removes the rule's targets, then the rule. Returns `deleted` or `absent`.
async fn delete(client: &mut Client, rule: &Rule) -> Result<&'static str, Status> {
    let (bus, name) = (rule.bus.clone(), rule.name.clone());
    let targets = match all_targets(client, &bus, &name).await {
        Ok(t) => t,
        Err(e) if e.code() == tonic::Code::NotFound => return Ok("absent"),
        Err(e) => return Err(e),
    };
    if !targets.is_empty() {
        client
            .remove_targets(pb::RemoveTargetsRequest {
                rule: name.clone(),
                event_bus_name: bus.clone(),
                ids: targets.into_keys().collect(),
            })
            .await?;
    }
    match client
        .delete_rule(pb::DeleteRuleRequest {
            name,
            event_bus_name: bus,
            force: false,
        })
        .await
    {
        Ok(_) => Ok("deleted"),
        Err(e) if e.code() == tonic::Code::NotFound => Ok("absent"),
        Err(e) => Err(e),
    }
}
