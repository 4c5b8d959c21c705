//! Where the services are (flags or `GROUNDWORK_*_URL`) and connecting to them with the
//! API token (`GROUNDWORK_API_TOKEN`).

use clap::Args;
use groundwork_kit::client::Target;
use groundwork_kit::config::ports;

use crate::error::CliError;

/// Addresses of the services and the API token.
#[derive(Debug, Clone, Args)]
pub struct Endpoints {
    /// The event bus API.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_EVENTBUS_URL",
        default_value_t = ports::url(ports::EVENTBUS)
    )]
    pub eventbus_url: String,

    /// The identity API.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_IDENTITY_URL",
        default_value_t = ports::url(ports::IDENTITY)
    )]
    pub identity_url: String,

    /// The budget API.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_BUDGET_URL",
        default_value_t = ports::url(ports::BUDGET)
    )]
    pub budget_url: String,

    /// The alerting API.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_ALERTING_URL",
        default_value_t = ports::url(ports::ALERTING)
    )]
    pub alerting_url: String,

    /// The orchestrator API.
    #[arg(
        long,
        global = true,
        env = "GROUNDWORK_ORCHESTRATOR_URL",
        default_value_t = ports::url(ports::ORCHESTRATOR)
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

/// A channel to one service, with the API token (kit's client builder).
pub type Conn = groundwork_kit::client::Channel;

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

    /// Connects to the service at `url`; `what` and `env` name it in errors.
    pub async fn connect(
        &self,
        url: &str,
        what: &str,
        env: &'static str,
    ) -> Result<Conn, CliError> {
        let target = Target::new(url, self.api_token.clone(), env);
        groundwork_kit::client::connect(&target, what)
            .await
            .map_err(CliError::from)
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
