//! Where the services are (flags or `GROUNDWORK_*_URL`) and connecting to them with the
//! API token (`GROUNDWORK_API_TOKEN`).

use std::time::Duration;

use clap::Args;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::error::CliError;

/// Addresses of the services and the API token.
#[derive(Debug, Clone, Args)]
pub struct Endpoints {
    /// The event bus API.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_EVENTBUS_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub eventbus_url: String,

    /// The identity API.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_IDENTITY_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub identity_url: String,

    /// The budget API.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_BUDGET_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub budget_url: String,

    /// The alerting API.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_ALERTING_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub alerting_url: String,

    /// The orchestrator API.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_ORCHESTRATOR_URL",
        default_value = "http://127.0.0.1:50055"
    )]
    pub orchestrator_url: String,

    /// Bearer token sent with every call, when the services require one.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
}

/// Adds the bearer token to every call.
#[derive(Debug, Clone)]
pub struct Token(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Token {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel to one service, with the token interceptor.
pub type Conn = InterceptedService<Channel, Token>;

impl Endpoints {
    /// Every service with its URL, in start-up order.
    pub fn all(&self) -> Vec<(&'static str, String)> {
        vec![
            ("eventbus", self.eventbus_url.clone()),
            ("identity", self.identity_url.clone()),
            ("budget", self.budget_url.clone()),
            ("alerting", self.alerting_url.clone()),
            ("orchestrator", self.orchestrator_url.clone()),
        ]
    }

    fn token(&self) -> Result<Token, CliError> {
        match self.api_token.as_deref().filter(|t| !t.is_empty()) {
            None => Ok(Token(None)),
            Some(t) => format!("Bearer {t}")
                .parse()
                .map(|v| Token(Some(v)))
                .map_err(|_| {
                    CliError::usage(
                        "GROUNDWORK_API_TOKEN holds characters that cannot be sent in a header",
                    )
                }),
        }
    }

    /// Connects to the service at `url`; `what` and `env` name it in errors.
    pub async fn connect(&self, url: &str, what: &str, env: &str) -> Result<Conn, CliError> {
        let endpoint = Channel::from_shared(url.to_owned())
            .map_err(|e| CliError::usage(format!("{env}: '{url}' is not a URL: {e}")))?
            .connect_timeout(Duration::from_secs(5));
        let channel = endpoint.connect().await.map_err(|e| {
            CliError::failed(format!(
                "cannot reach the {what} at {url}: {e}. Is it running? (`groundwork up` starts a local stack; {env} points elsewhere)"
            ))
        })?;
        Ok(InterceptedService::new(channel, self.token()?))
    }

    pub async fn eventbus(
        &self,
    ) -> Result<groundwork_proto::v1::event_bus_client::EventBusClient<Conn>, CliError> {
        let conn = self
            .connect(&self.eventbus_url, "event bus", "GROUNDWORK_EVENTBUS_URL")
            .await?;
        Ok(groundwork_proto::v1::event_bus_client::EventBusClient::new(
            conn,
        ))
    }

    pub async fn budget(
        &self,
    ) -> Result<groundwork_proto::v1::budget_client::BudgetClient<Conn>, CliError> {
        let conn = self
            .connect(&self.budget_url, "budget service", "GROUNDWORK_BUDGET_URL")
            .await?;
        Ok(groundwork_proto::v1::budget_client::BudgetClient::new(conn))
    }

    pub async fn alerting(
        &self,
    ) -> Result<groundwork_proto::v1::alerting_client::AlertingClient<Conn>, CliError> {
        let conn = self
            .connect(
                &self.alerting_url,
                "alerting service",
                "GROUNDWORK_ALERTING_URL",
            )
            .await?;
        Ok(groundwork_proto::v1::alerting_client::AlertingClient::new(
            conn,
        ))
    }

    pub async fn identity(
        &self,
    ) -> Result<groundwork_proto::v1::identity_client::IdentityClient<Conn>, CliError> {
        let conn = self
            .connect(
                &self.identity_url,
                "identity service",
                "GROUNDWORK_IDENTITY_URL",
            )
            .await?;
        Ok(groundwork_proto::v1::identity_client::IdentityClient::new(
            conn,
        ))
    }
}
