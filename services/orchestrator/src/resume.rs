//! Resuming waiting steps on the facts other services publish: `MFA Device Enabled`
//! (groundwork.identity) wakes the admin's MFA step, `Subscription Confirmed`
//! (groundwork.alerting) the subscription step. A woken step is checked against the live
//! state and finishes only if AWS confirms it: an event alone finishes nothing.
//!
//! The orchestrator subscribes as any consumer of the bus does: at start-up it puts its
//! rule [`RULE`] on the default bus with the target `nats:orchestrator.resume` (PutRule,
//! PutTargets over gRPC, retried with backoff while the event bus cannot be reached), and
//! reads that target's deliveries from the `DELIVERIES` stream through a durable consumer.
//! The rule routes an event while the orchestrator is down, and the durable consumer hands
//! it over when it starts again. The engine's periodic read-only check is the fallback.

use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use groundwork_bus::consumer::{self, Durable};
use groundwork_bus::names;
use groundwork_events::envelope::DEFAULT_BUS;
use groundwork_kit::Shutdown;
use groundwork_kit::client::{self, Target};
use groundwork_kit::retry::{Backoff, retry};
use groundwork_proto::v1 as pb;
use pb::event_bus_client::EventBusClient;
use serde_json::Value;

use crate::engine::Engine;
use crate::error::Error;
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
    /// TLS of the calls (`GROUNDWORK_CA_FILE`), none for plaintext.
    pub tls: Option<groundwork_kit::tls::ClientTls>,
}

/// Makes sure the rule exists with [`PATTERN`] and the orchestrator's target. The rule is
/// put every time, so that a rule changed by hand is set back: resuming depends on it.
///
pub async fn ensure_rule(api: &EventBusApi) -> Result<(), Error> {
    let target = Target::new(
        api.url.clone(),
        api.api_token.clone(),
        "GROUNDWORK_EVENTBUS_URL",
    )
    .with_tls(api.tls.clone())
    .with_timeout(Duration::from_secs(30));
    let mut client = EventBusClient::new(client::connect(&target, "event bus").await?);
    client
        .put_rule(pb::PutRuleRequest {
            name: RULE.into(),
            event_bus_name: DEFAULT_BUS.into(),
            event_pattern: PATTERN.into(),
            state: "ENABLED".into(),
            description: "Resumes the orchestrator's waiting steps".into(),
            tags: Vec::new(),
        })
        .await
        .map_err(|s| Error::from_status(&s).context("PutRule"))?;
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
        .map_err(|s| Error::from_status(&s).context("PutTargets"))?
        .into_inner();
    match put.failed_entries.first() {
        Some(failed) => Err(Error::internal(format!(
            "PutTargets: {}: {}",
            failed.error_code, failed.error_message
        ))),
        None => Ok(()),
    }
}

/// Puts the rule (retried with backoff while the event bus cannot be reached), then
/// consumes its deliveries until shutdown on the bus's durable-consumer runner.
pub async fn run(
    js: async_nats::jetstream::Context,
    api: EventBusApi,
    engine: Engine,
    shutdown: Shutdown,
) {
    let put = retry(Backoff::FOREVER, "resume rule", || async {
        let result = ensure_rule(&api).await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, "resume rule not set up yet");
        }
        result
    });
    tokio::select! {
        () = shutdown.wait() => return,
        result = put => match result {
            Ok(()) => tracing::info!(rule = RULE, "resume rule is on the event bus"),
            // Not retryable (refused): the periodic check still finishes waiting steps.
            Err(e) => tracing::error!(error = %e, "resume rule could not be set up"),
        },
    }
    // Deliveries exist only for the orchestrator's rule: none is stale.
    let durable = Durable::new(
        names::DELIVERIES_STREAM,
        names::ORCHESTRATOR_RESUME_CONSUMER,
        "Resumes waiting orchestrator steps",
    )
    .filter(names::deliver_subject(names::ORCHESTRATOR_RESUME_TARGET))
    .deliver_policy(DeliverPolicy::All);
    consumer::run(&js, &durable, shutdown.token(), |message| {
        let engine = engine.clone();
        async move { resume(&engine, &message).await }
    })
    .await;
}

/// Resumes the waiting steps a delivered event finishes; not acknowledged when the run
/// store cannot be written, so that it is redelivered.
async fn resume(engine: &Engine, message: &async_nats::jetstream::Message) {
    if let Ok(event) = serde_json::from_slice::<Value>(&message.payload) {
        match engine.event_wakes(|step| finishes(&event, step)).await {
            Ok(n) => {
                tracing::info!(runs = n, detail_type = ?event["detail-type"], "waiting steps resumed by an event")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not check the waiting steps an event woke");
                consumer::nak_after(message, Duration::from_secs(1)).await;
                return;
            }
        }
    }
    consumer::ack(message).await;
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
