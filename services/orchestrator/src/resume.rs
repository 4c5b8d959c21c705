//! Resuming waiting steps on the facts other services publish: `MFA Device Enabled`
//! (groundwork.identity) finishes the admin's MFA step, `Subscription Confirmed`
//! (groundwork.alerting) the subscription step.
//!
//! The orchestrator subscribes as any consumer of the bus does: at start-up it puts its
//! rule [`RULE`] on the default bus with the target `nats:orchestrator.resume` (PutRule,
//! PutTargets over gRPC, retried with backoff while the event bus cannot be reached), and
//! reads that target's deliveries from the `DELIVERIES` stream through a durable consumer.
//! The rule routes an event while the orchestrator is down, and the durable consumer hands
//! it over when it starts again. The engine's periodic read-only check is the fallback.

use std::time::Duration;

use async_nats::jetstream::consumer;
use futures::StreamExt;
use groundwork_bus::names;
use groundwork_events::envelope::DEFAULT_BUS;
use groundwork_kit::Shutdown;
use groundwork_proto::v1 as pb;
use pb::event_bus_client::EventBusClient;
use serde_json::Value;

use crate::engine::Engine;
use crate::run::StepRecord;

/// The orchestrator's rule on the default bus.
pub const RULE: &str = "groundwork-orchestrator-resume";

/// The id of the rule's one target.
pub const TARGET_ID: &str = "groundwork-orchestrator";

/// The events that finish a waiting step.
pub const PATTERN: &str = r#"{"source": ["groundwork.identity", "groundwork.alerting"], "detail-type": ["MFA Device Enabled", "Subscription Confirmed"]}"#;

/// The target ARN: a NATS subject the event bus delivers to.
pub fn target_arn() -> String {
    format!("nats:{}", names::ORCHESTRATOR_RESUME_TARGET)
}

/// Which waiting steps an event (an envelope as JSON) finishes: the step's resource kind
/// decides, with the event's typed detail.
pub fn finishes(event: &Value, step: &StepRecord) -> bool {
    crate::resources::finished_by(event, step)
}

/// Where the event bus's API is.
#[derive(Debug, Clone)]
pub struct EventBusApi {
    pub url: String,
    pub api_token: Option<String>,
}

/// Makes sure the rule exists with [`PATTERN`] and the orchestrator's target. The rule is
/// put every time, so that a rule changed by hand is set back: resuming depends on it.
///
/// The client is built here, with its bearer token, until kit builds every gRPC client.
pub async fn ensure_rule(api: &EventBusApi) -> Result<(), String> {
    let channel = tonic::transport::Endpoint::from_shared(api.url.clone())
        .map_err(|e| format!("'{}' is not a URL: {e}", api.url))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| format!("cannot reach the event bus at {}: {e}", api.url))?;
    let bearer: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> =
        match api.api_token.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => {
                Some(format!("Bearer {t}").parse().map_err(
                    |_| "the API token holds characters that cannot be sent in a header",
                )?)
            }
        };
    let mut client =
        EventBusClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
            if let Some(v) = &bearer {
                req.metadata_mut().insert("authorization", v.clone());
            }
            Ok(req)
        });
    client
        .put_rule(pb::PutRuleRequest {
            name: RULE.into(),
            event_bus_name: DEFAULT_BUS.into(),
            event_pattern: PATTERN.into(),
            state: "ENABLED".into(),
            description: "Resumes the orchestrator's waiting steps".into(),
        })
        .await
        .map_err(|s| format!("PutRule: {}", s.message()))?;
    let put = client
        .put_targets(pb::PutTargetsRequest {
            rule: RULE.into(),
            event_bus_name: DEFAULT_BUS.into(),
            targets: vec![pb::Target {
                id: TARGET_ID.into(),
                arn: target_arn(),
                ..Default::default()
            }],
        })
        .await
        .map_err(|s| format!("PutTargets: {}", s.message()))?
        .into_inner();
    match put.failed_entries.first() {
        Some(failed) => Err(format!(
            "PutTargets: {}: {}",
            failed.error_code, failed.error_message
        )),
        None => Ok(()),
    }
}

/// Puts the rule (retried with backoff from 1 s to 30 s while the event bus cannot be
/// reached), then consumes its deliveries until shutdown, starting again after errors.
pub async fn run(
    js: async_nats::jetstream::Context,
    api: EventBusApi,
    engine: Engine,
    shutdown: Shutdown,
) {
    let mut delay = Duration::from_secs(1);
    loop {
        match ensure_rule(&api).await {
            Ok(()) => {
                tracing::info!(rule = RULE, "resume rule is on the event bus");
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = delay.as_secs(), "resume rule not set up yet")
            }
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
    forget_bus_stream_consumer(&js).await;
    while !shutdown.is_triggered() {
        if let Err(e) = consume(&js, &engine, &shutdown).await {
            tracing::warn!(error = %e, "resume consumer stopped; starting again");
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Earlier versions read the bus stream with a durable consumer of the same name; it is
/// not read any more, so it goes.
async fn forget_bus_stream_consumer(js: &async_nats::jetstream::Context) {
    if let Ok(stream) = js.get_stream(names::events_stream(DEFAULT_BUS)).await
        && stream
            .delete_consumer(names::ORCHESTRATOR_RESUME_CONSUMER)
            .await
            .is_ok()
    {
        tracing::info!("the old resume consumer on the bus stream was removed");
    }
}

async fn consume(
    js: &async_nats::jetstream::Context,
    engine: &Engine,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let stream = js.get_stream(names::DELIVERIES_STREAM).await.map_err(|e| {
        format!(
            "cannot open stream {} (is the event bus running?): {e}",
            names::DELIVERIES_STREAM
        )
    })?;
    let consumer = stream
        .get_or_create_consumer(
            names::ORCHESTRATOR_RESUME_CONSUMER,
            consumer::pull::Config {
                durable_name: Some(names::ORCHESTRATOR_RESUME_CONSUMER.to_owned()),
                description: Some("Resumes waiting orchestrator steps".into()),
                filter_subject: names::deliver_subject(names::ORCHESTRATOR_RESUME_TARGET),
                // Deliveries exist only for the orchestrator's rule: none is stale.
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    loop {
        let next = tokio::select! {
            () = shutdown.wait() => return Ok(()),
            next = messages.next() => next,
        };
        let message = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "resume consumer error");
                continue;
            }
            None => return Err("the consumer stream ended".into()),
        };
        if let Ok(event) = serde_json::from_slice::<Value>(&message.payload) {
            match engine.person_done(|step| finishes(&event, step)).await {
                Ok(n) => {
                    tracing::info!(runs = n, detail_type = ?event["detail-type"], "waiting steps resumed by an event")
                }
                Err(e) => {
                    // Not acknowledged: redelivered once the store answers again.
                    tracing::warn!(error = %e, "could not resume waiting steps");
                    continue;
                }
            }
        }
        if let Err(e) = message.ack().await {
            tracing::debug!(error = %e, "ack failed");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use groundwork_events::catalog::{CatalogEvent, MfaDeviceEnabled, SubscriptionConfirmed};
    use groundwork_events::pattern::EventPattern;
    use serde_json::json;

    use super::*;
    use crate::resource::resources;
    use crate::run::{Run, RunKind};

    fn steps() -> Run {
        let spec = crate::spec::parse(include_str!("../../../examples/groundwork.toml")).unwrap();
        Run::new("r".into(), RunKind::Apply, resources(&spec))
    }

    #[test]
    fn mfa_enabled_finishes_the_admins_mfa_step_only() {
        let run = steps();
        let event = json!({"detail-type": "MFA Device Enabled", "source": "groundwork.identity",
            "detail": {"userName": "admin", "serialNumber": "arn:aws:iam::123456789012:mfa/admin"}});
        let hit: Vec<&str> = run
            .steps
            .iter()
            .filter(|s| finishes(&event, s))
            .map(|s| s.resource.id.as_str())
            .collect();
        assert_eq!(hit, ["mfa-device/admin"]);
        let other = json!({"detail-type": "MFA Device Enabled", "source": "groundwork.identity",
            "detail": {"userName": "bob", "serialNumber": "arn:aws:iam::123456789012:mfa/bob"}});
        assert!(!run.steps.iter().any(|s| finishes(&other, s)));
    }

    #[test]
    fn a_confirmation_finishes_the_matching_subscription() {
        let run = steps();
        let event = json!({"detail-type": "Subscription Confirmed", "source": "groundwork.alerting", "detail": {
            "topicArn": "arn:aws:sns:us-east-1:123456789012:billing-alarm",
            "protocol": "email", "endpoint": "ops@example.com", "subscriptionArn": null}});
        let hit: Vec<&str> = run
            .steps
            .iter()
            .filter(|s| finishes(&event, s))
            .map(|s| s.resource.id.as_str())
            .collect();
        assert_eq!(hit, ["subscription/billing-alarm:email:ops@example.com"]);
    }

    #[test]
    fn an_event_from_another_source_finishes_nothing() {
        let run = steps();
        let forged = json!({"detail-type": "MFA Device Enabled", "source": "com.example",
            "detail": {"userName": "admin", "serialNumber": "arn:aws:iam::123456789012:mfa/admin"}});
        assert!(!run.steps.iter().any(|s| finishes(&forged, s)));
    }

    #[test]
    fn the_pattern_is_the_catalogs_two_facts() {
        let p = EventPattern::parse(PATTERN).unwrap();
        for (source, detail_type) in [
            (MfaDeviceEnabled::SOURCE, MfaDeviceEnabled::DETAIL_TYPE),
            (
                SubscriptionConfirmed::SOURCE,
                SubscriptionConfirmed::DETAIL_TYPE,
            ),
        ] {
            assert!(p.matches(&json!({"source": source, "detail-type": detail_type})));
        }
    }

    #[test]
    fn the_pattern_selects_only_the_two_facts() {
        let p = EventPattern::parse(PATTERN).unwrap();
        assert!(p.matches(
            &json!({"source": "groundwork.identity", "detail-type": "MFA Device Enabled"})
        ));
        assert!(!p.matches(
            &json!({"source": "groundwork.identity", "detail-type": "Admin User Created"})
        ));
    }
}
