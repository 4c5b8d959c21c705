//! Where the services are (flags or `GROUNDWORK_*_URL`) and connecting to them with the
//! API token and TLS.
//!
//! The token: `--api-token` / `GROUNDWORK_API_TOKEN`, else the first line of
//! `--api-token-file` / `GROUNDWORK_API_TOKEN_FILE`, else `.groundwork/secrets/api-token` in
//! the current directory (what `groundwork up` wrote). The CA: `--ca-file` /
//! `GROUNDWORK_CA_FILE`, else `.groundwork/secrets/tls/ca.pem`; with a CA every call uses
//! TLS (`http://` URLs are upgraded to `https://`), so the CLI works with no flags where
//! `groundwork up` ran.

use std::path::{Path, PathBuf};

use clap::Args;
use groundwork_kit::client::Target;
use groundwork_kit::config::ports;
use groundwork_kit::secrets::LocalSecrets;
use groundwork_kit::tls::ClientTls;

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

    /// A file whose first line is the token (e.g. a compose secret).
    #[arg(long, global = true, env = "GROUNDWORK_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,

    /// The CA (PEM) that signed the services' certificates; with it, calls use TLS.
    #[arg(long, global = true, env = "GROUNDWORK_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// A client certificate (PEM) for services that require mutual TLS.
    #[arg(long, global = true, env = "GROUNDWORK_TLS_CLIENT_CERT")]
    pub tls_client_cert: Option<PathBuf>,

    /// The key of `--tls-client-cert` (PEM).
    #[arg(long, global = true, env = "GROUNDWORK_TLS_CLIENT_KEY")]
    pub tls_client_key: Option<PathBuf>,
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

    /// The token to send: the flag or variable, the token file, or the local stack's.
    pub fn token(&self) -> Result<Option<String>, CliError> {
        self.token_in(&current_dir())
    }

    fn token_in(&self, dir: &Path) -> Result<Option<String>, CliError> {
        if let Some(t) = self.api_token.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(t.clone()));
        }
        let local = LocalSecrets::under(dir).api_token();
        let file = match &self.api_token_file {
            Some(file) => file.clone(),
            None if local.is_file() => local,
            None => return Ok(None),
        };
        let tokens = groundwork_kit::secrets::read_tokens(&file).map_err(|e| {
            CliError::usage(format!(
                "cannot read the API token file {}: {e}",
                file.display()
            ))
        })?;
        Ok(tokens.into_iter().next())
    }

    /// The TLS to use: the CA given, or the local stack's; none for plaintext.
    pub fn tls(&self) -> Result<Option<ClientTls>, CliError> {
        self.tls_in(&current_dir())
    }

    fn tls_in(&self, dir: &Path) -> Result<Option<ClientTls>, CliError> {
        let local = LocalSecrets::under(dir).tls_dir().join("ca.pem");
        let ca = match &self.ca_file {
            Some(ca) => Some(ca.clone()),
            None if local.is_file() => Some(local),
            None => None,
        };
        if ca.is_none() && self.tls_client_cert.is_none() && self.tls_client_key.is_none() {
            return Ok(None);
        }
        ClientTls::from_files(
            ca.as_deref(),
            self.tls_client_cert.as_deref(),
            self.tls_client_key.as_deref(),
        )
        .map(Some)
        .map_err(|e| CliError::usage(e.to_string()))
    }

    /// Connects to the service at `url`; `what` and `env` name it in errors.
    pub async fn connect(
        &self,
        url: &str,
        what: &str,
        env: &'static str,
    ) -> Result<Conn, CliError> {
        let target = Target::new(url, self.token()?, env).with_tls(self.tls()?);
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

fn current_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        endpoints: Endpoints,
    }

    fn endpoints(args: &[&str]) -> Endpoints {
        Cli::parse_from(std::iter::once("groundwork").chain(args.iter().copied())).endpoints
    }

    #[test]
    fn the_token_and_ca_come_from_the_local_stack_when_not_given() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = LocalSecrets::under(dir.path());
        let e = endpoints(&[]);
        let (token_file, _) = secrets.ensure_tokens().unwrap();
        let written = groundwork_kit::secrets::read_tokens(&token_file).unwrap();
        assert_eq!(e.token_in(dir.path()).unwrap(), written.first().cloned());
        assert!(e.tls_in(dir.path()).unwrap().is_none(), "no CA yet");
        groundwork_kit::tls::generate_local(&secrets.tls_dir()).unwrap();
        assert!(e.tls_in(dir.path()).unwrap().is_some());
        let given = endpoints(&["--api-token", "given"]);
        assert_eq!(
            given.token_in(dir.path()).unwrap().as_deref(),
            Some("given")
        );
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(e.token_in(elsewhere.path()).unwrap(), None);
    }
}
