//! Resuming waiting steps on the facts other services publish: `MFA Device Enabled`
//! (groundwork.identity) finishes the admin's MFA step, `Subscription Confirmed`
//! (groundwork.alerting) the subscription step. A durable consumer on the default bus
//! stream, filtered with an event pattern, so that an event published while the
//! orchestrator was down is still seen when it starts again. The engine's periodic
//! read-only check is the fallback.

use std::time::Duration;

use async_nats::jetstream::consumer;
use futures::StreamExt;
use groundwork_bus::names;
use groundwork_events::envelope::DEFAULT_BUS;
use groundwork_events::pattern::EventPattern;
use groundwork_kit::Shutdown;
use serde_json::Value;

use crate::engine::Engine;
use crate::run::StepRecord;

/// The durable consumer's name on `EVENTS_default`.
pub const CONSUMER: &str = "orchestrator-resume";

/// The events that finish a waiting step.
pub const PATTERN: &str = r#"{"source": ["groundwork.identity", "groundwork.alerting"], "detail-type": ["MFA Device Enabled", "Subscription Confirmed"]}"#;

/// Which waiting steps an event finishes: the step's resource kind decides.
pub fn finishes(event: &Value, step: &StepRecord) -> bool {
    crate::resources::finished_by(event, step)
}

/// Consumes the bus until shutdown, reconnecting after errors.
pub async fn run(js: async_nats::jetstream::Context, engine: Engine, shutdown: Shutdown) {
    let pattern = match EventPattern::parse(PATTERN) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "resume pattern is invalid");
            return;
        }
    };
    while !shutdown.is_triggered() {
        if let Err(e) = consume(&js, &engine, &pattern, &shutdown).await {
            tracing::warn!(error = %e, "resume consumer stopped; starting again");
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn consume(
    js: &async_nats::jetstream::Context,
    engine: &Engine,
    pattern: &EventPattern,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let stream = js
        .get_stream(names::events_stream(DEFAULT_BUS))
        .await
        .map_err(|e| e.to_string())?;
    let consumer = stream
        .get_or_create_consumer(
            CONSUMER,
            consumer::pull::Config {
                durable_name: Some(CONSUMER.to_owned()),
                description: Some("Resumes waiting orchestrator steps".into()),
                ack_policy: consumer::AckPolicy::Explicit,
                deliver_policy: consumer::DeliverPolicy::New,
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
        if let Ok(event) = serde_json::from_slice::<Value>(&message.payload)
            && pattern.matches(&event)
        {
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
        let event = json!({"detail-type": "MFA Device Enabled", "source": "groundwork.identity", "detail": {"userName": "admin"}});
        let hit: Vec<&str> = run
            .steps
            .iter()
            .filter(|s| finishes(&event, s))
            .map(|s| s.resource.id.as_str())
            .collect();
        assert_eq!(hit, ["mfa-device/admin"]);
        let other = json!({"detail-type": "MFA Device Enabled", "detail": {"userName": "bob"}});
        assert!(!run.steps.iter().any(|s| finishes(&other, s)));
    }

    #[test]
    fn a_confirmation_finishes_the_matching_subscription() {
        let run = steps();
        let event = json!({"detail-type": "Subscription Confirmed", "detail": {
            "topicArn": "arn:aws:sns:us-east-1:123456789012:billing-alarm",
            "protocol": "email", "endpoint": "ops@example.com"}});
        let hit: Vec<&str> = run
            .steps
            .iter()
            .filter(|s| finishes(&event, s))
            .map(|s| s.resource.id.as_str())
            .collect();
        assert_eq!(hit, ["subscription/billing-alarm:email:ops@example.com"]);
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
