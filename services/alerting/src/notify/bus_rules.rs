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

use std::time::Duration;

use groundwork_events::redact::redact_url;
use groundwork_kit::Shutdown;
use groundwork_proto::v1 as pb;
use pb::event_bus_client::EventBusClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::error::Error;
use crate::notify::rules::RULES;
use crate::notify::targets::{TARGET_ID, WebhookTargets, is_webhook_target, target_arn};

type Client = EventBusClient<InterceptedService<Channel, Bearer>>;

/// Adds the API token to every call.
#[derive(Debug, Clone)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

async fn client(url: &str, token: Option<&str>) -> Result<Client, Error> {
    let bearer = match token.filter(|t| !t.is_empty()) {
        None => Bearer(None),
        Some(t) => Bearer(Some(format!("Bearer {t}").parse().map_err(|_| {
            Error::invalid(
                "api_token",
                "holds characters that cannot be sent in a header",
            )
        })?)),
    };
    let channel = Channel::from_shared(url.to_owned())
        .map_err(|e| {
            Error::invalid(
                "eventbus_url",
                format!("'{}' is not a URL: {e}", redact_url(url)),
            )
        })?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| {
            Error::Unavailable(format!(
                "cannot reach the event bus at {}: {e}",
                redact_url(url)
            ))
        })?;
    Ok(EventBusClient::with_interceptor(channel, bearer))
}

fn status_error(operation: &str, status: tonic::Status) -> Error {
    let message = format!("{operation} on the event bus failed: {}", status.message());
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => Error::Unavailable(message),
        tonic::Code::InvalidArgument => Error::invalid("rules", message),
        _ => Error::Internal(message),
    }
}

/// Makes sure every rule exists with alerting's targets; returns the rules created.
pub async fn ensure_rules(
    url: &str,
    token: Option<&str>,
    bus: &str,
    webhooks: &WebhookTargets,
) -> Result<Vec<&'static str>, Error> {
    let mut client = client(url, token).await?;
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
            .map_err(|s| status_error("ListTargetsByRule", s))?
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
                .map_err(|s| status_error("RemoveTargets", s))?;
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
            .map_err(|s| status_error("PutTargets", s))?
            .into_inner();
        // The event bus writes its messages without a webhook's path or query.
        if let Some(failed) = put.failed_entries.first() {
            return Err(Error::Internal(format!(
                "PutTargets on rule {} failed: {}: {}",
                rule.name, failed.error_code, failed.error_message
            )));
        }
    }
    Ok(created)
}

/// [`ensure_rules`] until it succeeds or shutdown, with backoff from 1 s to 30 s.
pub async fn ensure_rules_in_background(
    url: String,
    token: Option<String>,
    bus: String,
    webhooks: WebhookTargets,
    shutdown: Shutdown,
) {
    let mut delay = Duration::from_secs(1);
    loop {
        match ensure_rules(&url, token.as_deref(), &bus, &webhooks).await {
            Ok(created) => {
                tracing::info!(?created, %bus, "alerting rules are on the event bus");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = delay.as_secs(), "alerting rules not set up yet");
            }
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}
