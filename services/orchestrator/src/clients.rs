//! The gRPC clients of the services the steps call (built by kit's client builder), and the
//! one decision of which failed call may pass later (kit's decoder of gRPC error details).

use std::time::Duration;

use groundwork_kit::client::{self, Target};
use groundwork_proto::v1 as pb;
use pb::alerting_client::AlertingClient;
use pb::budget_client::BudgetClient;
use pb::event_bus_client::EventBusClient;
use pb::identity_client::IdentityClient;

use crate::error::Error;

/// A channel with the API token, from kit.
pub type Conn = client::Channel;

/// How long one call to a service may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the services are.
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub eventbus: String,
    pub identity: String,
    pub budget: String,
    pub alerting: String,
    pub api_token: Option<String>,
    /// TLS of the calls (`GROUNDWORK_CA_FILE`), none for plaintext.
    pub tls: Option<groundwork_kit::tls::ClientTls>,
}

/// gRPC clients of the services, connected lazily (a service that is down makes its
/// steps retry, not the orchestrator fail to start). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Clients {
    pub eventbus: EventBusClient<Conn>,
    pub identity: IdentityClient<Conn>,
    pub budget: BudgetClient<Conn>,
    pub alerting: AlertingClient<Conn>,
}

impl Clients {
    pub fn new(urls: &ServiceUrls) -> Result<Self, Error> {
        let channel = |url: &str, setting: &'static str| {
            client::lazy(
                &Target::new(url, urls.api_token.clone(), setting)
                    .with_tls(urls.tls.clone())
                    .with_timeout(CALL_TIMEOUT),
            )
        };
        Ok(Self {
            eventbus: EventBusClient::new(channel(&urls.eventbus, "GROUNDWORK_EVENTBUS_URL")?),
            identity: IdentityClient::new(channel(&urls.identity, "GROUNDWORK_IDENTITY_URL")?),
            budget: BudgetClient::new(channel(&urls.budget, "GROUNDWORK_BUDGET_URL")?),
            alerting: AlertingClient::new(channel(&urls.alerting, "GROUNDWORK_ALERTING_URL")?),
        })
    }
}

/// Whether a failed call may pass later: what the service marked in the status's error
/// details (a terminal AWS failure such as AccessDenied is tried once), or, for a status
/// without them (the transport), whether the service was unreachable.
pub fn retryable(status: &tonic::Status) -> bool {
    Error::from_status(status).is_retryable()
}

/// A failed read for a plan or a check, as the service said it, with what was being read.
pub fn read_error(what: &str, status: &tonic::Status) -> Error {
    Error::from_status(status).context(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_service_marked_retryable_is_retried() {
        // A terminal AWS failure the service could not classify reaches the orchestrator
        // as INTERNAL without RetryInfo: tried once (it used to be retried by its code).
        let unclassified = Error::internal("CreateUser failed: Unknown: ").with_reason("AWS_ERROR");
        assert!(!retryable(&unclassified.into_status()));
        let denied = Error::permission_denied("AccessDenied").with_reason("AWS_ACCESS_DENIED");
        assert!(!retryable(&denied.into_status()));
        // A throttled or unreachable dependency is marked retryable by the service.
        assert!(retryable(&Error::unavailable("Throttling").into_status()));
        // The transport's own failures carry no details: unreachable means retry.
        assert!(retryable(&tonic::Status::unavailable("connection refused")));
        assert!(!retryable(&tonic::Status::internal("h2 protocol error")));
    }
}
