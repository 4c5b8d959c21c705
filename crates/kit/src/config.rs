//! Settings every service shares. Each service flattens [`CommonSettings`] into its own
//! `Settings` (clap `Args`); [`crate::settings_file::load`] fills them from defaults, an
//! optional TOML file, the environment and flags, in that order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

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

    /// When set, every gRPC call must carry `authorization: Bearer <token>`
    /// (health checks excepted).
    #[arg(long, env = "GROUNDWORK_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,

    /// How long a NATS request (a publish ack, a KV read) may take before the call fails
    /// with UNAVAILABLE, in milliseconds.
    #[arg(long, env = "GROUNDWORK_NATS_TIMEOUT_MS", default_value_t = 3000)]
    pub nats_timeout_ms: u64,

    /// JetStream stream replicas: 1 on a single server, 3 in a cluster.
    #[arg(long, env = "GROUNDWORK_STREAM_REPLICAS", default_value_t = 1)]
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
    /// Settings for tests and embedding: a given NATS URL, no token, defaults otherwise.
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
            nats_timeout_ms: 3000,
            stream_replicas: 1,
            account: DEFAULT_ACCOUNT.into(),
            region: DEFAULT_REGION.into(),
            aws_max_attempts: 3,
        }
    }

    pub fn nats_timeout(&self) -> Duration {
        Duration::from_millis(self.nats_timeout_ms)
    }
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
