//! The audit trail on the bus: kit's gRPC server hands every call that may change something
//! to an [`AuditSink`]; an [`Emitter`] is one, publishing each call as the catalog's
//! `Groundwork API Call` (source `groundwork.audit`) without holding up the answer. If NATS
//! is away the emitter retries in the background, as for every own event.

use groundwork_events::catalog::GroundworkApiCall;
use groundwork_kit::audit::{ApiCall, AuditSink};

use crate::emit::Emitter;

/// The catalog's event for one call.
fn event(call: ApiCall) -> GroundworkApiCall {
    GroundworkApiCall {
        caller: call.caller,
        role: call.role,
        service: call.service,
        rpc: call.rpc,
        resource: call.resource,
        outcome: call.outcome,
        request_id: call.request_id,
    }
}

impl AuditSink for Emitter {
    fn record(&self, call: ApiCall) {
        let emitter = self.clone();
        let event = event(call);
        tokio::spawn(async move {
            if let Err(e) = emitter.emit_event(&event, Vec::new()).await {
                tracing::warn!(
                    error = %e,
                    rpc = %event.rpc,
                    request_id = %event.request_id,
                    "an API call could not be written to the audit trail"
                );
            }
        });
    }
}
