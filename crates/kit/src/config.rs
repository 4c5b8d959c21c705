//! Settings every service shares. Each service flattens [`CommonSettings`] into its own
//! `Settings` (clap `Args`); [`crate::settings_file::load`] fills them from defaults, an
//! optional TOML file, the environment and flags, in that order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::auth::Access;
use crate::error::Error;
use crate::tls::{ClientTls, ServerTls};

/// The default gRPC ports (README, "API overview"), defined once.
pub mod ports {
    pub const EVENTBUS: u16 = 50051;
    pub const IDENTITY: u16 = 50052;
    pub const BUDGET: u16 = 50053;
    pub const ALERTING: u16 = 50054;
    pub const ORCHESTRATOR: u16 = 50055;

    /// The default listen address of a service: loopback only.
    pub fn listen(port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The default URL clients use to reach a service.
    pub fn url(port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }
}

/// The account id written in event envelopes and ARNs when none is configured (the
/// sandbox's).
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// The region written in event envelopes and ARNs when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Settings shared by every service.
#[derive(Debug, Clone, Args)]
pub struct CommonSettings {
    /// A TOML file of settings: top-level keys for every service, a `[<service>]` table for
    /// one. The environment and flags override it.
    #[arg(long, env = "GROUNDWORK_CONFIG")]
    pub config: Option<PathBuf>,

    /// The NATS server(s) to use.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// NATS credentials: a JWT `.creds` file (as `nats --creds`).
    #[arg(long, env = "NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,

    /// NATS credentials: a file holding an nkey seed (as `nats --nkey`); `groundwork up`
    /// makes one per service under `.groundwork/secrets/nats/`. A user and password go in
    /// the URL (`nats://user:password@host:4222`).
    #[arg(long, env = "NATS_NKEY")]
    pub nats_nkey: Option<PathBuf>,

    /// The CA certificate (PEM) that signs the NATS server's certificate; TLS is then
    /// required (as with a `tls://` URL).
    #[arg(long, env = "NATS_CA")]
    pub nats_ca: Option<PathBuf>,

    /// A client certificate (PEM) for NATS servers that verify clients; with `NATS_KEY`.
    #[arg(long, env = "NATS_CERT", requires = "nats_key")]
    pub nats_cert: Option<PathBuf>,

    /// The private key (PEM) of `NATS_CERT`.
    #[arg(long, env = "NATS_KEY", requires = "nats_cert")]
    pub nats_key: Option<PathBuf>,

    /// The operator token: every gRPC call must carry `authorization: Bearer <token>`
    /// (health checks excepted); this one may call everything. Required unless `--insecure`.
    /// Services also send it when they call each other.
    #[arg(long, env = "GROUNDWORK_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,

    /// A file holding operator tokens, one per line (all accepted; the first is the one this
    /// service sends), e.g. a compose secret. Adds to `--api-token`.
    #[arg(long, env = "GROUNDWORK_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,

    /// The read-only token: may call only what changes nothing (health, list, describe,
    /// get, plan, audit, tail, test-pattern, reflection); PERMISSION_DENIED elsewhere.
    #[arg(long, env = "GROUNDWORK_READ_ONLY_TOKEN", hide_env_values = true)]
    pub read_only_token: Option<String>,

    /// A file holding read-only tokens, one per line. Adds to `--read-only-token`.
    #[arg(long, env = "GROUNDWORK_READ_ONLY_TOKEN_FILE")]
    pub read_only_token_file: Option<PathBuf>,

    /// Run without an operator token, or beyond loopback without TLS: anyone who can reach
    /// the port may then change the account. Only for experiments; logged loudly.
    #[arg(long, env = "GROUNDWORK_INSECURE")]
    pub insecure: bool,

    /// The server's TLS certificate chain (PEM); with `--tls-key`, gRPC is served over TLS.
    #[arg(long, env = "GROUNDWORK_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The server's TLS private key (PEM).
    #[arg(long, env = "GROUNDWORK_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// A CA (PEM) whose client certificates are required (mutual TLS); the certificate's
    /// subject names the caller in the audit trail.
    #[arg(long, env = "GROUNDWORK_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,

    /// The CA (PEM) this service trusts when it calls other services; with it, those calls
    /// use TLS (`http://` URLs are upgraded to `https://`).
    #[arg(long, env = "GROUNDWORK_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// The client certificate (PEM) this service presents to services that require mutual
    /// TLS.
    #[arg(long, env = "GROUNDWORK_TLS_CLIENT_CERT")]
    pub tls_client_cert: Option<PathBuf>,

    /// The key of `--tls-client-cert` (PEM).
    #[arg(long, env = "GROUNDWORK_TLS_CLIENT_KEY")]
    pub tls_client_key: Option<PathBuf>,

    /// How long a NATS request (a publish ack, a KV read) may take before the call fails
    /// with UNAVAILABLE, in milliseconds.
    #[arg(long, env = "GROUNDWORK_NATS_TIMEOUT_MS", default_value_t = 3000)]
    pub nats_timeout_ms: u64,

    /// Copies JetStream keeps of every stream and KV bucket Groundwork creates. 0 (the
    /// default): read from the server, 3 on a cluster of three or more nodes, 1 otherwise.
    #[arg(long, env = "GROUNDWORK_STREAM_REPLICAS", default_value_t = 0)]
    pub stream_replicas: usize,

    /// The account id written in event envelopes and ARNs.
    #[arg(long, env = "GROUNDWORK_ACCOUNT_ID", default_value = DEFAULT_ACCOUNT)]
    pub account: String,

    /// The region written in event envelopes and ARNs (AWS calls follow the SDK's own
    /// region chain; billing calls always go to us-east-1).
    #[arg(long, env = "AWS_REGION", default_value = DEFAULT_REGION)]
    pub region: String,

    /// Attempts per AWS call, counting the first (the SDK's standard retry mode).
    #[arg(long, env = "GROUNDWORK_AWS_MAX_ATTEMPTS", default_value_t = 3)]
    pub aws_max_attempts: u32,
}

impl CommonSettings {
    /// Settings for tests and embedding: a given NATS URL, no token (set one, or
    /// `insecure`, before serving), defaults otherwise.
    pub fn for_nats(url: impl Into<String>) -> Self {
        Self {
            config: None,
            nats_url: url.into(),
            nats_creds: None,
            nats_nkey: None,
            nats_ca: None,
            nats_cert: None,
            nats_key: None,
            api_token: None,
            api_token_file: None,
            read_only_token: None,
            read_only_token_file: None,
            insecure: false,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            ca_file: None,
            tls_client_cert: None,
            tls_client_key: None,
            nats_timeout_ms: 3000,
            stream_replicas: 0,
            account: DEFAULT_ACCOUNT.into(),
            region: DEFAULT_REGION.into(),
            aws_max_attempts: 3,
        }
    }

    pub fn nats_timeout(&self) -> Duration {
        Duration::from_millis(self.nats_timeout_ms)
    }

    /// Every operator token: `--api-token` and the lines of `--api-token-file`.
    pub fn operator_tokens(&self) -> Result<Vec<String>, Error> {
        tokens(
            self.api_token.as_deref(),
            self.api_token_file.as_deref(),
            "GROUNDWORK_API_TOKEN_FILE",
        )
    }

    /// Every read-only token: `--read-only-token` and the lines of `--read-only-token-file`.
    pub fn read_only_tokens(&self) -> Result<Vec<String>, Error> {
        tokens(
            self.read_only_token.as_deref(),
            self.read_only_token_file.as_deref(),
            "GROUNDWORK_READ_ONLY_TOKEN_FILE",
        )
    }

    /// The token this service sends when it calls another: the first operator token.
    pub fn client_token(&self) -> Result<Option<String>, Error> {
        Ok(self.operator_tokens()?.into_iter().next())
    }

    /// Who may call this service's API.
    pub fn access(&self) -> Result<Access, Error> {
        Ok(Access::new(
            self.operator_tokens()?,
            self.read_only_tokens()?,
        ))
    }

    /// The server's TLS, when `--tls-cert` and `--tls-key` are set.
    pub fn server_tls(&self) -> Result<Option<ServerTls>, Error> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                ServerTls::from_files(cert, key, self.tls_client_ca.as_deref())
                    .map(Some)
                    .map_err(|e| Error::invalid("GROUNDWORK_TLS_CERT", e.to_string()))
            }
            (None, None) if self.tls_client_ca.is_some() => Err(Error::invalid(
                "GROUNDWORK_TLS_CLIENT_CA",
                "client certificates need TLS: set GROUNDWORK_TLS_CERT and GROUNDWORK_TLS_KEY",
            )),
            (None, None) => Ok(None),
            (Some(_), None) | (None, Some(_)) => Err(Error::invalid(
                "GROUNDWORK_TLS_CERT",
                "GROUNDWORK_TLS_CERT and GROUNDWORK_TLS_KEY go together",
            )),
        }
    }

    /// The TLS of this service's calls to other services, when `--ca-file` or a client
    /// certificate is set.
    pub fn client_tls(&self) -> Result<Option<ClientTls>, Error> {
        if self.ca_file.is_none() && self.tls_client_cert.is_none() && self.tls_client_key.is_none()
        {
            return Ok(None);
        }
        ClientTls::from_files(
            self.ca_file.as_deref(),
            self.tls_client_cert.as_deref(),
            self.tls_client_key.as_deref(),
        )
        .map(Some)
        .map_err(|e| Error::invalid("GROUNDWORK_CA_FILE", e.to_string()))
    }

    /// Refuses a server that anyone could use: one without an operator token, or one that
    /// listens beyond loopback without TLS, unless `--insecure` says so on purpose (then it
    /// logs a warning). The error names the settings that fix it.
    pub fn check_exposure(&self, listen: SocketAddr) -> Result<(), Error> {
        let no_token = self.operator_tokens()?.is_empty();
        let exposed_plain = !listen.ip().is_loopback() && self.server_tls()?.is_none();
        if self.insecure {
            if no_token {
                tracing::warn!(
                    %listen,
                    "INSECURE: no API token is set; anyone who can reach this port can change \
                     the AWS account (--insecure / GROUNDWORK_INSECURE)"
                );
            }
            if exposed_plain {
                tracing::warn!(
                    %listen,
                    "INSECURE: listening beyond loopback without TLS; tokens and answers cross \
                     the network in clear (--insecure / GROUNDWORK_INSECURE)"
                );
            }
            return Ok(());
        }
        if no_token {
            return Err(Error::invalid(
                "GROUNDWORK_API_TOKEN",
                "no API token is set, so anyone who can reach the port could change the AWS \
                 account. Set GROUNDWORK_API_TOKEN (or GROUNDWORK_API_TOKEN_FILE) to a long \
                 random value (`groundwork up` generates one under .groundwork/secrets/), or \
                 pass --insecure (GROUNDWORK_INSECURE=true) to run without one on purpose",
            )
            .with_reason(INSECURE_SETTINGS));
        }
        if exposed_plain {
            return Err(Error::invalid(
                "GROUNDWORK_TLS_CERT",
                format!(
                    "listening on {listen}, beyond loopback, without TLS would send the API \
                     token in clear. Set GROUNDWORK_TLS_CERT and GROUNDWORK_TLS_KEY \
                     (`groundwork up` generates a local CA and certificate under \
                     .groundwork/secrets/tls/), listen on 127.0.0.1, or pass --insecure"
                ),
            )
            .with_reason(INSECURE_SETTINGS));
        }
        Ok(())
    }
}

/// The reason of the error that refuses an insecure server.
pub const INSECURE_SETTINGS: &str = "INSECURE_SETTINGS";

fn tokens(
    token: Option<&str>,
    file: Option<&std::path::Path>,
    file_setting: &'static str,
) -> Result<Vec<String>, Error> {
    let mut all: Vec<String> = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .into_iter()
        .collect();
    if let Some(path) = file {
        let read = crate::secrets::read_tokens(path).map_err(|e| {
            Error::invalid(
                file_setting,
                format!("cannot read the token file {}: {e}", path.display()),
            )
        })?;
        all.extend(read);
    }
    Ok(all)
}

/// Parses a listen address, accepting `:port` for all interfaces.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    text.parse()
        .map_err(|e| format!("'{text}' is not an address like 127.0.0.1:50051: {e}"))
}
