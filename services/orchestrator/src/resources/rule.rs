//! The spec's notification rules on the event bus: a rule with the spec's pattern, and one
//! webhook target per webhook it names (target id = webhook name), kept as the spec says by
//! `bus_rule` (only what differs is written; targets not in the spec are removed).

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use groundwork_spec::resource::Rule;
use tonic::Status;

use super::bus_rule::{self, Client, LiveRule, WantedRule};
use super::{Ctx, LiveCtx, Managed, Reads, failed, outputs};
use crate::clients::{Clients, read_error};
use crate::error::Error;
use crate::runner::StepResult;

impl Managed for Rule {
    async fn apply(&self, cx: Ctx<'_>) -> StepResult {
        match ensure(&mut cx.clients.eventbus.clone(), self).await {
            Ok((outcome, arn)) => StepResult::done(outcome, outputs([("rule_arn", arn)])),
            Err(e) => failed("event bus PutRule/PutTargets", &e),
        }
    }

    async fn destroy(&self, clients: &Clients) -> StepResult {
        match bus_rule::delete(&mut clients.eventbus.clone(), &self.bus, &self.name).await {
            Ok(outcome) => StepResult::done(outcome, BTreeMap::new()),
            Err(e) => failed("event bus RemoveTargets/DeleteRule", &e),
        }
    }

    async fn read_live(&self, cx: LiveCtx<'_>, _reads: &mut Reads) -> Result<Option<Self>, Error> {
        Ok(
            bus_rule::read(&mut cx.clients.eventbus.clone(), &self.bus, &self.name)
                .await
                .map_err(|e| read_error("event bus DescribeRule", &e))?
                .map(|live| state(live, self)),
        )
    }
}

const DESCRIPTION: &str = "Managed by groundwork (notifications.rules of the spec)";

/// The rule under the spec's fields (`wanted` names it): targets as id → URL.
fn state(live: LiveRule, wanted: &Rule) -> Rule {
    Rule {
        bus: wanted.bus.clone(),
        name: wanted.name.clone(),
        event_pattern: live.pattern,
        targets: live.targets.into_iter().map(|t| (t.id, t.arn)).collect(),
        state: if live.enabled { "ENABLED" } else { "DISABLED" }.into(),
    }
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

/// Makes the rule and its webhook targets what the spec says. Returns the outcome
/// (`created`, `updated`, `unchanged`) and the rule's ARN.
async fn ensure(client: &mut Client, rule: &Rule) -> Result<(&'static str, String), Status> {
    ensure_bus(client, &rule.bus).await?;
    let targets = rule
        .targets
        .iter()
        .map(|(id, url)| pb::Target {
            id: id.clone(),
            arn: url.clone(),
            ..Default::default()
        })
        .collect();
    let wanted = WantedRule {
        bus: &rule.bus,
        name: &rule.name,
        pattern: &rule.event_pattern,
        description: DESCRIPTION,
        targets,
    };
    bus_rule::ensure(client, wanted, |live, want| live.arn == want.arn).await
}
