//! The `groundwork-orchestrator` binary: flags and signals, then
//! [`groundwork_orchestrator::serve`].

use anyhow::Context;
use clap::Parser;
use groundwork_kit::Shutdown;
use groundwork_kit::telemetry::{self, LogFormat};
use groundwork_orchestrator::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "groundwork-orchestrator",
    version,
    about = "One spec to plan, apply as a durable run, wait for a person, resume and watch"
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(LogFormat::from_env()).map_err(anyhow::Error::msg)?;
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let listener = groundwork_kit::grpc::bind(cli.settings.listen).await?;
    let client = groundwork_orchestrator::connect(&cli.settings).await?;
    groundwork_orchestrator::serve(cli.settings, client, listener, shutdown)
        .await
        .context("the orchestrator stopped with an error")
}
