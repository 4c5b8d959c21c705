//! The orchestrator as a process of its own, for the end-to-end tests that kill it with
//! SIGKILL and start it again: the orchestrator's `serve`, with the test stack's addresses
//! and the quick retries of the in-process stack.
//!
//! Usage: `e2e-orchestrator NATS_URL LISTEN IDENTITY_URL BUDGET_URL ALERTING_URL EVENTBUS_URL`,
//! with the orchestrator's NATS credentials in `NATS_NKEY`.
//! with the stack's tokens and TLS in `GROUNDWORK_API_TOKEN`, `GROUNDWORK_READ_ONLY_TOKEN`,
//! `GROUNDWORK_TLS_CERT`, `GROUNDWORK_TLS_KEY` and `GROUNDWORK_CA_FILE`, and its key for
//! one-time secrets in `GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE`; its replica id in
//! `GROUNDWORK_ORCHESTRATOR__REPLICA_ID`, and the lease timings, when a test changes them,
//! in `GROUNDWORK_ORCHESTRATOR__LEASE_MS` and `GROUNDWORK_ORCHESTRATOR__HEARTBEAT_MS`.

use std::process::ExitCode;

use groundwork_kit::Shutdown;
use groundwork_kit::telemetry::{self, LogFormat};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [nats, listen, identity, budget, alerting, eventbus] = args.as_slice() else {
        eprintln!(
            "usage: e2e-orchestrator NATS_URL LISTEN IDENTITY_URL BUDGET_URL ALERTING_URL EVENTBUS_URL"
        );
        return ExitCode::from(2);
    };
    if let Err(e) = telemetry::init(LogFormat::from_env()) {
        eprintln!("telemetry: {e}");
    }
    let mut common = groundwork_kit::CommonSettings::for_nats(nats);
    common.nats_nkey = std::env::var_os("NATS_NKEY").map(std::path::PathBuf::from);
    let mut settings =
        groundwork_e2e::orchestrator_settings(common, identity, budget, alerting, eventbus);
    // The stack's tokens and TLS, as `Stack` passes them (see `Security::env`).
    let var = |name: &str| std::env::var(name).ok();
    settings.common.api_token = var("GROUNDWORK_API_TOKEN");
    settings.common.read_only_token = var("GROUNDWORK_READ_ONLY_TOKEN");
    settings.common.tls_cert = var("GROUNDWORK_TLS_CERT").map(Into::into);
    settings.common.tls_key = var("GROUNDWORK_TLS_KEY").map(Into::into);
    settings.common.ca_file = var("GROUNDWORK_CA_FILE").map(Into::into);
    settings.secrets_key_file = var("GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE").map(Into::into);
    // The replica's id in the run leases, and the lease timings when a test sets them.
    settings.replica_id = var("GROUNDWORK_ORCHESTRATOR__REPLICA_ID");
    let millis = |name: &str| var(name).and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = millis("GROUNDWORK_ORCHESTRATOR__LEASE_MS") {
        settings.lease_ms = ms;
    }
    if let Some(ms) = millis("GROUNDWORK_ORCHESTRATOR__HEARTBEAT_MS") {
        settings.heartbeat_ms = ms;
    }
    settings.listen = match listen.parse() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("LISTEN {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let listener = match groundwork_kit::grpc::bind(settings.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = match groundwork_orchestrator::connect(&settings).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("NATS: {e}");
            return ExitCode::FAILURE;
        }
    };
    match groundwork_orchestrator::serve(settings, client, listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("the orchestrator stopped with an error: {e}");
            ExitCode::FAILURE
        }
    }
}
