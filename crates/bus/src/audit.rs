//! The services' audit sink: each record becomes a `Groundwork API Call` event with the
//! service's own source, sent like the service's other events (its emit subject, retried
//! in the background while NATS or the event bus is away).

use groundwork_events::catalog::{CatalogEvent, GroundworkApiCall};
use groundwork_kit::audit::{ApiCall, AuditSink};

use crate::emit::Emitter;

/// Puts audit records on the bus through the service's [`Emitter`].
#[derive(Debug, Clone)]
pub struct BusAudit {
    emitter: Emitter,
}

impl BusAudit {
    pub fn new(emitter: Emitter) -> std::sync::Arc<dyn AuditSink> {
        std::sync::Arc::new(Self { emitter })
    }
}

impl AuditSink for BusAudit {
    fn record(&self, call: ApiCall) {
        // An ARN is the event's resource, as in AWS's events.
        let resources = call
            .resource
            .iter()
            .filter(|r| r.starts_with("arn:"))
            .cloned()
            .collect();
        let detail = GroundworkApiCall {
            service: call.service,
            rpc: call.rpc,
            caller: call.caller,
            resource: call.resource,
            outcome: call.outcome,
            request_id: call.request_id,
            source_address: call.source_address,
        };
        let emitter = self.emitter.clone();
        tokio::spawn(async move {
            let emitted = match detail.to_detail() {
                Ok(detail) => {
                    emitter
                        .emit(GroundworkApiCall::DETAIL_TYPE, detail, resources)
                        .await
                }
                Err(e) => {
                    tracing::error!(error = %e, "an audit record is not JSON");
                    return;
                }
            };
            if let Err(e) = emitted {
                tracing::error!(error = %e, "an audit record was refused by the event bus");
            }
        });
    }
}
