//! The kill switch's rule on the event bus (`[guardrails.kill_switch]`), through the event
//! bus's gRPC API: the rule `groundwork-kill-switch` with the crossings' pattern, and one
//! target, the identity service's NATS subject (`nats:identity.kill-switch`), whose input
//! transformer names the group to act on. The identity service consumes the deliveries and
//! attaches the deny-new-spend policy. `bus_rule` keeps it as the spec says: only what
//! differs is written, and other targets are removed (the rule belongs to the spec).

use std::collections::BTreeMap;

use groundwork_bus::names;
use groundwork_events::kill_switch::{TARGET_ID, group_of_template, input_paths, input_template};
use groundwork_proto::v1 as pb;
use groundwork_spec::resource::KillSwitch;
use tonic::Status;

use super::bus_rule::{self, Client, WantedRule};
use super::{Ctx, LiveCtx, Managed, Reads, failed, outputs};
use crate::clients::{Clients, read_error};
use crate::error::Error;
use crate::runner::StepResult;

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
        match bus_rule::delete(&mut clients.eventbus.clone(), &self.bus, &self.rule).await {
            Ok(outcome) => StepResult::done(outcome, BTreeMap::new()),
            Err(e) => failed("event bus RemoveTargets/DeleteRule", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, _reads: &mut Reads) -> Result<Option<Self>, Error> {
        Ok(
            bus_rule::read(&mut cx.clients.eventbus.clone(), &self.bus, &self.rule)
                .await
                .map_err(|e| read_error("event bus DescribeRule", &e))?
                .map(|live| KillSwitch {
                    bus: self.bus.clone(),
                    rule: self.rule.clone(),
                    group: live.targets.iter().find_map(group_of).unwrap_or_default(),
                    event_pattern: live.pattern,
                }),
        )
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

/// The group the identity target of `live` names, when that target is as the kill switch
/// writes it (the identity service's subject, the input transformer's paths, no other
/// input).
fn group_of(live: &pb::Target) -> Option<String> {
    let wanted_paths: std::collections::HashMap<String, String> = input_paths()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Some(live)
        .filter(|t| t.id == TARGET_ID)
        .filter(|t| {
            t.arn == names::nats_target_arn(names::IDENTITY_KILL_SWITCH_TARGET)
                && t.input.is_none()
                && t.input_path.is_none()
        })
        .and_then(|t| t.input_transformer.as_ref())
        .filter(|x| x.input_paths_map == wanted_paths)
        .and_then(|x| group_of_template(&x.input_template))
}

/// Makes the rule and its target what `ks` says; returns the outcome and the rule's ARN.
async fn ensure(client: &mut Client, ks: &KillSwitch) -> Result<(&'static str, String), Status> {
    let wanted = WantedRule {
        bus: &ks.bus,
        name: &ks.rule,
        pattern: &ks.event_pattern,
        description: DESCRIPTION,
        targets: vec![target(&ks.group)],
    };
    bus_rule::ensure(client, wanted, |live, _| {
        group_of(live).as_deref() == Some(ks.group.as_str())
    })
    .await
}
