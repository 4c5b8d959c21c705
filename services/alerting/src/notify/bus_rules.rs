//! Alerting's rules on the event bus. At start-up alerting makes sure each rule of
//! [`RULES`] exists on its bus with its targets (see [`targets`](super::targets)): the
//! target `nats:alerting.notify` for SNS, and one webhook target per configured webhook,
//! through the event bus's gRPC API (PutRule, PutTargets, RemoveTargets). A rule that
//! exists is left as it is — its pattern may have been changed on purpose with
//! `groundwork rules` — only a missing NATS target is added back. The webhook targets
//! follow the configuration: put again at each start (PutTargets replaces a target with
//! the same id), and alerting's webhook targets no longer configured are removed. While
//! the event bus cannot be reached this is retried with backoff in the background, so
//! alerting's own API is up meanwhile.

use groundwork_kit::Shutdown;
use groundwork_kit::client::{self, Target};
use groundwork_kit::retry::{Backoff, retry};
use groundwork_proto::v1 as pb;
use pb::event_bus_client::EventBusClient;

use crate::error::{Error, ErrorKind};
use crate::notify::rules::RULES;
use crate::notify::targets::{TARGET_ID, WebhookTargets, is_webhook_target, target_arn};

async fn client(target: &Target) -> Result<EventBusClient<client::Channel>, Error> {
    Ok(EventBusClient::new(
        client::connect(target, "event bus").await?,
    ))
}

/// A failed call on the event bus, as the event bus said it (kept retryable or not).
fn status_error(operation: &str, status: tonic::Status) -> Error {
    Error::from_status(&status).context(format!("{operation} on the event bus"))
}

/// A failed call on a rule that exists (described, or just put): NotFound means that the
/// event bus replica that answered has not applied the rule yet, so it is retried as an
/// unavailable event bus. Event bus replicas catch up with their rules bucket before
/// answering (docs/ARCHITECTURE.md, "Reads after writes, across replicas"); a replica of an
/// earlier release, during a rolling upgrade, does not.
fn rule_call_error(operation: &str, rule: &str, status: tonic::Status) -> Error {
    if status.code() == tonic::Code::NotFound {
        return Error::new(
            ErrorKind::Unavailable,
            format!(
                "{operation} on the event bus: rule {rule} is not known yet to the replica that answered ({})",
                status.message()
            ),
        );
    }
    status_error(operation, status)
}

/// Makes sure every rule exists with alerting's targets; returns the rules created.
/// `eventbus` is the event bus's API (URL, token, TLS).
pub async fn ensure_rules(
    eventbus: &Target,
    bus: &str,
    webhooks: &WebhookTargets,
) -> Result<Vec<&'static str>, Error> {
    let mut client = client(eventbus).await?;
    let mut created = Vec::new();
    for rule in RULES {
        let exists = match client
            .describe_rule(pb::DescribeRuleRequest {
                name: rule.name.into(),
                event_bus_name: bus.into(),
            })
            .await
        {
            Ok(_) => true,
            Err(s) if s.code() == tonic::Code::NotFound => false,
            Err(s) => return Err(status_error("DescribeRule", s)),
        };
        if !exists {
            client
                .put_rule(pb::PutRuleRequest {
                    name: rule.name.into(),
                    event_bus_name: bus.into(),
                    event_pattern: rule.pattern.into(),
                    state: "ENABLED".into(),
                    description: rule.description.into(),
                    tags: Vec::new(),
                })
                .await
                .map_err(|s| status_error("PutRule", s))?;
            created.push(rule.name);
        }
        let targets = client
            .list_targets_by_rule(pb::ListTargetsByRuleRequest {
                rule: rule.name.into(),
                event_bus_name: bus.into(),
                next_token: String::new(),
                limit: 0,
            })
            .await
            .map_err(|s| rule_call_error("ListTargetsByRule", rule.name, s))?
            .into_inner();
        let mut put = Vec::new();
        if rule.sns && !targets.targets.iter().any(|t| t.id == TARGET_ID) {
            put.push(pb::Target {
                id: TARGET_ID.into(),
                arn: target_arn(),
                ..Default::default()
            });
        }
        let hooks = webhooks.for_rule(rule);
        let stale: Vec<String> = targets
            .targets
            .iter()
            .filter(|t| is_webhook_target(&t.id) && !hooks.iter().any(|h| h.id == t.id))
            .map(|t| t.id.clone())
            .collect();
        put.extend(hooks);
        if !stale.is_empty() {
            client
                .remove_targets(pb::RemoveTargetsRequest {
                    rule: rule.name.into(),
                    event_bus_name: bus.into(),
                    ids: stale,
                })
                .await
                .map_err(|s| rule_call_error("RemoveTargets", rule.name, s))?;
        }
        if put.is_empty() {
            continue;
        }
        let put = client
            .put_targets(pb::PutTargetsRequest {
                rule: rule.name.into(),
                event_bus_name: bus.into(),
                targets: put,
            })
            .await
            .map_err(|s| rule_call_error("PutTargets", rule.name, s))?
            .into_inner();
        // The event bus writes its messages without a webhook's path or query.
        if let Some(failed) = put.failed_entries.first() {
            return Err(Error::internal(format!(
                "PutTargets on rule {} failed: {}: {}",
                rule.name, failed.error_code, failed.error_message
            )));
        }
    }
    Ok(created)
}

/// [`ensure_rules`] until it succeeds, fails for good, or shutdown: retried with backoff
/// for as long as the event bus is away.
pub async fn ensure_rules_in_background(
    eventbus: Target,
    bus: String,
    webhooks: WebhookTargets,
    shutdown: Shutdown,
) {
    let attempt = retry(Backoff::FOREVER, "alerting rules", || async {
        let result = ensure_rules(&eventbus, &bus, &webhooks).await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, "alerting rules not set up yet");
        }
        result
    });
    tokio::select! {
        () = shutdown.wait() => {}
        result = attempt => match result {
            Ok(created) => tracing::info!(?created, %bus, "alerting rules are on the event bus"),
            Err(e) => tracing::error!(error = %e, "alerting rules could not be set up"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::rule_call_error;

    /// Another event bus replica may not have applied a rule that was just put: its
    /// NotFound is retried; every other refusal keeps what the event bus said.
    #[test]
    fn a_rule_not_known_yet_is_retried_and_other_refusals_are_kept() {
        let lagging = rule_call_error(
            "PutTargets",
            "groundwork-alerting-alarm-state",
            tonic::Status::not_found("Rule groundwork-alerting-alarm-state does not exist."),
        );
        assert!(lagging.is_retryable(), "{lagging}");
        assert!(lagging.to_string().contains("not known yet"), "{lagging}");
        let refused = rule_call_error(
            "PutTargets",
            "r",
            tonic::Status::invalid_argument("bad target"),
        );
        assert!(!refused.is_retryable(), "{refused}");
    }
}
