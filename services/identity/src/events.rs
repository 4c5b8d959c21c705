//! The identity service's events on the bus (source `groundwork.identity`). Details hold
//! names, ARNs and outcomes, never a password, secret access key or MFA seed.

use groundwork_bus::{Emitted, Emitter};
use serde_json::Value;

/// The source of every event this service emits.
pub const SOURCE: &str = "groundwork.identity";

pub const ACCOUNT_AUDITED: &str = "Account Audited";
pub const ADMIN_USER_CREATED: &str = "Admin User Created";
pub const ADMIN_USER_UPDATED: &str = "Admin User Updated";
pub const ADMIN_USER_DELETED: &str = "Admin User Deleted";
pub const MFA_ENROLLMENT_STARTED: &str = "MFA Enrollment Started";
pub const MFA_DEVICE_ENABLED: &str = "MFA Device Enabled";

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
    pub async fn emit(&self, detail_type: &str, detail: Value, resources: Vec<String>) {
        match self.emitter.emit(detail_type, detail, resources).await {
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
