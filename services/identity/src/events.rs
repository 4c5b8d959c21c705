//! The identity service's events on the bus (source `groundwork.identity`), typed in
//! `groundwork_events::catalog`. Details hold names, ARNs and outcomes, never a password,
//! secret access key or MFA seed.

use groundwork_bus::{Emitted, Emitter};
use groundwork_events::catalog::{CatalogEvent, sources};

/// The source of every event this service emits.
pub const SOURCE: &str = sources::IDENTITY;

/// Publishes the service's events.
#[derive(Debug, Clone)]
pub struct Events {
    emitter: Emitter,
}

impl Events {
    pub fn new(emitter: Emitter) -> Self {
        Self { emitter }
    }

    /// Publishes a fact that has already happened in AWS. A bus failure does not undo
    /// it or fail the call: the emitter retries in the background while NATS is away,
    /// and anything else is logged.
    pub async fn emit<E: CatalogEvent>(&self, event: &E, resources: Vec<String>) {
        let detail_type = E::DETAIL_TYPE;
        match self.emitter.emit_event(event, resources).await {
            Ok((event, Emitted::Stored)) => {
                tracing::debug!(event_id = %event.id, detail_type, "event stored");
            }
            Ok((event, Emitted::Retrying)) => {
                tracing::info!(event_id = %event.id, detail_type, "event stored later: NATS is away");
            }
            Err(e) => tracing::error!(error = %e, detail_type, "event could not be published"),
        }
    }
}
