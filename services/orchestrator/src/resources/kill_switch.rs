//! The kill switch's rule on the event bus (`[guardrails.kill_switch]`), through the event
//! bus's gRPC API: the rule `groundwork-kill-switch` with the crossings' pattern, and one
//! target, the identity service's NATS subject (`nats:identity.kill-switch`), whose input
//! transformer names the group to act on. The identity service consumes the deliveries and
//! attaches the deny-new-spend policy. Applying reads the rule and its target first and
//! writes only what differs; the rule belongs to the spec, so other targets are removed.

use std::collections::BTreeMap;

use groundwork_bus::names;
use groundwork_events::kill_switch::{TARGET_ID, group_of_template, input_paths, input_template};
use groundwork_proto::v1 as pb;
use groundwork_spec::resource::KillSwitch;
use pb::event_bus_client::EventBusClient;
use serde_json::Value;
use tonic::Status;

use super::{Ctx, LiveCtx, Managed, Reads, failed, outputs};
use crate::clients::{Clients, Conn, read_error};
use crate::error::Error;
use crate::runner::StepResult;

type Client = EventBusClient<Conn>;

const DESCRIPTION: &str = "Managed by groundwork: budget crossings that engage the kill switch \
                           (guardrails.kill_switch of the spec)";

impl Managed for KillSwitch {
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
            .map(|live| KillSwitch {
                bus: self.bus.clone(),
                rule: self.rule.clone(),
                event_pattern: live.pattern,
                group: live.group.unwrap_or_default(),
            }))
    }
}

/// The identity service's target for `group`.
fn target(group: &str) -> pb::Target {
    pb::Target {
        id: TARGET_ID.into(),
        arn: names::nats_target_arn(names::IDENTITY_KILL_SWITCH_TARGET),
        input_transformer: Some(pb::InputTransformer {
            input_paths_map: input_paths()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            input_template: input_template(group),
        }),
        ..Default::default()
    }
}

/// What the bus holds for the rule.
#[derive(Debug)]
struct LiveRule {
    arn: String,
    pattern: Value,
    enabled: bool,
    /// The group the identity target names, when that target is as the kill switch writes it.
    group: Option<String>,
    /// Targets other than the identity service's.
    others: Vec<String>,
}

async fn targets(client: &mut Client, bus: &str, rule: &str) -> Result<Vec<pb::Target>, Status> {
    let mut out = Vec::new();
    let mut next_token = String::new();
    loop {
        let page = client
            .list_targets_by_rule(pb::ListTargetsByRuleRequest {
                rule: rule.into(),
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

async fn read(client: &mut Client, ks: &KillSwitch) -> Result<Option<LiveRule>, Status> {
    let rule = match client
        .describe_rule(pb::DescribeRuleRequest {
            name: ks.rule.clone(),
            event_bus_name: ks.bus.clone(),
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(e) if e.code() == tonic::Code::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let targets = targets(client, &ks.bus, &ks.rule).await?;
    let wanted_arn = names::nats_target_arn(names::IDENTITY_KILL_SWITCH_TARGET);
    let wanted_paths: std::collections::HashMap<String, String> = input_paths()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let group = targets
        .iter()
        .find(|t| t.id == TARGET_ID)
        .filter(|t| t.arn == wanted_arn && t.input.is_none() && t.input_path.is_none())
        .and_then(|t| t.input_transformer.as_ref())
        .filter(|x| x.input_paths_map == wanted_paths)
        .and_then(|x| group_of_template(&x.input_template));
    // A pattern the bus stored is JSON; one that is not reads as its text, which differs.
    let pattern = serde_json::from_str(&rule.event_pattern)
        .unwrap_or_else(|_| Value::String(rule.event_pattern.clone()));
    Ok(Some(LiveRule {
        arn: rule.arn,
        pattern,
        enabled: rule.state.is_empty() || rule.state == "ENABLED",
        group,
        others: targets
            .into_iter()
            .filter(|t| t.id != TARGET_ID)
            .map(|t| t.id)
            .collect(),
    }))
}

/// Makes the rule and its target what `ks` says; returns the outcome and the rule's ARN.
async fn ensure(client: &mut Client, ks: &KillSwitch) -> Result<(&'static str, String), Status> {
    let current = read(client, ks).await?;
    let mut arn = current.as_ref().map(|c| c.arn.clone()).unwrap_or_default();
    let rule_ok = current
        .as_ref()
        .is_some_and(|c| c.enabled && c.pattern == ks.event_pattern);
    if !rule_ok {
        arn = client
            .put_rule(pb::PutRuleRequest {
                name: ks.rule.clone(),
                event_bus_name: ks.bus.clone(),
                event_pattern: ks.event_pattern.to_string(),
                state: "ENABLED".into(),
                description: DESCRIPTION.into(),
                tags: Vec::new(),
            })
            .await?
            .into_inner()
            .rule_arn;
    }
    let target_ok = current
        .as_ref()
        .is_some_and(|c| c.group.as_deref() == Some(ks.group.as_str()));
    if !target_ok {
        let resp = client
            .put_targets(pb::PutTargetsRequest {
                rule: ks.rule.clone(),
                event_bus_name: ks.bus.clone(),
                targets: vec![target(&ks.group)],
            })
            .await?
            .into_inner();
        if let Some(f) = resp.failed_entries.first() {
            return Err(Status::failed_precondition(format!(
                "PutTargets refused the kill switch's target '{}': {} ({})",
                f.target_id, f.error_message, f.error_code
            )));
        }
    }
    let others = current
        .as_ref()
        .map(|c| c.others.clone())
        .unwrap_or_default();
    if !others.is_empty() {
        client
            .remove_targets(pb::RemoveTargetsRequest {
                rule: ks.rule.clone(),
                event_bus_name: ks.bus.clone(),
                ids: others.clone(),
            })
            .await?;
    }
    let outcome = match (&current, rule_ok && target_ok && others.is_empty()) {
        (None, _) => "created",
        (Some(_), true) => "unchanged",
        (Some(_), false) => "updated",
    };
    Ok((outcome, arn))
}

/// Removes the rule's targets, then the rule. Returns `deleted` or `absent`.
async fn delete(client: &mut Client, ks: &KillSwitch) -> Result<&'static str, Status> {
    let ids: Vec<String> = match targets(client, &ks.bus, &ks.rule).await {
        Ok(t) => t.into_iter().map(|t| t.id).collect(),
        Err(e) if e.code() == tonic::Code::NotFound => return Ok("absent"),
        Err(e) => return Err(e),
    };
    if !ids.is_empty() {
        client
            .remove_targets(pb::RemoveTargetsRequest {
                rule: ks.rule.clone(),
                event_bus_name: ks.bus.clone(),
                ids,
            })
            .await?;
    }
    match client
        .delete_rule(pb::DeleteRuleRequest {
            name: ks.rule.clone(),
            event_bus_name: ks.bus.clone(),
            force: false,
        })
        .await
    {
        Ok(_) => Ok("deleted"),
        Err(e) if e.code() == tonic::Code::NotFound => Ok("absent"),
        Err(e) => Err(e),
    }
}
