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

/// Addresses of the services and the API token. A service's URL (several, comma-separated,
/// for replicas) is the flag or variable, else what `groundwork up` wrote for the stack it
/// runs from the current directory (`.groundwork/endpoints.json`), else the default port
/// on 127.0.0.1 (50051 to 50055).
#[derive(Debug, Clone, Args)]
pub struct Endpoints {
    /// The event bus API.
    #[arg(long, global = true, env = "GROUNDWORK_EVENTBUS_URL")]
    eventbus_url: Option<String>,

    /// The identity API.
    #[arg(long, global = true, env = "GROUNDWORK_IDENTITY_URL")]
    identity_url: Option<String>,

    /// The budget API.
    #[arg(long, global = true, env = "GROUNDWORK_BUDGET_URL")]
    budget_url: Option<String>,

    /// The alerting API.
    #[arg(long, global = true, env = "GROUNDWORK_ALERTING_URL")]
    alerting_url: Option<String>,

    /// The orchestrator API.
    #[arg(long, global = true, env = "GROUNDWORK_ORCHESTRATOR_URL")]
    orchestrator_url: Option<String>,

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

/// The services and their default gRPC ports (defined once, in kit), in start-up order.
pub const SERVICES: &[(&str, u16)] = &[
    ("eventbus", ports::EVENTBUS),
    ("identity", ports::IDENTITY),
    ("budget", ports::BUDGET),
    ("alerting", ports::ALERTING),
    ("orchestrator", ports::ORCHESTRATOR),
];

/// The data directory the CLI looks in, under the current directory (`groundwork up`'s
/// default).
pub const LOCAL_DATA_DIR: &str = ".groundwork";

/// The services' URLs of the stack `groundwork up` runs: written in its data directory
/// (`endpoints.json`) once every service answers and removed when it stops, so that the
/// CLI run in the same directory reaches every replica on whatever ports they use.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LocalEndpoints {
    /// Service name → its URLs, comma-separated.
    services: std::collections::BTreeMap<String, String>,
}

impl LocalEndpoints {
    const FILE: &'static str = "endpoints.json";

    pub fn insert(&mut self, name: &str, urls: String) {
        self.services.insert(name.to_owned(), urls);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.services.get(name).map(String::as_str)
    }

    /// What `groundwork up` run in `dir` wrote (`dir/.groundwork`).
    pub fn under(dir: &Path) -> Self {
        Self::read(&dir.join(LOCAL_DATA_DIR))
    }

    /// What `data_dir` holds; empty when there is nothing (no stack) or it cannot be read.
    pub fn read(data_dir: &Path) -> Self {
        std::fs::read(data_dir.join(Self::FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn write(&self, data_dir: &Path) -> Result<(), CliError> {
        let path = data_dir.join(Self::FILE);
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| CliError::failed(format!("cannot encode {}: {e}", path.display())))?;
        std::fs::write(&path, json)
            .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))
    }

    /// Forgets the stack's URLs (it stopped); a file already gone is fine.
    pub fn remove(data_dir: &Path) {
        let _ = std::fs::remove_file(data_dir.join(Self::FILE));
    }
}

/// A channel to one service, with the API token (kit's client builder).
pub type Conn = groundwork_kit::client::Channel;

impl Endpoints {
    /// Every service with its URL, in start-up order.
    pub fn all(&self) -> Vec<(&'static str, String)> {
        let local = LocalEndpoints::under(&current_dir());
        SERVICES
            .iter()
            .map(|&(name, _)| (name, self.url_in(name, &local)))
            .collect()
    }

    /// The URL (or the replicas' URLs, comma-separated) of the service `name` (one of
    /// [`SERVICES`]).
    pub fn url(&self, name: &str) -> String {
        self.url_in(name, &LocalEndpoints::under(&current_dir()))
    }

    fn url_in(&self, name: &str, local: &LocalEndpoints) -> String {
        let given = match name {
            "eventbus" => &self.eventbus_url,
            "identity" => &self.identity_url,
            "budget" => &self.budget_url,
            "alerting" => &self.alerting_url,
            "orchestrator" => &self.orchestrator_url,
            _ => &None,
        };
        if let Some(url) = given.as_ref().filter(|u| !u.is_empty()) {
            return url.clone();
        }
        if let Some(url) = local.get(name) {
            return url.to_owned();
        }
        let port = SERVICES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(ports::EVENTBUS, |(_, port)| *port);
        ports::url(port)
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
            .connect(
                &self.url("eventbus"),
                "event bus",
                "GROUNDWORK_EVENTBUS_URL",
            )
            .await?;
        Ok(groundwork_proto::v1::event_bus_client::EventBusClient::new(
            conn,
        ))
    }

    pub async fn budget(
        &self,
    ) -> Result<groundwork_proto::v1::budget_client::BudgetClient<Conn>, CliError> {
        let conn = self
            .connect(
                &self.url("budget"),
                "budget service",
                "GROUNDWORK_BUDGET_URL",
            )
            .await?;
        Ok(groundwork_proto::v1::budget_client::BudgetClient::new(conn))
    }

    pub async fn alerting(
        &self,
    ) -> Result<groundwork_proto::v1::alerting_client::AlertingClient<Conn>, CliError> {
        let conn = self
            .connect(
                &self.url("alerting"),
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
                &self.url("identity"),
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

    #[test]
    fn a_url_is_the_one_given_else_the_local_stack_s_else_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let e = endpoints(&[]);
        let url_in = |e: &Endpoints, name: &str| e.url_in(name, &LocalEndpoints::under(dir.path()));
        assert_eq!(url_in(&e, "budget"), "http://127.0.0.1:50053");
        let data_dir = dir.path().join(LOCAL_DATA_DIR);
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut local = LocalEndpoints::default();
        local.insert(
            "budget",
            "https://127.0.0.1:21002,https://127.0.0.1:21012".into(),
        );
        local.write(&data_dir).unwrap();
        assert_eq!(
            url_in(&e, "budget"),
            "https://127.0.0.1:21002,https://127.0.0.1:21012"
        );
        assert_eq!(url_in(&e, "identity"), "http://127.0.0.1:50052");
        let given = endpoints(&["--budget-url", "https://budget.internal:443"]);
        assert_eq!(url_in(&given, "budget"), "https://budget.internal:443");
        LocalEndpoints::remove(&data_dir);
        assert_eq!(url_in(&e, "budget"), "http://127.0.0.1:50053");
    }
}
