//! The gRPC clients of the services the steps call, and the one decision of which failed
//! call may pass later. Both are this crate's stand-ins for kit's client builder and its
//! decoder of gRPC error details; they stay in this one module so that swapping them is a
//! change here only.

use std::time::Duration;

use groundwork_proto::v1 as pb;
use pb::alerting_client::AlertingClient;
use pb::budget_client::BudgetClient;
use pb::event_bus_client::EventBusClient;
use pb::identity_client::IdentityClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::error::Error;

/// Adds the bearer token to outgoing calls.
#[derive(Debug, Clone)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// A channel with the bearer interceptor.
pub type Conn = InterceptedService<Channel, Bearer>;

/// Where the services are.
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub eventbus: String,
    pub identity: String,
    pub budget: String,
    pub alerting: String,
    pub api_token: Option<String>,
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

fn channel(url: &str, what: &str) -> Result<Channel, Error> {
    Ok(Endpoint::from_shared(url.to_owned())
        .map_err(|e| Error::InvalidArgument {
            field: format!("{what}_url"),
            reason: format!("'{url}' is not a URL: {e}"),
        })?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(60))
        .connect_lazy())
}

impl Clients {
    pub fn new(urls: &ServiceUrls) -> Result<Self, Error> {
        let bearer = match urls.api_token.as_deref().filter(|t| !t.is_empty()) {
            None => Bearer(None),
            Some(t) => Bearer(Some(format!("Bearer {t}").parse().map_err(|_| {
                Error::InvalidArgument {
                    field: "api_token".into(),
                    reason: "holds characters that cannot be sent in a header".into(),
                }
            })?)),
        };
        Ok(Self {
            eventbus: EventBusClient::with_interceptor(
                channel(&urls.eventbus, "eventbus")?,
                bearer.clone(),
            ),
            identity: IdentityClient::with_interceptor(
                channel(&urls.identity, "identity")?,
                bearer.clone(),
            ),
            budget: BudgetClient::with_interceptor(
                channel(&urls.budget, "budget")?,
                bearer.clone(),
            ),
            alerting: AlertingClient::with_interceptor(
                channel(&urls.alerting, "alerting")?,
                bearer,
            ),
        })
    }
}

/// Whether a failed call may pass later. The one place that decides it from a status.
pub fn retryable(status: &tonic::Status) -> bool {
    use tonic::Code as C;
    matches!(
        status.code(),
        C::Unavailable
            | C::DeadlineExceeded
            | C::ResourceExhausted
            | C::Aborted
            | C::Unknown
            | C::Internal
    )
}

/// A failed read for a plan or a check: retryable failures are the service being away.
pub fn read_error(what: &str, status: &tonic::Status) -> Error {
    if retryable(status) {
        Error::Unavailable(format!("{what}: {}", status.message()))
    } else {
        Error::FailedPrecondition(format!("{what}: {}", status.message()))
    }
}
