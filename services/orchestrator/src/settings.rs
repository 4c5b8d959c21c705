//! The orchestrator's settings, in layers (defaults, a TOML file, environment, flags;
//! `GROUNDWORK_ORCHESTRATOR__*`,
//! and the services' URLs as the CLI names them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use groundwork_kit::CommonSettings;
use groundwork_kit::config::{parse_listen, ports};

/// Everything the orchestrator can be told.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "groundwork-orchestrator",
    version,
    about = "One spec to plan, apply as a durable run, wait for a person, resume and watch"
)]
pub struct Settings {
    #[command(flatten)]
    pub common: CommonSettings,

    /// Address of the gRPC API.
    #[arg(long, env = "GROUNDWORK_ORCHESTRATOR__LISTEN", default_value_t = ports::listen(ports::ORCHESTRATOR), value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// The event bus: the spec's notification rules are made there.
    #[arg(
        long,
        env = "GROUNDWORK_EVENTBUS_URL",
        default_value_t = ports::url(ports::EVENTBUS)
    )]
    pub eventbus_url: String,

    /// The identity service.
    #[arg(
        long,
        env = "GROUNDWORK_IDENTITY_URL",
        default_value_t = ports::url(ports::IDENTITY)
    )]
    pub identity_url: String,

    /// The budget service.
    #[arg(
        long,
        env = "GROUNDWORK_BUDGET_URL",
        default_value_t = ports::url(ports::BUDGET)
    )]
    pub budget_url: String,

    /// The alerting service.
    #[arg(
        long,
        env = "GROUNDWORK_ALERTING_URL",
        default_value_t = ports::url(ports::ALERTING)
    )]
    pub alerting_url: String,

    /// Calls per step before the run fails.
    #[arg(
        long,
        env = "GROUNDWORK_ORCHESTRATOR__MAX_ATTEMPTS",
        default_value_t = 5
    )]
    pub max_attempts: u32,

    /// First retry delay in milliseconds; doubles per attempt up to 30 s.
    #[arg(
        long,
        env = "GROUNDWORK_ORCHESTRATOR__BACKOFF_MS",
        default_value_t = 500
    )]
    pub backoff_ms: u64,

    /// How often a waiting step is checked again when no event arrives, in milliseconds.
    #[arg(
        long,
        env = "GROUNDWORK_ORCHESTRATOR__RECHECK_MS",
        default_value_t = 15_000
    )]
    pub recheck_ms: u64,

    /// How long a replica's lease on a run lasts without renewal, in milliseconds: when the
    /// replica driving a run dies, another takes the run over within this plus one
    /// heartbeat (see `lease.rs`).
    #[arg(
        long,
        env = "GROUNDWORK_ORCHESTRATOR__LEASE_MS",
        default_value_t = 10_000
    )]
    pub lease_ms: u64,

    /// How often a replica renews its run leases and looks for expired ones, in
    /// milliseconds (under a third of the lease time).
    #[arg(
        long,
        env = "GROUNDWORK_ORCHESTRATOR__HEARTBEAT_MS",
        default_value_t = 3_000
    )]
    pub heartbeat_ms: u64,

    /// This replica's id in the run leases, unique among the running replicas (a pod's
    /// name); a new random id per process when unset. A restarted process with the same id
    /// takes its runs back at once instead of after the lease time.
    #[arg(long, env = "GROUNDWORK_ORCHESTRATOR__REPLICA_ID")]
    pub replica_id: Option<String>,

    /// The key (32 bytes as 64 hex digits, a file of mode 0600) that seals the one-time
    /// secrets waiting for a person; `groundwork secrets init` and `groundwork up` make it
    /// (`one-time-secrets.key` in the secrets directory). Without it a key is made at
    /// start-up and kept in memory only: secrets not yet fetched are then lost when the
    /// orchestrator restarts, and replicas cannot read each other's.
    #[arg(long, env = "GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,

    /// How long a one-time secret waits for a person (`groundwork secrets show RUN`) before
    /// it is discarded, in seconds (24 h by default).
    #[arg(
        long,
        env = "GROUNDWORK_ORCHESTRATOR__SECRETS_TTL_SECS",
        default_value_t = 86_400
    )]
    pub secrets_ttl_secs: u64,
}

impl Settings {
    /// The lease time and heartbeat, the heartbeat kept under a third of the lease.
    pub fn leases(&self) -> crate::lease::LeaseSettings {
        let ttl = Duration::from_millis(self.lease_ms.max(300));
        let heartbeat = Duration::from_millis(self.heartbeat_ms.max(100)).min(ttl / 3);
        crate::lease::LeaseSettings { ttl, heartbeat }
    }

    /// Defaults for tests and embedding, with the given common settings (NATS server and
    /// credentials) and services.
    pub fn on(common: CommonSettings, identity: &str, budget: &str, alerting: &str) -> Self {
        Self {
            common,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            eventbus_url: ports::url(ports::EVENTBUS),
            identity_url: identity.into(),
            budget_url: budget.into(),
            alerting_url: alerting.into(),
            max_attempts: 5,
            backoff_ms: 500,
            recheck_ms: 15_000,
            lease_ms: 10_000,
            heartbeat_ms: 3_000,
            replica_id: None,
            secrets_key_file: None,
            secrets_ttl_secs: 86_400,
        }
    }
}
